package helm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"helm.sh/helm/v4/pkg/kube"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kdu-io/kdu/internal/engine"
)

// waitPoll bounds how long a cache waiter sleeps without an informer event before it looks again.
const waitPoll = time.Second

// waitClient is Helm's kube.Client whose status-watcher waits read kdu's per-cluster watch cache. Helm's own
// status waiter builds a new HTTP client and discovery REST mapper and list-watches every kind of the release
// (all objects of that kind in the namespace) for every wait; kdu's informers already hold those objects. The
// readiness rules are the same: kstatus (status.Compute), all resources Current, paused Deployments skipped.
// Deletion waits and hook waits stay Helm's.
type waitClient struct {
	*kube.Client
	e   *Engine
	ctx context.Context // the operation's wait context (cancelled with the operation)
}

var _ kube.InterfaceWaitOptions = (*waitClient)(nil)

func (c *waitClient) GetWaiter(s kube.WaitStrategy) (kube.Waiter, error) {
	return c.GetWaiterWithOptions(s)
}

func (c *waitClient) GetWaiterWithOptions(s kube.WaitStrategy, opts ...kube.WaitOption) (kube.Waiter, error) {
	if s != kube.StatusWatcherStrategy || c.e.reader.watch == nil {
		return c.Client.GetWaiterWithOptions(s, opts...)
	}
	return &cacheWaiter{ctx: c.ctx, reader: c.e.reader, helm: func() (kube.Waiter, error) {
		return c.Client.GetWaiterWithOptions(s, opts...)
	}}, nil
}

// cacheWaiter waits for readiness from the watch cache. Helm's waiter is built only if a deletion or hook
// wait needs it.
type cacheWaiter struct {
	ctx    context.Context
	reader *reader
	helm   func() (kube.Waiter, error)

	once    sync.Once
	helmW   kube.Waiter
	helmErr error
}

func (w *cacheWaiter) delegate() (kube.Waiter, error) {
	w.once.Do(func() { w.helmW, w.helmErr = w.helm() })
	return w.helmW, w.helmErr
}

func (w *cacheWaiter) Wait(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout)
}

// WaitWithJobs is Wait: kstatus already counts a Job Current only once it has completed.
func (w *cacheWaiter) WaitWithJobs(resources kube.ResourceList, timeout time.Duration) error {
	return w.wait(resources, timeout)
}

func (w *cacheWaiter) WaitForDelete(resources kube.ResourceList, timeout time.Duration) error {
	hw, err := w.delegate()
	if err != nil {
		return err
	}
	return hw.WaitForDelete(resources, timeout)
}

func (w *cacheWaiter) WatchUntilReady(resources kube.ResourceList, timeout time.Duration) error {
	hw, err := w.delegate()
	if err != nil {
		return err
	}
	return hw.WatchUntilReady(resources, timeout)
}

// awaited is one object a wait is for, with what the apply answered: an object in the cache older than that
// (a lower generation, or another UID) is not yet this apply's and is read from the API instead.
type awaited struct {
	ref        objectRef
	generation int64
	uid        types.UID
}

func (w *cacheWaiter) wait(resources kube.ResourceList, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = kube.DefaultStatusWatcherTimeout
	}
	parent := w.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()

	var objs []awaited
	for _, info := range resources {
		if info.Mapping == nil {
			continue
		}
		u, _ := info.Object.(*unstructured.Unstructured)
		if u != nil && u.GetKind() == "Deployment" {
			if paused, _, _ := unstructured.NestedBool(u.Object, "spec", "paused"); paused {
				continue // Helm does not wait for paused Deployments either
			}
		}
		a := awaited{ref: objectRef{APIVersion: info.Mapping.GroupVersionKind.GroupVersion().String(),
			Kind: info.Mapping.GroupVersionKind.Kind, Namespace: info.Namespace, Name: info.Name,
			GVR: info.Mapping.Resource}}
		if u != nil {
			a.generation, a.uid = u.GetGeneration(), u.GetUID()
		}
		objs = append(objs, a)
	}
	refs := make([]objectRef, len(objs))
	want := make(map[objectRef]awaited, len(objs))
	for i, a := range objs {
		refs[i] = a.ref
		want[a.ref] = a
	}
	get := func(ctx context.Context, ref objectRef) (*unstructured.Unstructured, error) {
		a := want[ref]
		if obj, ok := w.reader.watch.object(ctx, ref); ok && obj.GetGeneration() >= a.generation &&
			(a.uid == "" || obj.GetUID() == a.uid) {
			return obj, nil
		}
		return w.reader.apiObject(ctx, ref)
	}

	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		changed := w.reader.watch.changes()
		st := resourceStatuses(ctx, refs, get)
		if allCurrent(st) {
			return nil
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return notReady(st, ctx.Err())
		}
	}
}

func allCurrent(rs []engine.Resource) bool {
	for _, r := range rs {
		if r.Status != string(status.CurrentStatus) {
			return false
		}
	}
	return true
}

// notReady is Helm's status-waiter error: one line per resource not ready, then the context's error (which
// classify turns into ErrTimeout).
func notReady(rs []engine.Resource, ctxErr error) error {
	var errs []error
	for _, r := range rs {
		if r.Status == string(status.CurrentStatus) {
			continue
		}
		errs = append(errs, fmt.Errorf("resource %s/%s/%s not ready. status: %s, message: %s",
			r.Kind, r.Namespace, r.Name, r.Status, r.Message))
	}
	return errors.Join(append(errs, ctxErr)...)
}
