package helm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
)

// reader reads release records and live objects, from the API directly or from a watch cache.
type reader struct {
	conn    *cluster.Conn
	log     *slog.Logger
	records *recordCache
	watch   *watchCache // nil when disabled
}

func newReader(conn *cluster.Conn, watch bool, log *slog.Logger) *reader {
	r := &reader{conn: conn, log: log, records: newRecordCache(1024)}
	if watch {
		r.watch = newWatchCache(conn, log)
	}
	return r
}

func (r *reader) close() {
	if r.watch != nil {
		r.watch.stop()
	}
}

// releaseSecrets returns the Secrets of every revision of a release; an empty namespace means all namespaces.
// With current set, superseded revisions are skipped (the newest revision is never superseded).
func (r *reader) releaseSecrets(ctx context.Context, namespace, name string, current bool) ([]*corev1.Secret, error) {
	if r.watch != nil {
		if ss, ok := r.watch.releaseSecrets(ctx, namespace, name); ok {
			if current {
				ss = withoutSuperseded(ss)
			}
			return ss, nil
		}
	}
	sel := labels.Set{labelOwner: ownerHelm, labelName: name}.String()
	if current {
		sel += "," + labelStatus + "!=superseded"
	}
	return r.listSecrets(ctx, namespace, sel)
}

// allReleaseSecrets returns the Secrets of every release revision in a namespace ("" = all).
func (r *reader) allReleaseSecrets(ctx context.Context, namespace string) ([]*corev1.Secret, error) {
	if r.watch != nil {
		if ss, ok := r.watch.allReleaseSecrets(ctx, namespace); ok {
			return ss, nil
		}
	}
	return r.listSecrets(ctx, namespace, labels.Set{labelOwner: ownerHelm}.String())
}

func (r *reader) listSecrets(ctx context.Context, namespace, selector string) ([]*corev1.Secret, error) {
	list, err := r.conn.Clientset.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing helm release records: %w", transportError(err))
	}
	out := make([]*corev1.Secret, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func withoutSuperseded(ss []*corev1.Secret) []*corev1.Secret {
	out := ss[:0:0]
	for _, s := range ss {
		if s.Labels[labelStatus] != "superseded" {
			out = append(out, s)
		}
	}
	return out
}

// find returns the newest revision of a release. With an empty namespace it searches all namespaces and fails
// with ErrAmbiguousRelease when the name exists in more than one.
func (r *reader) find(ctx context.Context, namespace, name string) (*record, error) {
	secrets, err := r.releaseSecrets(ctx, namespace, name, true)
	if namespace == "" && apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("%w: looking for release %s in all namespaces: %w; name its namespace", engine.ErrForbidden, name, err)
	}
	if err != nil {
		return nil, err
	}
	latest := latestPerNamespace(secrets)
	switch len(latest) {
	case 0:
		if namespace != "" {
			return nil, fmt.Errorf("%w: %s in namespace %s", engine.ErrReleaseNotFound, name, namespace)
		}
		return nil, fmt.Errorf("%w: %s", engine.ErrReleaseNotFound, name)
	case 1:
		for _, s := range latest {
			return r.records.get(s)
		}
	}
	nss := make([]string, 0, len(latest))
	for ns := range latest {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	return nil, fmt.Errorf("%w: %s exists in namespaces %v; name one", engine.ErrAmbiguousRelease, name, nss)
}

// history returns every stored revision of a release, oldest first.
func (r *reader) history(ctx context.Context, key engine.Key) ([]*record, error) {
	secrets, err := r.releaseSecrets(ctx, key.Namespace, key.Name, false)
	if err != nil {
		return nil, err
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: %s", engine.ErrReleaseNotFound, key)
	}
	sort.Slice(secrets, func(i, j int) bool { return secretVersion(secrets[i]) < secretVersion(secrets[j]) })
	out := make([]*record, 0, len(secrets))
	for _, s := range secrets {
		rec, err := r.records.get(s)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// objects returns the parsed manifest of a record (parsed once per record).
func (r *reader) objects(rec *record) ([]objectRef, error) {
	rec.once.Do(func() {
		rec.objects, rec.objErr = parseManifest(rec.rel.Manifest, rec.rel.Namespace, r.conn.Mapper())
	})
	return rec.objects, rec.objErr
}

// object returns a live object, or nil if it does not exist.
func (r *reader) object(ctx context.Context, ref objectRef) (*unstructured.Unstructured, error) {
	if r.watch != nil {
		if obj, ok := r.watch.object(ctx, ref); ok {
			return obj, nil
		}
	}
	return r.apiObject(ctx, ref)
}

// apiObject reads a live object from the API server, or nil if it does not exist.
func (r *reader) apiObject(ctx context.Context, ref objectRef) (*unstructured.Unstructured, error) {
	obj, err := r.conn.Dynamic.Resource(ref.GVR).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return obj, err
}

// status computes the structured status of a record.
func (r *reader) status(ctx context.Context, rec *record) (*engine.Status, error) {
	refs, err := r.objects(rec)
	if err != nil {
		return nil, err
	}
	st := &engine.Status{Release: toRelease(rec.rel), Notes: rec.rel.Info.Notes}
	st.Resources = resourceStatuses(ctx, refs, r.object)
	return st, nil
}

// awaitRevision blocks (bounded by ctx) until the watch cache has seen a revision of a release in a given state,
// so a read right after kdu's own write observes it. Without a watch cache it returns at once.
func (r *reader) awaitRevision(ctx context.Context, key engine.Key, revision int, gone bool) {
	if r.watch == nil {
		return
	}
	r.watch.await(ctx, func() bool {
		ss, ok := r.watch.releaseSecrets(ctx, key.Namespace, key.Name)
		if !ok {
			return true // cache unusable: reads go to the API anyway
		}
		if gone {
			return len(ss) == 0
		}
		for _, s := range ss {
			if secretVersion(s) == revision && s.Labels[labelStatus] != "pending-install" &&
				s.Labels[labelStatus] != "pending-upgrade" && s.Labels[labelStatus] != "pending-rollback" {
				return true
			}
		}
		return false
	})
}

// transportError marks failures to reach the API server (as opposed to answers from it) as ErrUnreachable.
func transportError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) || errors.Is(err, context.Canceled) {
		return err
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &netErr) || errors.As(err, &urlErr) {
		return fmt.Errorf("%w: %w", engine.ErrUnreachable, err)
	}
	return err
}
