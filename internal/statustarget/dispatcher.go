package statustarget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kdu-io/kdu/api"
)

// Defaults of Dispatcher.
const (
	DefaultBaseBackoff    = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultMaxAttempts    = 8
	DefaultAttemptTimeout = 15 * time.Second
)

// Errors reported through Dispatcher.OnResult.
var (
	// ErrGaveUp wraps the last error of an update that failed MaxAttempts times.
	ErrGaveUp = errors.New("status update not delivered")
	// ErrNoMongo is reported for a mongo target when Dispatcher.Mongo is nil.
	ErrNoMongo = errors.New("mongo status targets are not configured")
	// ErrClosed is reported for updates abandoned because Close's context ended.
	ErrClosed = errors.New("status dispatcher closed")
	// ErrAbandoned is reported for a final update that Deliver stopped waiting for: it will not land later.
	ErrAbandoned = errors.New("status update abandoned")
)

// MongoWriter writes one update to a MongoDB target. *Mongo implements it.
type MongoWriter interface {
	Write(ctx context.Context, t api.MongoTarget, u Update) error
}

// Dispatcher delivers the updates of operations to their status targets in the background, without ever
// blocking the operation.
//
// Each (operation, target) pair has at most one worker goroutine, started by Publish and ended as soon as it
// has nothing left to deliver. A worker delivers the latest update it was given: updates published while it
// is busy are coalesced (intermediate ones may be skipped), the last one is always attempted, and deliveries to
// one target are in Publish order, never an older after a newer. A failed delivery is retried with exponential
// backoff and jitter (BaseBackoff doubling up to MaxBackoff, MaxAttempts attempts); a newer update replaces the
// one being retried. Errors that retrying cannot fix (ErrNoDocument, an invalid target, ErrNoMongo) end the
// update at once.
//
// Set the exported fields before the first Publish and do not change them afterwards. The zero value works
// with the defaults (and no Mongo). Methods are safe for concurrent use.
type Dispatcher struct {
	// Mongo writes mongo targets; nil makes each mongo target's updates fail with ErrNoMongo.
	Mongo MongoWriter
	// HTTPClient posts webhooks; nil means a client from NewHTTPClient (closed-idle by Close).
	HTTPClient *http.Client
	// BaseBackoff and MaxBackoff bound the delay between attempts (defaults 500ms and 30s).
	BaseBackoff, MaxBackoff time.Duration
	// MaxAttempts is how many times one update is tried (default 8).
	MaxAttempts int
	// AttemptTimeout bounds one attempt (default 15s).
	AttemptTimeout time.Duration

	// OnResult, if set, is called once per update that reached an outcome: err == nil when it was delivered;
	// otherwise the error that ended it: it wraps ErrGaveUp (attempts exhausted, the last error wrapped too),
	// ErrNoDocument, ErrInvalidTarget, ErrNoMongo or ErrClosed. Use errors.Is. Updates skipped by coalescing or
	// replaced while being retried have no outcome of their own. target is the index in the targets given to
	// Publish. It is called from worker goroutines, concurrently for different targets: it must be safe for
	// concurrent use, return quickly and not call Flush or Close.
	OnResult func(opID string, target int, err error)
	// OnAttemptError, if set, is called after each failed attempt (attempt counts from 1), before any retry;
	// same rules as OnResult.
	OnAttemptError func(opID string, target int, attempt int, err error)
	// Logger receives give-ups (Warn) and failed attempts (Debug); nil means slog.Default(). Nothing secret is
	// logged: errors carry no header values, URL paths, queries or Mongo URIs.
	Logger *slog.Logger

	initOnce sync.Once
	webhook  *Webhook
	ownHTTP  bool
	stopCtx  context.Context
	stop     context.CancelFunc

	mu     sync.Mutex
	ops    map[string]*opState
	closed bool
	wg     sync.WaitGroup
	active atomic.Int64 // running workers
}

// opState is the set of live workers of one operation.
type opState struct {
	workers map[int]*worker
	idle    chan struct{} // closed when the last worker exits
}

// worker is the delivery state of one (operation, target) pair; fields are guarded by Dispatcher.mu.
type worker struct {
	opID    string
	index   int
	pending *job
	kick    chan struct{} // holds a token exactly when pending != nil
	version int64         // highest op.Version published to this worker
}

// job is one update to deliver.
type job struct {
	target  api.StatusTarget
	opID    string
	version int64
	body    []byte // operation JSON, for webhooks
	u       Update // Detailed is a json.RawMessage snapshot
	err     error  // a marshalling error, reported instead of delivering
	// ctx ends the job's attempts early (Deliver's deadline); outcome, if set, receives its outcome.
	ctx     context.Context
	outcome chan error
}

func (d *Dispatcher) init() {
	d.initOnce.Do(func() {
		d.ops = make(map[string]*opState)
		d.stopCtx, d.stop = context.WithCancel(context.Background())
		c := d.HTTPClient
		if c == nil {
			c = NewHTTPClient()
			d.ownHTTP = true
		}
		d.webhook = &Webhook{Client: c}
	})
}

func (d *Dispatcher) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// Publish hands an update of operation opID to each of its targets and returns at once; it never waits for
// a delivery. op is the state sent to webhooks and u what is written to mongo targets; both are copied (op and
// u.Detailed are marshalled now), so the caller may change them afterwards. Pass the same targets, in the
// same order, on every call for an operation: target i of one call and target i of the next are the same
// target. An update whose op.Version is lower than one already published to a still-busy worker is dropped.
// After Close, Publish drops updates (logging a warning).
func (d *Dispatcher) Publish(opID string, targets []api.StatusTarget, op api.Operation, u Update) {
	d.publish(opID, targets, op, u, nil, nil)
}

// Deliver is Publish for an operation's final update, waiting for its outcome: it returns, per target, nil once
// the update was delivered, or the error that ended it. When ctx ends first, the deliveries still in flight are
// abandoned (ErrAbandoned: they will not land later, over what the caller writes next). Publish nothing newer
// for the operation afterwards.
func (d *Dispatcher) Deliver(ctx context.Context, opID string, targets []api.StatusTarget, op api.Operation, u Update) []error {
	errs := make([]error, len(targets))
	if len(targets) == 0 {
		return errs
	}
	d.init()
	jctx, cancel := context.WithCancel(d.stopCtx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	outcomes := make([]chan error, len(targets))
	for i := range outcomes {
		outcomes[i] = make(chan error, 1)
	}
	if !d.publish(opID, targets, op, u, jctx, outcomes) {
		for i := range errs {
			errs[i] = ErrClosed
		}
		return errs
	}
	for i, c := range outcomes {
		select {
		case errs[i] = <-c:
		case <-jctx.Done():
			// Abandoned (or the dispatcher closed): the worker reports it at once; wait for that.
			errs[i] = <-c
		}
	}
	return errs
}

// publish hands an update to the targets' workers; jctx and outcomes (both nil for Publish) are the job's
// context and, per target, where its outcome goes. It reports false when the dispatcher is closed.
func (d *Dispatcher) publish(opID string, targets []api.StatusTarget, op api.Operation, u Update, jctx context.Context, outcomes []chan error) bool {
	if len(targets) == 0 {
		return true
	}
	d.init()
	if jctx == nil {
		jctx = d.stopCtx
	}
	var jerr error
	body, err := json.Marshal(op)
	if err != nil {
		jerr = fmt.Errorf("status: marshal operation: %w", err)
	}
	if u.Time.IsZero() {
		u.Time = time.Now()
	}
	if detailed, err := compactJSON(u.Detailed); err != nil {
		jerr = errors.Join(jerr, fmt.Errorf("status: marshal detailed status: %w", err))
	} else {
		u.Detailed = json.RawMessage(detailed)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		d.logger().Warn("status update dropped: dispatcher closed", "operation_id", opID)
		return false
	}
	st := d.ops[opID]
	if st == nil {
		st = &opState{workers: make(map[int]*worker), idle: make(chan struct{})}
		d.ops[opID] = st
	}
	for i, t := range targets {
		var outcome chan error
		if outcomes != nil {
			outcome = outcomes[i]
		}
		w := st.workers[i]
		if w == nil {
			w = &worker{opID: opID, index: i, kick: make(chan struct{}, 1), version: op.Version}
			st.workers[i] = w
			d.wg.Add(1)
			d.active.Add(1)
			go d.run(st, w)
		} else if op.Version < w.version {
			if outcome != nil {
				outcome <- fmt.Errorf("%w: a newer update (version %d) was published", ErrAbandoned, w.version)
			}
			continue
		}
		w.version = op.Version
		if old := w.pending; old != nil && old.outcome != nil {
			old.outcome <- fmt.Errorf("%w: replaced by a newer update", ErrAbandoned)
		}
		w.pending = &job{target: t, opID: opID, version: op.Version, body: body, u: u, err: jerr, ctx: jctx, outcome: outcome}
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// Flush waits until every target of operation opID has delivered, or reached an outcome for, the latest
// update published to it, or until ctx ends (returning ctx.Err()). Call it after the final update, with a
// deadline. It returns at once for an operation with nothing in flight.
func (d *Dispatcher) Flush(ctx context.Context, opID string) error {
	d.init()
	d.mu.Lock()
	st := d.ops[opID]
	d.mu.Unlock()
	if st == nil {
		return nil
	}
	select {
	case <-st.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting updates and waits until every worker has delivered (or reached an outcome for) its
// latest update. If ctx ends first, attempts in flight and backoffs are abandoned, the remaining updates are
// reported with ErrClosed, and Close returns ctx.Err() once the workers have exited (promptly). Close is
// idempotent.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.init()
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()

	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		d.stop()
		<-done
	}
	d.stop()
	if d.ownHTTP {
		d.webhook.Client.CloseIdleConnections()
	}
	return err
}

// run is a worker's goroutine.
func (d *Dispatcher) run(st *opState, w *worker) {
	defer d.wg.Done()
	defer d.active.Add(-1)
	for {
		j := d.take(st, w)
		if j == nil {
			return
		}
		d.deliver(w, j)
	}
}

// take returns the worker's pending update, or removes the worker and returns nil when there is none.
func (d *Dispatcher) take(st *opState, w *worker) *job {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-w.kick:
	default:
	}
	j := w.pending
	if j != nil {
		w.pending = nil
		return j
	}
	delete(st.workers, w.index)
	if len(st.workers) == 0 {
		close(st.idle)
		if d.ops[w.opID] == st {
			delete(d.ops, w.opID)
		}
	}
	return nil
}

func (d *Dispatcher) hasPending(w *worker) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return w.pending != nil
}

// deliver tries j until it is delivered, fails for good, is replaced by a newer update or the dispatcher stops.
func (d *Dispatcher) deliver(w *worker, j *job) {
	maxAttempts := d.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	for attempt := 1; ; attempt++ {
		err := d.attempt(j)
		var pe *permanentError
		permanent := errors.As(err, &pe)
		if permanent {
			err = pe.err
		}
		if err == nil {
			d.result(w, j, nil)
			return
		}
		if d.stopCtx.Err() != nil {
			d.result(w, j, fmt.Errorf("%w: %w", ErrClosed, err))
			return
		}
		if j.ctx.Err() != nil {
			d.result(w, j, fmt.Errorf("%w: %w", ErrAbandoned, err))
			return
		}
		if d.OnAttemptError != nil {
			d.OnAttemptError(w.opID, w.index, attempt, err)
		}
		d.logger().Debug("status update attempt failed", "operation_id", w.opID, "target", w.index,
			"version", j.version, "attempt", attempt, "error", err)
		if permanent {
			d.result(w, j, err)
			return
		}
		if attempt >= maxAttempts {
			d.result(w, j, fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, attempt, err))
			return
		}
		if d.hasPending(w) {
			d.replaced(j)
			return
		}
		timer := time.NewTimer(d.backoff(attempt, err))
		select {
		case <-timer.C:
		case <-w.kick:
			// A newer update is pending (the token is only there with one): drop this one. take() consumes
			// the pending update; the token was consumed here.
			timer.Stop()
			d.replaced(j)
			return
		case <-d.stopCtx.Done():
			timer.Stop()
			d.result(w, j, fmt.Errorf("%w: %w", ErrClosed, err))
			return
		case <-j.ctx.Done():
			timer.Stop()
			d.result(w, j, fmt.Errorf("%w: %w", ErrAbandoned, err))
			return
		}
	}
}

// permanentError marks an attempt error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// attempt performs one delivery; errors that retrying cannot fix are *permanentError.
func (d *Dispatcher) attempt(j *job) error {
	if j.err != nil {
		return &permanentError{j.err}
	}
	if err := ValidateTarget(j.target); err != nil {
		return &permanentError{err}
	}
	timeout := d.AttemptTimeout
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	ctx, cancel := context.WithTimeout(j.ctx, timeout)
	defer cancel()
	if m := j.target.Mongo; m != nil {
		if d.Mongo == nil {
			return &permanentError{fmt.Errorf("status: collection %q: %w", m.Collection, ErrNoMongo)}
		}
		err := d.Mongo.Write(ctx, *m, j.u)
		if errors.Is(err, ErrNoDocument) || errors.Is(err, ErrInvalidTarget) {
			return &permanentError{err}
		}
		return err
	}
	return d.webhook.post(ctx, *j.target.Webhook, j.opID, j.version, j.body)
}

// result reports an outcome.
func (d *Dispatcher) result(w *worker, j *job, err error) {
	if err != nil {
		d.logger().Warn("status update not delivered", "operation_id", w.opID, "target", w.index, "error", err)
	}
	if d.OnResult != nil {
		d.OnResult(w.opID, w.index, err)
	}
	if j.outcome != nil {
		j.outcome <- err
	}
}

// replaced ends a job a newer update replaced; it has no outcome of its own, but a Deliver waiting for it learns.
func (d *Dispatcher) replaced(j *job) {
	if j.outcome != nil {
		j.outcome <- fmt.Errorf("%w: replaced by a newer update", ErrAbandoned)
	}
}

// backoff returns the delay before attempt+1: BaseBackoff·2^(attempt-1) capped at MaxBackoff, with jitter
// (uniform in [d/2, d]), and at least a Retry-After the server asked for (still capped).
func (d *Dispatcher) backoff(attempt int, err error) time.Duration {
	base, maxB := d.BaseBackoff, d.MaxBackoff
	if base <= 0 {
		base = DefaultBaseBackoff
	}
	if maxB <= 0 {
		maxB = DefaultMaxBackoff
	}
	if maxB < base {
		maxB = base
	}
	delay := base
	for i := 1; i < attempt && delay < maxB; i++ {
		delay *= 2
	}
	delay = min(delay, maxB)
	delay = delay/2 + rand.N(delay/2+1)
	var he *HTTPStatusError
	if errors.As(err, &he) && he.RetryAfter > delay {
		delay = min(he.RetryAfter, maxB)
	}
	return delay
}
