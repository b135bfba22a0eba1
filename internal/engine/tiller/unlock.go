package tiller

import (
	"context"
	"fmt"

	"github.com/kdu-io/kdu/internal/engine"
)

// Unlock cannot clear a pending state: Tiller offers no call for it. It reports the release unchanged, or
// ErrUnsupported when the release is pending (purge it, or roll it back when Tiller allows).
func (e *Engine) Unlock(ctx context.Context, key engine.Key, _ string) (*engine.Release, bool, error) {
	rel, err := e.Find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, false, err
	}
	if rel.State.IsPending() {
		return rel, false, fmt.Errorf("%w: %s is %s in Tiller, which offers no way to mark it failed", engine.ErrUnsupported, key.Name, rel.State)
	}
	return rel, false, nil
}
