package app

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOpenAPI_FollowerAnswersAsLeader sends the same refused requests to
// the leader and to a follower: every member answers them alike, before
// anything is forwarded (issue 11: a chunked body over the limit was 503
// no_leader or 200 through a follower, and a query string that does not
// parse was dropped by the follower's proxy).
func TestOpenAPI_FollowerAnswersAsLeader(t *testing.T) {
	t.Parallel()
	const limit = 4096
	ms := startClusterWith(t, 3, func(c *Config) { c.MaxRequestBytes = limit })
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	leader := leaderIndex(t, ms, 20*time.Second)

	big := `{"ttl":30,"id":7,"pad":"` + strings.Repeat("x", 2*limit) + `"}`
	js := "application/json"
	tooLarge := func(name, method, target string) apiCase {
		return apiCase{name: name, method: method, target: target, body: big, contentType: js, chunked: true,
			status: http.StatusRequestEntityTooLarge, code: "request_too_large", req: reqUnchecked}
	}
	badQuery := func(name, method, target, body string) apiCase {
		return apiCase{name: name, method: method, target: target, body: body, contentType: js,
			status: http.StatusBadRequest, code: "invalid_argument", req: reqUnchecked}
	}
	cases := []apiCase{
		tooLarge("GrantTooLarge", http.MethodPost, "/v1/leases"),
		tooLarge("KeepAliveTooLarge", http.MethodPost, "/v1/leases/7/keepalive"),
		tooLarge("PutTooLarge", http.MethodPut, "/v1/kv/tr/big"),
		tooLarge("TxnTooLarge", http.MethodPost, "/v1/txn"),
		tooLarge("LockTooLarge", http.MethodPost, "/v1/locks/tr/l"),
		tooLarge("CampaignTooLarge", http.MethodPost, "/v1/elections/tr/e/campaign"),
		tooLarge("AddMemberTooLarge", http.MethodPost, "/v1/cluster/members"),
		badQuery("GrantBadQuery", http.MethodPost, "/v1/leases?limit=%ZZ", `{"ttl":30}`),
		badQuery("TimeToLiveBadQuery", http.MethodGet, "/v1/leases/7?keys=%ZZ", ""),
		badQuery("KeepAliveBadQuery", http.MethodPost, "/v1/leases/7/keepalive?x=%ZZ", ""),
		badQuery("RevokeBadQuery", http.MethodDelete, "/v1/leases/7?x=%ZZ", ""),
		badQuery("GetBadQuery", http.MethodGet, "/v1/kv/tr/k?limit=%ZZ", ""),
		badQuery("PutBadQuery", http.MethodPut, "/v1/kv/tr/k?lease=%ZZ", "v"),
		// A name taken at another address: the leader's 409 comes back
		// unchanged through a follower.
		{name: "AddMemberNameTaken", method: http.MethodPost, target: "/v1/cluster/members", contentType: js,
			body: `{"name":"n1","peer_addr":"http://127.0.0.1:1"}`, status: http.StatusConflict, code: "conflict"},
		badQuery("AddMemberBadQuery", http.MethodPost, "/v1/cluster/members?x=%ZZ", `{"name":"x","peer_addr":"http://127.0.0.1:1"}`),
	}
	var all []apiCase
	for i := range ms {
		role := "Follower"
		if i == leader {
			role = "Leader"
		}
		for _, c := range cases {
			c.name = role + ms[i].cfg.Name + "/" + c.name
			c.member = i
			c.retry = true // a leader change under load is not the subject
			all = append(all, c)
		}
	}
	runCases(t, doc, router, ms, all)
}
