package domain

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Validate reports an auth change that is malformed whatever the state:
// a bad name, hash, permission or signing key, or a field the operation
// does not use.
func (r *AuthRequest) Validate() error {
	needUser := r.Op >= AuthUserAdd && r.Op <= AuthUserRevokeRole
	needRole := r.Op == AuthUserGrantRole || r.Op == AuthUserRevokeRole || r.Op >= AuthRoleAdd
	needHash := r.Op == AuthUserAdd || r.Op == AuthUserPassword
	needPerm := r.Op == AuthRoleGrantPerm || r.Op == AuthRoleRevokePerm
	switch {
	case r.Op < AuthEnable || r.Op > AuthRoleRevokePerm:
		return InvalidArgument("unknown auth operation %d", r.Op)
	case needUser != (r.User != ""):
		return InvalidArgument("auth %s: a user name is %s", r.Op, neededOrNot(needUser))
	case needRole != (r.Role != ""):
		return InvalidArgument("auth %s: a role name is %s", r.Op, neededOrNot(needRole))
	case needHash != (len(r.PasswordHash) > 0):
		return InvalidArgument("auth %s: a password hash is %s", r.Op, neededOrNot(needHash))
	case (r.Op == AuthEnable) != (len(r.SigningKey) > 0):
		return InvalidArgument("auth %s: a signing key is %s", r.Op, neededOrNot(r.Op == AuthEnable))
	case !needPerm && (r.Perm.Type != 0 || len(r.Perm.Key) > 0 || len(r.Perm.RangeEnd) > 0):
		return InvalidArgument("auth %s takes no permission", r.Op)
	}
	if needUser {
		if err := ValidateAuthName("user", r.User); err != nil {
			return err
		}
	}
	if needRole {
		if err := ValidateAuthName("role", r.Role); err != nil {
			return err
		}
	}
	if needHash && (len(r.PasswordHash) > MaxPasswordHash || !bytes.HasPrefix(r.PasswordHash, []byte(PasswordHashPrefix))) {
		return InvalidArgument("auth %s: the password hash is not a bcrypt hash", r.Op)
	}
	if r.Op == AuthEnable && len(r.SigningKey) != SigningKeySize {
		return InvalidArgument("auth enable: the signing key is %d bytes, not %d", len(r.SigningKey), SigningKeySize)
	}
	if needPerm {
		if r.Op == AuthRoleGrantPerm && (r.Perm.Type < PermRead || r.Perm.Type > PermReadWrite) {
			return InvalidArgument("permission type %d is not read, write or readwrite", r.Perm.Type)
		}
		if r.Op == AuthRoleRevokePerm && r.Perm.Type != 0 {
			return InvalidArgument("a permission is revoked by its key and range end, without a type")
		}
		if err := validateKey(r.Perm.Key, r.Perm.RangeEnd); err != nil {
			return err
		}
	}
	return nil
}

func neededOrNot(need bool) string {
	if need {
		return "required"
	}
	return "not expected"
}

// ValidateAuthName reports a user or role name that is empty, longer than
// MaxAuthNameSize bytes, not UTF-8, or holds a control character, a space,
// '/' (names are URL path segments) or ':' (HTTP Basic ends the user name
// at the first ':').
func ValidateAuthName(what, name string) error {
	switch {
	case name == "":
		return InvalidArgument("%s name is empty", what)
	case len(name) > MaxAuthNameSize:
		return InvalidArgument("%s name is %d bytes, more than the limit of %d", what, len(name), MaxAuthNameSize)
	case !utf8.ValidString(name):
		return InvalidArgument("%s name %q is not UTF-8", what, name)
	case strings.ContainsAny(name, "/:"):
		return InvalidArgument("%s name %q holds '/' or ':'", what, name)
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return InvalidArgument("%s name %q holds a space or a control character", what, name)
		}
	}
	return nil
}

// ValidatePassword reports a password that is empty or longer than
// MaxPasswordSize bytes (bcrypt reads at most 72).
func ValidatePassword(p string) error {
	switch {
	case p == "":
		return InvalidArgument("password is empty")
	case len(p) > MaxPasswordSize:
		return InvalidArgument("password is %d bytes, more than the limit of %d", len(p), MaxPasswordSize)
	}
	return nil
}
