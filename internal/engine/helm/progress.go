package helm

import (
	"context"

	"github.com/kdu-io/kdu/internal/engine"
)

// watchProgress samples the release's newest revision and the readiness of its objects while an operation
// runs (see engine.WatchProgress).
func (e *Engine) watchProgress(ctx context.Context, key engine.Key, phase string, fn engine.ProgressFunc) (stop func()) {
	return engine.WatchProgress(ctx, e.opts.ProgressInterval, func(ctx context.Context) (engine.Progress, bool) {
		return e.sampleProgress(ctx, key, phase)
	}, fn)
}

func (e *Engine) sampleProgress(ctx context.Context, key engine.Key, phase string) (engine.Progress, bool) {
	rec, err := e.reader.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return engine.Progress{}, false
	}
	st, err := e.reader.status(ctx, rec)
	if err != nil || ctx.Err() != nil {
		return engine.Progress{}, false
	}
	return engine.ProgressOf(phase, st), true
}
