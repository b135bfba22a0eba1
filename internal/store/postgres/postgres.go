// Package postgres is a store.Store on PostgreSQL, for several kdu replicas sharing one database: store/sqlstore's
// PostgreSQL dialect. It uses pgx through database/sql (so it shares store/sqlstore and store/migrate with
// store/sqlite), seals kubeconfigs, repository passwords, repository TLS client keys and operation payloads with a
// secret.Box before they reach the database, and takes every timestamp, leases included, from the database's
// clock, so replicas whose clocks disagree still agree on when a lease expires.
//
// Connection strings may carry passwords: they never appear in this package's errors (see RedactURL).
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
	"github.com/kdu-io/kdu/internal/store/migrate"
	"github.com/kdu-io/kdu/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Advisory lock keys (pg_advisory_xact_lock), "kdu" followed by a number.
const (
	// migrateLock serialises schema migrations of replicas that start together.
	migrateLock int64 = 0x6B647500
	// claimLock serialises ClaimOperation across replicas; claims are short, so this costs little.
	claimLock int64 = 0x6B647501
)

// nowUS is the database's clock in Unix microseconds. statement_timestamp() is stable within a statement, so one
// statement's timestamps agree, and it is taken when the statement starts: after the locks that earlier
// statements of its transaction took.
const nowUS = `(extract(epoch from statement_timestamp()) * 1000000)::bigint`

// MaxOpenConns bounds the connection pool of one connection string.
const MaxOpenConns = 10

// PostgreSQL error codes this package maps to the store's sentinels.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

// Store is a store.Store on one PostgreSQL database. It is safe for concurrent use, and any number of Stores, in
// any number of processes, may share the database. The Stores that one process opens with the same connection
// string share one connection pool.
type Store struct {
	*sqlstore.Store
}

var _ store.Store = (*Store)(nil)

// dialect is PostgreSQL's: every timestamp from the database's clock, claims serialised by an advisory lock.
var dialect = sqlstore.Dialect{
	Name:      "postgres",
	Clock:     nowUS,
	ClaimLock: fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, claimLock),
	Violation: violation,
	Init:      initDB,
}

// Open connects to the database that conn names (a postgres:// URL or a keyword/value string, as pgx accepts),
// applies pending schema migrations, and returns the Store. box seals and opens the secret columns. A database
// whose schema is newer than this program is refused with an error wrapping migrate.ErrNewerSchema. Errors name
// the database by its redacted connection string. Opening a connection string that this process has open
// already shares its connection pool; the last Close closes it.
func Open(ctx context.Context, conn string, box *secret.Box) (*Store, error) {
	return open(ctx, conn, box, true)
}

// open is Open; unless shared, the Store gets a pool of its own, as another replica would have.
func open(ctx context.Context, conn string, box *secret.Box, shared bool) (*Store, error) {
	if box == nil {
		return nil, errors.New("open store: secret box is nil")
	}
	if conn == "" {
		return nil, errors.New("open store: connection string is empty")
	}
	name, pw := RedactURL(conn), passwords(conn)
	cfg, err := pgx.ParseConfig(conn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: invalid connection string: %w", name, scrub(err, pw))
	}
	if cfg.Password != "" {
		pw = append(pw, cfg.Password)
	}
	key := ""
	if shared {
		key = conn
	}
	s, err := sqlstore.Open(ctx, &dialect, sqlstore.Config{Key: key, Name: name, Box: box,
		Connect: func() (*sql.DB, error) {
			db := stdlib.OpenDB(*cfg)
			db.SetMaxOpenConns(MaxOpenConns)
			db.SetMaxIdleConns(MaxOpenConns)
			db.SetConnMaxIdleTime(5 * time.Minute)
			return db, nil
		},
		Scrub: func(err error) error { return scrub(err, pw) }})
	if err != nil {
		return nil, err
	}
	return &Store{Store: s}, nil
}

// initDB checks the connection and migrates the schema.
func initDB(ctx context.Context, db *sql.DB) error {
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	lock := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock)
		return err
	}
	// migrate.Apply creates schema_migrations with CREATE TABLE IF NOT EXISTS outside a transaction, which
	// PostgreSQL does not make safe against another process doing the same at once; create it under the lock.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := lock(ctx, tx); err != nil {
		return fmt.Errorf("lock schema_migrations: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT NOT NULL PRIMARY KEY,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations table: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create schema_migrations table: %w", err)
	}
	_, err = migrate.Apply(ctx, db, ms, migrate.Options{Lock: lock})
	return err
}

// pgCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// violation classifies PostgreSQL's error codes.
func violation(err error) sqlstore.Violation {
	switch pgCode(err) {
	case codeUniqueViolation:
		return sqlstore.UniqueViolation
	case codeForeignKeyViolation:
		return sqlstore.ForeignKeyViolation
	}
	return sqlstore.NoViolation
}
