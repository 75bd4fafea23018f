package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// A Jepsen-style linearizability test: concurrent clients read, write and
// compare-and-swap registers through random members while the leader is
// stopped and restarted, cut off from the majority, and a follower is cut
// off; the history is then checked per key with porcupine against a
// register model.
//
// Outcomes follow "What a client may assume" in README.md:
//
//   - 200 (and 404 for a read: the register is empty) completed;
//   - 503, and a connection that was never made, were not carried out: the
//     op is dropped (a read that failed in any way is dropped too);
//   - 504, a client timeout or a broken connection leave a write's outcome
//     unknown: it stays in the history with an open end (it may take effect
//     at any time after its invocation, or never).

const (
	linClients      = 6
	linOpsPerEpoch  = 600 // ops before the clients move on to fresh keys
	linKeysPerEpoch = 3   // so each key sees about 200 ops
	linClientWait   = 2 * time.Second
)

type linKind uint8

const (
	linRead linKind = iota
	linWrite
	linCAS
)

func (k linKind) String() string { return [...]string{"read", "write", "cas"}[k] }

type linOutcome uint8

const (
	linOK      linOutcome = iota // completed; the output is known
	linUnknown                   // a write or cas that may or may not have taken effect
	linFailed                    // not carried out (503, never sent), or a failed read
)

// linOp is one client operation as recorded.
type linOp struct {
	client    int
	member    int
	key       string
	kind      linKind
	value     string // write, cas: the value written
	old       string // cas: the value compared with
	call, ret int64  // nanoseconds since the start, monotonic
	outcome   linOutcome
	read      string // read: the value read ("" for none); failed cas: the value found
	swapped   bool   // cas: the compare held
	note      string // why it failed or is unknown
}

func (o *linOp) String() string {
	var s string
	switch o.kind {
	case linRead:
		s = fmt.Sprintf("read %s -> %q", o.key, o.read)
	case linWrite:
		s = fmt.Sprintf("write %s %q", o.key, o.value)
	case linCAS:
		s = fmt.Sprintf("cas %s %q->%q", o.key, o.old, o.value)
		if o.outcome == linOK {
			if o.swapped {
				s += " swapped"
			} else {
				s += fmt.Sprintf(" failed, found %q", o.read)
			}
		}
	}
	ret := "∞"
	if o.ret != math.MaxInt64 {
		ret = fmt.Sprintf("%.3fs", float64(o.ret)/1e9)
	}
	s = fmt.Sprintf("[%.3fs, %s] c%d@n%d %s", float64(o.call)/1e9, ret, o.client, o.member+1, s)
	switch o.outcome {
	case linUnknown:
		s += " UNKNOWN (" + o.note + ")"
	case linFailed:
		s += " FAILED (" + o.note + ")"
	}
	return s
}

// The register model: the state is the key's value, "" when it has none.

type linInput struct {
	kind       linKind
	value, old string
}

type linOutput struct {
	unknown bool
	read    string
	swapped bool
}

var linModel = porcupine.Model{
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(linInput), output.(linOutput)
		switch in.kind {
		case linRead:
			return out.read == s, s
		case linWrite:
			return true, in.value
		default: // cas
			switch {
			case out.unknown:
				// Applied here; an unknown cas that never took effect is
				// the same as one applied last (its end is open).
				if s == in.old {
					return true, in.value
				}
				return true, s
			case out.swapped:
				return s == in.old, in.value
			default:
				return s != in.old && s == out.read, s
			}
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		var s string
		switch in.kind {
		case linRead:
			s = fmt.Sprintf("read -> %q", out.read)
		case linWrite:
			s = fmt.Sprintf("write %q", in.value)
		default:
			s = fmt.Sprintf("cas %q->%q", in.old, in.value)
			switch {
			case out.unknown:
			case out.swapped:
				s += " ok"
			default:
				s += fmt.Sprintf(" failed (%q)", out.read)
			}
		}
		if out.unknown {
			s += " ?"
		}
		return s
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// linHistory turns one key's recorded ops into porcupine operations.
//
// Failed ops are left out. An unknown op gets an open end, unless the
// value it wrote was observed: it then took effect before the first
// observer completed, and that is its end (exact, since every value is
// written once). An unknown op whose value nobody read or compared with is
// left out: a history without it is linearizable only if one with it is
// (it can take effect last), so this can hide no violation.
//
// It also reports, with a clearer message than the checker would give, a
// value observed that no op could have written, or observed before its
// write was invoked.
func linHistory(ops []*linOp) ([]porcupine.Operation, []error) {
	writers := map[string]*linOp{}    // the ops that may have written a value
	notWritten := map[string]*linOp{} // the ops that tried to and did not
	referenced := map[string]bool{}
	for _, o := range ops {
		if o.kind == linRead {
			continue
		}
		if o.outcome == linFailed || (o.kind == linCAS && o.outcome == linOK && !o.swapped) {
			notWritten[o.value] = o
		} else {
			writers[o.value] = o
		}
		if o.kind == linCAS {
			referenced[o.old] = true
		}
	}
	ends := map[*linOp]int64{}
	var errs []error
	observe := func(by *linOp, v string) {
		if v == "" {
			return
		}
		referenced[v] = true
		w := writers[v]
		switch {
		case w == nil && notWritten[v] != nil:
			errs = append(errs, fmt.Errorf("%v observed %q, from an op that did not write it: %v", by, v, notWritten[v]))
			return
		case w == nil:
			errs = append(errs, fmt.Errorf("%v observed %q, which no op wrote", by, v))
			return
		case by.ret < w.call:
			errs = append(errs, fmt.Errorf("%v observed %q before it was written: %v", by, v, w))
			return
		}
		if w.outcome == linUnknown {
			if e, ok := ends[w]; !ok || by.ret < e {
				ends[w] = by.ret
			}
		}
	}
	for _, o := range ops {
		if o.outcome != linOK {
			continue
		}
		switch {
		case o.kind == linRead:
			observe(o, o.read)
		case o.kind == linCAS && o.swapped:
			observe(o, o.old)
		case o.kind == linCAS:
			observe(o, o.read)
		}
	}
	var out []porcupine.Operation
	for _, o := range ops {
		if o.outcome == linFailed {
			continue
		}
		ret := o.ret
		if o.outcome == linUnknown {
			if !referenced[o.value] {
				continue
			}
			ret = math.MaxInt64
			if e, ok := ends[o]; ok {
				ret = e
			}
		}
		out = append(out, porcupine.Operation{
			ClientId: o.client,
			Input:    linInput{kind: o.kind, value: o.value, old: o.old},
			Call:     o.call,
			Output:   linOutput{unknown: o.outcome == linUnknown, read: o.read, swapped: o.swapped},
			Return:   ret,
			Metadata: o,
		})
	}
	return out, errs
}

// linClient is one client: it runs its ops one after another until ctx
// ends (an op in flight then still completes).
type linClient struct {
	id      int
	urls    []string
	http    *http.Client
	rng     *rand.Rand
	start   time.Time
	counter *atomic.Int64
	seq     int
	last    map[string]string // the last value this client saw per key
	ops     []*linOp
	sent    int            // requests, including failed reads (not recorded)
	reasons map[string]int // why requests failed or had an unknown outcome
}

func (c *linClient) now() int64 { return int64(time.Since(c.start)) }

func (c *linClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		n := c.counter.Add(1) - 1
		key := fmt.Sprintf("lin/%04d/%d", n/linOpsPerEpoch, c.rng.IntN(linKeysPerEpoch))
		member := c.rng.IntN(len(c.urls))
		op := &linOp{client: c.id, member: member, key: key}
		switch r := c.rng.IntN(10); {
		case r < 5:
			op.kind = linRead
		case r < 8:
			op.kind = linWrite
		default:
			op.kind = linCAS
			old, ok := c.last[key]
			if !ok || old == "" {
				op.kind = linRead
			}
			op.old = old
		}
		if op.kind != linRead {
			c.seq++
			op.value = fmt.Sprintf("c%d-%d", c.id, c.seq)
		}
		c.do(op)
		c.sent++
		if op.outcome != linOK {
			c.reasons[op.kind.String()+": "+linReason(op.note)]++
		}
		if op.kind == linRead && op.outcome == linFailed {
			// A failed read tells nothing: not recorded.
		} else {
			c.ops = append(c.ops, op)
		}
		switch {
		case op.outcome == linOK && op.kind == linRead:
			c.last[key] = op.read
		case op.outcome == linOK && op.kind == linWrite, op.outcome == linOK && op.swapped:
			c.last[key] = op.value
		case op.outcome == linOK:
			c.last[key] = op.read
		case op.outcome == linUnknown:
			delete(c.last, key)
		}
		if op.outcome == linFailed {
			// Not carried out (503 no_leader, a stopped member): give the
			// cluster a moment rather than spin.
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(20+c.rng.IntN(30)) * time.Millisecond):
			}
		}
	}
}

// do sends op and records its outcome.
func (c *linClient) do(op *linOp) {
	ctx := context.Background()
	base := c.urls[op.member]
	var req *http.Request
	switch op.kind {
	case linRead:
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/kv/"+op.key+"?raw", nil)
	case linWrite:
		req, _ = http.NewRequestWithContext(ctx, http.MethodPut, base+"/v1/kv/"+op.key, strings.NewReader(op.value))
	case linCAS:
		body, _ := json.Marshal(map[string]any{
			"compare": []any{map[string]any{"key": op.key, "target": "value", "result": "equal", "value": op.old}},
			"success": []any{map[string]any{"put": map[string]any{"key": op.key, "value": op.value}}},
			"failure": []any{map[string]any{"get": map[string]any{"key": op.key}}},
		})
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/txn", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	op.call = c.now()
	resp, err := c.http.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	op.ret = c.now()
	var opErr *net.OpError
	switch {
	case err != nil && errors.As(err, &opErr) && opErr.Op == "dial":
		op.outcome, op.note = linFailed, "not sent: "+err.Error()
		return
	case err != nil:
		op.outcome, op.note = linUnknown, err.Error()
	case resp.StatusCode == http.StatusServiceUnavailable:
		op.outcome, op.note = linFailed, "503 "+string(bytes.TrimSpace(body))
		return
	case resp.StatusCode == http.StatusNotFound && op.kind == linRead:
		op.outcome = linOK
		return
	case resp.StatusCode != http.StatusOK:
		// 504, or anything unexpected: a write may have taken effect.
		op.outcome, op.note = linUnknown, fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
	default:
		op.outcome = linOK
	}
	if op.outcome == linUnknown {
		if op.kind == linRead {
			op.outcome = linFailed
		}
		op.ret = math.MaxInt64
		return
	}
	switch op.kind {
	case linRead:
		op.read = string(body)
	case linCAS:
		var tr struct {
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
			op.outcome, op.note, op.ret = linUnknown, fmt.Sprintf("bad txn answer %q: %v", body, err), math.MaxInt64
			return
		}
		op.swapped = tr.Succeeded
		if !tr.Succeeded && len(tr.Responses) == 1 && tr.Responses[0].Get != nil && len(tr.Responses[0].Get.Kvs) == 1 {
			if v := tr.Responses[0].Get.Kvs[0].Value; v != nil {
				op.read = *v
			}
		}
	}
}

// linFault is one fault, from its injection until the cluster had an
// agreed leader again with every member running and connected.
type linFault struct {
	what       string
	start, end int64
}

func TestCluster_Linearizable(t *testing.T) {
	t.Parallel()
	runFor := 12 * time.Second
	if os.Getenv("CAIRN_SOAK") != "" {
		runFor = 2 * time.Minute
		if d, err := time.ParseDuration(os.Getenv("CAIRN_SOAK")); err == nil {
			runFor = d
		}
	}
	ms := startCluster(t, 3)
	urls := make([]string, len(ms))
	for i, m := range ms {
		urls[i] = m.URL // a restarted member keeps its URL
	}
	leaderIndex(t, ms, 10*time.Second)

	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var counter atomic.Int64
	clients := make([]*linClient, linClients)
	var wg sync.WaitGroup
	for i := range clients {
		c := &linClient{
			id: i, urls: urls, start: start, counter: &counter,
			http: &http.Client{Timeout: linClientWait, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
			rng:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))),
			last: map[string]string{}, reasons: map[string]int{},
		}
		clients[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx)
		}()
	}

	// The faults, one after another, each with an agreed leader before
	// the next; the clients keep going throughout.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 99))
	hold := func() { time.Sleep(time.Duration(600+rng.IntN(600)) * time.Millisecond) }
	var faults []linFault
	others := func(i int) []*member {
		var out []*member
		for j, m := range ms {
			if j != i {
				out = append(out, m)
			}
		}
		return out
	}
	time.Sleep(500 * time.Millisecond) // some history before the first fault
	for i := 0; time.Since(start) < runFor; i++ {
		li := leaderIndex(t, ms, 10*time.Second)
		f := linFault{start: now()}
		switch i % 3 {
		case 0:
			old := ms[li]
			f.what = "stop leader " + old.cfg.Name
			old.stop()
			leaderIndex(t, ms, 10*time.Second) // among the two running
			hold()
			ms[li] = startMember(t, old.cfg)
			waitReady(t, ms[li].URL, 20*time.Second)
		case 1:
			f.what = "cut off leader " + ms[li].cfg.Name
			partition(t, ms, ms[li])
			leaderIndex(t, others(li), 10*time.Second)
			hold()
			partition(t, ms)
		case 2:
			fi := (li + 1 + rng.IntN(2)) % 3
			f.what = "cut off follower " + ms[fi].cfg.Name
			partition(t, ms, ms[fi])
			hold()
			partition(t, ms)
		}
		leaderIndex(t, ms, 20*time.Second)
		for _, m := range ms {
			waitReady(t, m.URL, 20*time.Second)
		}
		f.end = now()
		faults = append(faults, f)
		time.Sleep(time.Duration(200+rng.IntN(300)) * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a quiet tail
	cancel()
	wg.Wait()
	clientsDone := now()

	// Gather the history.
	var ops []*linOp
	sent := 0
	reasons := map[string]int{}
	for _, c := range clients {
		ops = append(ops, c.ops...)
		sent += c.sent
		for r, n := range c.reasons {
			reasons[r] += n
		}
		c.http.CloseIdleConnections()
	}
	byKey := map[string][]*linOp{}
	for _, o := range ops {
		byKey[o.key] = append(byKey[o.key], o)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	// A final linearizable read of every key, part of the history.
	final := &http.Client{Timeout: 10 * time.Second}
	for i, k := range keys {
		var op *linOp
		waitFor(t, 30*time.Second, "a final read of "+k, func() bool {
			op = &linOp{client: linClients, member: i % len(urls), key: k, kind: linRead, call: now()}
			resp, err := final.Get(urls[op.member] + "/v1/kv/" + k + "?raw")
			if err != nil {
				return false
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			op.ret = now()
			switch {
			case err != nil:
				return false
			case resp.StatusCode == http.StatusOK:
				op.read = string(b)
			case resp.StatusCode != http.StatusNotFound:
				return false
			}
			return true
		})
		byKey[k] = append(byKey[k], op)
		// No acknowledged write is lost: the last value is one that was
		// written by an op that completed or whose outcome is unknown.
		acked := false
		for _, o := range byKey[k] {
			if o.kind != linRead && o.outcome == linOK && (o.kind == linWrite || o.swapped) {
				acked = true
			}
		}
		if acked && op.read == "" {
			t.Errorf("key %s: writes were acknowledged but a final read finds it empty", k)
		}
	}

	// Counts.
	type tally struct{ ok, unknown, failed, inFault int }
	counts := map[linKind]*tally{linRead: {}, linWrite: {}, linCAS: {}}
	inFault := func(o *linOp) bool {
		for _, f := range faults {
			if o.call <= f.end && o.ret >= f.start {
				return true
			}
		}
		return false
	}
	casSwapped := 0
	for _, o := range ops {
		c := counts[o.kind]
		switch o.outcome {
		case linOK:
			c.ok++
			if inFault(o) {
				c.inFault++
			}
			if o.swapped {
				casSwapped++
			}
		case linUnknown:
			c.unknown++
		case linFailed:
			c.failed++
		}
	}
	var faultNames []string
	for _, f := range faults {
		faultNames = append(faultNames, fmt.Sprintf("%s [%.1fs-%.1fs]", f.what, float64(f.start)/1e9, float64(f.end)/1e9))
	}
	t.Logf("%.1fs of clients, %d requests, %d ops recorded on %d keys (at most %d per key); faults (%d): %s",
		float64(clientsDone)/1e9, sent, len(ops), len(keys), maxOps(byKey), len(faults), strings.Join(faultNames, ", "))
	for _, k := range []linKind{linRead, linWrite, linCAS} {
		c := counts[k]
		t.Logf("%-5s: %d ok (%d during faults), %d unknown outcome, %d not carried out", k, c.ok, c.inFault, c.unknown, c.failed)
	}
	t.Logf("cas: %d swapped, %d found another value", casSwapped, counts[linCAS].ok-casSwapped)
	var rs []string
	for r, n := range reasons {
		rs = append(rs, fmt.Sprintf("%s ×%d", r, n))
	}
	sort.Strings(rs)
	t.Logf("requests not completed: %s", strings.Join(rs, "; "))
	for _, k := range []linKind{linRead, linWrite, linCAS} {
		if counts[k].inFault == 0 {
			t.Errorf("no %s completed during the faults", k)
		}
	}
	if len(faults) < 3 {
		t.Errorf("only %d faults were injected", len(faults))
	}

	// Check each key.
	checkStart := time.Now()
	var slowest time.Duration
	var slowestKey string
	failed := 0
	for _, k := range keys {
		hist, errs := linHistory(byKey[k])
		for _, err := range errs {
			t.Errorf("key %s: %v", k, err)
		}
		t0 := time.Now()
		res := porcupine.CheckOperationsTimeout(linModel, hist, 30*time.Second)
		if d := time.Since(t0); d > slowest {
			slowest, slowestKey = d, k
		}
		switch {
		case res == porcupine.Unknown:
			t.Errorf("key %s: the checker timed out on %d ops", k, len(hist))
		case res != porcupine.Ok || len(errs) > 0:
			failed++
			t.Errorf("key %s: the history is not linearizable", k)
			if failed == 1 {
				linReport(t, k, byKey[k], hist)
			}
		}
	}
	t.Logf("checked %d keys in %v (slowest %s: %v)", len(keys), time.Since(checkStart).Round(time.Millisecond), slowestKey, slowest.Round(time.Microsecond))
}

// linReason is a short form of why an op failed or has an unknown outcome.
func linReason(note string) string {
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

func maxOps(byKey map[string][]*linOp) int {
	n := 0
	for _, ops := range byKey {
		n = max(n, len(ops))
	}
	return n
}

// linReport logs the part of a key's history where linearization got
// stuck, and writes the whole history and porcupine's visualization of it
// to a directory that outlives the test.
func linReport(t *testing.T, key string, ops []*linOp, hist []porcupine.Operation) {
	t.Helper()
	sorted := slices.Clone(ops)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].call < sorted[j].call })

	// The first op (by invocation) outside the longest partial
	// linearization is where it got stuck.
	_, info := porcupine.CheckOperationsVerbose(linModel, hist, 30*time.Second)
	var longest []int
	for _, part := range info.PartialLinearizations() {
		for _, l := range part {
			if len(l) > len(longest) {
				longest = l
			}
		}
	}
	in := map[*linOp]bool{}
	for _, i := range longest {
		in[hist[i].Metadata.(*linOp)] = true
	}
	var stuck *linOp
	for _, o := range sorted {
		if o.outcome != linFailed && !in[o] && (o.outcome == linOK || o.ret != math.MaxInt64) {
			stuck = o
			break
		}
	}
	var b strings.Builder
	if stuck != nil {
		fmt.Fprintf(&b, "the longest linearizable part has %d of %d ops; the first op outside it is\n  %v\nand around it:", len(longest), len(hist), stuck)
		for _, o := range sorted {
			if o.call <= stuck.call+int64(200*time.Millisecond) && o.ret >= stuck.call-int64(300*time.Millisecond) {
				fmt.Fprintf(&b, "\n  %v", o)
			}
		}
	}
	t.Logf("key %s: %s", key, b.String())

	dir, err := os.MkdirTemp("", "cairn-linearizable-")
	if err != nil {
		t.Log(err)
		return
	}
	var all strings.Builder
	for _, o := range sorted {
		fmt.Fprintf(&all, "%v\n", o)
	}
	if err := os.WriteFile(dir+"/history.txt", []byte(all.String()), 0o644); err != nil {
		t.Log(err)
	}
	if err := porcupine.VisualizePath(linModel, info, dir+"/history.html"); err != nil {
		t.Log(err)
	}
	t.Logf("key %s: the whole history is in %s (history.txt, history.html)", key, dir)
}

// The model and the history preparation on small hand-made histories.
func TestLinearizableModel(t *testing.T) {
	const inf = math.MaxInt64
	w := func(c int, v string, call, ret int64) *linOp {
		o := &linOp{client: c, key: "k", kind: linWrite, value: v, call: call, ret: ret}
		if ret == inf {
			o.outcome = linUnknown
		}
		return o
	}
	r := func(c int, v string, call, ret int64) *linOp {
		return &linOp{client: c, key: "k", kind: linRead, read: v, call: call, ret: ret}
	}
	cas := func(c int, old, v string, swapped bool, found string, call, ret int64) *linOp {
		o := &linOp{client: c, key: "k", kind: linCAS, old: old, value: v, swapped: swapped, read: found, call: call, ret: ret}
		if ret == inf {
			o.outcome = linUnknown
		}
		return o
	}
	failed := func(o *linOp) *linOp { o.outcome = linFailed; return o }
	cases := []struct {
		name    string
		ops     []*linOp
		ok      bool
		prepErr bool // linHistory reports it before the checker
	}{
		{"empty read", []*linOp{r(0, "", 0, 1)}, true, false},
		{"write then read", []*linOp{w(0, "a", 0, 1), r(1, "a", 2, 3)}, true, false},
		{"stale read", []*linOp{w(0, "a", 0, 1), w(0, "b", 2, 3), r(1, "a", 4, 5)}, false, false},
		{"read of an empty register after a write", []*linOp{w(0, "a", 0, 1), r(1, "", 2, 3)}, false, false},
		{"concurrent read may see either", []*linOp{w(0, "a", 0, 1), w(0, "b", 2, 10), r(1, "a", 3, 4), r(2, "b", 5, 6)}, true, false},
		{"reads go back in time", []*linOp{w(0, "a", 0, 1), w(0, "b", 2, 10), r(1, "b", 3, 4), r(2, "a", 5, 6)}, false, false},
		{"read from the future", []*linOp{r(1, "a", 0, 1), w(0, "a", 2, 3)}, false, true},
		{"read of a value never written", []*linOp{r(1, "z", 0, 1)}, false, true},
		{"read of a write not carried out", []*linOp{failed(w(0, "a", 0, 1)), r(1, "a", 2, 3)}, false, true},
		{"unknown write never seen", []*linOp{w(0, "a", 0, 1), w(0, "b", 2, inf), r(1, "a", 5, 6)}, true, false},
		{"unknown write seen late", []*linOp{w(0, "a", 0, 1), w(0, "b", 2, inf), r(1, "a", 5, 6), r(1, "b", 7, 8)}, true, false},
		{"unknown write seen, then gone", []*linOp{w(0, "a", 0, 1), w(0, "b", 2, inf), r(1, "b", 5, 6), r(1, "a", 7, 8)}, false, false},
		{"cas swaps", []*linOp{w(0, "a", 0, 1), cas(1, "a", "b", true, "", 2, 3), r(2, "b", 4, 5)}, true, false},
		{"cas swaps a value that is not there", []*linOp{w(0, "a", 0, 1), w(0, "c", 2, 3), cas(1, "a", "b", true, "", 4, 5)}, false, false},
		{"cas fails on another value", []*linOp{w(0, "a", 0, 1), w(0, "c", 2, 3), cas(1, "a", "b", false, "c", 4, 5)}, true, false},
		{"cas fails on the value it compares", []*linOp{w(0, "a", 0, 1), cas(1, "a", "b", false, "a", 4, 5)}, false, false},
		{"read of a failed cas's value", []*linOp{w(0, "a", 0, 1), w(0, "c", 2, 3), cas(1, "a", "b", false, "c", 4, 5), r(2, "b", 6, 7)}, false, true},
		{"cas fails on a stale value", []*linOp{w(0, "a", 0, 1), w(0, "c", 2, 3), w(0, "d", 4, 5), cas(1, "a", "b", false, "c", 6, 7)}, false, false},
		{"unknown cas seen", []*linOp{w(0, "a", 0, 1), cas(1, "a", "b", false, "", 2, inf), r(2, "b", 3, 4)}, true, false},
		{"unknown cas seen without its compare holding", []*linOp{w(0, "a", 0, 1), w(0, "c", 2, 3), cas(1, "a", "b", false, "", 4, inf), r(2, "b", 5, 6)}, false, false},
		{"two unknown writes, the later seen first", []*linOp{w(0, "a", 0, inf), w(1, "b", 1, inf), r(2, "b", 2, 3), r(2, "a", 4, 5), r(2, "a", 6, 7)}, true, false},
		{"two unknown writes seen both ways", []*linOp{w(0, "a", 0, inf), w(1, "b", 1, inf), r(2, "b", 2, 3), r(2, "a", 4, 5), r(2, "b", 6, 7)}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hist, errs := linHistory(tc.ops)
			if got := len(errs) > 0; got != tc.prepErr {
				t.Fatalf("linHistory errors %v, want some: %v", errs, tc.prepErr)
			}
			if tc.prepErr {
				return
			}
			if got := porcupine.CheckOperations(linModel, hist); got != tc.ok {
				t.Fatalf("linearizable = %v, want %v", got, tc.ok)
			}
		})
	}
	// The open end of an unknown write is closed by its first observer.
	hist, _ := linHistory([]*linOp{w(0, "a", 0, inf), r(1, "a", 5, 6), r(1, "a", 7, 8), w(0, "b", 9, inf)})
	if len(hist) != 3 || hist[0].Return != 6 {
		t.Fatalf("history %+v: want the unknown write ending at 6 and the unseen one left out", hist)
	}
}
