package tiller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
)

// DefaultNamespace is where Tiller runs unless told otherwise (helm2's default).
const DefaultNamespace = "kube-system"

// Options configure an Engine.
type Options struct {
	// Namespace is Tiller's namespace (default kube-system).
	Namespace string
	// Address is Tiller's gRPC address (host:port); "" port-forwards to the Tiller pod in Namespace.
	Address string
	// DefaultTimeout bounds waits when a request gives none (default 5 minutes).
	DefaultTimeout time.Duration
	// ProgressInterval is how often readiness is sampled while an operation waits (default 1 s).
	ProgressInterval time.Duration
	Logger           *slog.Logger
}

// Engine performs KDU operations through Tiller. It implements engine.Engine.
type Engine struct {
	conn *cluster.Conn
	opts Options
	c    *client
	log  *slog.Logger
}

var _ engine.Engine = (*Engine)(nil)

// New returns a Tiller engine for one cluster. It connects on first use.
func New(conn *cluster.Conn, opts Options) *Engine {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = 5 * time.Minute
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{conn: conn, opts: opts, log: log, c: &client{conn: conn, namespace: opts.Namespace, address: opts.Address}}
}

// Close closes the connection to Tiller and its tunnel.
func (e *Engine) Close() { e.c.close() }

// Version returns Tiller's version (such as "v2.17.0").
func (e *Engine) Version(ctx context.Context) (string, error) { return e.c.Version(ctx) }

func (e *Engine) timeoutSeconds(t time.Duration) int64 {
	if t <= 0 {
		t = e.opts.DefaultTimeout
	}
	s := int64(t / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// classify maps Tiller's error texts (every error is codes.Unknown with a message) to engine sentinels.
func (e *Engine) classify(err error, name string) error {
	if err == nil {
		return nil
	}
	e.c.reset(err)
	msg := unwrap(err).Error()
	switch {
	case errors.Is(err, engine.ErrUnreachable), errors.Is(err, engine.ErrTillerUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case strings.Contains(msg, "not found") && strings.Contains(msg, name):
		return fmt.Errorf("%w: %s (Tiller: %s)", engine.ErrReleaseNotFound, name, msg)
	case strings.Contains(msg, "cannot re-use a name that is still in use"), strings.Contains(msg, "already exists"):
		return fmt.Errorf("%w: %s (Tiller: %s)", engine.ErrReleaseExists, name, msg)
	case strings.Contains(msg, "timed out waiting"):
		return fmt.Errorf("%w: %s (Tiller: %s)", engine.ErrTimeout, name, msg)
	case strings.Contains(msg, "incompatible versions"):
		return fmt.Errorf("%w: Tiller refused kdu's version header: %s", engine.ErrTillerUnavailable, msg)
	case strings.Contains(msg, "another operation") && strings.Contains(msg, "in progress"):
		return fmt.Errorf("%w: %s (Tiller: %s)", engine.ErrPending, name, msg)
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "Unavailable"):
		return fmt.Errorf("%w: %s", engine.ErrTillerUnavailable, msg)
	}
	return fmt.Errorf("tiller: %s: %s", name, msg)
}
