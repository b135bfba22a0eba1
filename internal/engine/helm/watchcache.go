package helm

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kdu-io/kdu/internal/cluster"
)

const (
	// managedBySelector selects the objects Helm applies (it labels every manifest object so).
	managedBySelector = "app.kubernetes.io/managed-by=Helm"
	releaseIndex      = "release"
	// firstSyncWait bounds how long the first read waits for an informer's initial list; after that, reads
	// fall back to the API until the informer has synced.
	firstSyncWait = 10 * time.Second
)

// watchCache keeps informers over Helm's release Secrets (owner=helm) and, per kind met in a manifest, over
// Helm-managed objects (app.kubernetes.io/managed-by=Helm), all namespaces. Informers start on first use. When
// one cannot sync (no list/watch permission, say) reads fall back to the API; nothing fails because of the cache.
type watchCache struct {
	conn   *cluster.Conn
	log    *slog.Logger
	stopCh chan struct{}

	secretsOnce sync.Once
	secrets     cache.SharedIndexInformer

	mu      sync.Mutex
	dynamic dynamicinformer.DynamicSharedInformerFactory
	kinds   map[schema.GroupVersionResource]cache.SharedIndexInformer

	gatesMu sync.Mutex // not mu: gates are looked up while mu is held
	gates   map[cache.SharedIndexInformer]*syncGate

	changedMu sync.Mutex
	changed   chan struct{} // closed and replaced on every event of an informer
}

func newWatchCache(conn *cluster.Conn, log *slog.Logger) *watchCache {
	w := &watchCache{
		conn:    conn,
		log:     log,
		stopCh:  make(chan struct{}),
		kinds:   map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		gates:   map[cache.SharedIndexInformer]*syncGate{},
		changed: make(chan struct{}),
	}
	w.dynamic = dynamicinformer.NewFilteredDynamicSharedInformerFactory(conn.Dynamic, 0, metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.LabelSelector = managedBySelector })
	return w
}

func (w *watchCache) stop() { close(w.stopCh) }

func (w *watchCache) signal() {
	w.changedMu.Lock()
	close(w.changed)
	w.changed = make(chan struct{})
	w.changedMu.Unlock()
}

func (w *watchCache) changes() <-chan struct{} {
	w.changedMu.Lock()
	defer w.changedMu.Unlock()
	return w.changed
}

func (w *watchCache) startSecrets() {
	f := informers.NewSharedInformerFactoryWithOptions(w.conn.Clientset, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.Set{labelOwner: ownerHelm}.String()
		}))
	inf := f.Core().V1().Secrets().Informer()
	_ = inf.SetTransform(stripManagedFields)
	_ = inf.AddIndexers(cache.Indexers{releaseIndex: func(obj any) ([]string, error) {
		if s, ok := obj.(*corev1.Secret); ok {
			return []string{s.Labels[labelName]}, nil
		}
		return nil, nil
	}})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.signal() },
		UpdateFunc: func(any, any) { w.signal() },
		DeleteFunc: func(any) { w.signal() },
	})
	w.setErrorHandler(inf, "helm release secrets")
	w.secrets = inf
	f.Start(w.stopCh)
}

// setErrorHandler makes a refused list or watch (403/401) end the informer's first-sync wait at once: reads
// then go to the API, which may still be allowed namespace by namespace.
func (w *watchCache) setErrorHandler(inf cache.SharedIndexInformer, what string) {
	g := w.gate(inf)
	var once sync.Once
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			g.refused.Store(true)
			once.Do(func() {
				w.log.Info("watch cache not allowed for a kind; reading it from the API instead", "what", what, "error", err)
			})
			return
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
}

func (w *watchCache) gate(inf cache.SharedIndexInformer) *syncGate {
	w.gatesMu.Lock()
	defer w.gatesMu.Unlock()
	g, ok := w.gates[inf]
	if !ok {
		g = &syncGate{}
		w.gates[inf] = g
	}
	return g
}

// synced reports whether an informer is usable, waiting (bounded) for its first sync only once: after that
// one wait, a cache that still has not synced (no permission to list, say) is skipped without waiting.
func (w *watchCache) synced(ctx context.Context, inf cache.SharedIndexInformer) bool {
	return w.gate(inf).ready(ctx, inf.HasSynced, firstSyncWait)
}

// syncGate lets the first caller (and those arriving meanwhile) wait for a cache's initial sync, bounded by
// a timeout; later callers only check.
type syncGate struct {
	mu      sync.Mutex
	waited  bool
	refused atomic.Bool // the API server refused to list or watch: stop waiting
}

func (g *syncGate) ready(ctx context.Context, hasSynced func() bool, wait time.Duration) bool {
	if hasSynced() {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.waited {
		return hasSynced()
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	cache.WaitForCacheSync(wctx.Done(), func() bool { return hasSynced() || g.refused.Load() })
	ok := hasSynced()
	if ctx.Err() == nil {
		g.waited = true // a caller's own cancellation does not count as the one wait
	}
	return ok
}

func (w *watchCache) secretInformer(ctx context.Context) (cache.SharedIndexInformer, bool) {
	w.secretsOnce.Do(w.startSecrets)
	return w.secrets, w.synced(ctx, w.secrets)
}

func (w *watchCache) releaseSecrets(ctx context.Context, namespace, name string) ([]*corev1.Secret, bool) {
	inf, ok := w.secretInformer(ctx)
	if !ok {
		return nil, false
	}
	objs, err := inf.GetIndexer().ByIndex(releaseIndex, name)
	if err != nil {
		return nil, false
	}
	out := make([]*corev1.Secret, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok && (namespace == "" || s.Namespace == namespace) {
			out = append(out, s)
		}
	}
	return out, true
}

func (w *watchCache) allReleaseSecrets(ctx context.Context, namespace string) ([]*corev1.Secret, bool) {
	inf, ok := w.secretInformer(ctx)
	if !ok {
		return nil, false
	}
	objs := inf.GetStore().List()
	out := make([]*corev1.Secret, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok && (namespace == "" || s.Namespace == namespace) {
			out = append(out, s)
		}
	}
	return out, true
}

func (w *watchCache) kindInformer(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
	w.mu.Lock()
	defer w.mu.Unlock()
	if inf, ok := w.kinds[gvr]; ok {
		return inf
	}
	inf := w.dynamic.ForResource(gvr).Informer()
	_ = inf.SetTransform(stripManagedFields)
	// Waits for readiness re-evaluate on every change (see cacheWaiter).
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.signal() },
		UpdateFunc: func(any, any) { w.signal() },
		DeleteFunc: func(any) { w.signal() },
	})
	w.setErrorHandler(inf, gvr.String())
	w.kinds[gvr] = inf
	w.dynamic.Start(w.stopCh)
	return inf
}

// object returns a cached object. ok=false means "ask the API": the informer is not synced, or the object is
// not in the cache (objects of releases Helm applied before it labelled them are not watched).
func (w *watchCache) object(ctx context.Context, ref objectRef) (*unstructured.Unstructured, bool) {
	inf := w.kindInformer(ref.GVR)
	if !w.synced(ctx, inf) {
		return nil, false
	}
	key := ref.Name
	if ref.Namespace != "" {
		key = ref.Namespace + "/" + ref.Name
	}
	obj, exists, err := inf.GetStore().GetByKey(key)
	if err != nil || !exists {
		return nil, false
	}
	u, ok := obj.(*unstructured.Unstructured)
	return u, ok
}

// stripManagedFields drops managedFields from cached objects: they are large and kdu never reads them.
func stripManagedFields(obj any) (any, error) {
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// await re-evaluates cond on every release Secret change until it holds, ctx ends or two seconds pass.
func (w *watchCache) await(ctx context.Context, cond func() bool) {
	deadline := time.NewTimer(2 * time.Second)
	defer deadline.Stop()
	for {
		ch := w.changes()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		}
	}
}
