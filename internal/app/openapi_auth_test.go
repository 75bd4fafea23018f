package app

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// The tests in this file validate the auth calls and what auth does to the
// other calls, with real requests to a member of their own: once auth is
// enabled, every request to that member needs credentials.

func basicAuth(name, password string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+password))}
}

func bearerAuth(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// jsonCase is a case with a JSON body.
func jsonCase(name, method, target, body string, status int, code string) apiCase {
	return apiCase{name: name, method: method, target: target, body: body, contentType: "application/json", status: status, code: code}
}

// as returns c sent with the given credentials.
func as(creds map[string]string, c apiCase) apiCase {
	c.headers = creds
	return c
}

// wantStrs checks a JSON array of strings.
func wantStrs(want []string, path ...any) func(t *testing.T, r *apiResult) {
	return func(t *testing.T, r *apiResult) {
		t.Helper()
		raw, ok := r.get(t, path...).([]any)
		if !ok {
			t.Fatalf("%v is not an array; body %s", path, r.body)
		}
		got := make([]string, len(raw))
		for i, v := range raw {
			got[i], _ = v.(string)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%v = %q, want %q; body %s", path, got, want, r.body)
		}
	}
}

// wantChallenge checks the WWW-Authenticate header of a 401.
func wantChallenge(t *testing.T, r *apiResult) {
	t.Helper()
	if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="cairn", charset="UTF-8"` {
		t.Fatalf("WWW-Authenticate %q; body %s", got, r.body)
	}
}

// wantRetryAfter checks the Retry-After header of a 429.
func wantRetryAfter(t *testing.T, r *apiResult) {
	t.Helper()
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After %q; body %s", r.header.Get("Retry-After"), r.body)
	}
}

func wantBool(want bool, path ...any) func(t *testing.T, r *apiResult) {
	return func(t *testing.T, r *apiResult) {
		t.Helper()
		if got := r.get(t, path...); got != want {
			t.Fatalf("%v = %v, want %v; body %s", path, got, want, r.body)
		}
	}
}

func TestOpenAPI_Auth(t *testing.T) {
	t.Parallel()
	const tokenTTL = 120
	ms := startClusterWith(t, 1, func(c *Config) {
		c.BcryptCost = 4
		c.AuthTokenTTL = tokenTTL * time.Second
	})
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	const (
		ok  = http.StatusOK
		bad = http.StatusBadRequest
	)
	run := func(c apiCase) *apiResult { t.Helper(); return step(t, doc, router, ms, c) }
	post := func(name, target, body string) apiCase {
		return jsonCase(name, http.MethodPost, target, body, ok, "")
	}
	addUser := func(name, password string) {
		t.Helper()
		run(post("AddUser-"+name, "/v1/auth/users", fmt.Sprintf(`{"name":%q,"password":%q}`, name, password)))
	}
	grant := func(user, role string) {
		t.Helper()
		run(apiCase{name: "Grant-" + role + "-to-" + user, method: http.MethodPut, target: "/v1/auth/users/" + user + "/roles/" + role, status: ok})
	}

	// Auth off: everything is open, the auth calls too.
	run(apiCase{name: "StatusOff", method: http.MethodGet, target: "/v1/auth/status", status: ok, check: wantBool(false, "enabled")})
	run(jsonCase("AuthenticateWhileOff", http.MethodPost, "/v1/auth/authenticate", `{"name":"root","password":"rootpw"}`,
		http.StatusPreconditionFailed, "precondition_failed"))
	run(apiCase{name: "EnableWithoutRoot", method: http.MethodPost, target: "/v1/auth/enable", status: http.StatusPreconditionFailed, code: "precondition_failed"})
	addUser("root", "rootpw")
	run(apiCase{name: "EnableWithoutRootRole", method: http.MethodPost, target: "/v1/auth/enable", status: http.StatusPreconditionFailed, code: "precondition_failed"})
	for _, r := range []string{"root", "reader", "writer", "locker", "feeder", "scratch", "spare"} {
		run(post("AddRole-"+r, "/v1/auth/roles", fmt.Sprintf(`{"name":%q}`, r)))
	}
	for _, u := range []string{"alice", "bob", "carol", "dave", "wendy", "erin"} {
		addUser(u, u+"pw")
	}
	grant("root", "root")
	grant("alice", "reader")
	grant("alice", "writer")
	grant("bob", "locker")
	grant("wendy", "feeder")
	grant("erin", "spare")
	// The permissions in each of the body's forms.
	perm := func(name, role, body string) {
		t.Helper()
		run(post(name, "/v1/auth/roles/"+role+"/permissions", body))
	}
	perm("PermPrefix", "reader", `{"key":"pub/","prefix":true,"permission":"read"}`)
	perm("PermRangeBase64", "writer", `{"key_base64":"`+b64("w/")+`","range_end_base64":"`+b64("w0")+`","permission":"readwrite"}`)
	perm("PermLockPrefix", "locker", `{"key":"jobs","prefix":true,"permission":"readwrite"}`)
	perm("PermFeed", "feeder", `{"key":"feed/","prefix":true,"permission":"read"}`)
	perm("PermFromKey", "scratch", `{"key":"zz","from_key":true,"permission":"write"}`)
	perm("PermNonUTF8", "scratch", `{"key_base64":"`+b64("\xff")+`","permission":"read"}`)
	perm("PermRange", "scratch", `{"key":"a","range_end":"b","permission":"read"}`)
	perm("PermReplaceType", "scratch", `{"key":"a","range_end":"b","permission":"readwrite"}`)
	perm("PermOneKey", "spare", `{"key":"one","permission":"read"}`)
	for _, k := range []string{"pub/a", "pub/b", "secret/s", "w/x", "feed/1"} {
		run(put("Put-"+k, k, "v"))
	}
	// Leases: one with a key alice may not write, one with none.
	grantLease := post("LeaseGrant", "/v1/leases", `{"ttl":600,"id":7001}`)
	grantLease.status = http.StatusCreated
	run(grantLease)
	run(put("PutLeased", "secret/leased?lease=7001", "v"))

	longName := strings.Repeat("n", 129)
	longNameBytes := strings.Repeat("é", 65) // 65 characters, 130 bytes
	runPhase(t, "Off", doc, router, ms, []apiCase{
		{name: "ListUsers", method: http.MethodGet, target: "/v1/auth/users", status: ok,
			check: wantStrs([]string{"alice", "bob", "carol", "dave", "erin", "root", "wendy"}, "users")},
		{name: "GetUser", method: http.MethodGet, target: "/v1/auth/users/alice", status: ok,
			check: checks(wantStr("alice", "name"), wantStrs([]string{"reader", "writer"}, "roles"))},
		{name: "GetUserNoRoles", method: http.MethodGet, target: "/v1/auth/users/carol", status: ok, check: wantStrs([]string{}, "roles")},
		{name: "ListRoles", method: http.MethodGet, target: "/v1/auth/roles", status: ok,
			check: wantStrs([]string{"feeder", "locker", "reader", "root", "scratch", "spare", "writer"}, "roles")},
		{name: "GetRolePrefix", method: http.MethodGet, target: "/v1/auth/roles/reader", status: ok,
			check: checks(wantStr("reader", "name"), wantStr("pub/", "permissions", 0, "key"), wantStr("pub0", "permissions", 0, "range_end"),
				wantStr("read", "permissions", 0, "permission"))},
		{name: "GetRoleBase64Grant", method: http.MethodGet, target: "/v1/auth/roles/writer", status: ok,
			check: checks(wantStr("w/", "permissions", 0, "key"), wantStr("w0", "permissions", 0, "range_end"), wantStr("readwrite", "permissions", 0, "permission"))},
		{name: "GetRoleForms", method: http.MethodGet, target: "/v1/auth/roles/scratch", status: ok,
			check: checks(
				wantStr("a", "permissions", 0, "key"), wantStr("b", "permissions", 0, "range_end"), wantStr("readwrite", "permissions", 0, "permission"),
				wantStr("zz", "permissions", 1, "key"), wantStr("\x00", "permissions", 1, "range_end"), wantStr("write", "permissions", 1, "permission"),
				wantStr(b64("\xff"), "permissions", 2, "key_base64"), wantAbsent("permissions", 2, "key"), wantAbsent("permissions", 2, "range_end"))},
		{name: "GetRoleNoPermissions", method: http.MethodGet, target: "/v1/auth/roles/root", status: ok, check: func(t *testing.T, r *apiResult) {
			if n := len(r.get(t, "permissions").([]any)); n != 0 {
				t.Fatalf("root has %d permissions listed: %s", n, r.body)
			}
		}},

		// Not found, conflicts, bad names and bodies.
		{name: "GetUserMissing", method: http.MethodGet, target: "/v1/auth/users/nobody", status: http.StatusNotFound, code: "not_found"},
		{name: "GetRoleMissing", method: http.MethodGet, target: "/v1/auth/roles/nothing", status: http.StatusNotFound, code: "not_found"},
		{name: "DeleteUserMissing", method: http.MethodDelete, target: "/v1/auth/users/nobody", status: http.StatusNotFound, code: "not_found"},
		{name: "DeleteRoleMissing", method: http.MethodDelete, target: "/v1/auth/roles/nothing", status: http.StatusNotFound, code: "not_found"},
		{name: "GrantRoleUnknownUser", method: http.MethodPut, target: "/v1/auth/users/nobody/roles/reader", status: http.StatusNotFound, code: "not_found"},
		{name: "GrantRoleUnknownRole", method: http.MethodPut, target: "/v1/auth/users/carol/roles/nothing", status: http.StatusNotFound, code: "not_found"},
		{name: "RevokeRoleNotHeld", method: http.MethodDelete, target: "/v1/auth/users/carol/roles/reader", status: http.StatusNotFound, code: "not_found"},
		jsonCase("PasswordUnknownUser", http.MethodPost, "/v1/auth/users/nobody/password", `{"password":"x"}`, http.StatusNotFound, "not_found"),
		jsonCase("GrantPermissionUnknownRole", http.MethodPost, "/v1/auth/roles/nothing/permissions", `{"key":"k","permission":"read"}`, http.StatusNotFound, "not_found"),
		{name: "RevokePermissionNotHeld", method: http.MethodDelete, target: "/v1/auth/roles/reader/permissions?key=pub/", status: http.StatusNotFound, code: "not_found"},
		{name: "RevokePermissionUnknownRole", method: http.MethodDelete, target: "/v1/auth/roles/nothing/permissions?key=k", status: http.StatusNotFound, code: "not_found"},
		jsonCase("AddUserDuplicate", http.MethodPost, "/v1/auth/users", `{"name":"alice","password":"other"}`, http.StatusConflict, "conflict"),
		jsonCase("AddRoleDuplicate", http.MethodPost, "/v1/auth/roles", `{"name":"reader"}`, http.StatusConflict, "conflict"),
		withReq(reqInvalid, jsonCase("AddUserSlash", http.MethodPost, "/v1/auth/users", `{"name":"a/b","password":"x"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserColon", http.MethodPost, "/v1/auth/users", `{"name":"a:b","password":"x"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserSpace", http.MethodPost, "/v1/auth/users", `{"name":"a b","password":"x"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserControl", http.MethodPost, "/v1/auth/users", `{"name":"a\u0001b","password":"x"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserEmptyName", http.MethodPost, "/v1/auth/users", `{"name":"","password":"x"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserLongName", http.MethodPost, "/v1/auth/users", `{"name":"`+longName+`","password":"x"}`, bad, "invalid_argument")),
		// The limit is in bytes; maxLength counts characters.
		withReq(reqUnchecked, jsonCase("AddUserLongNameBytes", http.MethodPost, "/v1/auth/users", `{"name":"`+longNameBytes+`","password":"x"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserNoPassword", http.MethodPost, "/v1/auth/users", `{"name":"frank"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserEmptyPassword", http.MethodPost, "/v1/auth/users", `{"name":"frank","password":""}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserLongPassword", http.MethodPost, "/v1/auth/users", `{"name":"frank","password":"`+strings.Repeat("p", 73)+`"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserUnknownField", http.MethodPost, "/v1/auth/users", `{"name":"frank","password":"x","roles":[]}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddUserMalformed", http.MethodPost, "/v1/auth/users", `{"name":`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AddRoleBadName", http.MethodPost, "/v1/auth/roles", `{"name":"a b"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("PasswordTooLong", http.MethodPost, "/v1/auth/users/carol/password", `{"password":"`+strings.Repeat("p", 73)+`"}`, bad, "invalid_argument")),
		withReq(reqInvalid, apiCase{name: "DeleteUserBadName", method: http.MethodDelete, target: "/v1/auth/users/a:b", status: bad, code: "invalid_argument"}),
		withReq(reqInvalid, apiCase{name: "GrantRoleBadName", method: http.MethodPut, target: "/v1/auth/users/carol/roles/a:b", status: bad, code: "invalid_argument"}),
		withReq(reqInvalid, jsonCase("GrantPermissionBadType", http.MethodPost, "/v1/auth/roles/scratch/permissions", `{"key":"k","permission":"admin"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("GrantPermissionNoType", http.MethodPost, "/v1/auth/roles/scratch/permissions", `{"key":"k"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("GrantPermissionNoKey", http.MethodPost, "/v1/auth/roles/scratch/permissions", `{"permission":"read"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("GrantPermissionKeyTwice", http.MethodPost, "/v1/auth/roles/scratch/permissions", `{"key":"k","key_base64":"aw==","permission":"read"}`, bad, "invalid_argument")),
		withReq(reqUnchecked, jsonCase("GrantPermissionTwoForms", http.MethodPost, "/v1/auth/roles/scratch/permissions", `{"key":"k","prefix":true,"from_key":true,"permission":"read"}`, bad, "invalid_argument")),
		withReq(reqUnchecked, jsonCase("GrantPermissionEndBeforeKey", http.MethodPost, "/v1/auth/roles/scratch/permissions", `{"key":"k","range_end":"a","permission":"read"}`, bad, "invalid_argument")),
		withReq(reqUnchecked, jsonCase("GrantPermissionEmptyKey", http.MethodPost, "/v1/auth/roles/scratch/permissions", `{"key":"","permission":"read"}`, bad, "invalid_argument")),
		withReq(reqUnchecked, jsonCase("GrantPermissionQuery", http.MethodPost, "/v1/auth/roles/scratch/permissions?encoding=base64", `{"key":"k","permission":"read"}`, bad, "invalid_argument")),
		withReq(reqInvalid, apiCase{name: "RevokePermissionNoKey", method: http.MethodDelete, target: "/v1/auth/roles/scratch/permissions?prefix", status: bad, code: "invalid_argument"}),
		withReq(reqUnchecked, apiCase{name: "RevokePermissionTwoForms", method: http.MethodDelete, target: "/v1/auth/roles/scratch/permissions?key=a&prefix&range_end=b", status: bad, code: "invalid_argument"}),
		withReq(reqUnchecked, apiCase{name: "RevokePermissionUnknownParam", method: http.MethodDelete, target: "/v1/auth/roles/scratch/permissions?key=a&permission=read", status: bad, code: "invalid_argument"}),
		withReq(reqUnchecked, apiCase{name: "ListUsersUnknownParam", method: http.MethodGet, target: "/v1/auth/users?limit=1", status: bad, code: "invalid_argument"}),
		withReq(reqUnchecked, apiCase{name: "EnableUnknownParam", method: http.MethodPost, target: "/v1/auth/enable?force", status: bad, code: "invalid_argument"}),
		withReq(reqUnchecked, apiCase{name: "StatusUnknownParam", method: http.MethodGet, target: "/v1/auth/status?verbose", status: bad, code: "invalid_argument"}),
		withReq(reqInvalid, jsonCase("AuthenticateBadName", http.MethodPost, "/v1/auth/authenticate", `{"name":"a/b","password":"x"}`, bad, "invalid_argument")),
		withReq(reqInvalid, jsonCase("AuthenticateMalformed", http.MethodPost, "/v1/auth/authenticate", `{"name":"root"`, bad, "invalid_argument")),
		{name: "DisableWhileOff", method: http.MethodPost, target: "/v1/auth/disable", status: ok},
		{name: "GrantRoleAgain", method: http.MethodPut, target: "/v1/auth/users/alice/roles/reader", status: ok},
		jsonCase("GrantPermissionAgain", http.MethodPost, "/v1/auth/roles/reader/permissions", `{"key":"pub/","prefix":true,"permission":"read"}`, ok, ""),
	})

	// Changes that the cases above must not see.
	run(post("PermToRevoke", "/v1/auth/roles/scratch/permissions", `{"key":"x/","prefix":true,"permission":"read"}`))
	run(apiCase{name: "RevokePermissionPrefix", method: http.MethodDelete, target: "/v1/auth/roles/scratch/permissions?key=x/&prefix=true", status: ok})
	run(post("PermToRevokeFromKey", "/v1/auth/roles/scratch/permissions", `{"key":"","from_key":true,"permission":"read"}`))
	run(apiCase{name: "RevokePermissionFromKey", method: http.MethodDelete, target: "/v1/auth/roles/scratch/permissions?key=&from_key", status: ok})
	run(apiCase{name: "RevokePermissionRange", method: http.MethodDelete, target: "/v1/auth/roles/scratch/permissions?key=a&range_end=b", status: ok})
	run(apiCase{name: "RevokeRole", method: http.MethodDelete, target: "/v1/auth/users/erin/roles/spare", status: ok})
	run(apiCase{name: "DeleteRole", method: http.MethodDelete, target: "/v1/auth/roles/spare", status: ok})
	run(apiCase{name: "DeleteUser", method: http.MethodDelete, target: "/v1/auth/users/erin", status: ok})
	run(jsonCase("ChangePasswordWhileOff", http.MethodPost, "/v1/auth/users/carol/password", `{"password":"carolpw2"}`, ok, ""))
	run(apiCase{name: "RevokeRootWhileOff", method: http.MethodDelete, target: "/v1/auth/users/root/roles/root", status: ok})
	run(apiCase{name: "EnableWithoutRootRoleAgain", method: http.MethodPost, target: "/v1/auth/enable", status: http.StatusPreconditionFailed, code: "precondition_failed"})
	grant("root", "root")

	// Auth on. A watch and a long poll without a user end when it comes on.
	streamEnds(t, doc, router, ms, "Anonymous", nil, "pub/",
		apiCase{name: "Enable", method: http.MethodPost, target: "/v1/auth/enable", status: ok}, http.StatusUnauthorized, "unauthenticated")
	root := basicAuth("root", "rootpw")
	alice, bob := basicAuth("alice", "alicepw"), basicAuth("bob", "bobpw")
	token := func(name, password string) string {
		t.Helper()
		r := run(jsonCase("Authenticate-"+name, http.MethodPost, "/v1/auth/authenticate", fmt.Sprintf(`{"name":%q,"password":%q}`, name, password), ok, ""))
		wantNum(tokenTTL, "ttl")(t, r)
		return r.str(t, "token")
	}
	aliceToken := token("alice", "alicepw")
	rootToken := token("root", "rootpw")
	run(apiCase{name: "ReadyzOpen", method: http.MethodGet, target: "/readyz", status: ok})

	txn := func(name, body string, status int, code string) apiCase {
		return as(alice, jsonCase(name, http.MethodPost, "/v1/txn", body, status, code))
	}
	denied := func(c apiCase) apiCase {
		c.status, c.code = http.StatusForbidden, "permission_denied"
		return c
	}
	unauth := func(c apiCase) apiCase {
		c.status, c.code = http.StatusUnauthorized, "unauthenticated"
		c.check = wantChallenge
		return c
	}
	get := func(name, target string) apiCase {
		return apiCase{name: name, method: http.MethodGet, target: target, status: ok}
	}
	runPhase(t, "On", doc, router, ms, []apiCase{
		// No credentials, or credentials that do not hold. (Two wrong
		// passwords only: a third would slow down every password check
		// from this address.)
		unauth(get("NoCredentialsGet", "/v1/kv/pub/a")),
		unauth(put("NoCredentialsPut", "pub/new", "v")),
		unauth(get("NoCredentialsStatus", "/v1/status")),
		unauth(get("NoCredentialsAuthStatus", "/v1/auth/status")),
		unauth(get("NoCredentialsLeases", "/v1/leases")),
		unauth(post("NoCredentialsAddUser", "/v1/auth/users", `{"name":"frank","password":"x"}`)),
		unauth(get("NoCredentialsWatch", "/v1/watch/pub/?prefix")),
		as(basicAuth("alice", "wrong"), unauth(get("WrongPassword", "/v1/kv/pub/a"))),
		unauth(jsonCase("AuthenticateWrongPassword", http.MethodPost, "/v1/auth/authenticate", `{"name":"alice","password":"wrong"}`, 0, "")),
		as(basicAuth("a/b", "x"), unauth(get("BasicBadName", "/v1/kv/pub/a"))),
		as(map[string]string{"Authorization": "Basic !!!"}, unauth(get("BasicUndecodable", "/v1/kv/pub/a"))),
		as(bearerAuth("cairn1.bm9wZQ.bm9wZQ"), unauth(get("BadToken", "/v1/kv/pub/a"))),
		as(map[string]string{"Authorization": "garbage"}, unauth(get("BadBareToken", "/v1/kv/pub/a"))),

		// Open calls.
		get("HealthzOpen", "/healthz"),
		{name: "MetricsOpen", method: http.MethodGet, target: "/metrics", status: ok},

		// Tokens, Basic, the bare token.
		as(bearerAuth(aliceToken), get("BearerToken", "/v1/kv/pub/a")),
		as(map[string]string{"Authorization": aliceToken}, get("BareToken", "/v1/kv/pub/a")),
		as(alice, get("Basic", "/v1/kv/pub/a")),
		as(bearerAuth(rootToken), get("RootToken", "/v1/auth/users")),

		// What alice (read pub/, readwrite w/) may do, and may not.
		as(alice, get("ReadPrefix", "/v1/kv/pub/?prefix")),
		as(alice, denied(get("ReadSecret", "/v1/kv/secret/s"))),
		as(alice, denied(get("ReadEveryKey", "/v1/kv/?prefix"))),
		as(alice, denied(get("ReadMissingKeyDenied", "/v1/kv/secret/none"))),
		as(alice, denied(put("PutReadOnly", "pub/a", "x"))),
		as(alice, put("PutWritable", "w/k", "x")),
		as(alice, put("PutPrevKvReadWrite", "w/x?prev_kv", "x")),
		as(alice, apiCase{name: "DeleteWritable", method: http.MethodDelete, target: "/v1/kv/w/gone?prev_kv", status: ok}),
		as(alice, denied(apiCase{name: "DeleteSecret", method: http.MethodDelete, target: "/v1/kv/secret/s", status: ok})),
		as(alice, denied(apiCase{name: "DeletePrefixBeyond", method: http.MethodDelete, target: "/v1/kv/w?prefix", status: ok})),
		txn("Txn", `{"compare":[{"key":"pub/a","target":"version","result":"greater","version":0}],"success":[{"get":{"key":"pub/a"}}],"failure":[{"put":{"key":"w/t","value":"t"}}]}`, ok, ""),
		txn("TxnEmpty", `{}`, ok, ""),
		txn("TxnDeniedCompare", `{"compare":[{"key":"secret/s","target":"version","result":"greater","version":0}],"success":[{"get":{"key":"pub/a"}}]}`,
			http.StatusForbidden, "permission_denied"),
		txn("TxnDeniedBranchNotTaken", `{"success":[{"get":{"key":"pub/a"}}],"failure":[{"put":{"key":"secret/x","value":"x"}}]}`,
			http.StatusForbidden, "permission_denied"),
		txn("TxnDeniedNested", `{"success":[{"txn":{"failure":[{"get":{"key":"secret/s"}}]}}]}`, http.StatusForbidden, "permission_denied"),
		txn("TxnDeniedPrevKv", `{"success":[{"delete":{"key":"pub/a","prev_kv":true}}]}`, http.StatusForbidden, "permission_denied"),
		as(alice, denied(get("WatchDenied", "/v1/watch/secret/s"))),
		as(alice, denied(get("LongPollDenied", "/v1/kv/secret/?prefix&wait&timeout=1s"))),
		as(alice, get("LongPoll", "/v1/kv/pub/a?wait&wait_revision=1&timeout=1s")),

		// Calls any user may make.
		as(alice, apiCase{name: "AuthStatus", method: http.MethodGet, target: "/v1/auth/status", status: ok, check: wantBool(true, "enabled")}),
		as(bob, get("Status", "/v1/status")),
		as(bob, get("Members", "/v1/cluster/members")),
		as(bob, get("Leases", "/v1/leases")),
		as(bob, apiCase{name: "LeaseGrant", method: http.MethodPost, target: "/v1/leases", body: `{"ttl":60}`, contentType: "application/json", status: http.StatusCreated}),
		as(bob, get("LeaseTTL", "/v1/leases/7001")),
		as(bob, denied(get("LeaseTTLKeys", "/v1/leases/7001?keys=true"))),
		as(bob, denied(apiCase{name: "LeaseRevoke", method: http.MethodDelete, target: "/v1/leases/7001"})),
		as(bob, apiCase{name: "LeaseKeepAlive", method: http.MethodPost, target: "/v1/leases/7001/keepalive", status: ok}),

		// Root only.
		as(alice, denied(post("Compact", "/v1/compact", `{"revision":1}`))),
		as(alice, denied(get("Hash", "/v1/maintenance/hash"))),
		as(alice, denied(get("Snapshot", "/v1/maintenance/snapshot"))),
		as(alice, denied(post("AddMember", "/v1/cluster/members", `{"name":"n9","peer_addr":"127.0.0.1:1"}`))),
		as(alice, denied(get("ListUsers", "/v1/auth/users"))),
		as(alice, denied(get("GetOwnUser", "/v1/auth/users/alice"))),
		as(alice, denied(post("AddRole", "/v1/auth/roles", `{"name":"mine"}`))),
		as(alice, denied(post("OwnPassword", "/v1/auth/users/alice/password", `{"password":"x"}`))),
		as(alice, denied(apiCase{name: "GrantSelfRoot", method: http.MethodPut, target: "/v1/auth/users/alice/roles/root"})),
		as(alice, denied(apiCase{name: "Disable", method: http.MethodPost, target: "/v1/auth/disable"})),
		as(alice, denied(apiCase{name: "Enable", method: http.MethodPost, target: "/v1/auth/enable"})),
		as(root, get("RootReadsAll", "/v1/kv/?prefix&keys_only")),
		as(root, get("RootHash", "/v1/maintenance/hash")),
		as(root, get("RootSnapshot", "/v1/maintenance/snapshot")),
		as(root, apiCase{name: "EnableAgain", method: http.MethodPost, target: "/v1/auth/enable", status: ok}),

		// Locks and elections: readwrite on NAME/, here through the prefix jobs.
		as(bob, jsonCase("Lock", http.MethodPost, "/v1/locks/jobs/nightly?timeout=5s", `{"ttl":30}`, ok, "")),
		as(bob, get("LockStatus", "/v1/locks/jobs/other")),
		as(bob, jsonCase("Campaign", http.MethodPost, "/v1/elections/jobs/leader/campaign?timeout=5s", `{"value":"b","ttl":30}`, ok, "")),
		as(alice, denied(jsonCase("LockDenied", http.MethodPost, "/v1/locks/jobs/nightly?timeout=0", `{"ttl":30}`, 0, ""))),
		as(alice, denied(get("LockStatusDenied", "/v1/locks/jobs/nightly"))),
		as(alice, denied(apiCase{name: "UnlockDenied", method: http.MethodDelete, target: "/v1/locks/jobs/nightly?key=jobs/nightly/1"})),
		as(alice, denied(jsonCase("CampaignDenied", http.MethodPost, "/v1/elections/jobs/leader/campaign?timeout=0", `{"value":"a","ttl":30}`, 0, ""))),
		as(alice, denied(get("LeaderDenied", "/v1/elections/jobs/leader"))),
		as(alice, denied(get("ObserveDenied", "/v1/elections/jobs/leader/observe"))),

		// Root cannot be locked out while auth is on.
		as(root, apiCase{name: "DeleteRootUser", method: http.MethodDelete, target: "/v1/auth/users/root", status: http.StatusConflict, code: "conflict"}),
		as(root, apiCase{name: "DeleteRootRole", method: http.MethodDelete, target: "/v1/auth/roles/root", status: http.StatusConflict, code: "conflict"}),
		as(root, apiCase{name: "RevokeRootRole", method: http.MethodDelete, target: "/v1/auth/users/root/roles/root", status: http.StatusConflict, code: "conflict"}),
	})

	// A watch and a long poll end when their user loses the permission.
	wendy := bearerAuth(token("wendy", "wendypw"))
	streamEnds(t, doc, router, ms, "Revoked", wendy, "feed/",
		apiCase{name: "RevokeFeed", method: http.MethodDelete, target: "/v1/auth/roles/feeder/permissions?key=feed/&prefix", status: ok, headers: root},
		http.StatusForbidden, "permission_denied")

	// A token is void once the password changes or the user is deleted.
	carol := token("carol", "carolpw2")
	dave := token("dave", "davepw")
	run(as(root, jsonCase("ChangePassword", http.MethodPost, "/v1/auth/users/carol/password", `{"password":"carolpw3"}`, ok, "")))
	run(as(bearerAuth(carol), unauth(get("TokenAfterPasswordChange", "/v1/auth/status"))))
	run(as(basicAuth("carol", "carolpw3"), get("NewPassword", "/v1/auth/status")))
	run(as(root, apiCase{name: "DeleteDave", method: http.MethodDelete, target: "/v1/auth/users/dave", status: ok}))
	run(as(bearerAuth(dave), unauth(get("TokenOfDeletedUser", "/v1/auth/status"))))

	// Disabling opens everything; enabling again voids the tokens.
	run(as(root, apiCase{name: "Disable", method: http.MethodPost, target: "/v1/auth/disable", status: ok}))
	run(get("OpenAgain", "/v1/kv/secret/s"))
	run(apiCase{name: "StatusOffAgain", method: http.MethodGet, target: "/v1/auth/status", status: ok, check: wantBool(false, "enabled")})
	run(apiCase{name: "EnableAgainAfterDisable", method: http.MethodPost, target: "/v1/auth/enable", status: ok})
	run(as(bearerAuth(aliceToken), unauth(get("TokenAfterReEnable", "/v1/kv/pub/a"))))
	aliceToken = token("alice", "alicepw")

	// Repeated wrong passwords: the third from this address (the two above
	// were the first) is still a 401, then attempts are refused for a while,
	// with HTTP Basic and with authenticate alike, even with the right
	// password; tokens are not affected.
	run(as(basicAuth("ghost", "x"), unauth(get("UnknownUser", "/v1/kv/pub/a"))))
	untilTooMany(t, doc, router, ms, as(basicAuth("alice", "wrong"), get("BasicTooMany", "/v1/kv/pub/a")))
	untilTooMany(t, doc, router, ms, jsonCase("AuthenticateTooMany", http.MethodPost, "/v1/auth/authenticate", `{"name":"alice","password":"wrong"}`, 0, ""))
	run(as(bearerAuth(aliceToken), get("TokenWhileSlowedDown", "/v1/kv/pub/a")))
}

// runPhase runs the cases in parallel, and returns once they are all done
// (runCases alone would run them once the test function has returned).
func runPhase(t *testing.T, name string, doc *openapi3.T, router routers.Router, ms []*member, cases []apiCase) {
	t.Helper()
	if !t.Run(name, func(t *testing.T) { runCases(t, doc, router, ms, cases) }) {
		t.FailNow()
	}
}

// withReq sets what the document must say of c's request.
func withReq(r reqExpect, c apiCase) apiCase {
	c.req = r
	return c
}

// untilTooMany sends c, a request with a wrong password, until it answers
// 429: every answer before must be a 401. The failures double the wait each
// time, so it comes within a few attempts.
func untilTooMany(t *testing.T, doc *openapi3.T, router routers.Router, ms []*member, c apiCase) {
	t.Helper()
	for i := 0; ; i++ {
		res := send(t, ms[c.member].URL, c)
		c.status = res.status
		switch res.status {
		case http.StatusUnauthorized:
			c.code, c.check = "unauthenticated", wantChallenge
		case http.StatusTooManyRequests:
			c.code, c.check = "too_many_requests", wantRetryAfter
		default:
			t.Fatalf("%s %s: %d, want 401 or 429; body %s", c.method, c.target, res.status, res.body)
		}
		if !t.Run(fmt.Sprintf("%s/%d", c.name, i), func(t *testing.T) { checkCase(t, doc, router, ms, c, res) }) {
			t.FailNow()
		}
		if res.status == http.StatusTooManyRequests {
			return
		}
		if i == 10 {
			t.Fatalf("%s: no 429 after %d wrong passwords", c.name, i+1)
		}
	}
}

// streamEnds opens a watch and a long poll on the prefix with creds, runs
// change, and checks that the watch ends with an error event code and the
// long poll with status and code: whether the poll starts waiting before
// the change or after, that is its answer.
func streamEnds(t *testing.T, doc *openapi3.T, router routers.Router, ms []*member, name string, creds map[string]string, prefix string,
	change apiCase, status int, code string) {
	t.Helper()
	watch := apiCase{name: "Watch" + name, method: http.MethodGet, target: "/v1/watch/" + prefix + "?prefix", headers: creds, status: http.StatusOK,
		check: func(t *testing.T, r *apiResult) {
			body := string(r.body)
			if !strings.HasPrefix(body, ": watching from revision") || !strings.Contains(body, "event: error\n") ||
				!strings.Contains(body, `"code":"`+code+`"`) {
				t.Fatalf("the watch ended with %q", body)
			}
		}}
	poll := apiCase{name: "LongPoll" + name, method: http.MethodGet, target: "/v1/kv/" + prefix + "?prefix&wait&timeout=30s", headers: creds,
		status: status, code: code}
	if status == http.StatusUnauthorized {
		poll.check = wantChallenge
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, watch.method, ms[0].URL+watch.target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range watch.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("watch: %v (%q)", err, first)
	}
	polled := make(chan *apiResult, 1)
	go func() {
		r, err := sendNoFail(ms[0].URL, poll)
		if err != nil {
			r = &apiResult{body: []byte(err.Error())}
		}
		polled <- r
	}()
	time.Sleep(200 * time.Millisecond)
	step(t, doc, router, ms, change)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Run(watch.name, func(t *testing.T) {
		checkCase(t, doc, router, ms, watch, &apiResult{status: resp.StatusCode, header: resp.Header, body: append([]byte(first), rest...)})
	})
	t.Run(poll.name, func(t *testing.T) {
		checkCase(t, doc, router, ms, poll, <-polled)
	})
}

// sendNoFail is send for a goroutine other than the test's.
func sendNoFail(base string, c apiCase) (*apiResult, error) {
	req, err := http.NewRequest(c.method, base+c.target, strings.NewReader(c.body))
	if err != nil {
		return nil, err
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	res := &apiResult{status: resp.StatusCode, header: resp.Header, body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &res.json); err != nil {
			return nil, fmt.Errorf("the answer is not JSON: %v: %s", err, b)
		}
	}
	return res, nil
}

// TestOpenAPI_AuthClientCert validates the clientCert scheme: over TLS with
// --client-cert-auth, the common name of the client's certificate is the
// user, unless an Authorization header says otherwise.
func TestOpenAPI_AuthClientCert(t *testing.T) {
	t.Parallel()
	pki := newClusterPKI(t) // pki.client presents CN root
	ms := startTLSCluster(t, 1, pki, func(c *Config) { c.BcryptCost = 4 })
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	certOf := func(cn string) func(apiCase) apiCase {
		client := pki.client
		if cn != "root" {
			cert, key := pki.clientCA.Issue(t, cn, false)
			client = tlsHTTPClient(t, pki.clientCA.ClientConfig(t, cert, key))
		}
		return func(c apiCase) apiCase {
			c.client, c.clientCert = client, cn
			return c
		}
	}
	root, alice, mallory := certOf("root"), certOf("alice"), certOf("mallory")
	run := func(c apiCase) { t.Helper(); step(t, doc, router, ms, root(c)) }
	post := func(name, target, body string) apiCase {
		return jsonCase(name, http.MethodPost, target, body, http.StatusOK, "")
	}
	for _, c := range authSetup(post, put("PutSecret", "secret/s", "v")) {
		run(c)
	}

	get := func(name, target string, status int, code string) apiCase {
		return apiCase{name: name, method: http.MethodGet, target: target, status: status, code: code}
	}
	headerFirst := root(get("AuthorizationBeforeCertificate", "/v1/auth/users", http.StatusForbidden, "permission_denied"))
	headerFirst.headers = basicAuth("alice", "alicepw")
	runPhase(t, "On", doc, router, ms, []apiCase{
		root(get("RootCertificate", "/v1/auth/users", http.StatusOK, "")),
		alice(get("UserCertificate", "/v1/kv/pub/a", http.StatusOK, "")),
		alice(get("UserCertificateDenied", "/v1/kv/secret/s", http.StatusForbidden, "permission_denied")),
		alice(get("UserCertificateNotRoot", "/v1/auth/users", http.StatusForbidden, "permission_denied")),
		mallory(get("CertificateOfNoUser", "/v1/status", http.StatusForbidden, "permission_denied")),
		headerFirst,
	})
}

// authSetup is the state the certificate and follower tests start from,
// with the refusals on the way (which a follower must pass on with their
// kind): root with the role root, alice with the role reader (read on the
// prefix pub/), the key pub/a, then extra, then auth enabled. post makes
// the test's change case.
func authSetup(post func(name, target, body string) apiCase, extra ...apiCase) []apiCase {
	cases := []apiCase{
		jsonCase("EnableWithoutRoot", http.MethodPost, "/v1/auth/enable", "", http.StatusPreconditionFailed, "precondition_failed"),
		post("AddRootUser", "/v1/auth/users", `{"name":"root","password":"rootpw"}`),
		post("AddRootRole", "/v1/auth/roles", `{"name":"root"}`),
		{name: "GrantRoot", method: http.MethodPut, target: "/v1/auth/users/root/roles/root", status: http.StatusOK},
		post("AddAlice", "/v1/auth/users", `{"name":"alice","password":"alicepw"}`),
		jsonCase("AddAliceAgain", http.MethodPost, "/v1/auth/users", `{"name":"alice","password":"x"}`, http.StatusConflict, "conflict"),
		{name: "DeleteNobody", method: http.MethodDelete, target: "/v1/auth/users/nobody", status: http.StatusNotFound, code: "not_found"},
		{name: "GrantMissingRole", method: http.MethodPut, target: "/v1/auth/users/alice/roles/nothing", status: http.StatusNotFound, code: "not_found"},
		post("AddReader", "/v1/auth/roles", `{"name":"reader"}`),
		post("GrantRead", "/v1/auth/roles/reader/permissions", `{"key":"pub/","prefix":true,"permission":"read"}`),
		{name: "GrantReader", method: http.MethodPut, target: "/v1/auth/users/alice/roles/reader", status: http.StatusOK},
		put("PutPub", "pub/a", "v"),
	}
	cases = append(cases, extra...)
	return append(cases, post("Enable", "/v1/auth/enable", ""))
}

// TestOpenAPI_AuthFollowers validates auth through a follower: the
// changes it forwards (and the leader's refusals of them, which reach the
// follower with their kind and message), and users, tokens and
// permissions checked by the member that receives the request, whichever
// it is.
func TestOpenAPI_AuthFollowers(t *testing.T) {
	t.Parallel()
	ms := startClusterWith(t, 3, func(c *Config) { c.BcryptCost = 4 })
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	follower := -1
	waitFor(t, 10*time.Second, "a follower that knows the leader", func() bool {
		follower = currentFollower(t, ms)
		return follower >= 0
	})
	other := (follower + 1) % len(ms)
	// As in TestOpenAPI_Followers, every request is sent again while it
	// answers 503 or 504; each changes nothing when applied twice, but a
	// user or role added twice, which is a conflict.
	f := func(c apiCase) apiCase {
		c.member, c.retry = follower, true
		return c
	}
	run := func(c apiCase) *apiResult { t.Helper(); return step(t, doc, router, ms, f(c)) }
	post := func(name, target, body string) apiCase {
		c := jsonCase(name, http.MethodPost, target, body, http.StatusOK, "")
		c.reapplied = &apiCase{status: http.StatusConflict, code: "conflict"}
		return c
	}
	for _, c := range authSetup(post) {
		run(c)
	}
	tok := run(jsonCase("Authenticate", http.MethodPost, "/v1/auth/authenticate", `{"name":"alice","password":"alicepw"}`, http.StatusOK, "")).str(t, "token")

	root, alice := basicAuth("root", "rootpw"), bearerAuth(tok)
	get := func(name, target string, status int, code string, creds map[string]string) apiCase {
		return f(apiCase{name: name, method: http.MethodGet, target: target, status: status, code: code, headers: creds})
	}
	elsewhere := get("TokenOnAnotherMember", "/v1/kv/pub/a", http.StatusOK, "", alice)
	elsewhere.member = other
	runPhase(t, "On", doc, router, ms, []apiCase{
		get("Token", "/v1/kv/pub/a", http.StatusOK, "", alice),
		elsewhere,
		get("Denied", "/v1/kv/secret", http.StatusForbidden, "permission_denied", alice),
		get("NotRoot", "/v1/auth/users", http.StatusForbidden, "permission_denied", alice),
		get("NoCredentials", "/v1/kv/pub/a", http.StatusUnauthorized, "unauthenticated", nil),
		get("RootUsers", "/v1/auth/users", http.StatusOK, "", root),
		get("RootRole", "/v1/auth/roles/reader", http.StatusOK, "", root),
		get("AuthStatus", "/v1/auth/status", http.StatusOK, "", alice),
		as(root, f(put("RootPut", "secret/s", "v"))),
		as(alice, f(jsonCase("TxnDenied", http.MethodPost, "/v1/txn", `{"success":[{"put":{"key":"pub/a","value":"x"}}]}`,
			http.StatusForbidden, "permission_denied"))),
	})
}
