package postgres

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

// raceRetries bounds how often ClaimOperation and CreateOperation try again when what they chose changed under
// them (a cancel or a renewal committed between choosing and updating, a racing create with the same key).
const raceRetries = 5

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
		revision, attempts            int64
		created, updated              int64
		leaseUntil, started, finished sql.NullInt64
	)
	if err := sc.Scan(&op.ID, &op.Kind, &op.Project, &op.Cluster, &op.Namespace, &op.Release, &op.State,
		&reqEnc, &tgtEnc, &op.Progress, &op.Result, &revision, &op.ErrorCode, &op.ErrorMessage, &op.ErrorField,
		&op.IdempotencyKey, &op.RequestHash, &op.Owner, &leaseUntil, &op.CancelRequested, &attempts, &op.Version,
		&created, &updated, &started, &finished); err != nil {
		return store.Operation{}, err
	}
	if len(op.Progress) == 0 {
		op.Progress = nil
	}
	if len(op.Result) == 0 {
		op.Result = nil
	}
	op.Revision, op.Attempts = int(revision), int(attempts)
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

// CreateOperation implements store.Operations. Concurrent creates with one idempotency key meet at the unique
// index: the loser's insert does nothing and it returns the winner's operation.
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
	for range raceRetries {
		if op.IdempotencyKey != "" {
			existing, err := s.scanOperation(s.db.QueryRowContext(ctx, `SELECT `+opColumns+` FROM operations
				WHERE project = $1 AND idempotency_key = $2`, op.Project, op.IdempotencyKey))
			if err == nil {
				return existing, false, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return store.Operation{}, false, fmt.Errorf("%s: %w", what, err)
			}
		}
		var t int64
		err := s.db.QueryRowContext(ctx, `INSERT INTO operations (id, kind, project, cluster_id, namespace,
			release_name, state, request_enc, targets_enc, idempotency_key, request_hash, version, created_at,
			updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $10, 1, `+nowUS+`, `+nowUS+`)
			ON CONFLICT (project, idempotency_key) WHERE idempotency_key <> '' DO NOTHING
			RETURNING created_at`,
			op.ID, op.Kind, op.Project, op.Cluster, op.Namespace, op.Release, reqEnc, tgtEnc,
			op.IdempotencyKey, op.RequestHash).Scan(&t)
		switch {
		case err == nil:
			op.CreatedAt, op.UpdatedAt = fromMicro(t), fromMicro(t)
			return op, true, nil
		case errors.Is(err, sql.ErrNoRows):
			continue // another create with the key won meanwhile: return its operation
		case pgCode(err) == codeUniqueViolation:
			return store.Operation{}, false, fmt.Errorf("%s: %w", what, store.ErrExists)
		default:
			return store.Operation{}, false, fmt.Errorf("%s: %w", what, err)
		}
	}
	return store.Operation{}, false, fmt.Errorf("%s: idempotency key %q keeps changing hands: %w",
		what, op.IdempotencyKey, store.ErrConflict)
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
		where = append(where, "project = ANY("+arg(f.Projects)+"::text[])")
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
		where = append(where, "(created_at, id) < ("+arg(created)+"::bigint, "+arg(f.Before)+"::text)")
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

// Claim statements. Each chooses a candidate, then updates it only if it still qualifies: under READ COMMITTED a
// row changed by a concurrent commit (a renewal, a cancel) is re-checked against the UPDATE's own conditions.
const (
	takeoverCandidate = `SELECT id FROM operations WHERE state = 'running' AND lease_until < ` + nowUS + `
		ORDER BY lease_until, id LIMIT 1`
	takeover = `UPDATE operations SET owner = $2, lease_until = ` + nowUS + ` + $3, attempts = attempts + 1,
		version = version + 1, updated_at = ` + nowUS + `
		WHERE id = $1 AND state = 'running' AND lease_until < ` + nowUS + ` RETURNING ` + opColumns
	queuedCandidate = `SELECT q.id FROM operations q WHERE q.state = 'queued' AND NOT EXISTS (
			SELECT 1 FROM operations r WHERE r.cluster_id = q.cluster_id AND r.release_name = q.release_name
			AND (r.state = 'running' OR (r.state = 'queued' AND (r.created_at, r.id) < (q.created_at, q.id))))
		ORDER BY q.created_at, q.id LIMIT 1`
	claimQueued = `UPDATE operations SET state = 'running', owner = $2, lease_until = ` + nowUS + ` + $3,
		attempts = attempts + 1, version = version + 1, updated_at = ` + nowUS + `, started_at = ` + nowUS + `
		WHERE id = $1 AND state = 'queued' RETURNING ` + opColumns
)

// ClaimOperation implements store.Operations. One transaction takes a transaction-scoped advisory lock, so the
// claims of every replica run one at a time and each sees what the previous one committed; the partial unique
// index on running operations backs this up. Leases are computed on the database's clock.
func (s *Store) ClaimOperation(ctx context.Context, owner string, lease time.Duration) (store.Operation, bool, error) {
	if err := store.CheckOwner(owner, lease); err != nil {
		return store.Operation{}, false, fmt.Errorf("claim operation: %w", err)
	}
	op, ok, err := s.claim(ctx, owner, lease.Microseconds())
	if err != nil {
		return store.Operation{}, false, fmt.Errorf("claim operation for %q: %w", owner, err)
	}
	return op, ok, nil
}

func (s *Store) claim(ctx context.Context, owner string, leaseUS int64) (store.Operation, bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Operation{}, false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, claimLock); err != nil {
		return store.Operation{}, false, fmt.Errorf("lock: %w", err)
	}
	for _, step := range []struct{ name, candidate, update string }{
		{"take over", takeoverCandidate, takeover},
		{"claim queued", queuedCandidate, claimQueued},
	} {
		for range raceRetries {
			var id string
			err := tx.QueryRowContext(ctx, step.candidate).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				break
			}
			if err != nil {
				return store.Operation{}, false, fmt.Errorf("%s: %w", step.name, err)
			}
			op, err := s.scanOperation(tx.QueryRowContext(ctx, step.update, id, owner, leaseUS))
			if errors.Is(err, sql.ErrNoRows) {
				continue // the candidate changed meanwhile; choose again
			}
			if err != nil {
				return store.Operation{}, false, fmt.Errorf("%s %q: %w", step.name, id, err)
			}
			if err := tx.Commit(); err != nil {
				return store.Operation{}, false, fmt.Errorf("%s %q: commit: %w", step.name, id, err)
			}
			return op, true, nil
		}
	}
	return store.Operation{}, false, tx.Commit()
}

// heldError explains why a conditional write to operation id by owner matched no row: ErrNotFound,
// ErrLeaseLost (another owner holds it) or ErrConflict (owner held it, but it is no longer running).
func (s *Store) heldError(ctx context.Context, id, owner string) error {
	var cur, state string
	err := s.db.QueryRowContext(ctx, `SELECT owner, state FROM operations WHERE id = $1`, id).Scan(&cur, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case cur != owner:
		return fmt.Errorf("held by %q, not %q: %w", cur, owner, store.ErrLeaseLost)
	case state == store.OpRunning:
		// It was finished and claimed again by the same owner name between the write and this read.
		return fmt.Errorf("operation changed hands: %w", store.ErrLeaseLost)
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
	var cancel bool
	err := s.db.QueryRowContext(ctx, `UPDATE operations SET lease_until = `+nowUS+` + $3, version = version + 1,
		updated_at = `+nowUS+` WHERE id = $1 AND owner = $2 AND state = 'running' RETURNING cancel_requested`,
		id, owner, lease.Microseconds()).Scan(&cancel)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.heldError(ctx, id, owner)
	}
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	return cancel, nil
}

// updateHeld runs an UPDATE ... RETURNING opColumns that is conditional on owner holding the running operation
// id; set has the SET assignments, with $1 = id, $2 = owner and $3... = args.
func (s *Store) updateHeld(ctx context.Context, id, owner, set string, args ...any) (store.Operation, error) {
	op, err := s.scanOperation(s.db.QueryRowContext(ctx, `UPDATE operations SET `+set+`,
		version = version + 1, updated_at = `+nowUS+` WHERE id = $1 AND owner = $2 AND state = 'running'
		RETURNING `+opColumns, append([]any{id, owner}, args...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Operation{}, s.heldError(ctx, id, owner)
	}
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
	op, err := s.updateHeld(ctx, id, owner, `lease_until = `+nowUS+` + $3, attempts = attempts + 1`, lease.Microseconds())
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
	op, err := s.updateHeld(ctx, id, owner, `progress = $3`, nullBytes(progress))
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
	op, err := s.updateHeld(ctx, id, owner, `state = $3, result = $4, revision = $5, error_code = $6,
		error_message = $7, error_field = $8, lease_until = NULL, finished_at = `+nowUS,
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
	what := fmt.Sprintf("cancel operation %q", id)
	op, err := s.scanOperation(s.db.QueryRowContext(ctx, `UPDATE operations SET
		state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
		finished_at = CASE WHEN state = 'queued' THEN `+nowUS+` ELSE finished_at END,
		cancel_requested = TRUE, version = version + 1, updated_at = `+nowUS+`
		WHERE id = $1 AND (state = 'queued' OR (state = 'running' AND NOT cancel_requested))
		RETURNING `+opColumns, id))
	if err == nil {
		return op, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.Operation{}, fmt.Errorf("%s: %w", what, err)
	}
	// Already flagged, finished, or missing.
	op, err = s.scanOperation(s.db.QueryRowContext(ctx, `SELECT `+opColumns+` FROM operations WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Operation{}, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	case err != nil:
		return store.Operation{}, fmt.Errorf("%s: %w", what, err)
	case store.Terminal(op.State):
		return op, fmt.Errorf("%s: operation is already %s: %w", what, op.State, store.ErrConflict)
	}
	return op, nil
}

// PruneOperations implements store.Operations.
func (s *Store) PruneOperations(ctx context.Context, finishedBefore time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM operations WHERE finished_at IS NOT NULL AND finished_at < $1`,
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
		return fmt.Errorf("ping store %s: %w", s.name, scrub(err, s.pw))
	}
	return nil
}
