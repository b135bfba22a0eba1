package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kdu-io/kdu/internal/store"
)

// The columns of the operations table, in the order scanOperation reads them.
const opColumns = `id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc,
	progress, result, revision, error_code, error_message, error_field, idempotency_key, request_hash, owner,
	lease_until, cancel_requested, attempts, version, created_at, updated_at, started_at, finished_at`

// writeTx runs fn in one write transaction, in this process's write slot. t is the write's timestamp, taken once
// the transaction holds the database's write lock (BEGIN IMMEDIATE), so timestamps follow the commit order of
// every process sharing the file.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx, t time.Time) error) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx, now()); err != nil {
		return err
	}
	return tx.Commit()
}

// sealOptional seals a non-empty secret for an operation's row; empty gives nil (stored as NULL).
func (s *Store) sealOptional(plain, aad []byte) ([]byte, error) {
	if len(plain) == 0 {
		return nil, nil
	}
	return s.box.Seal(plain, aad)
}

// nullBytes maps an empty slice to NULL, so that nil and empty read back alike (as nil).
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nullTime(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicro(v.Int64)
}

// scanOperation reads one opColumns row and opens its secret columns.
func (s *Store) scanOperation(sc scanner) (store.Operation, error) {
	var (
		op                            store.Operation
		reqEnc, tgtEnc                []byte
		revision, cancel, attempts    int64
		created, updated              int64
		leaseUntil, started, finished sql.NullInt64
	)
	if err := sc.Scan(&op.ID, &op.Kind, &op.Project, &op.Cluster, &op.Namespace, &op.Release, &op.State,
		&reqEnc, &tgtEnc, &op.Progress, &op.Result, &revision, &op.ErrorCode, &op.ErrorMessage, &op.ErrorField,
		&op.IdempotencyKey, &op.RequestHash, &op.Owner, &leaseUntil, &cancel, &attempts, &op.Version,
		&created, &updated, &started, &finished); err != nil {
		return store.Operation{}, err
	}
	if len(op.Progress) == 0 {
		op.Progress = nil
	}
	if len(op.Result) == 0 {
		op.Result = nil
	}
	op.Revision, op.Attempts, op.CancelRequested = int(revision), int(attempts), cancel != 0
	op.CreatedAt, op.UpdatedAt = fromMicro(created), fromMicro(updated)
	op.LeaseUntil, op.StartedAt, op.FinishedAt = nullTime(leaseUntil), nullTime(started), nullTime(finished)
	var err error
	if len(reqEnc) > 0 {
		if op.Request, err = s.box.Open(reqEnc, store.OperationRequestAAD(op.ID)); err != nil {
			return store.Operation{}, fmt.Errorf("operation %q: cannot decrypt request (%s): %w", op.ID, decryptHint, err)
		}
	}
	if len(tgtEnc) > 0 {
		if op.Targets, err = s.box.Open(tgtEnc, store.OperationTargetsAAD(op.ID)); err != nil {
			return store.Operation{}, fmt.Errorf("operation %q: cannot decrypt targets (%s): %w", op.ID, decryptHint, err)
		}
	}
	return op, nil
}

// CreateOperation implements store.Operations. The idempotency lookup and the insert share one write
// transaction, so concurrent creates with one key store one operation.
func (s *Store) CreateOperation(ctx context.Context, op store.Operation) (store.Operation, bool, error) {
	op, err := op.Normalize()
	if err != nil {
		return store.Operation{}, false, fmt.Errorf("create operation: %w", err)
	}
	what := fmt.Sprintf("create operation %q", op.ID)
	reqEnc, err := s.sealOptional(op.Request, store.OperationRequestAAD(op.ID))
	if err != nil {
		return store.Operation{}, false, fmt.Errorf("%s: seal request: %w", what, err)
	}
	tgtEnc, err := s.sealOptional(op.Targets, store.OperationTargetsAAD(op.ID))
	if err != nil {
		return store.Operation{}, false, fmt.Errorf("%s: seal targets: %w", what, err)
	}
	var (
		existing store.Operation
		found    bool
	)
	err = s.writeTx(ctx, func(tx *sql.Tx, t time.Time) error {
		if op.IdempotencyKey != "" {
			got, err := s.scanOperation(tx.QueryRowContext(ctx, `SELECT `+opColumns+` FROM operations
				WHERE project = $1 AND idempotency_key = $2`, op.Project, op.IdempotencyKey))
			if err == nil {
				existing, found = got, true
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO operations (id, kind, project, cluster_id, namespace,
			release_name, state, request_enc, targets_enc, idempotency_key, request_hash, version, created_at,
			updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $12)
			ON CONFLICT (id) DO NOTHING`,
			op.ID, op.Kind, op.Project, op.Cluster, op.Namespace, op.Release, store.OpQueued, reqEnc, tgtEnc,
			op.IdempotencyKey, op.RequestHash, t.UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrExists
		}
		op.CreatedAt, op.UpdatedAt = t, t
		return nil
	})
	if err != nil {
		return store.Operation{}, false, fmt.Errorf("%s: %w", what, err)
	}
	if found {
		return existing, false, nil
	}
	return op, true, nil
}

// GetOperation implements store.Operations.
func (s *Store) GetOperation(ctx context.Context, id string) (store.Operation, error) {
	if err := store.CheckKey("operation id", id); err != nil {
		return store.Operation{}, fmt.Errorf("get operation: %w", err)
	}
	op, err := s.scanOperation(s.db.QueryRowContext(ctx, `SELECT `+opColumns+` FROM operations WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Operation{}, fmt.Errorf("get operation %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Operation{}, fmt.Errorf("get operation %q: %w", id, err)
	}
	return op, nil
}

// ListOperations implements store.Operations.
func (s *Store) ListOperations(ctx context.Context, f store.OperationFilter) ([]store.Operation, error) {
	limit := f.Limit
	if limit < 0 {
		return nil, fmt.Errorf("list operations: limit %d is negative: %w", limit, store.ErrInvalid)
	}
	if limit == 0 {
		limit = store.DefaultOperationLimit
	}
	for _, v := range append([]string{f.Cluster, f.Release, f.State, f.Kind, f.Before}, f.Projects...) {
		if err := store.CheckText("operation filter", v); err != nil {
			return nil, fmt.Errorf("list operations: %w", err)
		}
	}
	if f.Projects != nil && len(f.Projects) == 0 {
		return []store.Operation{}, nil
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Projects != nil {
		ps := make([]string, len(f.Projects))
		for i, p := range f.Projects {
			ps[i] = arg(p)
		}
		where = append(where, "project IN ("+strings.Join(ps, ", ")+")")
	}
	for _, c := range []struct{ col, v string }{
		{"cluster_id", f.Cluster}, {"release_name", f.Release}, {"state", f.State}, {"kind", f.Kind},
	} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(c.v))
		}
	}
	if f.Before != "" {
		var created int64
		err := s.db.QueryRowContext(ctx, `SELECT created_at FROM operations WHERE id = $1`, f.Before).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("list operations before %q: %w", f.Before, store.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("list operations before %q: %w", f.Before, err)
		}
		c := arg(created)
		where = append(where, "(created_at < "+c+" OR (created_at = "+c+" AND id < "+arg(f.Before)+"))")
	}
	q := `SELECT ` + opColumns + ` FROM operations`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT " + arg(limit)
	ops, err := s.queryOperations(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	return ops, nil
}

// ChangedOperations implements store.Operations.
func (s *Store) ChangedOperations(ctx context.Context, since time.Time, limit int) ([]store.Operation, error) {
	if limit < 0 {
		return nil, fmt.Errorf("changed operations: limit %d is negative: %w", limit, store.ErrInvalid)
	}
	if limit == 0 {
		limit = store.DefaultOperationLimit
	}
	ops, err := s.queryOperations(ctx, `SELECT `+opColumns+` FROM operations WHERE updated_at > $1
		ORDER BY updated_at, id LIMIT $2`, since.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("changed operations since %s: %w", since.UTC().Format(time.RFC3339Nano), err)
	}
	return ops, nil
}

func (s *Store) queryOperations(ctx context.Context, q string, args ...any) ([]store.Operation, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Operation{}
	for rows.Next() {
		op, err := s.scanOperation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ClaimOperation implements store.Operations. Everything happens in one write transaction, which SQLite runs
// alone among every process sharing the file, so claims cannot interleave.
func (s *Store) ClaimOperation(ctx context.Context, owner string, lease time.Duration) (store.Operation, bool, error) {
	if err := store.CheckOwner(owner, lease); err != nil {
		return store.Operation{}, false, fmt.Errorf("claim operation: %w", err)
	}
	var (
		op      store.Operation
		claimed bool
	)
	err := s.writeTx(ctx, func(tx *sql.Tx, t time.Time) error {
		ts, until := t.UnixMicro(), t.Add(lease).UnixMicro()
		// A takeover of the operation whose lease expired first.
		got, err := s.scanOperation(tx.QueryRowContext(ctx, `UPDATE operations SET owner = $1, lease_until = $2,
			attempts = attempts + 1, version = version + 1, updated_at = $3
			WHERE id = (SELECT id FROM operations WHERE state = 'running' AND lease_until < $3
				ORDER BY lease_until, id LIMIT 1)
			AND state = 'running' AND lease_until < $3
			RETURNING `+opColumns, owner, until, ts))
		if err == nil {
			op, claimed = got, true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("take over: %w", err)
		}
		// The oldest queued operation whose release has nothing running and nothing older queued.
		got, err = s.scanOperation(tx.QueryRowContext(ctx, `UPDATE operations SET state = 'running', owner = $1,
			lease_until = $2, attempts = attempts + 1, version = version + 1, updated_at = $3, started_at = $3
			WHERE id = (SELECT q.id FROM operations q WHERE q.state = 'queued' AND NOT EXISTS (
					SELECT 1 FROM operations r WHERE r.cluster_id = q.cluster_id AND r.release_name = q.release_name
					AND (r.state = 'running' OR (r.state = 'queued'
						AND (r.created_at < q.created_at OR (r.created_at = q.created_at AND r.id < q.id)))))
				ORDER BY q.created_at, q.id LIMIT 1)
			AND state = 'queued'
			RETURNING `+opColumns, owner, until, ts))
		if err == nil {
			op, claimed = got, true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("claim queued: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.Operation{}, false, fmt.Errorf("claim operation for %q: %w", owner, err)
	}
	return op, claimed, nil
}

// heldError explains why a conditional write to operation id by owner matched no row: ErrNotFound,
// ErrLeaseLost (another owner holds it) or ErrConflict (owner held it, but it is no longer running).
func heldError(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id, owner string) error {
	var cur, state string
	err := q.QueryRowContext(ctx, `SELECT owner, state FROM operations WHERE id = $1`, id).Scan(&cur, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case cur != owner:
		return fmt.Errorf("held by %q, not %q: %w", cur, owner, store.ErrLeaseLost)
	default:
		return fmt.Errorf("operation is %s, not running: %w", state, store.ErrConflict)
	}
}

// RenewLease implements store.Operations.
func (s *Store) RenewLease(ctx context.Context, id, owner string, lease time.Duration) (bool, error) {
	what := fmt.Sprintf("renew lease of operation %q", id)
	if err := store.CheckKey("operation id", id); err != nil {
		return false, fmt.Errorf("renew lease: %w", err)
	}
	if err := store.CheckOwner(owner, lease); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	var cancel int64
	err := s.writeTx(ctx, func(tx *sql.Tx, t time.Time) error {
		err := tx.QueryRowContext(ctx, `UPDATE operations SET lease_until = $3, version = version + 1,
			updated_at = $4 WHERE id = $1 AND owner = $2 AND state = 'running' RETURNING cancel_requested`,
			id, owner, t.Add(lease).UnixMicro(), t.UnixMicro()).Scan(&cancel)
		if errors.Is(err, sql.ErrNoRows) {
			return heldError(ctx, tx, id, owner)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return cancel != 0, nil
}

// updateHeld runs an UPDATE ... RETURNING opColumns that is conditional on owner holding the running operation
// id; set has the SET assignments, with $1 = id, $2 = owner, $3 = the write's time and $4... = args.
func (s *Store) updateHeld(ctx context.Context, id, owner, set string, args ...any) (store.Operation, error) {
	var op store.Operation
	err := s.writeTx(ctx, func(tx *sql.Tx, t time.Time) error {
		var err error
		op, err = s.scanOperation(tx.QueryRowContext(ctx, `UPDATE operations SET `+set+`,
			version = version + 1, updated_at = $3 WHERE id = $1 AND owner = $2 AND state = 'running'
			RETURNING `+opColumns, append([]any{id, owner, t.UnixMicro()}, args...)...))
		if errors.Is(err, sql.ErrNoRows) {
			return heldError(ctx, tx, id, owner)
		}
		return err
	})
	return op, err
}

// AdoptOperation implements store.Operations.
func (s *Store) AdoptOperation(ctx context.Context, id, owner string, lease time.Duration) (store.Operation, error) {
	if err := store.CheckKey("operation id", id); err != nil {
		return store.Operation{}, fmt.Errorf("adopt operation: %w", err)
	}
	if err := store.CheckOwner(owner, lease); err != nil {
		return store.Operation{}, fmt.Errorf("adopt operation %q: %w", id, err)
	}
	op, err := s.updateHeld(ctx, id, owner, `lease_until = $3 + $4, attempts = attempts + 1`, lease.Microseconds())
	if err != nil {
		return store.Operation{}, fmt.Errorf("adopt operation %q: %w", id, err)
	}
	return op, nil
}

// UpdateProgress implements store.Operations.
func (s *Store) UpdateProgress(ctx context.Context, id, owner string, progress []byte) (store.Operation, error) {
	if err := checkIDOwner(id, owner); err != nil {
		return store.Operation{}, fmt.Errorf("update progress: %w", err)
	}
	op, err := s.updateHeld(ctx, id, owner, `progress = $4`, nullBytes(progress))
	if err != nil {
		return store.Operation{}, fmt.Errorf("update progress of operation %q: %w", id, err)
	}
	return op, nil
}

// FinishOperation implements store.Operations.
func (s *Store) FinishOperation(ctx context.Context, id, owner string, fin store.Finish) (store.Operation, error) {
	if err := checkIDOwner(id, owner); err != nil {
		return store.Operation{}, fmt.Errorf("finish operation: %w", err)
	}
	fin, err := fin.Normalize()
	if err != nil {
		return store.Operation{}, fmt.Errorf("finish operation %q: %w", id, err)
	}
	op, err := s.updateHeld(ctx, id, owner, `state = $4, result = $5, revision = $6, error_code = $7,
		error_message = $8, error_field = $9, lease_until = NULL, finished_at = $3`,
		fin.State, nullBytes(fin.Result), fin.Revision, fin.ErrorCode, fin.ErrorMessage, fin.ErrorField)
	if err != nil {
		return store.Operation{}, fmt.Errorf("finish operation %q: %w", id, err)
	}
	return op, nil
}

func checkIDOwner(id, owner string) error {
	if err := store.CheckKey("operation id", id); err != nil {
		return err
	}
	return store.CheckKey("operation owner", owner)
}

// CancelOperation implements store.Operations.
func (s *Store) CancelOperation(ctx context.Context, id string) (store.Operation, error) {
	if err := store.CheckKey("operation id", id); err != nil {
		return store.Operation{}, fmt.Errorf("cancel operation: %w", err)
	}
	var op store.Operation
	err := s.writeTx(ctx, func(tx *sql.Tx, t time.Time) error {
		var err error
		op, err = s.scanOperation(tx.QueryRowContext(ctx, `UPDATE operations SET
			state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
			finished_at = CASE WHEN state = 'queued' THEN $2 ELSE finished_at END,
			cancel_requested = 1, version = version + 1, updated_at = $2
			WHERE id = $1 AND (state = 'queued' OR (state = 'running' AND cancel_requested = 0))
			RETURNING `+opColumns, id, t.UnixMicro()))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Already flagged, finished, or missing.
		op, err = s.scanOperation(tx.QueryRowContext(ctx, `SELECT `+opColumns+` FROM operations WHERE id = $1`, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case store.Terminal(op.State):
			return fmt.Errorf("operation is already %s: %w", op.State, store.ErrConflict)
		}
		return nil
	})
	if errors.Is(err, store.ErrConflict) {
		return op, fmt.Errorf("cancel operation %q: %w", id, err)
	}
	if err != nil {
		return store.Operation{}, fmt.Errorf("cancel operation %q: %w", id, err)
	}
	return op, nil
}

// PruneOperations implements store.Operations.
func (s *Store) PruneOperations(ctx context.Context, finishedBefore time.Time) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM operations WHERE finished_at IS NOT NULL AND finished_at < $1`,
		finishedBefore.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("prune operations: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune operations: %w", err)
	}
	return int(n), nil
}

// Ping implements store.Operations.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping store %s: %w", s.path, err)
	}
	return nil
}
