// Package locks provides keyed mutual exclusion: one lock per key (kdu keys releases by cluster and name, since
// release names are unique per cluster), with a bounded wait and no global lock, so operations on different keys
// never wait for each other.
package locks

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kdu-io/kdu/api"
)

// ErrBusy is returned when a key stays locked for longer than the caller is willing to wait.
var ErrBusy = api.ErrBusy

// Keyed is a set of locks created on demand and freed when no one holds or waits for them.
// The zero value is ready to use.
type Keyed struct {
	mu    sync.Mutex
	locks map[string]*entry
}

type entry struct {
	ch      chan struct{} // holds one token while locked
	waiters int           // holders + waiters; the entry is freed at zero
	owner   string        // what holds it, for the busy error
}

// Lock acquires the lock of key, waiting at most wait (0: fail at once if held) or until ctx ends. owner
// describes the holder (e.g. "upgrade") and appears in the busy error of whoever waits in vain. The returned
// function releases the lock; call it exactly once.
func (k *Keyed) Lock(ctx context.Context, key, owner string, wait time.Duration) (func(), error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*entry{}
	}
	e, ok := k.locks[key]
	if !ok {
		e = &entry{ch: make(chan struct{}, 1)}
		k.locks[key] = e
	}
	e.waiters++
	k.mu.Unlock()

	acquired := false
	select {
	case e.ch <- struct{}{}:
		acquired = true
	default:
	}
	if !acquired && wait > 0 {
		t := time.NewTimer(wait)
		select {
		case e.ch <- struct{}{}:
			acquired = true
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if !acquired {
		k.mu.Lock()
		holder := e.owner
		k.release(key, e)
		k.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("waiting for %s: %w", key, err)
		}
		if holder == "" {
			holder = "another operation"
		}
		return nil, fmt.Errorf("%w: %s is running on %s (waited %s)", ErrBusy, holder, key, wait)
	}
	k.mu.Lock()
	e.owner = owner
	k.mu.Unlock()

	var once sync.Once
	return func() {
		once.Do(func() {
			k.mu.Lock()
			e.owner = ""
			<-e.ch
			k.release(key, e)
			k.mu.Unlock()
		})
	}, nil
}

// release drops one reference to an entry; k.mu must be held.
func (k *Keyed) release(key string, e *entry) {
	e.waiters--
	if e.waiters == 0 {
		delete(k.locks, key)
	}
}

// Held reports whether key is currently locked (for tests and diagnostics).
func (k *Keyed) Held(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.locks[key]
	return ok && len(e.ch) == 1
}

// Len returns how many keys have holders or waiters.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.locks)
}
