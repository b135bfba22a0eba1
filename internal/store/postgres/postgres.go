// Package postgres is a store.Store on PostgreSQL, for several kdu replicas sharing one database. It uses pgx
// through database/sql (so it shares store/migrate with store/sqlite), seals kubeconfigs, repository passwords,
// repository TLS client keys and operation payloads with a secret.Box before they reach the database, and takes
// every timestamp, leases included, from the database's clock, so replicas whose clocks disagree still agree on
// when a lease expires.
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

// MaxOpenConns bounds the connection pool of one Store.
const MaxOpenConns = 10

// PostgreSQL error codes this package maps to the store's sentinels.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
)

// Store is a store.Store on one PostgreSQL database. It is safe for concurrent use, and any number of Stores, in
// any number of processes, may share the database.
type Store struct {
	db   *sql.DB
	box  *secret.Box
	name string   // the redacted connection string, for messages
	pw   []string // passwords to scrub from errors
}

var _ store.Store = (*Store)(nil)

// Open connects to the database that conn names (a postgres:// URL or a keyword/value string, as pgx accepts),
// applies pending schema migrations, and returns the Store. box seals and opens the secret columns. A database
// whose schema is newer than this program is refused with an error wrapping migrate.ErrNewerSchema. Errors name
// the database by its redacted connection string.
func Open(ctx context.Context, conn string, box *secret.Box) (*Store, error) {
	if box == nil {
		return nil, errors.New("open store: secret box is nil")
	}
	if conn == "" {
		return nil, errors.New("open store: connection string is empty")
	}
	s := &Store{box: box, name: RedactURL(conn), pw: passwords(conn)}
	cfg, err := pgx.ParseConfig(conn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: invalid connection string: %w", s.name, scrub(err, s.pw))
	}
	if cfg.Password != "" {
		s.pw = append(s.pw, cfg.Password)
	}
	s.db = stdlib.OpenDB(*cfg)
	s.db.SetMaxOpenConns(MaxOpenConns)
	s.db.SetMaxIdleConns(MaxOpenConns)
	s.db.SetConnMaxIdleTime(5 * time.Minute)
	if err := s.init(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("open store %s: %w", s.name, scrub(err, s.pw))
	}
	return s, nil
}

// init checks the connection and migrates the schema.
func (s *Store) init(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
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
	tx, err := s.db.BeginTx(ctx, nil)
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
	_, err = migrate.Apply(ctx, s.db, ms, migrate.Options{Lock: lock})
	return err
}

// String returns the redacted connection string.
func (s *Store) String() string { return s.name }

// Close closes the connection pool. It waits for nothing: callers stop using the Store first.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.name, scrub(err, s.pw))
	}
	return nil
}

// pgCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

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
	var t int64
	err = s.db.QueryRowContext(ctx, `INSERT INTO clusters (`+clusterColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, `+nowUS+`, `+nowUS+`) ON CONFLICT (id) DO NOTHING
		RETURNING created_at`,
		c.ID, enc, c.Context, c.Namespace, c.Flavour, c.Server, c.Version, c.Project, c.TillerNamespace,
		c.TillerAddress, c.InstalledSW).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Cluster{}, fmt.Errorf("create cluster %q: %w", c.ID, store.ErrExists)
	}
	if err != nil {
		return store.Cluster{}, fmt.Errorf("create cluster %q: %w", c.ID, err)
	}
	c = c.Clone()
	c.CreatedAt, c.UpdatedAt = fromMicro(t), fromMicro(t)
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
	var created, updated int64
	err = s.db.QueryRowContext(ctx, `UPDATE clusters SET kubeconfig_enc = $2, context = $3, namespace = $4,
		flavour = $5, server = $6, version = $7, project = $8, tiller_namespace = $9, tiller_address = $10,
		installed_sw = $11, updated_at = `+nowUS+` WHERE id = $1 RETURNING created_at, updated_at`,
		c.ID, enc, c.Context, c.Namespace, c.Flavour, c.Server, c.Version, c.Project, c.TillerNamespace,
		c.TillerAddress, c.InstalledSW).Scan(&created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Cluster{}, fmt.Errorf("update cluster %q: %w", c.ID, store.ErrNotFound)
	}
	if err != nil {
		return store.Cluster{}, fmt.Errorf("update cluster %q: %w", c.ID, err)
	}
	c = c.Clone()
	c.CreatedAt, c.UpdatedAt = fromMicro(created), fromMicro(updated)
	return c, nil
}

// GetCluster implements store.Store.
func (s *Store) GetCluster(ctx context.Context, id string) (store.Cluster, error) {
	if err := store.CheckKey("cluster id", id); err != nil {
		return store.Cluster{}, fmt.Errorf("get cluster: %w", err)
	}
	c, err := s.scanCluster(s.db.QueryRowContext(ctx, `SELECT `+clusterColumns+` FROM clusters WHERE id = $1`, id))
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

// DeleteCluster implements store.Store. The foreign key cascades to the cluster's repositories; its operations
// and project repositories stay.
func (s *Store) DeleteCluster(ctx context.Context, id string) error {
	if err := store.CheckKey("cluster id", id); err != nil {
		return fmt.Errorf("delete cluster: %w", err)
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM clusters WHERE id = $1`, id)
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
