package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v4/pkg/action"

	"github.com/kdu-io/kdu/internal/engine"
)

// Uninstall deletes a release's objects and its whole history. It returns the release as it was, or
// ErrReleaseNotFound if there is none (callers decide whether that is an error: kdu's uninstall is idempotent).
func (e *Engine) Uninstall(ctx context.Context, req engine.UninstallRequest) (*engine.Release, error) {
	cur, err := e.reader.find(ctx, req.Namespace, req.Name)
	if err != nil {
		return nil, err
	}
	k := engine.Key{Namespace: cur.rel.Namespace, Name: req.Name}
	cfg, err := e.configuration(k.Namespace)
	if err != nil {
		return nil, err
	}
	if err := observe(cfg, k.Name, req.Observe, e.log); err != nil {
		return nil, err
	}
	un := action.NewUninstall(cfg)
	un.KeepHistory = false
	un.IgnoreNotFound = true
	un.WaitStrategy = waitStrategy(engine.WaitOptions{Wait: req.Wait})
	un.WaitOptions = e.waitOptions(ctx)
	un.Timeout = e.timeout(req.Timeout)
	un.DeletionPropagation = "background"
	if _, err := un.Run(k.Name); err != nil { // takes no context
		return nil, fmt.Errorf("uninstall %s: %w", k, classify(err))
	}
	e.reader.awaitRevision(ctx, k, 0, true)
	out := toRelease(cur.rel)
	return &out, nil
}
