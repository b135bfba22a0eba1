package locks

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLockExcludesSameKey(t *testing.T) {
	var k Keyed
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := k.Lock(context.Background(), "c/ns/r", "test", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		}()
	}
	wg.Wait()
	if got := maxInside.Load(); got != 1 {
		t.Fatalf("%d holders at once, want 1", got)
	}
	if k.Len() != 0 {
		t.Fatalf("%d entries left after all unlocked, want 0", k.Len())
	}
}

func TestDifferentKeysDoNotWait(t *testing.T) {
	var k Keyed
	unlockA, err := k.Lock(context.Background(), "a", "upgrade", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlockA()
	unlockB, err := k.Lock(context.Background(), "b", "upgrade", 0)
	if err != nil {
		t.Fatalf("lock of another key failed while a was held: %v", err)
	}
	unlockB()
}

func TestBusyAfterBoundedWait(t *testing.T) {
	var k Keyed
	unlock, err := k.Lock(context.Background(), "a", "upgrade", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.Lock(context.Background(), "a", "rollback", 10*time.Millisecond)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
	if want := "upgrade is running on a"; !strings.Contains(err.Error(), want) {
		t.Fatalf("busy error %q does not name the holder (%q)", err, want)
	}
	unlock()
	unlock() // idempotent
	if k.Held("a") {
		t.Fatal("a still held after unlock")
	}
	u2, err := k.Lock(context.Background(), "a", "rollback", 0)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	u2()
}

func TestWaiterGetsLockWhenReleased(t *testing.T) {
	var k Keyed
	unlock, _ := k.Lock(context.Background(), "a", "upgrade", 0)
	got := make(chan error, 1)
	go func() {
		u, err := k.Lock(context.Background(), "a", "scale", time.Minute)
		if err == nil {
			u()
		}
		got <- err
	}()
	time.Sleep(5 * time.Millisecond)
	unlock()
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
}

func TestContextCancelStopsWaiting(t *testing.T) {
	var k Keyed
	unlock, _ := k.Lock(context.Background(), "a", "upgrade", 0)
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := k.Lock(ctx, "a", "scale", time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
