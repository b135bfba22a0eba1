package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/charts"
)

// Upgrade upgrades a release to a chart (nil: the chart of its current revision) with new values combined
// according to ValuesMode. With Atomic, a failed upgrade rolls back to the last successful revision. It
// returns the revision the release ends at.
func (e *Engine) Upgrade(ctx context.Context, req engine.UpgradeRequest) (*engine.Release, error) {
	cur, err := e.reader.find(ctx, req.Namespace, req.Name)
	if err != nil {
		return nil, err
	}
	key := cur.rel.Namespace
	var ch *chart.Chart
	if req.Chart != nil {
		if ch, err = charts.ForOperation(req.Chart); err != nil {
			return nil, err
		}
	} else {
		if cur.rel.Chart == nil {
			return nil, fmt.Errorf("%w: release %s/%s records no chart; give one", engine.ErrInvalidChart, key, req.Name)
		}
		ch = charts.Copy(cur.rel.Chart)
	}

	cfg, err := e.waitingConfiguration(ctx, cur.rel.Namespace)
	if err != nil {
		return nil, err
	}
	if err := observe(cfg, req.Name, req.Observe, e.log); err != nil {
		return nil, err
	}
	ch, renderer := withPostRender(ch, settingsFor(postRenderOf(cur.rel.Chart), req.PostRender))
	if err := e.setCapabilities(cfg, ch); err != nil {
		return nil, classify(transportError(err))
	}
	up := action.NewUpgrade(cfg)
	if renderer != nil {
		up.PostRenderer, up.PostRenderStrategy = renderer, postRenderStrategy
	}
	up.Namespace = cur.rel.Namespace
	switch req.ValuesMode {
	case engine.ResetValues:
		up.ResetValues = true
	case engine.ResetThenReuseValues:
		up.ResetThenReuseValues = true
	default:
		up.ReuseValues = true
	}
	up.ForceConflicts = req.ForceConflicts && !req.ForceReplace
	up.RollbackOnFailure = req.Atomic
	up.WaitStrategy = waitStrategy(req.WaitOptions)
	up.WaitOptions = e.waitOptions(ctx)
	up.Timeout = e.timeout(req.Timeout)
	up.MaxHistory = e.opts.MaxHistory
	up.Description = req.Description
	up.ServerSideApply = "auto"
	up.DisableOpenAPIValidation = true // the server validates (see Install)
	if req.ForceReplace {
		// Helm replaces objects only with client-side apply; a replace owns every field anyway.
		up.ForceReplace, up.ServerSideApply = true, "false"
	}

	k := engine.Key{Namespace: cur.rel.Namespace, Name: req.Name}
	stop := e.watchProgress(ctx, k, phaseOf(req), req.Progress)
	res, runErr := up.RunWithContext(context.WithoutCancel(ctx), req.Name, ch, req.Values)
	if runErr != nil {
		stop()
		return e.afterFailure(ctx, cfg, k, fmt.Errorf("upgrade %s: %w", k, classify(runErr)))
	}
	rel, ok := res.(*rspb.Release)
	if !ok {
		stop()
		return nil, fmt.Errorf("upgrade %s: unexpected release type %T", k, res)
	}
	e.reader.awaitRevision(ctx, k, rel.Version, false)
	stop()
	out := toRelease(rel)
	return &out, nil
}

// afterFailure returns the operation's error together with the release as it now stands (after an atomic
// rollback, say), so callers can report the revision the release ended at. It reads Helm's storage directly
// and waits for a watch cache to have that revision too, so that a status read right after is not stale.
func (e *Engine) afterFailure(ctx context.Context, cfg *action.Configuration, key engine.Key, opErr error) (*engine.Release, error) {
	last, err := cfg.Releases.Last(key.Name)
	if err != nil {
		return nil, opErr
	}
	rel, ok := last.(*rspb.Release)
	if !ok {
		return nil, opErr
	}
	e.reader.awaitRevision(context.WithoutCancel(ctx), key, rel.Version, false)
	out := toRelease(rel)
	return &out, opErr
}

// phaseOf names what an upgrade is doing for its progress reports: a scale or a migrate says so.
func phaseOf(req engine.UpgradeRequest) string {
	if req.Phase != "" {
		return req.Phase
	}
	return "upgrading"
}
