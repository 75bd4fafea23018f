package lincheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// KeySpace is the keys the clients use: the ops move on to fresh keys
// every OpsPerEpoch ops (counted over all clients), so that each key's
// history stays short enough to check, and spread over PerEpoch keys.
// The n-th op's key is Prefix, n/OpsPerEpoch as four digits, "/" and a
// random number below PerEpoch: "lin/0012/2".
type KeySpace struct {
	Prefix      string
	OpsPerEpoch int64
	PerEpoch    int
}

func (ks KeySpace) key(n int64, rng *rand.Rand) string {
	return fmt.Sprintf("%s%04d/%d", ks.Prefix, n/ks.OpsPerEpoch, rng.IntN(ks.PerEpoch))
}

// Config is what a Client is made of. Do needs only URLs, HTTP and Start.
type Config struct {
	ID   int      // the client's number in the history
	URLs []string // a base URL per member
	// Members are the indexes in URLs of the members this client sends
	// to, a random one per op; all of them when empty.
	Members []int
	HTTP    *http.Client  // its Timeout bounds each op
	Rand    *rand.Rand    // every choice of the client: key, member, op, back-off
	Start   time.Time     // the time origin of the history, the same for every client
	Counter *atomic.Int64 // ops begun by every client: picks the epoch of Keys
	Keys    KeySpace
}

// Client is one client of a history: it runs ops one after another, each
// waiting for its answer, and records them. It is used from one goroutine.
type Client struct {
	cfg     Config
	seq     int
	last    map[string]string // the last value this client saw per key
	ops     []*Op
	sent    int            // requests, including failed reads (not recorded)
	reasons map[string]int // why requests failed or had an unknown outcome
}

// NewClient returns a client that has sent nothing yet.
func NewClient(cfg Config) *Client {
	return &Client{cfg: cfg, last: map[string]string{}, reasons: map[string]int{}}
}

// Ops returns the ops recorded: every write and cas, and the reads that
// completed. Call it after Run has returned.
func (c *Client) Ops() []*Op { return c.ops }

// Sent returns how many requests Run sent, failed reads included.
func (c *Client) Sent() int { return c.sent }

// Reasons returns why requests failed or had an unknown outcome ("kind:
// reason", see Reason) and how many times each.
func (c *Client) Reasons() map[string]int { return c.reasons }

func (c *Client) now() int64 { return int64(time.Since(c.cfg.Start)) }

// Run sends ops until ctx ends (an op in flight then still completes, within
// the HTTP client's timeout): half reads, 30% writes of a value unique to
// the op, and 20% cas from the last value this client saw of the key (a
// read when it saw none). After an op that was not carried out it waits
// 20 to 50 ms rather than spin.
func (c *Client) Run(ctx context.Context) {
	rng := c.cfg.Rand
	for ctx.Err() == nil {
		n := c.cfg.Counter.Add(1) - 1
		key := c.cfg.Keys.key(n, rng)
		op := &Op{Client: c.cfg.ID, Member: c.member(rng), Key: key}
		switch r := rng.IntN(10); {
		case r < 5:
			op.Kind = Read
		case r < 8:
			op.Kind = Write
		default:
			op.Kind = CAS
			old, ok := c.last[key]
			if !ok || old == "" {
				op.Kind = Read
			}
			op.Old = old
		}
		if op.Kind != Read {
			c.seq++
			op.Value = fmt.Sprintf("c%d-%d", c.cfg.ID, c.seq)
		}
		c.Do(op)
		c.sent++
		if op.Outcome != OK {
			c.reasons[op.Kind.String()+": "+Reason(op.Note)]++
		}
		if op.Kind == Read && op.Outcome == Failed {
			// A failed read tells nothing: not recorded.
		} else {
			c.ops = append(c.ops, op)
		}
		switch {
		case op.Outcome == OK && op.Kind == Read:
			c.last[key] = op.Read
		case op.Wrote():
			c.last[key] = op.Value
		case op.Outcome == OK:
			c.last[key] = op.Read
		case op.Outcome == Unknown:
			delete(c.last, key)
		}
		if op.Outcome == Failed {
			// Not carried out (503 no_leader, a stopped member): give the
			// cluster a moment rather than spin.
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(20+rng.IntN(30)) * time.Millisecond):
			}
		}
	}
}

// member picks the member of an op.
func (c *Client) member(rng *rand.Rand) int {
	if len(c.cfg.Members) == 0 {
		return rng.IntN(len(c.cfg.URLs))
	}
	return c.cfg.Members[rng.IntN(len(c.cfg.Members))]
}

// Do sends op (Member, Key, Kind, Value and Old set) to its member and
// records its times and outcome. It does not record op in the client's
// history.
func (c *Client) Do(op *Op) {
	ctx := context.Background()
	base := c.cfg.URLs[op.Member]
	var req *http.Request
	switch op.Kind {
	case Read:
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/kv/"+op.Key+"?raw", nil)
	case Write:
		req, _ = http.NewRequestWithContext(ctx, http.MethodPut, base+"/v1/kv/"+op.Key, strings.NewReader(op.Value))
	case CAS:
		body, _ := json.Marshal(map[string]any{
			"compare": []any{map[string]any{"key": op.Key, "target": "value", "result": "equal", "value": op.Old}},
			"success": []any{map[string]any{"put": map[string]any{"key": op.Key, "value": op.Value}}},
			"failure": []any{map[string]any{"get": map[string]any{"key": op.Key}}},
		})
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/txn", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	op.Call = c.now()
	resp, err := c.cfg.HTTP.Do(req)
	var body []byte
	status := 0
	if err == nil {
		status = resp.StatusCode
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	op.Return = c.now()
	op.Outcome, op.Note = Classify(op.Kind, status, body, err)
	switch {
	case op.Outcome == Unknown:
		op.Return = OpenEnd
		return
	case op.Outcome == Failed:
		return
	}
	switch op.Kind {
	case Read:
		if status == http.StatusOK {
			op.Read = string(body)
		}
	case Write:
		var pr struct {
			Header struct {
				Revision int64 `json:"revision"`
			} `json:"header"`
		}
		if json.Unmarshal(body, &pr) == nil {
			op.Revision = pr.Header.Revision
		}
	case CAS:
		var tr struct {
			Header struct {
				Revision int64 `json:"revision"`
			} `json:"header"`
			Succeeded bool `json:"succeeded"`
			Responses []struct {
				Get *struct {
					Kvs []struct {
						Value *string `json:"value"`
					} `json:"kvs"`
				} `json:"get"`
			} `json:"responses"`
		}
		if err := json.Unmarshal(body, &tr); err != nil {
			op.Outcome, op.Note, op.Return = Unknown, fmt.Sprintf("bad txn answer %q: %v", body, err), OpenEnd
			return
		}
		op.Swapped = tr.Succeeded
		if tr.Succeeded {
			op.Revision = tr.Header.Revision
		}
		if !tr.Succeeded && len(tr.Responses) == 1 && tr.Responses[0].Get != nil && len(tr.Responses[0].Get.Kvs) == 1 {
			if v := tr.Responses[0].Get.Kvs[0].Value; v != nil {
				op.Read = *v
			}
		}
	}
}

// Classify returns the outcome of a request of the given kind, and a note
// on why when it is not OK, from the HTTP client's error or else from the
// answer's status and body:
//
//   - a connection that was never made (a dial error) and 503 are Failed;
//   - 200, and 404 for a read (the register is empty), are OK;
//   - any other error or answer (504, a client timeout, a broken
//     connection) is Unknown for a write or cas, Failed for a read.
func Classify(kind Kind, status int, body []byte, err error) (Outcome, string) {
	var opErr *net.OpError
	outcome, note := OK, ""
	switch {
	case err != nil && errors.As(err, &opErr) && opErr.Op == "dial":
		return Failed, "not sent: " + err.Error()
	case err != nil:
		outcome, note = Unknown, err.Error()
	case status == http.StatusServiceUnavailable:
		return Failed, "503 " + string(bytes.TrimSpace(body))
	case status == http.StatusNotFound && kind == Read:
		return OK, ""
	case status != http.StatusOK:
		// 504, or anything unexpected: a write may have taken effect.
		outcome, note = Unknown, fmt.Sprintf("%d %s", status, bytes.TrimSpace(body))
	}
	if outcome == Unknown && kind == Read {
		outcome = Failed
	}
	return outcome, note
}

// Reason is a short form of the note of an op that failed or has an
// unknown outcome, to count them by: "connection refused", "client
// timeout", "503 no_leader", "504 timeout", "connection broken".
func Reason(note string) string {
	switch {
	case strings.HasPrefix(note, "not sent"):
		return "connection refused"
	case strings.Contains(note, "Client.Timeout"):
		return "client timeout"
	case strings.HasPrefix(note, "5"):
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		code, body, _ := strings.Cut(note, " ")
		_ = json.Unmarshal([]byte(body), &e)
		return code + " " + e.Error.Code
	case strings.Contains(note, "EOF"), strings.Contains(note, "reset"):
		return "connection broken"
	}
	return note
}
