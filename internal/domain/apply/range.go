package apply

import (
	"bytes"
	"sort"

	"github.com/cairnkv/cairn/internal/domain"
	"github.com/cairnkv/cairn/internal/ports"
)

// Range answers req from r: it reads the range at the requested revision,
// applies the revision filters, sorts, cuts at the limit and strips values
// for keys_only. It returns the answer and the revision it reflects.
//
// Count is the number of keys in the range that pass the filters; More says
// that Limit left some of them out.
func Range(r ports.Reader, req *domain.RangeRequest) (domain.RangeResponse, int64, error) {
	var resp domain.RangeResponse
	order := req.SortOrder
	if order == domain.SortNone && req.SortTarget != domain.SortByKey {
		order = domain.SortAscend
	}
	keyOrder := req.SortTarget == domain.SortByKey && order != domain.SortDescend
	filtered := req.MinModRevision > 0 || req.MaxModRevision > 0 ||
		req.MinCreateRevision > 0 || req.MaxCreateRevision > 0

	opts := ports.RangeOptions{Rev: req.Revision}
	if req.CountOnly && !filtered {
		opts.CountOnly = true
	} else if keyOrder && !filtered && req.Limit > 0 {
		// The store returns keys in ascending order: it can cut at the
		// limit itself, and Count still covers the whole range.
		opts.Limit = req.Limit
	}
	rr, err := r.Range(req.Key, req.RangeEnd, opts)
	if err != nil {
		return resp, 0, err
	}
	kvs := rr.KVs
	resp.Count = rr.Count
	if filtered {
		kvs = filter(kvs, req)
		resp.Count = int64(len(kvs))
	}
	if req.CountOnly {
		return resp, rr.Rev, nil
	}
	if !keyOrder {
		sortKVs(kvs, req.SortTarget, order)
	}
	if req.Limit > 0 && int64(len(kvs)) > req.Limit {
		kvs = kvs[:req.Limit]
	}
	resp.More = int64(len(kvs)) < resp.Count
	if req.KeysOnly {
		for i := range kvs {
			kvs[i].Value = nil
		}
	}
	resp.Kvs = kvs
	return resp, rr.Rev, nil
}

func filter(kvs []domain.KeyValue, req *domain.RangeRequest) []domain.KeyValue {
	out := kvs[:0]
	for _, kv := range kvs {
		switch {
		case req.MinModRevision > 0 && kv.ModRevision < req.MinModRevision,
			req.MaxModRevision > 0 && kv.ModRevision > req.MaxModRevision,
			req.MinCreateRevision > 0 && kv.CreateRevision < req.MinCreateRevision,
			req.MaxCreateRevision > 0 && kv.CreateRevision > req.MaxCreateRevision:
			continue
		}
		out = append(out, kv)
	}
	return out
}

// sortKVs sorts by target, ties broken by key so that the order is total.
func sortKVs(kvs []domain.KeyValue, target domain.SortTarget, order domain.SortOrder) {
	cmp := func(a, b *domain.KeyValue) int {
		var c int
		switch target {
		case domain.SortByVersion:
			c = cmpInt(a.Version, b.Version)
		case domain.SortByCreate:
			c = cmpInt(a.CreateRevision, b.CreateRevision)
		case domain.SortByMod:
			c = cmpInt(a.ModRevision, b.ModRevision)
		case domain.SortByValue:
			c = bytes.Compare(a.Value, b.Value)
		}
		if c == 0 {
			c = bytes.Compare(a.Key, b.Key)
		}
		return c
	}
	sort.SliceStable(kvs, func(i, j int) bool {
		c := cmp(&kvs[i], &kvs[j])
		if order == domain.SortDescend {
			return c > 0
		}
		return c < 0
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
