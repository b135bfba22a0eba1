package engine

import (
	"context"
	"sync"
	"testing"
	"time"
)

// sampler hands out a scripted sequence of progress reports, one per call, then repeats the last.
type sampler struct {
	mu    sync.Mutex
	seq   []Progress
	calls int
	errs  []error // the context's error at each call
}

func (s *sampler) sample(ctx context.Context) (Progress, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, ctx.Err())
	i := min(s.calls, len(s.seq)-1)
	s.calls++
	if s.seq[i].Phase == "" {
		return Progress{}, false // the sample failed
	}
	return s.seq[i], true
}

type recorder struct {
	mu  sync.Mutex
	got []Progress
}

func (r *recorder) fn(p Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, p)
}

func (r *recorder) reports() []Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Progress(nil), r.got...)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWatchProgressReportsChangesOnly checks that reports are passed on only when they differ from the last one
// passed on, that failed samples are skipped, and that stop takes a final sample.
func TestWatchProgressReportsChangesOnly(t *testing.T) {
	a := Progress{Phase: "installing", Ready: 0, Total: 2}
	b := Progress{Phase: "installing", Ready: 1, Total: 2}
	c := Progress{Phase: "installing", Ready: 2, Total: 2}
	s := &sampler{seq: []Progress{a, a, {}, a, b, b, {}}}
	var r recorder
	stop := WatchProgress(context.Background(), time.Millisecond, s.sample, r.fn)
	waitFor(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.calls >= len(s.seq)+3
	})
	s.mu.Lock()
	s.seq = []Progress{c}
	s.calls = 0
	s.mu.Unlock()
	stop()
	got := r.reports()
	// a, then b; the final sample at stop reports c unless the ticker saw it first: either way c comes last, once.
	if len(got) != 3 || !SameProgress(&got[0], &a) || !SameProgress(&got[1], &b) || !SameProgress(&got[2], &c) {
		t.Fatalf("reports = %+v, want a, b, c", got)
	}
	n := len(r.reports())
	time.Sleep(20 * time.Millisecond)
	if len(r.reports()) != n {
		t.Fatal("a report after stop returned")
	}
}

// TestWatchProgressFinalSampleOutlivesCancel checks that the final sample runs with a live context even when the
// operation's context has ended (a cancelled operation still reports where it stopped).
func TestWatchProgressFinalSampleOutlivesCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	final := Progress{Phase: "upgrading", Ready: 1, Total: 1}
	s := &sampler{seq: []Progress{{}}} // every sample fails while the operation runs
	var r recorder
	stop := WatchProgress(ctx, time.Hour, s.sample, r.fn)
	waitFor(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.calls >= 1
	})
	cancel()
	s.mu.Lock()
	s.seq = []Progress{final}
	s.mu.Unlock()
	stop()
	got := r.reports()
	if len(got) != 1 || !SameProgress(&got[0], &final) {
		t.Fatalf("reports = %+v, want only the final one", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.errs[len(s.errs)-1]; err != nil {
		t.Fatalf("the final sample ran with an ended context: %v", err)
	}
}

// TestWatchProgressNil checks that no one listening costs nothing: no sample is taken.
func TestWatchProgressNil(t *testing.T) {
	called := false
	stop := WatchProgress(context.Background(), time.Millisecond, func(context.Context) (Progress, bool) {
		called = true
		return Progress{}, true
	}, nil)
	time.Sleep(10 * time.Millisecond)
	stop()
	if called {
		t.Fatal("sampled with no listener")
	}
}

func TestSameProgress(t *testing.T) {
	a := Progress{Phase: "x", Ready: 1, Total: 2, NotReady: []Resource{{Kind: "Deployment", Name: "web"}}}
	b := a
	b.NotReady = []Resource{{Kind: "Deployment", Name: "web"}}
	c := a
	c.NotReady = []Resource{{Kind: "Deployment", Name: "api"}}
	d := a
	d.Ready = 2
	for _, tt := range []struct {
		name string
		x, y *Progress
		want bool
	}{
		{"nil and nil", nil, nil, true},
		{"nil and one", nil, &a, false},
		{"equal copies", &a, &b, true},
		{"different not-ready resource", &a, &c, false},
		{"different count", &a, &d, false},
	} {
		if got := SameProgress(tt.x, tt.y); got != tt.want {
			t.Errorf("%s: SameProgress = %v, want %v", tt.name, got, tt.want)
		}
	}
}
