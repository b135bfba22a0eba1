// Package helm is kdu's Helm 3 engine over the Helm v4 SDK (helm.sh/helm/v4); with its siblings under
// internal/engine (charts, values, tiller) it is the only code that imports the SDK.
//
// Mutating operations (install, upgrade, rollback, uninstall) run Helm's own actions, each on a fresh
// action.Configuration built over the cluster's shared, cached RESTClientGetter (cluster.Conn). Reads (status,
// list, history, values, services) do not go through action.Status, which re-reads discovery and issues half a
// dozen requests per call: they decode Helm's release Secrets and read the manifest's objects directly, either
// with direct API reads or, when the engine's watch cache is enabled (long-lived processes), from informers,
// which makes a warm status an in-memory computation.
package helm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/kube"
	"helm.sh/helm/v4/pkg/storage/driver"

	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
)

// FieldManager is the server-side apply field manager of every object kdu applies.
const FieldManager = "kdu"

func init() {
	// Helm defaults the field manager to the binary's name; pin it once, before any action runs, so renaming the
	// binary can never cause server-side apply conflicts.
	kube.ManagedFieldsManager = FieldManager
}

// Defaults used when Options leave a field zero.
const (
	DefaultMaxHistory           = 10
	DefaultTimeout              = 5 * time.Minute
	DefaultStatusComputeWorkers = 8
)

// Options configure an Engine.
type Options struct {
	// MaxHistory bounds the revisions Helm keeps per release (Helm's SDK default of 0 keeps them all).
	MaxHistory int
	// DefaultTimeout bounds waits when a request gives no timeout.
	DefaultTimeout time.Duration
	// StatusComputeWorkers is the kstatus watcher's parallelism (SDK 0, CLI 8).
	StatusComputeWorkers int
	// WatchCache serves reads from informers instead of API calls. Worth it in long-lived processes only.
	WatchCache bool
	// ProgressInterval is how often progress is sampled while an operation waits (default 500ms).
	ProgressInterval time.Duration
	// Logger receives the engine's and Helm's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Engine runs KDU operations on one cluster. It is safe for concurrent use; it does not serialise operations on
// one release (the caller's per-release lock does).
type Engine struct {
	conn *cluster.Conn
	opts Options
	log  *slog.Logger

	reader *reader
	caps   capabilities

	closeOnce sync.Once
}

var _ engine.Engine = (*Engine)(nil)

// New returns an engine over a connected cluster.
func New(conn *cluster.Conn, opts Options) *Engine {
	if opts.MaxHistory <= 0 {
		opts.MaxHistory = DefaultMaxHistory
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = DefaultTimeout
	}
	if opts.StatusComputeWorkers <= 0 {
		opts.StatusComputeWorkers = DefaultStatusComputeWorkers
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{conn: conn, opts: opts, log: opts.Logger}
	e.reader = newReader(conn, opts.WatchCache, e.log)
	return e
}

// Close stops the engine's informers. Operations still running are not interrupted.
func (e *Engine) Close() {
	e.closeOnce.Do(e.reader.close)
}

// configuration builds a fresh Helm configuration for one operation in one namespace. Helm's Configuration and
// kube.Client hold per-operation mutable state (waiter, storage MaxHistory), so they are never shared.
func (e *Engine) configuration(namespace string) (*action.Configuration, error) {
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(e.log.Handler()))
	if err := cfg.Init(e.conn, namespace, "secret"); err != nil {
		return nil, fmt.Errorf("initialising helm for namespace %s: %w", namespace, err)
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Namespace = namespace
	}
	return cfg, nil
}

// waitingConfiguration is configuration for an operation that may wait for readiness: its waits read the
// watch cache (see waitClient) and end with ctx.
func (e *Engine) waitingConfiguration(ctx context.Context, namespace string) (*action.Configuration, error) {
	cfg, err := e.configuration(namespace)
	if err != nil {
		return nil, err
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		cfg.KubeClient = &waitClient{Client: kc, e: e, ctx: ctx}
	}
	return cfg, nil
}

// waitStrategy maps kdu's wait flags to a Helm wait strategy (which the SDK requires to be set).
func waitStrategy(w engine.WaitOptions) kube.WaitStrategy {
	if w.Wait || w.Atomic {
		return kube.StatusWatcherStrategy
	}
	return kube.HookOnlyStrategy
}

func (e *Engine) waitOptions(ctx context.Context) []kube.WaitOption {
	return []kube.WaitOption{
		kube.WithWaitContext(ctx),
		kube.WithStatusComputeWorkers(e.opts.StatusComputeWorkers),
	}
}

func (e *Engine) timeout(t time.Duration) time.Duration {
	if t <= 0 {
		return e.opts.DefaultTimeout
	}
	return t
}

// classify maps Helm's errors to kdu's sentinels, keeping Helm's message. Helm's storage sentinels are matched
// with errors.Is; the action package's own errors are unexported, so for those (a pending operation, a name in
// use, a wait that timed out, an unreachable cluster) only the text is there to match.
func classify(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "another operation (install/upgrade/rollback) is in progress"):
		return fmt.Errorf("%w: %w", engine.ErrPending, err)
	case strings.Contains(msg, "cannot reuse a name that is still in use"):
		return fmt.Errorf("%w: %w", engine.ErrReleaseExists, err)
	case errors.Is(err, driver.ErrNoDeployedReleases), errors.Is(err, driver.ErrReleaseNotFound):
		return fmt.Errorf("%w: %w", engine.ErrReleaseNotFound, err)
	case errors.Is(err, context.DeadlineExceeded), strings.Contains(msg, "context deadline exceeded"),
		strings.Contains(msg, "timed out waiting"):
		return fmt.Errorf("%w: %w", engine.ErrTimeout, err)
	case strings.Contains(msg, "kubernetes cluster unreachable"):
		return fmt.Errorf("%w: %w", engine.ErrUnreachable, err)
	}
	return err
}
