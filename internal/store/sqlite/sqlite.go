// Package sqlite is the embedded default store.Store: one SQLite file (modernc.org/sqlite, no cgo) in WAL mode,
// with kubeconfigs, repository passwords and TLS client keys sealed by a secret.Box before they reach the database.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
	"github.com/kdu-io/kdu/internal/store/migrate"
)

// DBFileName is the name of the database file inside the data directory.
const DBFileName = "kdu.db"

// BusyTimeout is how long a statement waits for another connection or process to release the write lock.
const BusyTimeout = 5 * time.Second

// maxOpenConns bounds the connection pool; writers are serialised anyway and readers rarely need more.
const maxOpenConns = 8

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a store.Store backed by one SQLite file. It is safe for concurrent use by many goroutines, and several
// processes may open the same file: writes wait up to BusyTimeout for each other.
type Store struct {
	db   *sql.DB
	box  *secret.Box
	path string
	// writes serialises this process's write transactions so they queue here (honouring ctx) instead of
	// spinning on SQLite's busy handler; other processes are held off by SQLite's own lock and BusyTimeout.
	writes chan struct{}
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database at path, applies pending schema migrations, and returns the Store. Missing
// parent directories are created with mode 0700 and a new file with mode 0600; an existing file that group or
// others may access is restricted to 0600. box seals and opens the secret columns. A database whose schema is
// newer than this program is refused with an error wrapping migrate.ErrNewerSchema.
func Open(ctx context.Context, path string, box *secret.Box) (*Store, error) {
	if box == nil {
		return nil, errors.New("open store: secret box is nil")
	}
	if path == "" {
		return nil, errors.New("open store: database path is empty")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := prepareFile(abs); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(abs))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	s := &Store{db: db, box: box, path: abs, writes: make(chan struct{}, 1)}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", abs, err)
	}
	return s, nil
}

// dsn builds the modernc.org/sqlite URI for an absolute path, escaping characters such as '?', '#' and '%'.
func dsn(abs string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)") // durable commits; kdu writes little
	// BEGIN IMMEDIATE takes the write lock up front, so a read-then-write transaction waits under the busy
	// timeout instead of failing with SQLITE_BUSY when it upgrades. Read-only transactions still use BEGIN.
	q.Set("_txlock", "immediate")
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // windows drive letter: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	return u.String()
}

// prepareFile creates the parent directory (0700) and the database file (0600) if missing, and restricts an
// existing file (and its -wal and -shm companions) that group or others may access.
func prepareFile(abs string) error {
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return fmt.Errorf("open store: create directory: %w", err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	fi, err := f.Stat()
	f.Close()
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("open store: %s is not a regular file", abs)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			if err := os.Chmod(p, perm&0o700); err != nil {
				return fmt.Errorf("open store: restrict mode of %s: %w", p, err)
			}
			slog.Warn("restricted database file that group or others could access", "path", p,
				"old_mode", fmt.Sprintf("%04o", perm), "new_mode", fmt.Sprintf("%04o", perm&0o700))
		}
	}
	return nil
}

// init checks the connection settings and migrates the schema.
func (s *Store) init(ctx context.Context) error {
	var mode string
	// A new connection applies the DSN's pragmas; the switch to WAL can meet another process doing the same
	// on a fresh file, which SQLite reports as SQLITE_BUSY without consulting the busy timeout.
	if err := migrate.RetryBusy(ctx, func() error {
		return s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	}); err != nil {
		return fmt.Errorf("read journal mode (is this an SQLite database?): %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal (does the file system support it?)", mode)
	}
	var fk int
	if err := s.db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		return fmt.Errorf("foreign keys are not enabled (value %d): %v", fk, err)
	}
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	if _, err := migrate.Apply(ctx, s.db, ms, migrate.Options{}); err != nil {
		return err
	}
	return nil
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Close closes the database. It waits for nothing: callers stop using the Store first.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// acquire takes this process's write slot, or gives up when ctx ends.
func (s *Store) acquire(ctx context.Context) error {
	select {
	case s.writes <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) release() { <-s.writes }

// exec runs one write statement in this process's write slot.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	return s.db.ExecContext(ctx, query, args...)
}

// now is the store's clock: UTC, microsecond precision (what the schema keeps), no monotonic reading.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func fromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

// decryptHint is appended to decryption failures; it says where the key comes from without revealing it.
var decryptHint = fmt.Sprintf("is the secret key (%s or %s in the data directory) the one this database was written with?",
	secret.EnvKey, secret.KeyFileName)

const clusterColumns = `id, kubeconfig_enc, context, namespace, flavour, server, version, project, tiller_namespace,
	tiller_address, installed_sw, created_at, updated_at`

// CreateCluster implements store.Store.
func (s *Store) CreateCluster(ctx context.Context, c store.Cluster) (store.Cluster, error) {
	c, err := c.Normalize()
	if err != nil {
		return store.Cluster{}, fmt.Errorf("create cluster: %w", err)
	}
	enc, err := s.box.Seal(c.Kubeconfig, store.KubeconfigAAD(c.ID))
	if err != nil {
		return store.Cluster{}, fmt.Errorf("create cluster %q: seal kubeconfig: %w", c.ID, err)
	}
	t := now()
	res, err := s.exec(ctx, `INSERT INTO clusters (`+clusterColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (id) DO NOTHING`,
		c.ID, enc, c.Context, c.Namespace, c.Flavour, c.Server, c.Version, c.Project, c.TillerNamespace,
		c.TillerAddress, flag(c.InstalledSW), t.UnixMicro(), t.UnixMicro())
	if err != nil {
		return store.Cluster{}, fmt.Errorf("create cluster %q: %w", c.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return store.Cluster{}, fmt.Errorf("create cluster %q: %w", c.ID, err)
	} else if n == 0 {
		return store.Cluster{}, fmt.Errorf("create cluster %q: %w", c.ID, store.ErrExists)
	}
	c = c.Clone()
	c.CreatedAt, c.UpdatedAt = t, t
	return c, nil
}

// UpdateCluster implements store.Store.
func (s *Store) UpdateCluster(ctx context.Context, c store.Cluster) (store.Cluster, error) {
	c, err := c.Normalize()
	if err != nil {
		return store.Cluster{}, fmt.Errorf("update cluster: %w", err)
	}
	enc, err := s.box.Seal(c.Kubeconfig, store.KubeconfigAAD(c.ID))
	if err != nil {
		return store.Cluster{}, fmt.Errorf("update cluster %q: seal kubeconfig: %w", c.ID, err)
	}
	t := now()
	if err := s.acquire(ctx); err != nil {
		return store.Cluster{}, fmt.Errorf("update cluster %q: %w", c.ID, err)
	}
	defer s.release()
	var created int64
	err = s.db.QueryRowContext(ctx, `UPDATE clusters SET kubeconfig_enc = $2, context = $3, namespace = $4,
		flavour = $5, server = $6, version = $7, project = $8, tiller_namespace = $9, tiller_address = $10,
		installed_sw = $11, updated_at = $12 WHERE id = $1 RETURNING created_at`,
		c.ID, enc, c.Context, c.Namespace, c.Flavour, c.Server, c.Version, c.Project, c.TillerNamespace,
		c.TillerAddress, flag(c.InstalledSW), t.UnixMicro()).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Cluster{}, fmt.Errorf("update cluster %q: %w", c.ID, store.ErrNotFound)
	}
	if err != nil {
		return store.Cluster{}, fmt.Errorf("update cluster %q: %w", c.ID, err)
	}
	c = c.Clone()
	c.CreatedAt, c.UpdatedAt = fromMicro(created), t
	return c, nil
}

// GetCluster implements store.Store.
func (s *Store) GetCluster(ctx context.Context, id string) (store.Cluster, error) {
	if err := store.CheckKey("cluster id", id); err != nil {
		return store.Cluster{}, fmt.Errorf("get cluster: %w", err)
	}
	row := s.db.QueryRowContext(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE id = $1`, id)
	c, err := s.scanCluster(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Cluster{}, fmt.Errorf("get cluster %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Cluster{}, fmt.Errorf("get cluster %q: %w", id, err)
	}
	return c, nil
}

// ListClusters implements store.Store.
func (s *Store) ListClusters(ctx context.Context) ([]store.Cluster, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+clusterColumns+` FROM clusters ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	defer rows.Close()
	out := []store.Cluster{}
	for rows.Next() {
		c, err := s.scanCluster(rows)
		if err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	return out, nil
}

// DeleteCluster implements store.Store. The foreign key cascades to the cluster's repositories; project
// repositories stay.
func (s *Store) DeleteCluster(ctx context.Context, id string) error {
	if err := store.CheckKey("cluster id", id); err != nil {
		return fmt.Errorf("delete cluster: %w", err)
	}
	res, err := s.exec(ctx, `DELETE FROM clusters WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete cluster %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete cluster %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete cluster %q: %w", id, store.ErrNotFound)
	}
	return nil
}

// scanner is the Scan method shared by *sql.Row and *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanCluster reads one clusterColumns row and opens its kubeconfig.
func (s *Store) scanCluster(sc scanner) (store.Cluster, error) {
	var (
		c                store.Cluster
		enc              []byte
		created, updated int64
	)
	if err := sc.Scan(&c.ID, &enc, &c.Context, &c.Namespace, &c.Flavour, &c.Server, &c.Version, &c.Project,
		&c.TillerNamespace, &c.TillerAddress, &c.InstalledSW, &created, &updated); err != nil {
		return store.Cluster{}, err
	}
	kc, err := s.box.Open(enc, store.KubeconfigAAD(c.ID))
	if err != nil {
		return store.Cluster{}, fmt.Errorf("cluster %q: cannot decrypt kubeconfig (%s): %w", c.ID, decryptHint, err)
	}
	c.Kubeconfig = kc
	c.CreatedAt, c.UpdatedAt = fromMicro(created), fromMicro(updated)
	return c, nil
}

// EnvDataDir is the environment variable that overrides the data directory.
const EnvDataDir = "KDU_DATA_DIR"

// DefaultDataDir returns the data directory: $KDU_DATA_DIR (made absolute) if set, else $XDG_DATA_HOME/kdu if
// that is an absolute path (the XDG spec says to ignore relative ones), else $HOME/.local/share/kdu. It does not
// create the directory.
func DefaultDataDir() (string, error) {
	if d := os.Getenv(EnvDataDir); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return "", fmt.Errorf("data directory %s=%q: %w", EnvDataDir, d, err)
		}
		return abs, nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "kdu"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", fmt.Errorf("cannot determine the data directory: set %s or HOME (%v)", EnvDataDir, err)
	}
	return filepath.Join(home, ".local", "share", "kdu"), nil
}
