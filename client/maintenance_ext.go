package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// HashKVResponse is the answer of HashKV.
type HashKVResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Hash is a 32-bit hash of the key-value history from
	// CompactRevision to Revision: equal on every member at the same
	// revision.
	Hash uint32
	// Revision is the revision hashed up to.
	Revision int64
	// CompactRevision is the revision the hashed history starts at.
	CompactRevision int64
}

// HashKV returns the hash of the key-value history of the member the
// client talks to, up to revision rev (0: now), once that member has
// applied everything the cluster committed. Compare it across members
// (one client per endpoint) at the same revision: a difference means a
// store diverged. A compacted rev is ErrCompacted. With auth on it needs
// the root role.
func (c *Client) HashKV(ctx context.Context, rev int64) (*HashKVResponse, error) {
	q := url.Values{}
	setInt(q, "revision", rev)
	var out struct {
		Header          *headerJSON `json:"header"`
		Hash            uint32      `json:"hash"`
		Revision        int64       `json:"revision"`
		CompactRevision int64       `json:"compact_revision"`
	}
	r := &request{method: http.MethodGet, path: "/v1/maintenance/hash", query: q, idempotent: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &HashKVResponse{Header: out.Header.toHeader(), Hash: out.Hash, Revision: out.Revision,
		CompactRevision: out.CompactRevision}, nil
}

// AlarmType is the kind of an alarm.
type AlarmType string

// The alarms a cluster raises.
const (
	// AlarmNoSpace: a member's store passed its quota; writes that add
	// data fail with ErrSpaceExceeded until it is disarmed.
	AlarmNoSpace AlarmType = "NOSPACE"
	// AlarmCorrupt: a member's store differs from the majority's.
	AlarmCorrupt AlarmType = "CORRUPT"
)

// AlarmMember is an alarm raised for a member.
type AlarmMember struct {
	// MemberID is the member the alarm is raised for.
	MemberID uint64
	// Alarm is the alarm.
	Alarm AlarmType
}

// AlarmResponse is the answer of AlarmList and AlarmDisarm.
type AlarmResponse struct {
	// Header says which member answered.
	Header ResponseHeader
	// Alarms are the alarms raised (for AlarmDisarm: those left).
	Alarms []AlarmMember
}

type alarmJSON struct {
	MemberID uint64 `json:"member_id"`
	Alarm    string `json:"alarm"`
}

func toAlarms(as []alarmJSON) []AlarmMember {
	var out []AlarmMember
	for _, a := range as {
		out = append(out, AlarmMember{MemberID: a.MemberID, Alarm: AlarmType(a.Alarm)})
	}
	return out
}

func (c *Client) alarms(ctx context.Context, r *request) (*AlarmResponse, error) {
	var out struct {
		Header *headerJSON `json:"header"`
		Alarms []alarmJSON `json:"alarms"`
	}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &AlarmResponse{Header: out.Header.toHeader(), Alarms: toAlarms(out.Alarms)}, nil
}

// AlarmList returns the alarms raised for the cluster (every member holds
// the same set). With auth on it needs the root role.
func (c *Client) AlarmList(ctx context.Context) (*AlarmResponse, error) {
	return c.alarms(ctx, &request{method: http.MethodGet, path: "/v1/maintenance/alarms", idempotent: true})
}

// AlarmDisarm clears the alarms that match m: a zero MemberID matches
// every member, an empty Alarm every kind (AlarmMember{} clears them
// all). It returns the alarms left. Clear NOSPACE after freeing space: a
// member still past its quota raises it again within a second. Clearing
// is idempotent, so it is sent again to another member after any failure.
// With auth on it needs the root role.
func (c *Client) AlarmDisarm(ctx context.Context, m AlarmMember) (*AlarmResponse, error) {
	q := url.Values{}
	if m.MemberID != 0 {
		q.Set("member_id", strconv.FormatUint(m.MemberID, 10))
	}
	if m.Alarm != "" {
		q.Set("alarm", string(m.Alarm))
	}
	return c.alarms(ctx, &request{method: http.MethodDelete, path: "/v1/maintenance/alarms", query: q, idempotent: true})
}

// DefragmentResponse is the answer of Defragment.
type DefragmentResponse struct {
	// Header says which member was defragmented.
	Header ResponseHeader
	// DBSizeBefore and DBSizeAfter are the bytes of the member's store
	// file before and after.
	DBSizeBefore, DBSizeAfter int64
	// Took is how long the whole defragmentation took, copy and switch.
	Took time.Duration
	// Pause is how long the member's applies waited for the switch to the
	// new file.
	Pause time.Duration
}

// Defragment rewrites the store of the member the client talks to into a
// compact file, giving the space freed by deletes and compactions back to
// the file system, while the member keeps serving. It acts on the member
// that answers only (it is not forwarded; like any write, it goes to the
// next endpoint when a member certainly did not get it): to defragment a
// given member, or each member of a cluster one after the other, use a
// client of that one endpoint. A defragmentation of that member already
// running is ErrConflict. It is not bounded by Config.RequestTimeout (a large store
// takes a while): bound it with ctx. With auth on it needs the root role.
func (c *Client) Defragment(ctx context.Context) (*DefragmentResponse, error) {
	var out struct {
		Header       *headerJSON `json:"header"`
		DBSizeBefore int64       `json:"db_size_before"`
		DBSizeAfter  int64       `json:"db_size_after"`
		TookMS       int64       `json:"took_ms"`
		PauseMS      float64     `json:"pause_ms"`
	}
	r := &request{method: http.MethodPost, path: "/v1/maintenance/defragment", long: true}
	if _, err := c.call(ctx, r, &out); err != nil {
		return nil, err
	}
	return &DefragmentResponse{Header: out.Header.toHeader(), DBSizeBefore: out.DBSizeBefore, DBSizeAfter: out.DBSizeAfter,
		Took: time.Duration(out.TookMS) * time.Millisecond, Pause: time.Duration(out.PauseMS * float64(time.Millisecond))}, nil
}
