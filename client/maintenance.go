package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/cairnkv/cairn/internal/snapfile"
)

// Snapshot writes a snapshot of the store of the member the client talks
// to (any member: it is served locally) to w, and returns its revision: a
// backup that `cairn snapshot restore` turns into the data dirs of a new
// cluster. It checks the file as it streams it (format, length, SHA-256),
// so a nil error means w received a whole, intact snapshot; after an
// error w may hold part of one, which restore refuses. It is not bounded
// by Config.RequestTimeout (a large store takes a while): bound it with
// ctx. With auth on it needs the root role.
func (c *Client) Snapshot(ctx context.Context, w io.Writer) (rev int64, err error) {
	ctx, cancel := c.scope(ctx, true)
	defer cancel()
	r := &request{method: http.MethodGet, path: "/v1/maintenance/snapshot", idempotent: true, long: true}
	resp, err := c.roundTrip(ctx, r, true)
	if err != nil {
		return 0, err
	}
	defer resp.stream.Body.Close()
	// The file goes to w byte for byte while a snapfile reader checks it.
	sr, err := snapfile.NewReader(io.TeeReader(resp.stream.Body, w))
	if err != nil {
		return 0, fmt.Errorf("cairn: snapshot from %s: %w", resp.endpoint, err)
	}
	if _, err := io.Copy(io.Discard, sr); err != nil {
		return 0, fmt.Errorf("cairn: snapshot from %s: %w", resp.endpoint, err)
	}
	rev = sr.Header().Revision
	if h, err := strconv.ParseInt(resp.header.Get("X-Cairn-Revision"), 10, 64); err != nil || h != rev {
		return 0, fmt.Errorf("cairn: snapshot from %s: revision %d in the file, %q in X-Cairn-Revision", resp.endpoint, rev, resp.header.Get("X-Cairn-Revision"))
	}
	return rev, nil
}
