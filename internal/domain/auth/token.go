package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cairnkv/cairn/internal/domain"
)

// A token is "cairn1.<payload>.<mac>", both parts base64url without
// padding. The payload is the auth epoch, the revision of the user's
// password and the expiry (uvarints: unix seconds), then the user name;
// mac is HMAC-SHA256 of the payload under the state's signing key.
const tokenPrefix = "cairn1."

// maxTokenSize bounds what Verify parses.
const maxTokenSize = 512

type tokenClaims struct {
	epoch, passRev uint64
	expiry         int64 // unix seconds
	user           string
}

func signToken(key []byte, c tokenClaims) string {
	var p []byte
	p = binary.AppendUvarint(p, c.epoch)
	p = binary.AppendUvarint(p, c.passRev)
	p = binary.AppendUvarint(p, uint64(c.expiry))
	p = append(p, c.user...)
	enc := base64.RawURLEncoding
	return tokenPrefix + enc.EncodeToString(p) + "." + enc.EncodeToString(mac(key, p))
}

func mac(key, payload []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(payload)
	return h.Sum(nil)
}

var errBadToken = errors.New("token is malformed")

// parseToken checks the token's form and signature and returns its claims.
func parseToken(key []byte, token string) (tokenClaims, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(token) > maxTokenSize {
		return tokenClaims{}, errBadToken
	}
	ps, ms, ok := strings.Cut(rest, ".")
	if !ok {
		return tokenClaims{}, errBadToken
	}
	enc := base64.RawURLEncoding
	p, err1 := enc.DecodeString(ps)
	m, err2 := enc.DecodeString(ms)
	if err1 != nil || err2 != nil {
		return tokenClaims{}, errBadToken
	}
	if len(key) == 0 || !hmac.Equal(m, mac(key, p)) {
		return tokenClaims{}, errors.New("token signature does not match (it was issued by another cluster, or before auth was last enabled)")
	}
	var c tokenClaims
	var n int
	fields := []*uint64{&c.epoch, &c.passRev, new(uint64)}
	for _, f := range fields {
		*f, n = binary.Uvarint(p)
		if n <= 0 {
			return tokenClaims{}, errBadToken
		}
		p = p[n:]
	}
	c.expiry = int64(*fields[2])
	if !utf8.Valid(p) {
		return tokenClaims{}, errBadToken
	}
	c.user = string(p)
	return c, nil
}

// issue signs a token for user valid for ttl from now.
func (c *compiled) issue(user string, now time.Time, ttl time.Duration) (string, error) {
	up := c.users[user]
	if !c.state.Enabled || up == nil {
		return "", fmt.Errorf("no token for user %q: %w", user, domain.ErrUnauthenticated)
	}
	return signToken(c.state.SigningKey, tokenClaims{
		epoch: c.state.Epoch, passRev: up.user.PasswordRevision, expiry: now.Add(ttl).Unix(), user: user,
	}), nil
}

// verify returns the user a token names, or why it is void, as
// domain.ErrUnauthenticated.
func (c *compiled) verify(token string, now time.Time) (string, error) {
	claims, err := parseToken(c.state.SigningKey, token)
	if err == nil {
		up := c.users[claims.user]
		switch {
		case claims.epoch != c.state.Epoch:
			err = errors.New("token was issued before auth was last enabled")
		case up == nil:
			err = fmt.Errorf("token names user %q, who no longer exists", claims.user)
		case up.user.PasswordRevision != claims.passRev:
			err = errors.New("token was issued before the user's password changed")
		case now.Unix() >= claims.expiry:
			err = errors.New("token has expired: authenticate again")
		}
	}
	if err != nil {
		return "", fmt.Errorf("%v: %w", err, domain.ErrUnauthenticated)
	}
	return claims.user, nil
}
