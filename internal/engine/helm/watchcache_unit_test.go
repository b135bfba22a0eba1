package helm

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestSyncGateWaitsOnlyOnce(t *testing.T) {
	var g syncGate
	var calls atomic.Int32
	never := func() bool { calls.Add(1); return false }
	if g.ready(context.Background(), never, 50*time.Millisecond) {
		t.Fatal("a cache that never syncs reported ready")
	}
	first := calls.Load()
	if first < 2 {
		t.Fatalf("the first caller polled %d times, want it to wait and poll", first)
	}
	if g.ready(context.Background(), never, time.Hour) {
		t.Fatal("ready after giving up")
	}
	// A later caller checks once before and once after taking the gate, and does not wait an hour.
	if got := calls.Load() - first; got > 2 {
		t.Fatalf("a later caller polled %d times: it waited again", got)
	}
}

func TestSyncGateSyncedAndLateSync(t *testing.T) {
	var g syncGate
	if !g.ready(context.Background(), func() bool { return true }, time.Hour) {
		t.Fatal("synced cache not ready")
	}
	var synced atomic.Bool
	var g2 syncGate
	g2.ready(context.Background(), synced.Load, 20*time.Millisecond)
	synced.Store(true)
	if !g2.ready(context.Background(), synced.Load, time.Hour) {
		t.Fatal("a cache that synced late is not used")
	}
}

func TestSyncGateCallerCancellationDoesNotCount(t *testing.T) {
	var g syncGate
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.ready(ctx, func() bool { return false }, time.Hour)
	if g.waited {
		t.Fatal("a cancelled caller used up the one wait")
	}
}

func TestSyncGateRefusedEndsTheWait(t *testing.T) {
	var g syncGate
	g.refused.Store(true)
	done := make(chan bool)
	go func() { done <- g.ready(context.Background(), func() bool { return false }, time.Hour) }()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("refused cache reported ready")
		}
	case <-time.After(time.Minute):
		t.Fatal("a refused cache kept the caller waiting")
	}
}
