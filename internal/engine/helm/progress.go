package helm

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/kdu-io/kdu/internal/engine"
)

// watchProgress samples the release's newest revision and the readiness of its objects while an operation
// runs, and calls fn whenever the picture changes. The returned stop function ends sampling, takes one final
// sample (so the end state is always reported, however fast the operation was) and returns only after the
// last call to fn, so fn is never called after the operation returned.
func (e *Engine) watchProgress(ctx context.Context, key engine.Key, phase string, fn engine.ProgressFunc) (stop func()) {
	if fn == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var last *engine.Progress
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(e.opts.ProgressInterval)
		defer t.Stop()
		for {
			if p, ok := e.sampleProgress(ctx, key, phase); ok && !sameProgress(last, &p) {
				fn(p)
				last = &p
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer fcancel()
		if p, ok := e.sampleProgress(fctx, key, phase); ok && !sameProgress(last, &p) {
			fn(p)
		}
	}
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
	p := engine.Progress{Phase: phase, Revision: st.Revision, State: st.State}
	p.Ready, p.Total = st.ReadyCount()
	for _, r := range st.Resources {
		if !r.Ready {
			p.NotReady = append(p.NotReady, r)
		}
	}
	return p, true
}

func sameProgress(a, b *engine.Progress) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Phase == b.Phase && a.Revision == b.Revision && a.State == b.State && a.Ready == b.Ready &&
		a.Total == b.Total && slices.Equal(a.NotReady, b.NotReady)
}
