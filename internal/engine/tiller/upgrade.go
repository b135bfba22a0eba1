package tiller

import (
	"context"
	"errors"
	"fmt"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/values"
	"github.com/kdu-io/kdu/internal/helm2/hapi/services"
)

// Upgrade upgrades a release. A nil chart reuses the release's current chart. Atomic upgrades that fail roll back
// to the previous revision, as helm2's --atomic does.
func (e *Engine) Upgrade(ctx context.Context, req engine.UpgradeRequest) (*engine.Release, error) {
	if err := noPostRender(req.PostRender); err != nil {
		return nil, err
	}
	cur, err := e.content(ctx, req.Name, 0)
	if err != nil {
		return nil, err
	}
	if req.Namespace != "" && cur.GetNamespace() != req.Namespace {
		return nil, fmt.Errorf("%w: %s in namespace %s", engine.ErrReleaseNotFound, req.Name, req.Namespace)
	}
	vals := req.Values
	effective := req.Values // the values the dependencies' conditions are evaluated with
	reuse, reset := false, false
	old, err := values.ParseYAML("current values", []byte(cur.GetConfig().GetRaw()))
	if err != nil {
		return nil, fmt.Errorf("decoding the release's values: %w", err)
	}
	switch req.ValuesMode {
	case engine.ReuseValues:
		reuse, effective = true, values.Merge(old, req.Values)
	case engine.ResetValues:
		reset = true
	case engine.ResetThenReuseValues:
		// Tiller has no such mode: merge the current user values and the new ones here, and reset.
		vals, reset = values.Merge(old, req.Values), true
		effective = vals
	}
	ch := cur.GetChart()
	if req.Chart != nil {
		if ch, err = chartFor(req.Chart, effective); err != nil {
			return nil, err
		}
	}
	cfg, err := valuesConfig(vals)
	if err != nil {
		return nil, err
	}
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	if err := req.Observe.Notify(engine.Observation{Event: engine.Base, Revision: int(cur.GetVersion()), State: stateOf(cur)}); err != nil {
		return nil, err
	}
	notifyWrite(req.Observe, int(cur.GetVersion())+1, engine.StatePendingUpgrade, e.log)
	wait := req.Wait || req.Atomic
	phase := "waiting"
	if req.Phase != "" {
		phase = req.Phase
	}
	stop := e.watchProgress(ctx, req.Key, phase, req.Progress)
	resp, err := rc.UpdateRelease(cctx, &services.UpdateReleaseRequest{
		Name: req.Name, Chart: ch, Values: cfg, ReuseValues: reuse, ResetValues: reset, Wait: wait,
		Timeout: e.timeoutSeconds(req.Timeout), Description: req.Description, Force: req.ForceConflicts || req.ForceReplace,
	})
	stop()
	if err != nil {
		err = e.classify(err, req.Name)
		if req.Atomic && !errors.Is(err, engine.ErrReleaseNotFound) {
			e.log.Warn("atomic upgrade failed: rolling back", "release", req.Name, "to", cur.GetVersion(), "error", err.Error())
			_, rerr := e.Rollback(context.WithoutCancel(ctx), engine.RollbackRequest{Key: engine.Key{Name: req.Name},
				Revision: int(cur.GetVersion()), WaitOptions: engine.WaitOptions{Wait: true, Timeout: req.Timeout, Observe: followOn(req.Observe)}})
			if rerr != nil {
				return nil, fmt.Errorf("%w (and rolling back failed: %w)", err, rerr)
			}
			return nil, fmt.Errorf("%w; rolled back to revision %d (atomic)", err, cur.GetVersion())
		}
		return nil, err
	}
	return toRelease(resp.GetRelease()), nil
}
