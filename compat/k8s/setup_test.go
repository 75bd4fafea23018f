package k8s

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"go.etcd.io/etcd/client/v3/kubernetes"

	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/etcd3"
	etcdfeature "k8s.io/apiserver/pkg/storage/feature"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"
	"k8s.io/utils/clock"
)

// The objects stored are the example API group's pods, as in the
// apiserver's own etcd3 tests.
var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func init() {
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(example.AddToScheme(scheme))
	utilruntime.Must(examplev1.AddToScheme(scheme))
}

// valuePrefix is what the test transformer puts in front of every value.
const valuePrefix = "test!"

// maxListLimit is the etcd3 store's largest page (its constant maxLimit),
// which the page-count check of the continuation tests needs.
const maxListLimit = 10000

// config is what one test's store is built from; newStore starts a fresh
// Cairn cluster for it, as the apiserver's testSetup starts a fresh etcd.
type config struct {
	cairn          cairnOptions
	codec          runtime.Codec
	prefix         string
	resourcePrefix string
	transformer    value.Transformer // nil: a PrefixTransformer behind a swappable one
	leaseConfig    etcd3.LeaseManagerConfig
}

type option func(*config)

func withCodec(c runtime.Codec) option            { return func(cfg *config) { cfg.codec = c } }
func withTransformer(tr value.Transformer) option { return func(cfg *config) { cfg.transformer = tr } }
func withWatchHeartbeat(c cairnOptions) option    { return func(cfg *config) { cfg.cairn = c } }

// env is one test's store and what the suites need beside it.
type env struct {
	ctx    context.Context
	store  storage.Interface
	client *kubernetes.Client
	codec  runtime.Codec
	// swap is the store's transformer, nil when the test gave its own.
	swap *swapTransformer
	// prefixTransformer is the PrefixTransformer behind swap.
	prefixTransformer *storagetesting.PrefixTransformer
	// keysPrefix is the etcd key prefix of the pods (for Stats' KeysFunc).
	keysPrefix string
}

func newStore(t testing.TB, opts ...option) *env {
	t.Helper()
	leaseCfg := etcd3.NewDefaultLeaseManagerConfig()
	// As in the apiserver's tests: reuse a lease for 1s, not 60s, so that
	// TTL tests do not wait past the 30s test timeouts.
	leaseCfg.ReuseDurationSeconds = 1
	cfg := config{
		codec:          apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion),
		resourcePrefix: "/pods/",
		leaseConfig:    leaseCfg,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{ctx: context.Background(), codec: cfg.codec}
	if cfg.transformer == nil {
		e.prefixTransformer = storagetesting.NewPrefixTransformer([]byte(valuePrefix), false)
		e.swap = &swapTransformer{}
		e.swap.set(e.prefixTransformer)
		cfg.transformer = e.swap
	}
	e.client = startCairn(t, cfg.cairn)
	versioner := storage.APIObjectVersioner{}
	compactor := etcd3.NewCompactor(e.client.Client, 0, clock.RealClock{}, nil)
	t.Cleanup(compactor.Stop)
	s, err := etcd3.New(e.client, compactor, cfg.codec, newPod, newPodList, cfg.prefix, cfg.resourcePrefix,
		schema.GroupResource{Resource: "pods"}, cfg.transformer, cfg.leaseConfig,
		etcd3.NewDefaultDecoder(cfg.codec, versioner), versioner)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e.store = s
	e.keysPrefix = "/pods/" // prefix "" and resource prefix "/pods/"
	return e
}

func newPod() runtime.Object     { return &example.Pod{} }
func newPodList() runtime.Object { return &example.PodList{} }

// swapTransformer is the store's value transformer; the suites that corrupt
// data on purpose replace what it delegates to, and put it back.
type swapTransformer struct {
	mu sync.RWMutex
	tr value.Transformer
}

func (s *swapTransformer) get() value.Transformer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tr
}

func (s *swapTransformer) set(tr value.Transformer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tr = tr
}

func (s *swapTransformer) TransformFromStorage(ctx context.Context, data []byte, dc value.Context) ([]byte, bool, error) {
	return s.get().TransformFromStorage(ctx, data, dc)
}

func (s *swapTransformer) TransformToStorage(ctx context.Context, data []byte, dc value.Context) ([]byte, error) {
	return s.get().TransformToStorage(ctx, data, dc)
}

// withPrefixTransformer gives a store the UpdatePrefixTransformer the
// suites use to make values untransformable for a while.
type withPrefixTransformer struct {
	storage.Interface
	e *env
}

func (w withPrefixTransformer) UpdatePrefixTransformer(modify storagetesting.PrefixTransformerModifier) func() {
	orig := w.e.swap.get()
	cp := *w.e.prefixTransformer
	w.e.swap.set(modify(&cp))
	return func() { w.e.swap.set(orig) }
}

// withTransformerOverride gives a store the UpdateTransformer of the
// suites on corrupt objects.
type withTransformerOverride struct {
	storage.Interface
	e *env
}

func (w withTransformerOverride) UpdateTransformer(modify storagetesting.TransformerModifier) func() {
	orig := w.e.swap.get()
	w.e.swap.set(modify(orig))
	return func() { w.e.swap.set(orig) }
}

// storedObjectInvariants is the KeyValidation of Create and GuaranteedUpdate:
// read the key straight from Cairn with the etcd client, strip the
// transformer's prefix, decode, and check that neither a resource version
// nor a self link was stored.
func (e *env) storedObjectInvariants() storagetesting.KeyValidation {
	return func(ctx context.Context, t *testing.T, key string) {
		resp, err := e.client.KV.Get(ctx, key)
		if err != nil {
			t.Fatalf("get %q from Cairn: %v", key, err)
		}
		if len(resp.Kvs) == 0 {
			t.Fatalf("no value stored under %q", key)
		}
		raw := resp.Kvs[0].Value
		if len(raw) < len(valuePrefix) || string(raw[:len(valuePrefix)]) != valuePrefix {
			t.Fatalf("value of %q does not start with the transformer's prefix: %q", key, raw)
		}
		obj, err := runtime.Decode(e.codec, raw[len(valuePrefix):])
		if err != nil {
			t.Fatalf("decode %q: %v", key, err)
		}
		pod := obj.(*example.Pod)
		if pod.ResourceVersion != "" {
			t.Errorf("stored object has resource version %q, want none", pod.ResourceVersion)
		}
		if pod.SelfLink != "" {
			t.Errorf("stored object has self link %q, want none", pod.SelfLink)
		}
	}
}

// compaction compacts Cairn at a resource version the way the apiserver's
// compactor does (etcd3.Compact: a txn on its logical clock key, then
// Compact), retrying once if another compactor's clock moved, and, with
// ListFromCacheSnapshot, waits until the store saw the compaction.
func (e *env) compaction() storagetesting.Compaction {
	return func(ctx context.Context, t *testing.T, resourceVersion string) {
		rv, err := storage.APIObjectVersioner{}.ParseResourceVersion(resourceVersion)
		if err != nil {
			t.Fatal(err)
		}
		cur, _, _, err := etcd3.Compact(ctx, e.client.Client, 0, int64(rv))
		if err != nil {
			_, _, _, err = etcd3.Compact(ctx, e.client.Client, cur, int64(rv))
		}
		if err != nil {
			t.Fatal(err)
		}
		if listFromCacheSnapshot() {
			waitFor(t, "the store to see compaction at "+resourceVersion, func() bool {
				return e.store.CompactRevision() == int64(rv)
			})
		}
	}
}

// increaseRV writes a key outside the store's prefix: the revision moves.
func (e *env) increaseRV() storagetesting.IncreaseRVFunc {
	return func(ctx context.Context, t *testing.T) int64 {
		resp, err := e.client.KV.Put(ctx, "increaseRV", "ok")
		if err != nil {
			t.Fatalf("put increaseRV: %v", err)
		}
		return resp.Header.Revision
	}
}

// callsInvariants is the CallsValidation of the continuation tests: the
// values the transformer read, and the etcd range calls made, which grow
// the page size twice each time (up to maxListLimit) when pages come back
// short.
func (e *env) callsInvariants() storagetesting.CallsValidation {
	recorder := e.client.KV.(*storagetesting.KVRecorder)
	return func(t *testing.T, pageSize, processed uint64) {
		if reads := e.prefixTransformer.GetReadsAndReset(); reads != processed {
			t.Errorf("transformer reads = %d, want %d", reads, processed)
		}
		want := uint64(1)
		if pageSize != 0 {
			limit := pageSize
			for sum := uint64(1); sum < processed; want++ {
				limit = min(limit*2, maxListLimit)
				sum += limit
			}
		}
		if got := recorder.GetReadsAndReset() + recorder.GetStreamReadsAndReset(); got != want {
			t.Fatalf("etcd reads = %d, want %d", got, want)
		}
	}
}

// keys lists the keys of the pods: the KeysFunc of size estimation.
func (e *env) keys(ctx context.Context) ([]string, error) {
	resp, err := e.client.KV.Get(ctx, e.keysPrefix, clientWithPrefixKeysOnly()...)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out = append(out, string(kv.Key))
	}
	return out, nil
}

// resetFeatureChecker gives a test a fresh etcd feature support checker,
// so that what one test learnt about RangeStream does not leak into
// another.
func resetFeatureChecker(t *testing.T) {
	orig := etcdfeature.DefaultFeatureSupportChecker
	etcdfeature.DefaultFeatureSupportChecker = etcdfeature.NewDefaultFeatureSupportChecker()
	t.Cleanup(func() { etcdfeature.DefaultFeatureSupportChecker = orig })
}

// failingCodec and failingTransformer fail every decode (transform from
// storage) while failing is set: the suites on deleting objects that can
// no longer be read.
type failingCodec struct {
	runtime.Codec
	failing atomic.Bool
}

func (c *failingCodec) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if c.failing.Load() {
		return nil, nil, errors.New("injected decode failure")
	}
	return c.Codec.Decode(data, defaults, into)
}

func (c *failingCodec) setFailing(f bool) { c.failing.Store(f) }

type failingTransformer struct {
	value.Transformer
	failing atomic.Bool
}

func (tr *failingTransformer) TransformFromStorage(ctx context.Context, data []byte, dc value.Context) ([]byte, bool, error) {
	if tr.failing.Load() {
		return nil, false, errors.New("injected transform failure")
	}
	return tr.Transformer.TransformFromStorage(ctx, data, dc)
}

func (tr *failingTransformer) setFailing(f bool) { tr.failing.Store(f) }

// corruptObjectError returns the error the apiserver's corrupt-object
// handling recognizes (etcd3's unexported corruptObjectError, of an
// untransformable value), made the way the apiserver's storage factory
// makes it: a transformer wrapped with WithCorruptObjErrorHandlingTransformer
// that fails.
func corruptObjectError(t testing.TB) error {
	t.Helper()
	tr := etcd3.WithCorruptObjErrorHandlingTransformer(brokenTransformer{})
	_, _, err := tr.TransformFromStorage(context.Background(), nil, value.DefaultContext{})
	if err == nil {
		t.Fatal("the wrapped failing transformer did not fail")
	}
	return err
}

// brokenTransformer fails every transform from storage.
type brokenTransformer struct{ value.Transformer }

func (brokenTransformer) TransformFromStorage(context.Context, []byte, value.Context) ([]byte, bool, error) {
	return nil, false, errors.New("bits flipped")
}
