// Package sqlstore is the SQL store.Store that store/sqlite and store/postgres share: every query, the sealing
// of secret columns with a secret.Box and the scanning of rows, written once in SQL that both databases run. A
// Dialect says what truly differs: whose clock stamps the rows, whether this process serialises its own writes,
// how claims of several processes exclude each other, how the driver reports a constraint violation, and how
// the connection is checked and the schema migrated. Each dialect keeps its own migrations (the DDL differs),
// numbered alike.
//
// Stores opened with the same key in one process share one *sql.DB pool, reference-counted: the last Close
// closes it. The service opens the store once for the library and once for the operation runner; they should
// not compete as two pools would (two SQLite write slots, twice the PostgreSQL connections).
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
)

// Violation is the kind of constraint a failed statement violated.
type Violation int

// Violations the store maps to its sentinels.
const (
	NoViolation Violation = iota
	// UniqueViolation is a duplicate primary key or unique index entry.
	UniqueViolation
	// ForeignKeyViolation is a reference to a missing row.
	ForeignKeyViolation
)

// Dialect is what one database does differently. Queries use $1, $2, ... placeholders, which both drivers
// accept, and {now} where the write's timestamp (Unix microseconds, UTC) goes.
type Dialect struct {
	// Name tells the dialects' shared pools apart.
	Name string
	// Clock is the SQL expression of the database's clock in Unix microseconds, which {now} becomes, so that
	// replicas whose clocks disagree still agree on when a lease expires. "" means this process's clock: {now}
	// becomes the time read when the write starts (see SerialWrites), as a literal.
	Clock string
	// SerialWrites runs every write in a transaction, in a write slot that the Stores sharing a pool take in
	// turn (honouring ctx) instead of spinning on the database's busy handler; with Clock "", the time is read
	// once the transaction holds the database's write lock, so timestamps follow the commit order of every
	// process sharing the database. Otherwise a write's statements run as they come.
	SerialWrites bool
	// ClaimLock, if set, is the statement that ClaimOperation runs first in its transaction, to make the claims
	// of every process run one at a time (an advisory lock).
	ClaimLock string
	// Violation classifies a driver error.
	Violation func(error) Violation
	// Init checks a connection's settings and migrates the schema. It runs on every Open, in the write slot
	// when there is one.
	Init func(ctx context.Context, db *sql.DB) error
}

// Config says which database a Store opens.
type Config struct {
	// Key names the database: Opens of one dialect with the same key share a pool. "" gives the Store a pool of
	// its own, as another process would have.
	Key string
	// Name names the database in messages and String: a path, a redacted URL.
	Name string
	// Box seals and opens the secret columns.
	Box *secret.Box
	// Connect makes a new pool; it is called with a lock held, so it should not connect yet (sql.Open does not).
	Connect func() (*sql.DB, error)
	// Scrub, if set, hides secrets (passwords) in the errors of Open, Close and Ping.
	Scrub func(error) error
}

// Store is a store.Store on one SQL database. It is safe for concurrent use by many goroutines.
type Store struct {
	d      *Dialect
	box    *secret.Box
	name   string
	scrub  func(error) error
	pool   *pool
	db     atomic.Pointer[sql.DB] // the pool's, or closedDB after Close
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// pool is one *sql.DB and its write slot, shared by the Stores that opened one key.
type pool struct {
	key    string // "" if not shared
	db     *sql.DB
	writes chan struct{} // the write slot, if the dialect serialises writes
	refs   int           // guarded by pools.mu
	// stmts caches the prepared statements of writes, by query text (database/sql prepares each on a
	// connection once); bounded by maxStmts.
	stmts  sync.Map
	nStmts atomic.Int32
}

// maxStmts bounds the prepared-statement cache (the store's write statements are a fixed set).
const maxStmts = 256

var pools = struct {
	mu sync.Mutex
	m  map[string]*pool
}{m: map[string]*pool{}}

// share returns the pool of d and key, made with connect if there is none, and counts a reference to it.
func share(d *Dialect, key string, connect func() (*sql.DB, error)) (*pool, error) {
	if key != "" {
		key = d.Name + "\x00" + key
	}
	pools.mu.Lock()
	defer pools.mu.Unlock()
	if p := pools.m[key]; key != "" && p != nil {
		p.refs++
		return p, nil
	}
	db, err := connect()
	if err != nil {
		return nil, err
	}
	p := &pool{key: key, db: db, refs: 1}
	if d.SerialWrites {
		p.writes = make(chan struct{}, 1)
	}
	if key != "" {
		pools.m[key] = p
	}
	return p, nil
}

// release drops a reference to p; the last one closes the pool.
func (p *pool) release() error {
	pools.mu.Lock()
	p.refs--
	last := p.refs == 0
	if last && p.key != "" {
		delete(pools.m, p.key)
	}
	pools.mu.Unlock()
	if !last {
		return nil
	}
	return p.db.Close()
}

// closedDB is what a closed Store queries: every call fails with "sql: database is closed", as it would on a
// pool of its own, while the Stores that share its pool carry on.
var closedDB = func() *sql.DB {
	db := sql.OpenDB(noConnector{})
	db.Close()
	return db
}()

type noConnector struct{}

func (noConnector) Connect(context.Context) (driver.Conn, error) {
	return nil, errors.New("store is closed")
}
func (noConnector) Driver() driver.Driver { return nil }

// Open returns a Store on the database of cfg, sharing the pool of an open Store with the same key, and runs
// d.Init. Errors say "open store" and name the database.
func Open(ctx context.Context, d *Dialect, cfg Config) (*Store, error) {
	s := &Store{d: d, box: cfg.Box, name: cfg.Name, scrub: cfg.Scrub}
	if cfg.Box == nil {
		return nil, errors.New("open store: secret box is nil")
	}
	p, err := share(d, cfg.Key, cfg.Connect)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", s.name, s.clean(err))
	}
	s.pool = p
	s.db.Store(p.db)
	if err := s.init(ctx); err != nil {
		p.release()
		return nil, fmt.Errorf("open store %s: %w", s.name, s.clean(err))
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	return s.d.Init(ctx, s.pool.db)
}

// DB returns the pool, for a dialect's own checks and tests.
func (s *Store) DB() *sql.DB { return s.pool.db }

// String returns the database's name.
func (s *Store) String() string { return s.name }

// Close releases the Store's share of the pool, closing it if no other Store uses it. It waits for nothing:
// callers stop using the Store first. Calls made after Close fail; a second Close does nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.db.Store(closedDB)
	if err := s.pool.release(); err != nil {
		return fmt.Errorf("close store %s: %w", s.name, s.clean(err))
	}
	return nil
}

// Ping implements store.Operations.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.conn().QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping store %s: %w", s.name, s.clean(err))
	}
	return nil
}

func (s *Store) conn() *sql.DB { return s.db.Load() }

// clean applies Config.Scrub.
func (s *Store) clean(err error) error {
	if s.scrub == nil {
		return err
	}
	return s.scrub(err)
}

// acquire takes the write slot, if there is one, or gives up when ctx ends.
func (s *Store) acquire(ctx context.Context) error {
	if s.pool.writes == nil {
		return nil
	}
	select {
	case s.pool.writes <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) release() {
	if s.pool.writes != nil {
		<-s.pool.writes
	}
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writer runs the statements of one write; they may use {now}. Its statements are prepared once per
// connection and reused: {now} is a parameter (@now) where the time is this process's, so that the text of a
// statement does not change from one write to the next.
type writer struct {
	ctx  context.Context
	q    querier
	tx   *sql.Tx // nil outside a transaction
	s    *Store
	now  string // the dialect's clock expression, or "" to bind nowUS as @now
	nowU int64
}

func (w *writer) prepare(query string, args []any) (*sql.Stmt, string, []any) {
	if strings.Contains(query, "{now}") {
		if w.now != "" {
			query = strings.ReplaceAll(query, "{now}", w.now)
		} else {
			query = strings.ReplaceAll(query, "{now}", "@now")
			args = append(args, sql.Named("now", w.nowU))
		}
	}
	st := w.s.stmt(w.ctx, query)
	if st != nil && w.tx != nil {
		st = w.tx.StmtContext(w.ctx, st)
	}
	return st, query, args
}

func (w *writer) row(query string, args ...any) *sql.Row {
	st, q, args := w.prepare(query, args)
	if st == nil {
		return w.q.QueryRowContext(w.ctx, q, args...)
	}
	return st.QueryRowContext(w.ctx, args...)
}

func (w *writer) exec(query string, args ...any) (sql.Result, error) {
	st, q, args := w.prepare(query, args)
	if st == nil {
		return w.q.ExecContext(w.ctx, q, args...)
	}
	return st.ExecContext(w.ctx, args...)
}

// stmt returns the cached prepared statement of query, preparing it on first use; nil (run it unprepared)
// when it cannot be prepared or the cache is full.
func (s *Store) stmt(ctx context.Context, query string) *sql.Stmt {
	p := s.pool
	if p == nil || s.conn() != p.db {
		return nil // closed: the unprepared run fails as it should
	}
	if v, ok := p.stmts.Load(query); ok {
		return v.(*sql.Stmt)
	}
	if p.nStmts.Load() >= maxStmts {
		return nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil // the unprepared run reports the error
	}
	if v, loaded := p.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return v.(*sql.Stmt)
	}
	p.nStmts.Add(1)
	return st
}

// write runs fn as one write: in a transaction if the dialect serialises writes (see Dialect.SerialWrites),
// else statement by statement.
func (s *Store) write(ctx context.Context, fn func(w *writer) error) error {
	if s.d.SerialWrites {
		return s.inTx(ctx, fn)
	}
	return fn(s.newWriter(ctx, s.conn(), nil))
}

// inTx runs fn in one transaction, in the write slot if there is one, and commits unless fn fails.
func (s *Store) inTx(ctx context.Context, fn func(w *writer) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	tx, err := s.conn().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(s.newWriter(ctx, tx, tx)); err != nil {
		return err
	}
	return tx.Commit()
}

// newWriter is a writer over q; {now} stands for the dialect's clock, or this process's time read now (UTC,
// microseconds), the same for every statement of the write.
func (s *Store) newWriter(ctx context.Context, q querier, tx *sql.Tx) *writer {
	return &writer{ctx: ctx, q: q, tx: tx, s: s, now: s.d.Clock, nowU: time.Now().UnixMicro()}
}

// FromMicro is a stored timestamp as a time.Time (UTC, no monotonic reading).
func FromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return FromMicro(v.Int64)
}

// decryptHint is appended to decryption failures; it says where the key comes from without revealing it.
var decryptHint = fmt.Sprintf("is the secret key (%s or %s in the data directory) the one this database was written with?",
	secret.EnvKey, secret.KeyFileName)

// scanner is the Scan method shared by *sql.Row and *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect reads every row of a query with scan, into a non-nil slice.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// nullBytes maps an empty slice to NULL, so that nil and empty read back alike (as nil).
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nonEmpty returns b, or nil if it is empty.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// affected turns a write that changed no row into err (ErrNotFound, ErrExists).
func affected(res sql.Result, err error, none error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}
