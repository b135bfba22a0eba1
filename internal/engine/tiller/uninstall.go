package tiller

import (
	"context"
	"time"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/helm2/hapi/services"
)

// Uninstall deletes and purges a release (docs/n2vc.md#uninstall; N2VC's helm2 `delete --purge`).
func (e *Engine) Uninstall(ctx context.Context, req engine.UninstallRequest) (*engine.Release, error) {
	if req.Namespace != "" {
		if _, err := e.Find(ctx, req.Namespace, req.Name); err != nil {
			return nil, err
		}
	}
	return e.uninstall(ctx, req.Name, req.Timeout, req.Observe)
}

func (e *Engine) uninstall(ctx context.Context, name string, timeout time.Duration, o engine.Observer) (*engine.Release, error) {
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := e.observeBase(ctx, name, o); err != nil {
		return nil, err
	}
	resp, err := rc.UninstallRelease(cctx, &services.UninstallReleaseRequest{Name: name, Purge: true, Timeout: e.timeoutSeconds(timeout)})
	if err != nil {
		return nil, e.classify(err, name)
	}
	if r := resp.GetRelease(); r != nil {
		_ = o.Notify(engine.Observation{Event: engine.Delete, Revision: int(r.GetVersion()), State: engine.StateUninstalled})
	}
	rel := toRelease(resp.GetRelease())
	rel.State = engine.StateUninstalled
	return rel, nil
}
