package app

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestOpenAPI_Defragment validates the answers of POST
// /v1/maintenance/defragment against the document, on a member whose store
// has free space to give back, and checks its metrics.
func TestOpenAPI_Defragment(t *testing.T) {
	t.Parallel()
	ms := startCluster(t, 1)
	doc := loadSpec(t)
	router := specRouter(t, doc, ms)
	value := strings.Repeat("x", 2000)
	for i := range 200 {
		step(t, doc, router, ms, put(fmt.Sprint("Put", i), fmt.Sprintf("defrag/%03d", i), value))
	}
	del := apiCase{name: "Delete", method: http.MethodDelete, target: "/v1/kv/defrag/?prefix=true", status: http.StatusOK}
	rev := step(t, doc, router, ms, del).num(t, "header", "revision")
	step(t, doc, router, ms, apiCase{name: "Compact", method: http.MethodPost, target: "/v1/compact",
		body: fmt.Sprintf(`{"revision":%d}`, rev), contentType: "application/json", status: http.StatusOK})
	res := step(t, doc, router, ms, apiCase{name: "Defragment", method: http.MethodPost, target: "/v1/maintenance/defragment",
		status: http.StatusOK})
	before, after := res.num(t, "db_size_before"), res.num(t, "db_size_after")
	if after <= 0 || after >= before/2 {
		t.Errorf("db_size %d before, %d after: %s", before, after, res.body)
	}
	st := step(t, doc, router, ms, apiCase{name: "Status", method: http.MethodGet, target: "/v1/status", status: http.StatusOK})
	if got := st.num(t, "db_size"); got != after {
		t.Errorf("db_size in the status %d, the defragmentation said %d", got, after)
	}
	runCases(t, doc, router, ms, []apiCase{
		{name: "Again", method: http.MethodPost, target: "/v1/maintenance/defragment", status: http.StatusOK,
			check: wantNum(after, "db_size_before")},
		{name: "UnknownParam", method: http.MethodPost, target: "/v1/maintenance/defragment?now=1", status: http.StatusBadRequest,
			code: "invalid_argument", req: reqUnchecked},
		{name: "Get", method: http.MethodGet, target: "/v1/maintenance/defragment", status: http.StatusMethodNotAllowed,
			code: "method_not_allowed", route: routeNoMethod},
		{name: "Metrics", method: http.MethodGet, target: "/metrics", status: http.StatusOK, check: func(t *testing.T, r *apiResult) {
			for _, m := range []string{"cairn_defrag_duration_seconds_count", "cairn_defrag_pause_seconds_count"} {
				if !bytes.Contains(r.body, []byte(m)) {
					t.Errorf("no %s in the metrics", m)
				}
			}
		}},
	})
}
