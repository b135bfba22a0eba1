// Package kdu deploys and manages KDUs — Kubernetes Deployment Units, i.e. Helm charts — on many Kubernetes
// clusters. It is the library at the core of the kdu service and CLI, and re-implements OSM N2VC's Helm
// connector in-process on the Helm v4 SDK: no helm or kubectl binaries, no command strings.
//
// A Manager holds the registered clusters (kubeconfigs encrypted at rest in its store) and runs every KDU
// operation of N2VC's connector against them: install, upgrade, scale, rollback, uninstall, status, list,
// history, values, services and chart inspection. Operations on one release are serialised by a per-release
// lock; operations on different releases and clusters run in parallel.
package kdu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/charts"
	"github.com/kdu-io/kdu/internal/engine/helm"
	"github.com/kdu-io/kdu/internal/engine/tiller"
	"github.com/kdu-io/kdu/internal/locks"
	"github.com/kdu-io/kdu/internal/store"
	"github.com/kdu-io/kdu/internal/store/postgres"
	"github.com/kdu-io/kdu/internal/store/sqlite"
	"github.com/kdu-io/kdu/internal/storeopen"
)

// The library's results are the REST API's types (package api), so a Release is the same whether it comes
// from a Manager or from the API's Go client.
type (
	// Target addresses a KDU: a release on a cluster.
	Target = api.Target
	// Release is one revision of a release.
	Release = api.Release
	// ReleaseState is a release state as Helm records it (deployed, failed, pending-install, ...).
	ReleaseState = api.ReleaseState
	// Status is a release with the readiness of every object in its manifest.
	Status = api.Status
	// Resource is one object of a release and its readiness.
	Resource = api.Resource
	// Service is a Service of a release.
	Service = api.Service
	// ServicePort is one port of a Service.
	ServicePort = api.ServicePort
	// ChartInfo describes a chart.
	ChartInfo = api.ChartInfo
	// ChartMetadata is a chart's metadata.
	ChartMetadata = api.ChartMetadata
	// Progress reports readiness while an operation waits.
	Progress = api.Progress
	// ProgressFunc receives Progress. Engines call it from their own goroutine, only when something changed;
	// it must not block.
	ProgressFunc = engine.ProgressFunc
	// Cluster is a registered cluster as kdu shows it (never with its kubeconfig).
	Cluster = api.Cluster
	// Repo is a chart repository as kdu reports it (never with its secrets).
	Repo = api.Repo
	// RepoUpdate reports the refresh of one repository's index.
	RepoUpdate = api.RepoUpdate
	// RepoChange names one repository that SyncRepos added, updated or removed.
	RepoChange = api.RepoChange
	// RepoSync reports what SyncRepos changed.
	RepoSync = api.RepoSync
)

// Defaults.
const (
	DefaultTimeout    = api.DefaultTimeout // N2VC's 300 s
	DefaultScaleTime  = api.DefaultScaleTimeout
	DefaultLockWait   = 2 * time.Minute
	DefaultMaxHistory = helm.DefaultMaxHistory
)

// Options configure a Manager.
type Options struct {
	// DataDir holds the embedded store, the secret key (unless KDU_SECRET_KEY is set) and caches.
	// "" means $KDU_DATA_DIR, else $XDG_DATA_HOME/kdu, else ~/.local/share/kdu.
	DataDir string
	// Database is a postgres:// URL of a PostgreSQL database that several kdu processes share; "" means the
	// embedded SQLite store in DataDir. Opening the same store twice in one process shares its connections.
	Database string
	// SecretKey is the base64 of the 32-byte key that encrypts kubeconfigs and repository secrets at rest; ""
	// means $KDU_SECRET_KEY, else (SQLite only) the secret.key file in DataDir, created if missing. Every
	// process sharing a PostgreSQL database needs the same key, so it must be given there.
	SecretKey string
	// MaxHistory bounds the revisions kept per release (default 10).
	MaxHistory int
	// LockWait bounds how long an operation waits for another one on the same release before failing with
	// ErrBusy (default 2 minutes; negative: fail at once).
	LockWait time.Duration
	// WatchCache serves reads from per-cluster informers. Use it in long-lived processes (the service, Go
	// programs); the CLI leaves it off.
	WatchCache bool
	// RemoteChartsOnly refuses chart references that are paths on this host (a service must not read its own
	// files for its clients); charts then come from repositories, URLs or uploaded archives.
	RemoteChartsOnly bool
	// StableRepoURL, when set, is the default "stable" repository of every cluster (N2VC's --stable-repo-url):
	// "stable/chart" resolves against it unless the cluster or its project registers its own "stable". ""
	// means no default repository (N2VC's --skip-repos).
	StableRepoURL string
	// IndexRefresh is how long a downloaded repository index is used before it is refreshed on next use
	// (default 10 minutes). `repo update` always refreshes.
	IndexRefresh time.Duration
	// Keyring holds PGP public keys (armored or binary) that verified charts may be signed with, for
	// repositories without a keyring of their own.
	Keyring []byte
	// KubeQPS and KubeBurst bound the requests per second kdu sends to each cluster's API server, shared by
	// all its operations and reads (default 500 and 1000). The API server protects itself (API Priority and
	// Fairness); a low client-side limit only queues kdu's own operations behind each other.
	KubeQPS   float32
	KubeBurst int
	// Logger receives kdu's logs; nil means slog.Default(). Secrets are never logged.
	Logger *slog.Logger
}

// Manager runs KDU operations on registered clusters. It is safe for concurrent use.
type Manager struct {
	store  store.Store
	opts   Options
	log    *slog.Logger
	loader *charts.Loader
	locks  locks.Keyed

	mu    sync.Mutex
	conns map[string]*clusterConn // by cluster id
}

// connOptions are the client settings of every cluster connection.
func (m *Manager) connOptions() cluster.Options {
	return cluster.Options{QPS: m.opts.KubeQPS, Burst: m.opts.KubeBurst}
}

type clusterConn struct {
	rec     store.Cluster // the registration the connection was built from, without the kubeconfig
	checked time.Time     // when rec was last compared with the store
	conn    *cluster.Conn
	engine  clusterEngine
}

// clusterEngine is the engine of one cluster: Helm 3 through the SDK, or Helm 2 through Tiller.
type clusterEngine interface {
	engine.Engine
	Close()
}

// registrationTTL is how long a cluster's registration is trusted before it is compared with the store again.
// Changes made through this Manager take effect at once; changes made by another process within this time.
const registrationTTL = 2 * time.Second

// Open opens (creating it if needed) the store that opts name — the embedded SQLite file in the data directory,
// or a PostgreSQL database — and returns a Manager over it. Close closes it.
func Open(ctx context.Context, opts Options) (*Manager, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.DataDir == "" {
		dir, err := sqlite.DefaultDataDir()
		if err != nil {
			return nil, err
		}
		opts.DataDir = dir
	}
	st, err := storeopen.Open(ctx, opts.DataDir, opts.Database, opts.SecretKey)
	if err != nil {
		return nil, err
	}
	if opts.MaxHistory <= 0 {
		opts.MaxHistory = DefaultMaxHistory
	}
	if opts.LockWait == 0 {
		opts.LockWait = DefaultLockWait
	}
	if opts.LockWait < 0 {
		opts.LockWait = 0
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Manager{store: st, opts: opts, log: opts.Logger, conns: map[string]*clusterConn{}}
	m.loader = &charts.Loader{IndexRefresh: opts.IndexRefresh, Keyring: opts.Keyring, Logger: opts.Logger,
		CacheDir: filepath.Join(opts.DataDir, "cache", "index")}
	return m, nil
}

// Validate checks the options that can be wrong: the stable repository URL, the keyring, the index refresh
// and the database URL. Open calls it.
func (o Options) Validate() error {
	if o.StableRepoURL != "" {
		if err := (RepoSpec{Name: StableRepoName, URL: o.StableRepoURL}).validateURL(); err != nil {
			return invalid("stableRepoURL", err)
		}
	}
	if len(o.Keyring) > 0 {
		if _, err := charts.ParseKeyring(o.Keyring); err != nil {
			return invalid("keyring", err)
		}
	}
	if o.IndexRefresh < 0 {
		return invalidf("indexRefresh", "must not be negative, got %s", o.IndexRefresh)
	}
	if o.Database != "" && !strings.HasPrefix(o.Database, "postgres://") && !strings.HasPrefix(o.Database, "postgresql://") {
		return invalidf("database", "want a postgres:// URL (or nothing for SQLite in the data directory), got %q", postgres.RedactURL(o.Database))
	}
	return nil
}

// Close stops every cluster's informers and closes the store.
func (m *Manager) Close() error {
	m.mu.Lock()
	for id, c := range m.conns {
		c.engine.Close()
		delete(m.conns, id)
	}
	m.mu.Unlock()
	return m.store.Close()
}

// connection returns the live engine of a cluster, building it from the store on first use and rebuilding it
// when the cluster's registration changed.
func (m *Manager) connection(ctx context.Context, id string) (*clusterConn, store.Cluster, error) {
	m.mu.Lock()
	if c, ok := m.conns[id]; ok && time.Since(c.checked) < registrationTTL {
		m.mu.Unlock()
		return c, c.rec, nil
	}
	m.mu.Unlock()
	rec, err := m.store.GetCluster(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, rec, notFound("cluster", "cluster %q", id)
	}
	if err != nil {
		return nil, rec, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.conns[id]; ok && c.rec.UpdatedAt.Equal(rec.UpdatedAt) {
		c.checked = time.Now()
		return c, c.rec, nil
	}
	kc, err := cluster.ParseKubeconfig(rec.Kubeconfig, rec.Context)
	if err != nil {
		return nil, rec, fmt.Errorf("cluster %q: stored kubeconfig: %w", id, err)
	}
	conn, err := cluster.Connect(kc, m.connOptions())
	if err != nil {
		return nil, rec, fmt.Errorf("cluster %q: %w", id, err)
	}
	if old, ok := m.conns[id]; ok {
		old.engine.Close()
	}
	rec.Kubeconfig = nil
	c := &clusterConn{
		rec:     rec,
		checked: time.Now(),
		conn:    conn,
		engine:  m.newEngine(conn, rec),
	}
	m.conns[id] = c
	return c, rec, nil
}

// newEngine builds the engine a cluster's flavour calls for.
func (m *Manager) newEngine(conn *cluster.Conn, rec store.Cluster) clusterEngine {
	log := m.log.With("cluster", rec.ID)
	if rec.Flavour == store.FlavourHelm2 {
		return tiller.New(conn, tiller.Options{Namespace: rec.TillerNamespace, Address: rec.TillerAddress, Logger: log})
	}
	return helm.New(conn, helm.Options{MaxHistory: m.opts.MaxHistory, WatchCache: m.opts.WatchCache, Logger: log})
}

func (m *Manager) dropConnection(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.conns[id]; ok {
		c.engine.Close()
		delete(m.conns, id)
	}
}

// lockRelease takes the per-release lock. Release names are unique per cluster in kdu, so the key is the
// cluster and the name.
func (m *Manager) lockRelease(ctx context.Context, clusterID, name, op string) (func(), error) {
	return m.locks.Lock(ctx, clusterID+"/"+name, op, m.opts.LockWait)
}
