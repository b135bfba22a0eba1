// Package ops runs kdu's durable, asynchronous operations: requests are queued in the store, claimed by
// exactly one replica under a lease, executed through the library, and their changes published to
// subscribers (SSE, waiting requests) and status targets (MongoDB, webhooks). Operations left running by a
// process that died are taken over once their lease expires and resolved from the release's real state.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/apierr"
	"github.com/kdu-io/kdu/internal/store"
)

// Defaults.
const (
	DefaultLease      = 30 * time.Second
	DefaultPoll       = time.Second
	DefaultMaxRunning = 16
	// DefaultMaxPerCluster is how many operations run on one cluster at once: beyond about that many
	// concurrent Helm operations an API server gets no faster (Flux's finding, and kdu's bench/installs).
	DefaultMaxPerCluster = 12
	DefaultRetention     = 30 * 24 * time.Hour
	// finalFlush bounds how long the final status write to targets may delay an operation's end.
	finalFlush = 15 * time.Second
	// interruptGrace is how long operations get, after being interrupted at shutdown, to record their end.
	interruptGrace = 20 * time.Second
)

// StatusSink receives every change of an operation that names status targets. Publish must not block.
type StatusSink interface {
	Publish(op api.Operation, targets []api.StatusTarget, status string, detailed any)
	// Deliver writes the operation's final state to its targets and waits until each one has it or failed for
	// good, or ctx ends (then the writes still in flight are abandoned: they never land later). It returns one
	// result per target.
	Deliver(ctx context.Context, op api.Operation, targets []api.StatusTarget, status string, detailed any) []api.TargetResult
}

// Observer is told about operations for metrics. Implementations must be quick.
type Observer interface {
	Started(op *api.Operation)
	Finished(op *api.Operation, d time.Duration)
}

// Config configures a Runner.
type Config struct {
	Store   store.Store
	Manager *kdu.Manager
	// Owner identifies this replica in leases. It must be unique among live replicas; a replica that restarts
	// with the same Owner adopts its own operations at once instead of waiting for their leases to expire.
	Owner      string
	Lease      time.Duration // default 30 s
	Poll       time.Duration // claim and follow interval; default 1 s
	MaxRunning int           // operations run at once by this replica; default 16
	// MaxPerCluster caps the operations running on one cluster, over every replica sharing the store
	// (default DefaultMaxPerCluster; negative: no cap).
	MaxPerCluster int
	// Retention is how long finished operations are kept (default 30 days; negative: forever).
	Retention time.Duration
	Hub       *Hub
	Status    StatusSink // nil: no status targets
	Observer  Observer   // nil: none
	// Tracer, if set, records a span per operation.
	Tracer trace.Tracer
	Logger *slog.Logger
}

// Runner claims and runs operations.
type Runner struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu       sync.Mutex
	running  map[string]*run
	draining bool
	stop     chan struct{}
	loops    sync.WaitGroup
	runs     sync.WaitGroup
}

type run struct {
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// New returns a Runner; Start starts it.
func New(cfg Config) *Runner {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.MaxRunning <= 0 {
		cfg.MaxRunning = DefaultMaxRunning
	}
	if cfg.MaxPerCluster == 0 {
		cfg.MaxPerCluster = DefaultMaxPerCluster
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Hub == nil {
		cfg.Hub = NewHub()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer("kdu")
	}
	return &Runner{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), running: map[string]*run{}, stop: make(chan struct{})}
}

// Hub returns the runner's event hub.
func (r *Runner) Hub() *Hub { return r.cfg.Hub }

// Start adopts this replica's own operations left running by a previous process with the same Owner, then
// starts claiming operations and following the changes other replicas make.
func (r *Runner) Start(ctx context.Context) error {
	orphans, err := r.cfg.Store.ListOperations(ctx, store.OperationFilter{State: api.Running, Limit: 1000})
	if err != nil {
		return fmt.Errorf("listing running operations: %w", err)
	}
	for _, op := range orphans {
		if op.Owner != r.cfg.Owner {
			continue
		}
		op, err := r.cfg.Store.AdoptOperation(ctx, op.ID, r.cfg.Owner, r.cfg.Lease)
		if err != nil {
			continue // taken over meanwhile
		}
		r.log.Warn("adopting an operation left running by a previous process of this replica", "operation_id", op.ID,
			"kind", op.Kind, "cluster", op.Cluster, "release", op.Release)
		r.launch(op, true)
	}
	r.loops.Add(2)
	go r.claimLoop()
	go r.followLoop()
	return nil
}

// Submit queues an operation and returns it. With an idempotency key already used in the project it returns
// the existing operation and created false; the caller compares RequestHash.
func (r *Runner) Submit(ctx context.Context, op store.Operation) (store.Operation, bool, error) {
	stored, created, err := r.cfg.Store.CreateOperation(ctx, op)
	if err != nil {
		return stored, false, err
	}
	if created {
		r.log.Info("operation queued", "operation_id", stored.ID, "kind", stored.Kind, "cluster", stored.Cluster,
			"namespace", stored.Namespace, "release", stored.Release)
		r.cfg.Hub.Publish(View(stored))
		r.poke()
	}
	return stored, created, nil
}

// Cancel cancels a queued operation, or asks a running one to stop: the wait of its Helm action ends, an
// atomic operation rolls back, and it ends cancelled.
func (r *Runner) Cancel(ctx context.Context, id string) (store.Operation, error) {
	op, err := r.cfg.Store.CancelOperation(ctx, id)
	if err != nil {
		return op, err
	}
	r.mu.Lock()
	rn := r.running[id]
	r.mu.Unlock()
	if rn != nil {
		rn.cancel(apierr.ErrCancelled)
	}
	r.cfg.Hub.Publish(View(op))
	if op.State == api.Cancelled {
		r.log.Info("operation cancelled while queued", "operation_id", id)
		r.poke() // the next operation of that release may now run
	}
	return op, nil
}

// Running returns the number of operations this replica is running.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

// Shutdown stops claiming, lets running operations finish until ctx ends, then interrupts the rest (their Helm
// waits end, atomic ones roll back) and records them failed with code "interrupted". Queued operations stay
// queued for another replica or the next start.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.draining {
		r.draining = true
		close(r.stop)
	}
	n := len(r.running)
	r.mu.Unlock()
	r.loops.Wait()
	if n > 0 {
		r.log.Info("draining running operations", "count", n)
	}
	done := make(chan struct{})
	go func() { r.runs.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	r.mu.Lock()
	for id, rn := range r.running {
		r.log.Warn("interrupting operation at shutdown", "operation_id", id)
		rn.cancel(apierr.ErrInterrupted)
	}
	r.mu.Unlock()
	select {
	case <-done:
	case <-time.After(interruptGrace):
		return errors.New("operations did not stop in time; their leases will expire and another start will resolve them")
	}
	return ctx.Err()
}

func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Runner) claimLoop() {
	defer r.loops.Done()
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		r.claimAll()
		select {
		case <-r.stop:
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

func (r *Runner) claimAll() {
	for {
		r.mu.Lock()
		full := len(r.running) >= r.cfg.MaxRunning || r.draining
		r.mu.Unlock()
		if full {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		op, ok, err := r.cfg.Store.ClaimOperation(ctx, r.cfg.Owner, r.cfg.Lease, r.cfg.MaxPerCluster)
		cancel()
		if err != nil {
			r.log.Error("claiming an operation", "err", err)
			return
		}
		if !ok {
			return
		}
		r.launch(op, op.Attempts > 1)
	}
}

// followLoop publishes the changes other replicas make, so that event streams on this replica see them.
func (r *Runner) followLoop() {
	defer r.loops.Done()
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	since := time.Now().Add(-time.Minute)
	lastForget := time.Now()
	lastPrune := time.Now().Add(-time.Hour) // prune once soon after start
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// Overlap the window: the replicas' clocks and commit order are not perfectly aligned; the hub drops
		// versions already published.
		ops, err := r.cfg.Store.ChangedOperations(ctx, since.Add(-2*time.Second), 500)
		cancel()
		if err != nil {
			r.log.Warn("following operation changes", "err", err)
			continue
		}
		for _, op := range ops {
			r.cfg.Hub.Publish(View(op))
			if op.UpdatedAt.After(since) {
				since = op.UpdatedAt
			}
		}
		if time.Since(lastForget) > time.Minute {
			r.cfg.Hub.Forget(time.Now().Add(-10 * time.Minute))
			lastForget = time.Now()
		}
		if r.cfg.Retention > 0 && time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			if n, err := r.cfg.Store.PruneOperations(ctx, time.Now().Add(-r.cfg.Retention)); err != nil {
				r.log.Warn("pruning finished operations", "err", err)
			} else if n > 0 {
				r.log.Info("pruned finished operations", "count", n, "older_than", r.cfg.Retention)
			}
			cancel()
		}
	}
}

func (r *Runner) launch(op store.Operation, recovering bool) {
	ctx, cancel := context.WithCancelCause(context.Background())
	rn := &run{cancel: cancel, done: make(chan struct{})}
	r.mu.Lock()
	r.running[op.ID] = rn
	r.mu.Unlock()
	r.runs.Add(1)
	go func() {
		defer r.runs.Done()
		defer close(rn.done)
		defer func() {
			r.mu.Lock()
			delete(r.running, op.ID)
			r.mu.Unlock()
			cancel(nil)
			r.poke()
		}()
		r.execute(ctx, op, recovering)
	}()
}

// outcome is how an operation ended.
type outcome struct {
	rel *kdu.Release
	err error
}

func (r *Runner) execute(ctx context.Context, op store.Operation, recovering bool) {
	log := r.log.With("operation_id", op.ID, "kind", op.Kind, "cluster", op.Cluster, "namespace", op.Namespace, "release", op.Release)
	ctx, span := r.cfg.Tracer.Start(ctx, "kdu "+op.Kind, trace.WithAttributes(
		attribute.String("kdu.operation.id", op.ID), attribute.String("kdu.cluster", op.Cluster),
		attribute.String("kdu.release", op.Release), attribute.Int("kdu.operation.attempt", op.Attempts)))
	defer span.End()
	targets := decodeTargets(op.Targets, log)
	start := time.Now()
	view := View(op)
	if r.cfg.Observer != nil {
		r.cfg.Observer.Started(&view)
	}
	r.publishTargets(view, targets, fmt.Sprintf("%s running", op.Kind), nil)
	r.cfg.Hub.Publish(view)

	stopRenew := r.renew(ctx, op.ID, log)
	prog := newProgressWriter(r, op, targets, log)
	var out outcome
	if recovering {
		log.Warn("resolving an operation whose previous owner stopped", "attempt", op.Attempts)
		out = r.recover(ctx, op, prog.fn, log)
	} else {
		log.Info("operation started", "attempt", op.Attempts)
		out = r.perform(ctx, op, prog.fn)
	}
	prog.close()
	stopRenew()

	fin := finishOf(ctx, out)
	span.SetAttributes(attribute.String("kdu.operation.state", string(fin.State)))
	if fin.State != api.Succeeded {
		span.SetStatus(codes.Error, fin.ErrorMessage)
	}
	if len(targets) > 0 && r.cfg.Status != nil {
		// The end becomes visible (store, events, waiting requests) only after the targets have it, so that
		// what a caller writes to them right after cannot be overwritten by a late final write.
		fin.TargetResults = r.deliverFinal(op, fin, targets, log)
	}
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done, err := r.cfg.Store.FinishOperation(fctx, op.ID, r.cfg.Owner, fin)
	if err != nil {
		log.Error("recording the end of the operation", "err", err, "state", fin.State)
		return
	}
	v := View(done)
	if r.cfg.Observer != nil {
		r.cfg.Observer.Finished(&v, time.Since(start))
	}
	log.Info("operation finished", "state", fin.State, "revision", fin.Revision, "error_code", fin.ErrorCode,
		"duration_ms", time.Since(start).Milliseconds())
	r.cfg.Hub.Publish(v)
}

// deliverFinal writes the operation's final state, as it is about to be recorded, to its status targets, and
// waits (at most finalFlush) for each to have it. It returns the per-target results, as JSON for the store.
func (r *Runner) deliverFinal(op store.Operation, fin store.Finish, targets []api.StatusTarget, log *slog.Logger) []byte {
	final := op
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if cur, err := r.cfg.Store.GetOperation(rctx, op.ID); err == nil {
		final = cur
	}
	cancel()
	final.State, final.Result, final.Revision = fin.State, fin.Result, fin.Revision
	final.ErrorCode, final.ErrorMessage, final.ErrorField = fin.ErrorCode, fin.ErrorMessage, fin.ErrorField
	final.Version++ // what FinishOperation makes it
	final.FinishedAt, final.UpdatedAt = time.Now().UTC(), time.Now().UTC()
	v := View(final)
	status, detailed := r.statusOf(v)
	dctx, cancel := context.WithTimeout(context.Background(), finalFlush)
	defer cancel()
	results := r.cfg.Status.Deliver(dctx, v, targets, status, detailed)
	for i, res := range results {
		if !res.Delivered {
			log.Warn("the final status did not reach a status target", "target", i, "kind", res.Kind, "err", res.Error)
		}
	}
	b, err := json.Marshal(results)
	if err != nil {
		return nil
	}
	return b
}

// statusOf is what the status targets are told of an operation: a status text (the release's description, or
// the error) and the detailed status (the operation and, with a release, its status).
func (r *Runner) statusOf(v api.Operation) (string, any) {
	status := string(v.State)
	var detailed any = v
	if v.Release != nil {
		status = v.Release.Description
		if st, err := r.cfg.Manager.Status(context.Background(), v.Target); err == nil {
			detailed = map[string]any{"operation": v, "status": st}
		}
	}
	if v.Error != nil {
		status = v.Error.Message
	}
	return status, detailed
}

func (r *Runner) publishTargets(v api.Operation, targets []api.StatusTarget, status string, detailed any) {
	if len(targets) == 0 || r.cfg.Status == nil {
		return
	}
	if detailed == nil {
		detailed = v
	}
	r.cfg.Status.Publish(v, targets, status, detailed)
}

func decodeTargets(b []byte, log *slog.Logger) []api.StatusTarget {
	if len(b) == 0 {
		return nil
	}
	var ts []api.StatusTarget
	if err := json.Unmarshal(b, &ts); err != nil {
		log.Error("unreadable status targets; none will be written", "err", err)
		return nil
	}
	return ts
}

// finishOf turns an outcome into the stored end of the operation.
func finishOf(ctx context.Context, out outcome) store.Finish {
	var fin store.Finish
	if out.rel != nil {
		fin.Result, _ = json.Marshal(out.rel)
		fin.Revision = out.rel.Revision
	}
	if out.err == nil {
		fin.State = api.Succeeded
		return fin
	}
	err := out.err
	if cause := context.Cause(ctx); cause != nil && (errors.Is(cause, apierr.ErrCancelled) || errors.Is(cause, apierr.ErrInterrupted)) {
		err = fmt.Errorf("%w: %w", cause, out.err)
	}
	_, e := apierr.From(err)
	fin.State = api.Failed
	if e.Code == apierr.CodeCancelled {
		fin.State = api.Cancelled
	}
	fin.ErrorCode, fin.ErrorMessage, fin.ErrorField = e.Code, e.Message, e.Field
	return fin
}
