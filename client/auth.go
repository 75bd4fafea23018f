package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// tokenCache holds the token the client got for Config.Username, shared by
// every endpoint (any member verifies any member's token).
type tokenCache struct {
	mu    sync.Mutex
	token string
	// basicUntil: authenticate answered that auth is off; until then the
	// client sends Basic credentials without asking again.
	basicUntil time.Time
}

// authOffRecheck is how long the client takes auth for off after a member
// said so, before it asks for a token again.
const authOffRecheck = 30 * time.Second

func (t *tokenCache) forget(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == token {
		t.token = ""
	}
}

// setCredentials puts the configured credentials on req and returns the
// cached token it used, if any.
func (c *Client) setCredentials(ctx context.Context, ep *url.URL, req *http.Request) string {
	switch {
	case c.cfg.Token != "":
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	case c.cfg.Username != "":
		if tok := c.token(ctx, ep); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
			return tok
		}
		req.SetBasicAuth(c.cfg.Username, c.cfg.Password)
	}
	return ""
}

// token returns the cached token, getting one from ep when there is none.
// It returns "" when auth is off or the login failed: the caller then
// sends Basic credentials, and the member's answer says what is wrong
// (401 for a wrong password, 429 when slowed down).
func (c *Client) token(ctx context.Context, ep *url.URL) string {
	t := &c.tokens
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" || time.Now().Before(t.basicUntil) {
		return t.token
	}
	body, _ := json.Marshal(map[string]string{"name": c.cfg.Username, "password": c.cfg.Password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.String()+"/v1/auth/authenticate", bytes.NewReader(body))
	if err != nil {
		return ""
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK:
		var out struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(b, &out) == nil {
			t.token = out.Token
		}
	case http.StatusPreconditionFailed:
		t.basicUntil = time.Now().Add(authOffRecheck)
	}
	return t.token
}
