// Package serve assembles `kdu serve`: the store (SQLite, or PostgreSQL for several replicas), the library,
// the operation runner, the status targets, the HTTP API with its TLS and timeouts, tracing, and a graceful
// shutdown. It holds no logic of its own beyond the wiring.
package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/httpapi"
	"github.com/kdu-io/kdu/internal/ops"
	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store/sqlite"
	"github.com/kdu-io/kdu/internal/storeopen"
)

// Options configure the service.
type Options struct {
	// Listen is the address to serve on (default 127.0.0.1:8080).
	Listen string
	// DataDir holds the SQLite store, the secret key file and caches.
	DataDir string
	// Database, if set, is a postgres:// URL: the store that several replicas share. The secret key must then
	// come from KDU_SECRET_KEY or SecretKeyFile, the same for every replica.
	Database string
	// SecretKeyFile holds the base64 key that encrypts secrets at rest (default: KDU_SECRET_KEY, else
	// <DataDir>/secret.key, created if missing — SQLite only).
	SecretKeyFile string
	// TokenFile lists the hashes of the accepted bearer tokens. Without it the API is open, which is allowed
	// only on a loopback address.
	TokenFile string
	// TLSCert and TLSKey serve HTTPS.
	TLSCert, TLSKey string
	// MongoURI enables OSM-style MongoDB status targets, in MongoDatabase (default "osm").
	MongoURI, MongoDatabase string
	// ReplicaID identifies this replica in operation leases; it must be unique among live replicas and stable
	// across restarts (default: hostname/listen address).
	ReplicaID string
	// Lease is how long a claimed operation stays with this replica without renewal (default 30 s).
	Lease time.Duration
	// ShutdownTimeout bounds the graceful drain (default 60 s).
	ShutdownTimeout time.Duration
	// MaxRunning bounds the operations this replica runs at once (default 16).
	MaxRunning int
	// MaxPerCluster caps the operations running on one cluster, over all replicas (default 12; negative: no cap).
	MaxPerCluster int
	// KubeQPS and KubeBurst bound the request rate to each cluster's API server (kdu.Options).
	KubeQPS   float32
	KubeBurst int
	// StableRepoURL is every cluster's default "stable" repository; "" means none.
	StableRepoURL string
	// KeyringFile holds the PGP public keys that verified charts may be signed with (for repositories without
	// a keyring of their own).
	KeyringFile string
	// IndexRefresh is how long a repository index is used before it is downloaded again (default 10 min).
	IndexRefresh time.Duration
	Version      string
	Logger       *slog.Logger
	// OnListen, if set, is called with the bound address once the server accepts connections.
	OnListen func(addr string)
	// DebugListen, if set, is a loopback address serving Go's profiles (net/http/pprof under /debug/pprof/),
	// without authentication, for finding where time and memory go. Other addresses are refused.
	DebugListen string
}

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	svc, err := build(ctx, o)
	if err != nil {
		return err
	}
	defer svc.close()
	return svc.serve(ctx)
}

// service is one built `kdu serve`: everything opened, nothing serving yet.
type service struct {
	o       Options
	log     *slog.Logger
	tokens  *httpapi.Tokens
	ln      net.Listener
	hs      *http.Server
	runner  *ops.Runner
	closers []func()
}

// close releases what build opened, in reverse order.
func (s *service) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// build checks the options and opens everything kdu serve needs: the store, the listener, tracing, the
// library, the status targets, the runner and the HTTP server. On an error, what it opened is closed.
func build(ctx context.Context, o Options) (_ *service, err error) {
	s := &service{o: o, log: o.Logger}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.defaults(); err != nil {
		return nil, err
	}
	o = s.o
	keyText, err := secretKey(o)
	if err != nil {
		return nil, err
	}
	// The runner and the server share the library's store: the same data directory or database, opened
	// twice, is one connection pool.
	st, err := storeopen.Open(ctx, o.DataDir, o.Database, keyText)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { st.Close() })

	if s.ln, err = net.Listen("tcp", o.Listen); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	s.closers = append(s.closers, func() { s.ln.Close() })
	if o.ReplicaID == "" {
		host, _ := os.Hostname()
		o.ReplicaID = host + "/" + s.ln.Addr().String()
		s.o.ReplicaID = o.ReplicaID
	}
	log := s.log.With("replica", o.ReplicaID)
	s.log = log

	tracing, err := setupTracing(ctx, o.Version)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, tracing.shutdown)

	mopts := kdu.Options{DataDir: o.DataDir, Database: o.Database, SecretKey: keyText, WatchCache: true, RemoteChartsOnly: true, Logger: log, KubeQPS: o.KubeQPS, KubeBurst: o.KubeBurst,
		StableRepoURL: o.StableRepoURL, IndexRefresh: o.IndexRefresh}
	if o.KeyringFile != "" {
		if mopts.Keyring, err = os.ReadFile(o.KeyringFile); err != nil {
			return nil, fmt.Errorf("--keyring: %w", err)
		}
	}
	mgr, err := kdu.Open(ctx, mopts)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() { mgr.Close() })
	metrics := httpapi.NewMetrics()
	targets, err := newTargets(ctx, o, metrics, log)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, targets.close)
	s.runner = ops.New(ops.Config{
		Store: st, Manager: mgr, Owner: o.ReplicaID, Lease: o.Lease, MaxRunning: o.MaxRunning, MaxPerCluster: o.MaxPerCluster,
		Status: targets.sink(), Observer: metrics, Logger: log, Tracer: tracing.tracer(),
	})
	srv := httpapi.New(httpapi.Config{
		Manager: mgr, Store: st, Runner: s.runner, Tokens: s.tokens, Metrics: metrics, Logger: log, Version: o.Version,
		ValidateTarget: targets.validate, Wrap: tracing.wrap,
	})
	s.hs = &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if o.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("loading the TLS certificate: %w", err)
		}
		s.hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return s, nil
}

// defaults fills the options' defaults and checks the ones that need no I/O beyond the data directory and
// the token file.
func (s *service) defaults() error {
	o := &s.o
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8080"
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = time.Minute
	}
	if o.MongoDatabase == "" {
		o.MongoDatabase = "osm"
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return errors.New("give both --tls-cert and --tls-key, or neither")
	}
	if o.TokenFile != "" {
		var err error
		if s.tokens, err = httpapi.LoadTokens(o.TokenFile); err != nil {
			return err
		}
	} else if !loopback(o.Listen) {
		return fmt.Errorf("refusing to serve %s without authentication: give --token-file (kdu token create), or listen on a loopback address", o.Listen)
	}
	if o.KubeQPS < 0 || o.KubeBurst < 0 {
		return errors.New("--kube-qps and --kube-burst must not be negative")
	}
	if o.DebugListen != "" && !loopback(o.DebugListen) {
		return fmt.Errorf("--debug-listen %s: the profiling endpoint has no authentication, so it listens on a loopback address only", o.DebugListen)
	}
	if o.DataDir == "" {
		dir, err := sqlite.DefaultDataDir()
		if err != nil {
			return err
		}
		o.DataDir = dir
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	return nil
}

// serve starts the runner and the HTTP server, and on ctx's end drains: no new requests, running operations
// get until the shutdown timeout, the rest are interrupted.
func (s *service) serve(ctx context.Context) error {
	o, log, hs := s.o, s.log, s.hs
	if err := s.runner.Start(ctx); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		if hs.TLSConfig != nil {
			errc <- hs.ServeTLS(s.ln, "", "")
		} else {
			errc <- hs.Serve(s.ln)
		}
	}()
	if o.DebugListen != "" {
		stop, err := serveDebug(o.DebugListen, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("kdu serving", "address", s.ln.Addr().String(), "tls", hs.TLSConfig != nil, "store", storeopen.Describe(o.DataDir, o.Database),
		"auth", s.tokens != nil, "mongo_status", o.MongoURI != "", "version", o.Version)
	if o.OnListen != nil {
		o.OnListen(s.ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving: %w", err)
		}
	}
	log.Info("shutting down: no new requests; running operations get until the deadline", "timeout", o.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	// Stop accepting first; streams and waits end when the runner's operations do.
	go func() { _ = hs.Shutdown(sctx) }()
	if err := s.runner.Shutdown(sctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	_ = hs.Close()
	log.Info("stopped")
	return nil
}

// serveDebug serves net/http/pprof's handlers on addr (a loopback address) until stop is called.
func serveDebug(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--debug-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	log.Info("kdu debug endpoint", "address", ln.Addr().String())
	return func() { _ = hs.Close() }, nil
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// secretKey returns the secret key of --secret-key-file, checked, or "" (the environment or the data
// directory's key file then gives it).
func secretKey(o Options) (string, error) {
	if o.SecretKeyFile == "" {
		return "", nil
	}
	data, err := os.ReadFile(o.SecretKeyFile)
	if err != nil {
		return "", fmt.Errorf("reading the secret key file: %w", err)
	}
	text := strings.TrimSpace(string(data))
	key, err := secret.LoadKey("", text)
	if err != nil {
		return "", fmt.Errorf("secret key file %s: %w", o.SecretKeyFile, err)
	}
	clear(key)
	return text, nil
}
