package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v4/pkg/action"

	"github.com/kdu-io/kdu/internal/engine"
)

// Rollback rolls a release back to a revision (0: the previous one; the current one re-deploys it), waiting
// for readiness when asked, and returns the new revision it creates.
func (e *Engine) Rollback(ctx context.Context, req engine.RollbackRequest) (*engine.Release, error) {
	if req.Revision < 0 {
		return nil, fmt.Errorf("rollback %s: revision %d: must be 0 (previous) or a positive revision", req.Key, req.Revision)
	}
	cur, err := e.reader.find(ctx, req.Namespace, req.Name)
	if err != nil {
		return nil, err
	}
	k := engine.Key{Namespace: cur.rel.Namespace, Name: req.Name}
	target := req.Revision
	if target == 0 {
		target = cur.rel.Version - 1
	}
	if target < 1 {
		return nil, fmt.Errorf("rollback %s: release is at revision %d and has no previous revision", k, cur.rel.Version)
	}
	// A rollback to the current revision re-deploys it as a new revision, as Helm does: how an operator
	// repairs a release whose objects were changed behind it.

	cfg, err := e.waitingConfiguration(ctx, k.Namespace)
	if err != nil {
		return nil, err
	}
	if err := observe(cfg, k.Name, req.Observe, e.log); err != nil {
		return nil, err
	}
	rb := action.NewRollback(cfg)
	rb.Version = target
	rb.WaitStrategy = waitStrategy(req.WaitOptions)
	rb.WaitOptions = e.waitOptions(ctx)
	rb.Timeout = e.timeout(req.Timeout)
	rb.MaxHistory = e.opts.MaxHistory
	rb.ServerSideApply = "auto"
	// Returning to a recorded revision takes back the fields others changed since (kubectl edits): that is
	// what a rollback is for, and how an operator repairs a release by rolling back to its current revision.
	rb.ForceConflicts = true

	stop := e.watchProgress(ctx, k, "rolling back", req.Progress)
	runErr := rb.Run(k.Name) // takes no context; its wait is bounded by the wait context and Timeout
	if runErr != nil {
		stop()
		return e.afterFailure(ctx, cfg, k, fmt.Errorf("rollback %s to revision %d: %w", k, target, classify(runErr)))
	}
	// Helm records a rollback as revision current+1; make sure a watch cache has seen it before reading.
	e.reader.awaitRevision(ctx, k, cur.rel.Version+1, false)
	rec, err := e.reader.find(ctx, k.Namespace, k.Name)
	stop()
	if err != nil {
		return nil, fmt.Errorf("rollback %s: reading the new revision: %w", k, err)
	}
	out := toRelease(rec.rel)
	return &out, nil
}
