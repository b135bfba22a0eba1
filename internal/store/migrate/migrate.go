// Package migrate applies numbered SQL schema migrations to a database/sql database and records them in a
// schema_migrations(version, applied_at) table. It is shared by the SQL store back ends; each back end embeds its
// own dialect's migration files, numbered alike.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNewerSchema means the database was migrated by a newer program: it records a version this program does not
// know.
var ErrNewerSchema = errors.New("database schema is newer than this program supports")

// ErrBadMigration means a migration file's name or content is unusable.
var ErrBadMigration = errors.New("bad migration")

// Migration is one schema step.
type Migration struct {
	// Version is the step's number, from the file name; versions start at 1 and have no gaps.
	Version int
	// Name is the file name, such as "0001_init.sql".
	Name string
	// SQL is the statements to run, possibly several separated by semicolons.
	SQL string
}

// Options adapt Apply to a dialect.
type Options struct {
	// Lock, if set, runs first in every migration transaction, before the version is read; a back end whose
	// transactions do not already exclude each other (PostgreSQL) takes a lock there, for example
	// "LOCK TABLE schema_migrations IN EXCLUSIVE MODE". SQLite opened with _txlock=immediate needs none.
	Lock func(ctx context.Context, tx *sql.Tx) error
	// Now returns the time recorded in applied_at; nil means time.Now.
	Now func() time.Time
}

// createTable is portable between SQLite and PostgreSQL: applied_at is Unix microseconds, UTC.
const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT NOT NULL PRIMARY KEY,
	applied_at BIGINT NOT NULL
)`

// Load reads the migrations in dir of fsys: every file named NNNN_description.sql (at least one digit, then "_",
// then at least one character). Other files are ignored. The versions must be 1, 2, 3, ... without gaps or
// duplicates, and no file may be empty.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%w: read directory %q: %v", ErrBadMigration, dir, err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := ParseName(e.Name())
		if err != nil {
			return nil, err
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", ErrBadMigration, e.Name(), err)
		}
		if strings.TrimSpace(string(b)) == "" {
			return nil, fmt.Errorf("%w: %s is empty", ErrBadMigration, e.Name())
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			if i > 0 && m.Version == ms[i-1].Version {
				return nil, fmt.Errorf("%w: %s and %s have the same version %d", ErrBadMigration, ms[i-1].Name, m.Name, m.Version)
			}
			return nil, fmt.Errorf("%w: %s has version %d, want %d (versions start at 1 without gaps)", ErrBadMigration, m.Name, m.Version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: no NNNN_name.sql files in %q", ErrBadMigration, dir)
	}
	return ms, nil
}

// ParseName returns the version number of a migration file name of the form NNNN_description.sql.
func ParseName(name string) (int, error) {
	base, ok := strings.CutSuffix(name, ".sql")
	if !ok {
		return 0, fmt.Errorf("%w: file name %q does not end in .sql", ErrBadMigration, name)
	}
	num, desc, ok := strings.Cut(base, "_")
	if !ok || num == "" || desc == "" {
		return 0, fmt.Errorf("%w: file name %q is not of the form NNNN_description.sql", ErrBadMigration, name)
	}
	for _, r := range num {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%w: file name %q: version %q is not a decimal number", ErrBadMigration, name, num)
		}
	}
	v, err := strconv.Atoi(num)
	if err != nil || v < 1 || v > 1_000_000 {
		return 0, fmt.Errorf("%w: file name %q: version %q is out of range 1..1000000", ErrBadMigration, name, num)
	}
	return v, nil
}

// Apply brings db up to the last of ms (which must come from Load or follow its rules) and returns how many
// migrations it ran. Each migration runs in its own transaction together with its schema_migrations row, so a
// failure leaves the database at the previous version. Several processes may call Apply on one database at once
// if their transactions exclude each other (see Options.Lock). A database at a version above the last of ms is
// refused with an error wrapping ErrNewerSchema, before anything is changed.
func Apply(ctx context.Context, db *sql.DB, ms []Migration, opts Options) (int, error) {
	if len(ms) == 0 {
		return 0, fmt.Errorf("%w: no migrations to apply", ErrBadMigration)
	}
	for i, m := range ms {
		if m.Version != i+1 {
			return 0, fmt.Errorf("%w: %s has version %d, want %d", ErrBadMigration, m.Name, m.Version, i+1)
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := RetryBusy(ctx, func() error {
		_, err := db.ExecContext(ctx, createTable)
		return err
	}); err != nil {
		return 0, fmt.Errorf("create schema_migrations table: %w", err)
	}
	latest := ms[len(ms)-1].Version
	applied := 0
	for {
		var done bool
		err := RetryBusy(ctx, func() (err error) {
			done, err = step(ctx, db, ms, latest, now, opts.Lock)
			return err
		})
		if err != nil {
			return applied, err
		}
		if done {
			return applied, nil
		}
		applied++
	}
}

// RetryBusy retries fn for up to 10 s while the database reports itself locked. SQLite does not always
// consult its busy handler (a lock upgrade inside a transaction, or several connections switching a new
// file to WAL at once), so processes opening one fresh database together can otherwise see SQLITE_BUSY.
// Errors of other databases pass through at once.
func RetryBusy(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for delay := 5 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		err := fn()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

func isBusy(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

// step applies the next pending migration, if any, in one transaction. It reports done when there is none.
func step(ctx context.Context, db *sql.DB, ms []Migration, latest int, now func() time.Time,
	lock func(context.Context, *sql.Tx) error) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin migration transaction: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback()
		}
	}()
	if lock != nil {
		if err := lock(ctx, tx); err != nil {
			return false, fmt.Errorf("lock schema_migrations: %w", err)
		}
	}
	var cur sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&cur); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	v := int(cur.Int64)
	if v > latest {
		return false, fmt.Errorf("%w: database is at schema version %d but this program knows versions up to %d; "+
			"upgrade the program or use another data directory", ErrNewerSchema, v, latest)
	}
	if v == latest {
		return true, nil
	}
	m := ms[v] // versions are 1-based without gaps, so ms[v] is version v+1
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("apply migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
		m.Version, now().UTC().UnixMicro()); err != nil {
		return false, fmt.Errorf("record migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit migration %s: %w", m.Name, err)
	}
	return false, nil
}
