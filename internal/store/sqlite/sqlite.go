// Package sqlite is the embedded default store.Store: one SQLite file (modernc.org/sqlite, no cgo) in WAL mode,
// with kubeconfigs, repository passwords, TLS client keys and operation payloads sealed by a secret.Box before
// they reach the database. It is store/sqlstore's SQLite dialect: the file's settings and migrations.
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

	msqlite "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
	"github.com/kdu-io/kdu/internal/store/migrate"
	"github.com/kdu-io/kdu/internal/store/sqlstore"
)

// DBFileName is the name of the database file inside the data directory.
const DBFileName = "kdu.db"

// BusyTimeout is how long a statement waits for another connection or process to release the write lock.
const BusyTimeout = 5 * time.Second

// maxOpenConns bounds the connection pool of one file; writers are serialised anyway and readers rarely need more.
const maxOpenConns = 8

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is a store.Store backed by one SQLite file. It is safe for concurrent use by many goroutines, and several
// processes may open the same file: writes wait up to BusyTimeout for each other. Within one process, the Stores
// opened on one file share a connection pool and the write slot that queues this process's writes (honouring
// ctx) instead of letting them spin on SQLite's busy handler.
type Store struct {
	*sqlstore.Store
	path string
}

var _ store.Store = (*Store)(nil)

// dialect is SQLite's: the Go clock, read once a write transaction holds the database's write lock (BEGIN
// IMMEDIATE), so timestamps follow the commit order of every process sharing the file.
var dialect = sqlstore.Dialect{
	Name:         "sqlite",
	SerialWrites: true,
	Violation:    violation,
	Init:         initDB,
}

// Open opens or creates the database at path, applies pending schema migrations, and returns the Store. Missing
// parent directories are created with mode 0700 and a new file with mode 0600; an existing file that group or
// others may access is restricted to 0600. box seals and opens the secret columns. A database whose schema is
// newer than this program is refused with an error wrapping migrate.ErrNewerSchema. Opening a file that this
// process has open already (by any path that leads to it) shares its connection pool; the last Close closes it.
func Open(ctx context.Context, path string, box *secret.Box) (*Store, error) {
	return open(ctx, path, box, true)
}

// open is Open; unless shared, the Store gets a pool of its own, as another process would have.
func open(ctx context.Context, path string, box *secret.Box, shared bool) (*Store, error) {
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
	key := ""
	if shared {
		key = abs
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			key = real
		}
	}
	s, err := sqlstore.Open(ctx, &dialect, sqlstore.Config{Key: key, Name: abs, Box: box,
		Connect: func() (*sql.DB, error) {
			db, err := sql.Open("sqlite", dsn(abs))
			if err != nil {
				return nil, err
			}
			db.SetMaxOpenConns(maxOpenConns)
			db.SetMaxIdleConns(maxOpenConns)
			return db, nil
		}})
	if err != nil {
		return nil, err
	}
	return &Store{Store: s, path: abs}, nil
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

// initDB checks the connection settings and migrates the schema.
func initDB(ctx context.Context, db *sql.DB) error {
	var mode string
	// A new connection applies the DSN's pragmas; the switch to WAL can meet another process doing the same
	// on a fresh file, which SQLite reports as SQLITE_BUSY without consulting the busy timeout.
	if err := migrate.RetryBusy(ctx, func() error {
		return db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
	}); err != nil {
		return fmt.Errorf("read journal mode (is this an SQLite database?): %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal (does the file system support it?)", mode)
	}
	var fk int
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		return fmt.Errorf("foreign keys are not enabled (value %d): %v", fk, err)
	}
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	_, err = migrate.Apply(ctx, db, ms, migrate.Options{})
	return err
}

// violation classifies SQLite's extended result codes.
func violation(err error) sqlstore.Violation {
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return sqlstore.UniqueViolation
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return sqlstore.ForeignKeyViolation
		}
	}
	return sqlstore.NoViolation
}

// Path returns the absolute path of the database file.
func (s *Store) Path() string { return s.path }

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
