package tiller

import (
	"context"
	"fmt"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/helm2/hapi/services"
)

// Rollback rolls a release back to a revision (0: the previous one).
func (e *Engine) Rollback(ctx context.Context, req engine.RollbackRequest) (*engine.Release, error) {
	rev := req.Revision
	if rev == 0 {
		cur, err := e.content(ctx, req.Name, 0)
		if err != nil {
			return nil, err
		}
		if cur.GetVersion() <= 1 {
			return nil, fmt.Errorf("%w: %s has no previous revision", engine.ErrReleaseNotFound, req.Name)
		}
		rev = int(cur.GetVersion()) - 1
	}
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	base, err := e.observeBase(ctx, req.Name, req.Observe)
	if err != nil {
		return nil, err
	}
	notifyWrite(req.Observe, base+1, engine.StatePendingRollback, e.log)
	stop := e.watchProgress(ctx, req.Key, "rolling back", req.Progress)
	resp, err := rc.RollbackRelease(cctx, &services.RollbackReleaseRequest{
		Name: req.Name, Version: int32(rev), Wait: req.Wait || req.Atomic, Timeout: e.timeoutSeconds(req.Timeout),
		Description: fmt.Sprintf("Rollback to %d", rev),
	})
	stop()
	if err != nil {
		return nil, e.classify(err, req.Name)
	}
	return toRelease(resp.GetRelease()), nil
}
