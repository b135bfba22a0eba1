package ops

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kdu-io/kdu/internal/apierr"
	"github.com/kdu-io/kdu/internal/store"
)

// renew keeps the lease and watches for cancel requests made on other replicas.
func (r *Runner) renew(ctx context.Context, id string, log *slog.Logger) (stop func()) {
	every := r.cfg.Lease / 3
	if every > 5*time.Second {
		every = 5 * time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(context.Background(), every)
			cancelled, err := r.cfg.Store.RenewLease(rctx, id, r.cfg.Owner, r.cfg.Lease)
			cancel()
			switch {
			case errors.Is(err, store.ErrLeaseLost):
				log.Error("lost the lease of a running operation (another replica took it over); stopping its wait")
				r.mu.Lock()
				if rn := r.running[id]; rn != nil {
					rn.cancel(apierr.ErrInterrupted)
				}
				r.mu.Unlock()
				return
			case err != nil:
				log.Warn("renewing the operation's lease", "err", err)
			case cancelled:
				r.mu.Lock()
				if rn := r.running[id]; rn != nil {
					rn.cancel(apierr.ErrCancelled)
				}
				r.mu.Unlock()
			}
		}
	}()
	_ = ctx
	return func() { close(done); wg.Wait() }
}
