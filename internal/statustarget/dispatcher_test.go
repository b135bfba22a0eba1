package statustarget

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdu-io/kdu/api"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// recorder collects OnResult and OnAttemptError calls.
type recorder struct {
	mu       sync.Mutex
	results  map[string][]error // "op/target" → results in order
	attempts atomic.Int64
	attempt  chan int // attempt numbers, if non-nil (buffered; never blocks)
}

func newRecorder() *recorder { return &recorder{results: map[string][]error{}} }

func (r *recorder) result(opID string, target int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := opID + "/" + strconv.Itoa(target)
	r.results[k] = append(r.results[k], err)
}

func (r *recorder) attemptError(opID string, target int, attempt int, err error) {
	r.attempts.Add(1)
	if r.attempt != nil {
		select {
		case r.attempt <- attempt:
		default:
		}
	}
}

func (r *recorder) errs(opID string, target int) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.results[opID+"/"+strconv.Itoa(target)]...)
}

func flush(t *testing.T, d *Dispatcher, opID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Flush(ctx, opID); err != nil {
		t.Fatalf("Flush(%s): %v", opID, err)
	}
}

func closeDispatcher(t *testing.T, d *Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if n := d.active.Load(); n != 0 {
		t.Errorf("%d workers still running after Close", n)
	}
}

// hookServer is a webhook receiver recording deliveries.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	versions []int64
	headers  []http.Header
	bodies   []api.Operation
	handle   func(w http.ResponseWriter, r *http.Request, n int) // n counts requests from 1; nil = 204
	n        atomic.Int64
}

func newHookServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *hookServer {
	h := &hookServer{handle: handle}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(h.n.Add(1))
		body, _ := io.ReadAll(r.Body)
		var op api.Operation
		if err := json.Unmarshal(body, &op); err != nil {
			t.Errorf("body is not an Operation: %v: %s", err, body)
		}
		v, _ := strconv.ParseInt(r.Header.Get(HeaderVersion), 10, 64)
		h.mu.Lock()
		h.versions = append(h.versions, v)
		h.headers = append(h.headers, r.Header.Clone())
		h.bodies = append(h.bodies, op)
		h.mu.Unlock()
		if h.handle != nil {
			h.handle(w, r, n)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) got() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int64(nil), h.versions...)
}

func hookTarget(url string) api.StatusTarget {
	return api.StatusTarget{Webhook: &api.WebhookTarget{URL: url, Headers: map[string]string{"Authorization": "Bearer t0k", "X-Extra": "1"}}}
}

func op(id string, v int64) api.Operation {
	return api.Operation{ID: id, Kind: api.KindInstall, State: api.Running, Version: v, Attempts: 1}
}

func TestWebhookDelivery(t *testing.T) {
	srv := newHookServer(t, nil)
	rec := newRecorder()
	d := &Dispatcher{OnResult: rec.result, Logger: discardLogger()}
	defer closeDispatcher(t, d)

	o := op("op-a", 3)
	o.Target.Name = "ldap-0012"
	d.Publish("op-a", []api.StatusTarget{hookTarget(srv.URL + "/hook?k=v")}, o, Update{Operation: api.KindInstall, Status: "x"})
	flush(t, d, "op-a")

	if got := srv.got(); len(got) != 1 || got[0] != 3 {
		t.Fatalf("deliveries = %v, want [3]", got)
	}
	h := srv.headers[0]
	for k, want := range map[string]string{
		"Content-Type":  "application/json",
		"Authorization": "Bearer t0k",
		"X-Extra":       "1",
		HeaderOperation: "op-a",
		HeaderVersion:   "3",
	} {
		if h.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), want)
		}
	}
	if b := srv.bodies[0]; b.ID != "op-a" || b.Version != 3 || b.Target.Name != "ldap-0012" || b.State != api.Running {
		t.Errorf("body = %+v", b)
	}
	if errs := rec.errs("op-a", 0); len(errs) != 1 || errs[0] != nil {
		t.Errorf("results = %v, want one delivery", errs)
	}
}

// TestWebhookSnapshot checks that Publish copies the operation: changing it afterwards does not change what
// is sent.
func TestWebhookSnapshot(t *testing.T) {
	release := make(chan struct{})
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			<-release
		}
	})
	d := &Dispatcher{Logger: discardLogger()}
	defer closeDispatcher(t, d)
	targets := []api.StatusTarget{hookTarget(srv.URL)}
	d.Publish("op", targets, op("op", 1), Update{})
	o := op("op", 2)
	o.Error = &api.Error{Code: "timeout", Message: "first"}
	d.Publish("op", targets, o, Update{})
	o.Error.Message = "changed"
	close(release)
	flush(t, d, "op")
	if got := srv.bodies[len(srv.bodies)-1]; got.Version != 2 || got.Error == nil || got.Error.Message != "first" {
		t.Fatalf("last body = %+v, want version 2 with message %q", got, "first")
	}
}

// TestCoalesceDeterministic: while the first delivery is held by the receiver, 99 more updates are published;
// only the last of them is delivered next.
func TestCoalesceDeterministic(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			close(arrived)
			<-release
		}
	})
	rec := newRecorder()
	d := &Dispatcher{OnResult: rec.result, Logger: discardLogger()}
	defer closeDispatcher(t, d)
	targets := []api.StatusTarget{hookTarget(srv.URL)}
	d.Publish("op", targets, op("op", 1), Update{})
	<-arrived
	for v := int64(2); v <= 100; v++ {
		d.Publish("op", targets, op("op", v), Update{})
	}
	close(release)
	flush(t, d, "op")
	if got := srv.got(); len(got) != 2 || got[0] != 1 || got[1] != 100 {
		t.Fatalf("deliveries = %v, want [1 100]", got)
	}
	if errs := rec.errs("op", 0); len(errs) != 2 {
		t.Errorf("results = %v, want 2 deliveries", errs)
	}
}

// TestCoalesceSlowReceiver: a slow receiver and many updates from several operations and targets; for each
// target versions only go up and the last one always arrives.
func TestCoalesceSlowReceiver(t *testing.T) {
	srvs := []*hookServer{
		newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) { time.Sleep(time.Duration(n%3) * time.Millisecond) }),
		newHookServer(t, nil),
	}
	d := &Dispatcher{Logger: discardLogger()}
	defer closeDispatcher(t, d)
	const ops, updates = 4, 300
	var wg sync.WaitGroup
	for i := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "op-" + strconv.Itoa(i)
			targets := []api.StatusTarget{hookTarget(srvs[0].URL + "/" + id), hookTarget(srvs[1].URL + "/" + id)}
			for v := int64(1); v <= updates; v++ {
				d.Publish(id, targets, op(id, v), Update{})
				if v%50 == 0 {
					runtime.Gosched()
				}
			}
			flush(t, d, id)
		}()
	}
	wg.Wait()
	for si, srv := range srvs {
		srv.mu.Lock()
		last := map[string]int64{}
		for i, b := range srv.bodies {
			if b.Version <= last[b.ID] {
				t.Errorf("server %d: %s version %d after %d", si, b.ID, b.Version, last[b.ID])
			}
			last[b.ID] = srv.bodies[i].Version
		}
		srv.mu.Unlock()
		for i := range ops {
			id := "op-" + strconv.Itoa(i)
			if last[id] != updates {
				t.Errorf("server %d: %s last delivered version %d, want %d", si, id, last[id], updates)
			}
		}
		t.Logf("server %d: %d deliveries for %d updates", si, len(srv.got()), ops*updates)
	}
}

func TestRetryThenSuccess(t *testing.T) {
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= 3 {
			http.Error(w, "busy", http.StatusInternalServerError)
		}
	})
	rec := newRecorder()
	d := &Dispatcher{OnResult: rec.result, OnAttemptError: rec.attemptError, BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, Logger: discardLogger()}
	defer closeDispatcher(t, d)
	d.Publish("op", []api.StatusTarget{hookTarget(srv.URL)}, op("op", 1), Update{})
	flush(t, d, "op")
	if got := srv.got(); len(got) != 4 {
		t.Errorf("requests = %v, want 4", got)
	}
	if n := rec.attempts.Load(); n != 3 {
		t.Errorf("attempt errors = %d, want 3", n)
	}
	if errs := rec.errs("op", 0); len(errs) != 1 || errs[0] != nil {
		t.Errorf("results = %v, want one delivery", errs)
	}
}

func TestGiveUp(t *testing.T) {
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	rec := newRecorder()
	d := &Dispatcher{OnResult: rec.result, OnAttemptError: rec.attemptError, BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAttempts: 3, Logger: discardLogger()}
	defer closeDispatcher(t, d)
	d.Publish("op", []api.StatusTarget{hookTarget(srv.URL + "/x?token=s3cret")}, op("op", 1), Update{})
	flush(t, d, "op")
	if got := srv.got(); len(got) != 3 {
		t.Errorf("requests = %v, want 3", got)
	}
	errs := rec.errs("op", 0)
	if len(errs) != 1 || !errors.Is(errs[0], ErrGaveUp) {
		t.Fatalf("results = %v, want one ErrGaveUp", errs)
	}
	var he *HTTPStatusError
	if !errors.As(errs[0], &he) || he.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("result %v does not carry the HTTP 503", errs[0])
	}
	if strings.Contains(errs[0].Error(), "s3cret") || strings.Contains(errs[0].Error(), "/x") {
		t.Errorf("error shows the URL path or query: %v", errs[0])
	}
}

// TestNewerReplacesRetried: an update in backoff is dropped for a newer one, which is sent at once.
func TestNewerReplacesRetried(t *testing.T) {
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Header.Get(HeaderVersion) == "1" {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	rec := newRecorder()
	rec.attempt = make(chan int, 10)
	// A backoff far longer than the test's Flush deadline: the newer update must not wait for it.
	d := &Dispatcher{OnResult: rec.result, OnAttemptError: rec.attemptError, BaseBackoff: time.Hour, MaxBackoff: time.Hour, Logger: discardLogger()}
	defer closeDispatcher(t, d)
	targets := []api.StatusTarget{hookTarget(srv.URL)}
	d.Publish("op", targets, op("op", 1), Update{})
	<-rec.attempt // version 1 failed once and is in backoff
	d.Publish("op", targets, op("op", 2), Update{})
	flush(t, d, "op")
	if got := srv.got(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("requests = %v, want [1 2]", got)
	}
	if errs := rec.errs("op", 0); len(errs) != 1 || errs[0] != nil {
		t.Errorf("results = %v, want only the delivery of version 2", errs)
	}
}

func TestStaleVersionDropped(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{})
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			close(arrived)
			<-release
		}
	})
	d := &Dispatcher{Logger: discardLogger()}
	defer closeDispatcher(t, d)
	targets := []api.StatusTarget{hookTarget(srv.URL)}
	d.Publish("op", targets, op("op", 5), Update{})
	<-arrived
	d.Publish("op", targets, op("op", 3), Update{})
	close(release)
	flush(t, d, "op")
	if got := srv.got(); len(got) != 1 || got[0] != 5 {
		t.Errorf("requests = %v, want [5]", got)
	}
}

// TestPublishNeverBlocks: with a receiver that hangs until the test ends, 1000 Publish calls still return,
// and Close with an expired context abandons the stuck delivery.
func TestPublishNeverBlocks(t *testing.T) {
	hang := make(chan struct{})
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	})
	defer close(hang) // runs before srv.Close (t.Cleanup)
	rec := newRecorder()
	d := &Dispatcher{OnResult: rec.result, AttemptTimeout: time.Hour, Logger: discardLogger()}
	targets := []api.StatusTarget{hookTarget(srv.URL), hookTarget(srv.URL + "/2")}

	done := make(chan struct{})
	go func() {
		defer close(done)
		for v := int64(1); v <= 1000; v++ {
			d.Publish("op", targets, op("op", v), Update{Status: "waiting"})
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Publish blocked")
	}

	fctx, fcancel := context.WithCancel(context.Background())
	fcancel()
	if err := d.Flush(fctx, "op"); !errors.Is(err, context.Canceled) {
		t.Errorf("Flush with a cancelled context = %v, want context.Canceled", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := d.Close(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close with a cancelled context = %v", err)
	}
	if n := d.active.Load(); n != 0 {
		t.Errorf("%d workers running after Close", n)
	}
	for i := range targets {
		errs := rec.errs("op", i)
		if len(errs) == 0 || !errors.Is(errs[len(errs)-1], ErrClosed) {
			t.Errorf("target %d results = %v, want ErrClosed last", i, errs)
		}
	}
	// After Close, Publish drops updates and starts nothing.
	d.Publish("op2", targets, op("op2", 1), Update{})
	if n := d.active.Load(); n != 0 {
		t.Errorf("Publish after Close started %d workers", n)
	}
	if err := d.Flush(context.Background(), "op2"); err != nil {
		t.Errorf("Flush after Close = %v", err)
	}
}

// TestFlushWaitsForFinalDelivery: Flush does not return while the final update is held by the receiver.
func TestFlushWaitsForFinalDelivery(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 10)
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		arrived <- struct{}{}
		if r.Header.Get(HeaderVersion) == "3" {
			<-release
		}
	})
	d := &Dispatcher{Logger: discardLogger()}
	defer closeDispatcher(t, d)
	targets := []api.StatusTarget{hookTarget(srv.URL)}
	d.Publish("op", targets, op("op", 1), Update{})
	<-arrived
	d.Publish("op", targets, op("op", 2), Update{})
	d.Publish("op", targets, op("op", 3), Update{})

	flushed := make(chan error, 1)
	go func() { flushed <- d.Flush(context.Background(), "op") }()
	// Wait until version 3 is being received (version 2 may have been skipped).
	for {
		<-arrived
		if g := srv.got(); g[len(g)-1] == 3 {
			break
		}
	}
	select {
	case err := <-flushed:
		t.Fatalf("Flush returned %v while the final delivery was in flight", err)
	default:
	}
	close(release)
	if err := <-flushed; err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if g := srv.got(); g[len(g)-1] != 3 {
		t.Fatalf("deliveries = %v", g)
	}
	if err := d.Flush(context.Background(), "unknown-op"); err != nil {
		t.Errorf("Flush of an unknown operation = %v", err)
	}
}

// TestWorkersExitWhenIdle: no goroutine stays behind per finished operation, and none after Close.
func TestWorkersExitWhenIdle(t *testing.T) {
	srv := newHookServer(t, nil)
	before := runtime.NumGoroutine()
	d := &Dispatcher{Logger: discardLogger()}
	for i := range 50 {
		id := "op-" + strconv.Itoa(i)
		d.Publish(id, []api.StatusTarget{hookTarget(srv.URL), hookTarget(srv.URL + "/b")}, op(id, 1), Update{})
	}
	for i := range 50 {
		flush(t, d, "op-"+strconv.Itoa(i))
	}
	waitFor(t, "workers to exit", func() bool { return d.active.Load() == 0 })
	d.mu.Lock()
	if n := len(d.ops); n != 0 {
		t.Errorf("%d operations still tracked", n)
	}
	d.mu.Unlock()
	closeDispatcher(t, d)
	waitFor(t, "goroutines to return to the baseline", func() bool { return runtime.NumGoroutine() <= before })
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestInvalidTargetReported(t *testing.T) {
	rec := newRecorder()
	d := &Dispatcher{OnResult: rec.result, Logger: discardLogger()}
	defer closeDispatcher(t, d)
	d.Publish("op", []api.StatusTarget{{}, {Webhook: &api.WebhookTarget{URL: "ftp://x"}}}, op("op", 1), Update{})
	flush(t, d, "op")
	for i := range 2 {
		if errs := rec.errs("op", i); len(errs) != 1 || !errors.Is(errs[0], ErrInvalidTarget) {
			t.Errorf("target %d results = %v, want ErrInvalidTarget", i, errs)
		}
	}
}

func TestUnmarshalableDetailedReported(t *testing.T) {
	rec := newRecorder()
	d := &Dispatcher{OnResult: rec.result, Logger: discardLogger()}
	defer closeDispatcher(t, d)
	d.Publish("op", []api.StatusTarget{hookTarget("http://127.0.0.1:1/")}, op("op", 1), Update{Detailed: make(chan int)})
	flush(t, d, "op")
	if errs := rec.errs("op", 0); len(errs) != 1 || errs[0] == nil || !strings.Contains(errs[0].Error(), "detailed") {
		t.Errorf("results = %v, want a marshalling error", errs)
	}
}

func TestBackoff(t *testing.T) {
	d := &Dispatcher{BaseBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		for range 20 {
			got := d.backoff(attempt, errors.New("x"))
			if got < want/2 || got > want {
				t.Errorf("backoff(%d) = %v, want within [%v, %v]", attempt, got, want/2, want)
			}
		}
	}
	if got := d.backoff(1, &HTTPStatusError{StatusCode: 429, RetryAfter: 700 * time.Millisecond}); got != 700*time.Millisecond {
		t.Errorf("backoff with Retry-After 0.7s = %v", got)
	}
	if got := d.backoff(1, &HTTPStatusError{StatusCode: 429, RetryAfter: time.Hour}); got != time.Second {
		t.Errorf("backoff with Retry-After 1h = %v, want the 1s cap", got)
	}
	var zero Dispatcher
	if got := zero.backoff(1, nil); got < DefaultBaseBackoff/2 || got > DefaultBaseBackoff {
		t.Errorf("default backoff(1) = %v", got)
	}
	if got := zero.backoff(100, nil); got < DefaultMaxBackoff/2 || got > DefaultMaxBackoff {
		t.Errorf("default backoff(100) = %v", got)
	}
}

// TestDeliverWaitsForTheFinalUpdate: Deliver returns once every target has the final update (after a retry),
// with one result per target: nil when delivered, the error that ended it otherwise.
func TestDeliverWaitsForTheFinalUpdate(t *testing.T) {
	ok := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails; the retry lands
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	gone := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) { w.WriteHeader(http.StatusGone) })
	d := &Dispatcher{BaseBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond, MaxAttempts: 3, Logger: discardLogger()}
	defer closeDispatcher(t, d)
	targets := []api.StatusTarget{hookTarget(ok.URL), hookTarget(gone.URL)}
	d.Publish("op", targets, op("op", 1), Update{})
	final := op("op", 2)
	final.State = api.Succeeded
	errs := d.Deliver(context.Background(), "op", targets, final, Update{Status: "done"})
	if len(errs) != 2 || errs[0] != nil || errs[1] == nil {
		t.Fatalf("Deliver = %v, want [nil, an error]", errs)
	}
	// When Deliver returns, the final update is there: the last request the receiver got carries version 2.
	got := ok.got()
	if len(got) == 0 || got[len(got)-1] != 2 {
		t.Fatalf("receiver got versions %v when Deliver returned, want the last to be 2", got)
	}
}

// TestDeliverAbandonsAtTheDeadline: a final update that cannot land before Deliver's deadline is abandoned and
// never lands afterwards (it would overwrite what the caller writes next).
func TestDeliverAbandonsAtTheDeadline(t *testing.T) {
	var accept atomic.Bool
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if accept.Load() {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	d := &Dispatcher{BaseBackoff: 20 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAttempts: 1000, Logger: discardLogger()}
	defer closeDispatcher(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	errs := d.Deliver(ctx, "op", []api.StatusTarget{hookTarget(srv.URL)}, op("op", 5), Update{})
	if len(errs) != 1 || !errors.Is(errs[0], ErrAbandoned) {
		t.Fatalf("Deliver = %v, want ErrAbandoned", errs)
	}
	// A request already on the wire when the deadline came may still arrive; no new attempt may start.
	time.Sleep(50 * time.Millisecond)
	accept.Store(true)
	n := len(srv.got())
	flush(t, d, "op")
	time.Sleep(100 * time.Millisecond)
	if later := len(srv.got()); later != n {
		t.Fatalf("%d more requests after Deliver gave up", later-n)
	}
}

// TestDeliverWithoutTargets returns at once.
func TestDeliverWithoutTargets(t *testing.T) {
	d := &Dispatcher{Logger: discardLogger()}
	defer closeDispatcher(t, d)
	if errs := d.Deliver(context.Background(), "op", nil, op("op", 1), Update{}); len(errs) != 0 {
		t.Fatalf("Deliver = %v", errs)
	}
}
