package lease

import "time"

// item is one lease as the leader's lessor tracks it.
type item struct {
	id       int64
	ttl      int64 // granted TTL, seconds
	deadline time.Time
	// checkpointed is the remaining TTL recorded in the store (0: none).
	checkpointed int64
	revoking     bool // a revoke is in flight
	index        int  // in the heap
}

// deadlines is a min-heap of items by deadline (container/heap).
type deadlines []*item

func (h deadlines) Len() int           { return len(h) }
func (h deadlines) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlines) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *deadlines) Push(x any) {
	it := x.(*item)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *deadlines) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.index = -1
	return it
}
