package helm

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v4/pkg/action"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/charts"
	"github.com/kdu-io/kdu/internal/engine/postrender"
)

// Install installs a chart as a new release. The release name must be unused in every namespace of the cluster
// (kdu addresses KDUs by name, as N2VC did). With Atomic, a failed install is uninstalled, and a namespace this
// install created is removed again, so nothing is left behind.
func (e *Engine) Install(ctx context.Context, req engine.InstallRequest) (*engine.Release, error) {
	ch, err := charts.ForOperation(req.Chart)
	if err != nil {
		return nil, err
	}
	// Release names are unique per cluster in kdu. Credentials limited to some namespaces cannot search
	// them all; then the name is checked where the release goes (Helm's own rule).
	existing, err := e.reader.find(ctx, "", req.Name)
	if errors.Is(err, engine.ErrForbidden) {
		existing, err = e.reader.find(ctx, req.Namespace, req.Name)
	}
	switch {
	case err == nil:
		return nil, fmt.Errorf("%w: %s (namespace %s, revision %d, %s)", engine.ErrReleaseExists,
			req.Name, existing.rel.Namespace, existing.rel.Version, existing.rel.Info.Status)
	case !errors.Is(err, engine.ErrReleaseNotFound):
		return nil, err
	}

	cfg, err := e.waitingConfiguration(ctx, req.Namespace)
	if err != nil {
		return nil, err
	}
	if err := observe(cfg, req.Name, req.Observe, e.log); err != nil {
		return nil, err
	}
	if err := e.setCapabilities(cfg, ch); err != nil {
		return nil, classify(transportError(err))
	}
	createdNS, err := e.ensureNamespace(ctx, req.Namespace, req.CreateNamespace)
	if err != nil {
		return nil, err
	}
	ch, renderer := withPostRender(ch, settingsFor(postrender.Settings{}, req.PostRender))
	in := action.NewInstall(cfg)
	if renderer != nil {
		in.PostRenderer, in.PostRenderStrategy = renderer, postRenderStrategy
	}
	in.ReleaseName = req.Name
	in.Namespace = req.Namespace
	in.RollbackOnFailure = req.Atomic
	in.WaitStrategy = waitStrategy(req.WaitOptions)
	in.WaitOptions = e.waitOptions(ctx)
	in.Timeout = e.timeout(req.Timeout)
	in.Description = req.Description
	in.ServerSideApply = true
	// The API server validates every object kdu sends (fieldValidation=Strict, Helm's default for creates and
	// updates). Helm's client-side "validation" only asks whether the server supports that, by parsing the
	// group's whole OpenAPI v3 document on every Build: half of kdu's CPU per install (docs/performance.md).
	in.DisableOpenAPIValidation = true

	key := engine.Key{Namespace: req.Namespace, Name: req.Name}
	stop := e.watchProgress(ctx, key, "installing", req.Progress)
	// The install runs to completion even if ctx is cancelled (Helm would otherwise carry on in the background,
	// outside kdu's release lock); cancellation reaches it through the wait context instead.
	res, runErr := in.RunWithContext(context.WithoutCancel(ctx), ch, req.Values)
	if runErr != nil {
		stop()
		if req.Atomic && createdNS {
			e.removeNamespaceIfEmpty(req.Namespace)
		}
		return nil, fmt.Errorf("install %s: %w", key, classify(runErr))
	}
	rel, ok := res.(*rspb.Release)
	if !ok {
		stop()
		return nil, fmt.Errorf("install %s: unexpected release type %T", key, res)
	}
	e.reader.awaitRevision(ctx, key, rel.Version, false)
	stop()
	out := toRelease(rel)
	return &out, nil
}

// ensureNamespace checks that the namespace exists, creating it when allowed. It reports whether it created it.
func (e *Engine) ensureNamespace(ctx context.Context, ns string, create bool) (bool, error) {
	nsClient := e.conn.Clientset.CoreV1().Namespaces()
	_, err := nsClient.Get(ctx, ns, metav1.GetOptions{})
	switch {
	case err == nil:
		return false, nil
	case apierrors.IsForbidden(err):
		return false, nil // may not read namespaces; let the install itself tell
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("checking namespace %s: %w", ns, err)
	case !create:
		return false, fmt.Errorf("%w: %s (allow kdu to create it)", engine.ErrNamespaceNotFound, ns)
	}
	_, err = nsClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   ns,
		Labels: map[string]string{"name": ns, "app.kubernetes.io/created-by": FieldManager},
	}}, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return true, nil
}

// removeNamespaceIfEmpty deletes a namespace kdu created for a failed atomic install when no release record
// remains in it. Errors are logged: the install error is what the caller needs to see.
func (e *Engine) removeNamespaceIfEmpty(ns string) {
	ctx := context.Background()
	left, err := e.reader.listSecrets(ctx, ns, labelOwner+"="+ownerHelm)
	if err != nil || len(left) > 0 {
		return
	}
	if err := e.conn.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		e.log.Warn("could not remove the namespace created for a failed atomic install", "namespace", ns, "error", err)
	}
}
