package tiller

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu/internal/engine"
	hapichart "github.com/kdu-io/kdu/internal/helm2/hapi/chart"
	"github.com/kdu-io/kdu/internal/helm2/hapi/services"
)

// values renders values as the YAML document Tiller takes.
func valuesConfig(v map[string]any) (*hapichart.Config, error) {
	if len(v) == 0 {
		return &hapichart.Config{Raw: "{}\n"}, nil
	}
	data, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding values: %w", err)
	}
	return &hapichart.Config{Raw: string(data)}, nil
}

// Install installs a release. Tiller creates the namespace itself, so without CreateNamespace kdu checks that
// it exists first. Atomic installs that fail are purged, as helm2's --atomic does.
func (e *Engine) Install(ctx context.Context, req engine.InstallRequest) (*engine.Release, error) {
	if err := noPostRender(req.PostRender); err != nil {
		return nil, err
	}
	if !req.CreateNamespace {
		if _, err := e.conn.Clientset.CoreV1().Namespaces().Get(ctx, req.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s", engine.ErrNamespaceNotFound, req.Namespace)
		} else if err != nil {
			return nil, fmt.Errorf("%w: %w", engine.ErrUnreachable, err)
		}
	}
	ch, err := chartFor(req.Chart, req.Values)
	if err != nil {
		return nil, err
	}
	cfg, err := valuesConfig(req.Values)
	if err != nil {
		return nil, err
	}
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	base, err := e.observeBase(ctx, req.Name, req.Observe)
	if err != nil {
		return nil, err
	}
	notifyWrite(req.Observe, base+1, engine.StatePendingInstall, e.log)
	wait := req.Wait || req.Atomic
	key := engine.Key{Namespace: req.Namespace, Name: req.Name}
	stop := e.watchProgress(ctx, key, "waiting", req.Progress)
	resp, err := rc.InstallRelease(cctx, &services.InstallReleaseRequest{
		Chart: ch, Values: cfg, Name: req.Name, Namespace: req.Namespace, Wait: wait,
		Timeout: e.timeoutSeconds(req.Timeout), Description: req.Description,
	})
	stop()
	if err != nil {
		err = e.classify(err, req.Name)
		if req.Atomic && !errors.Is(err, engine.ErrReleaseExists) {
			e.log.Warn("atomic install failed: purging the release", "release", req.Name, "error", err.Error())
			if _, uerr := e.uninstall(context.WithoutCancel(ctx), req.Name, req.Timeout, req.Observe); uerr != nil && !errors.Is(uerr, engine.ErrReleaseNotFound) {
				return nil, fmt.Errorf("%w (and purging it failed: %w)", err, uerr)
			}
			return nil, fmt.Errorf("%w; the release was purged (atomic)", err)
		}
		return nil, err
	}
	return toRelease(resp.GetRelease()), nil
}

// noPostRender refuses post-render settings: Tiller renders the chart itself and offers no hook between
// rendering and applying, so kdu cannot label what it creates faithfully (hooks and workloads alike).
func noPostRender(p engine.PostRender) error {
	if len(p.PodLabels) > 0 || len(p.NodeSelector) > 0 {
		return fmt.Errorf("%w: podLabels and nodeSelector need a Helm 3 cluster: Tiller renders charts itself, so kdu cannot post-render them", engine.ErrUnsupported)
	}
	return nil
}
