package engine

import (
	"context"
	"slices"
	"sync"
	"time"
)

// WatchProgress calls sample every interval while an operation runs and passes each changed result to fn. The
// returned stop function ends sampling, takes one final sample (so the end state is always reported, however
// fast the operation was) and returns only after the last call to fn, so fn is never called after the
// operation returned. A nil fn makes it a no-op.
func WatchProgress(ctx context.Context, interval time.Duration, sample func(context.Context) (Progress, bool), fn ProgressFunc) (stop func()) {
	if fn == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var last *Progress
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if p, ok := sample(ctx); ok && !SameProgress(last, &p) {
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
		if p, ok := sample(fctx); ok && !SameProgress(last, &p) {
			fn(p)
		}
	}
}

// ProgressOf summarises a status as a progress report of a phase.
func ProgressOf(phase string, st *Status) Progress {
	p := Progress{Phase: phase, Revision: st.Revision, State: st.State}
	p.Ready, p.Total = st.ReadyCount()
	for _, r := range st.Resources {
		if !r.Ready {
			p.NotReady = append(p.NotReady, r)
		}
	}
	return p
}

// SameProgress reports whether two progress reports say the same (nil equals only nil).
func SameProgress(a, b *Progress) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Phase == b.Phase && a.Revision == b.Revision && a.State == b.State && a.Ready == b.Ready &&
		a.Total == b.Total && slices.Equal(a.NotReady, b.NotReady)
}
