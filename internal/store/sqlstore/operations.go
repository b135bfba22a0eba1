package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/store"
)

// The columns of the operations table, in the order scanOperation reads them.
const opColumns = `id, kind, project, cluster_id, namespace, release_name, state, request_enc, targets_enc,
	progress, result, target_results, revision, base_revision, written_revision, error_code, error_message, error_field,
	idempotency_key, request_hash, owner, lease_until, cancel_requested, attempts, version, created_at, updated_at,
	started_at, finished_at`

const selectOp = `SELECT ` + opColumns + ` FROM operations`

// raceRetries bounds how often ClaimOperation and CreateOperation try again when what they chose changed under
// them (a cancel or a renewal committed between choosing and updating, a racing create with the same key).
const raceRetries = 5

// scanOperation reads one opColumns row and opens its secret columns.
func (s *Store) scanOperation(sc scanner) (store.Operation, error) {
	var (
		op                            store.Operation
		reqEnc, tgtEnc                []byte
		revision, written, attempts   int64
		base                          sql.NullInt64
		created, updated              int64
		leaseUntil, started, finished sql.NullInt64
	)
	if err := sc.Scan(&op.ID, &op.Kind, &op.Project, &op.Cluster, &op.Namespace, &op.Release, &op.State,
		&reqEnc, &tgtEnc, &op.Progress, &op.Result, &op.TargetResults, &revision, &base, &written, &op.ErrorCode, &op.ErrorMessage,
		&op.ErrorField, &op.IdempotencyKey, &op.RequestHash, &op.Owner, &leaseUntil, &op.CancelRequested,
		&attempts, &op.Version, &created, &updated, &started, &finished); err != nil {
		return store.Operation{}, err
	}
	op.Progress, op.Result, op.TargetResults = nonEmpty(op.Progress), nonEmpty(op.Result), nonEmpty(op.TargetResults)
	op.Revision, op.WrittenRevision, op.Attempts = int(revision), int(written), int(attempts)
	if base.Valid {
		b := int(base.Int64)
		op.BaseRevision = &b
	}
	op.CreatedAt, op.UpdatedAt = FromMicro(created), FromMicro(updated)
	op.LeaseUntil, op.StartedAt, op.FinishedAt = nullTime(leaseUntil), nullTime(started), nullTime(finished)
	for _, f := range []struct {
		enc  []byte
		aad  []byte
		what string
		dst  *[]byte
	}{
		{reqEnc, store.OperationRequestAAD(op.ID), "request", &op.Request},
		{tgtEnc, store.OperationTargetsAAD(op.ID), "targets", &op.Targets},
	} {
		if len(f.enc) == 0 {
			continue
		}
		v, err := s.box.Open(f.enc, f.aad)
		if err != nil {
			return store.Operation{}, fmt.Errorf("operation %q: cannot decrypt %s (%s): %w", op.ID, f.what, decryptHint, err)
		}
		*f.dst = v
	}
	return op, nil
}

// sealOptional seals a non-empty secret for an operation's row; empty gives nil (stored as NULL).
func (s *Store) sealOptional(plain, aad []byte) ([]byte, error) {
	if len(plain) == 0 {
		return nil, nil
	}
	return s.box.Seal(plain, aad)
}

// CreateOperation implements store.Operations. Concurrent creates with one idempotency key meet at the unique
// index: the loser's insert does nothing and it returns the winner's operation. (Where writes are serialised,
// the lookup and the insert share one transaction and no create loses.)
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
		created  bool
	)
	err = s.write(ctx, func(w *writer) error {
		for range raceRetries {
			if op.IdempotencyKey != "" {
				got, err := s.scanOperation(w.row(selectOp+` WHERE project = $1 AND idempotency_key = $2`,
					op.Project, op.IdempotencyKey))
				if err == nil {
					existing = got
					return nil
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
			var t int64
			err := w.row(`INSERT INTO operations (id, kind, project, cluster_id, namespace, release_name, state,
				request_enc, targets_enc, idempotency_key, request_hash, version, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $10, 1, {now}, {now})
				ON CONFLICT (project, idempotency_key) WHERE idempotency_key <> '' DO NOTHING
				RETURNING created_at`,
				op.ID, op.Kind, op.Project, op.Cluster, op.Namespace, op.Release, reqEnc, tgtEnc,
				op.IdempotencyKey, op.RequestHash).Scan(&t)
			switch {
			case err == nil:
				op.CreatedAt, op.UpdatedAt, created = FromMicro(t), FromMicro(t), true
				return nil
			case errors.Is(err, sql.ErrNoRows):
				continue // another create with the key won meanwhile: return its operation
			case s.d.Violation(err) == UniqueViolation:
				return store.ErrExists
			default:
				return err
			}
		}
		return fmt.Errorf("idempotency key %q keeps changing hands: %w", op.IdempotencyKey, store.ErrConflict)
	})
	switch {
	case err != nil:
		return store.Operation{}, false, fmt.Errorf("%s: %w", what, err)
	case !created:
		return existing, false, nil
	}
	return op, true, nil
}

// GetOperation implements store.Operations.
func (s *Store) GetOperation(ctx context.Context, id string) (store.Operation, error) {
	if err := store.CheckKey("operation id", id); err != nil {
		return store.Operation{}, fmt.Errorf("get operation: %w", err)
	}
	op, err := s.scanOperation(s.conn().QueryRowContext(ctx, selectOp+` WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Operation{}, fmt.Errorf("get operation %q: %w", id, err)
	}
	return op, nil
}

// checkLimit applies the default to a list's limit and refuses a negative one.
func checkLimit(limit int) (int, error) {
	if limit < 0 {
		return 0, fmt.Errorf("limit %d is negative: %w", limit, store.ErrInvalid)
	}
	if limit == 0 {
		return store.DefaultOperationLimit, nil
	}
	return limit, nil
}

// ListOperations implements store.Operations.
func (s *Store) ListOperations(ctx context.Context, f store.OperationFilter) ([]store.Operation, error) {
	limit, err := checkLimit(f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	for _, v := range append([]string{f.Cluster, f.Release, string(f.State), f.Kind, f.Before}, f.Projects...) {
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
		{"cluster_id", f.Cluster}, {"release_name", f.Release}, {"state", string(f.State)}, {"kind", f.Kind},
	} {
		if c.v != "" {
			where = append(where, c.col+" = "+arg(c.v))
		}
	}
	if f.Before != "" {
		var created int64
		err := s.conn().QueryRowContext(ctx, `SELECT created_at FROM operations WHERE id = $1`, f.Before).Scan(&created)
		if errors.Is(err, sql.ErrNoRows) {
			err = store.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("list operations before %q: %w", f.Before, err)
		}
		c := arg(created)
		where = append(where, "(created_at < "+c+" OR (created_at = "+c+" AND id < "+arg(f.Before)+"))")
	}
	q := selectOp
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT " + arg(limit)
	rows, err := s.conn().QueryContext(ctx, q, args...)
	ops, err := collect(rows, err, s.scanOperation)
	if err != nil {
		return nil, fmt.Errorf("list operations: %w", err)
	}
	return ops, nil
}

// ChangedOperations implements store.Operations.
func (s *Store) ChangedOperations(ctx context.Context, since time.Time, limit int) ([]store.Operation, error) {
	limit, err := checkLimit(limit)
	if err != nil {
		return nil, fmt.Errorf("changed operations: %w", err)
	}
	rows, err := s.conn().QueryContext(ctx, selectOp+` WHERE updated_at > $1 ORDER BY updated_at, id LIMIT $2`,
		since.UnixMicro(), limit)
	ops, err := collect(rows, err, s.scanOperation)
	if err != nil {
		return nil, fmt.Errorf("changed operations since %s: %w", since.UTC().Format(time.RFC3339Nano), err)
	}
	return ops, nil
}

// claimSteps are ClaimOperation's two ways to find work, in order. Each chooses a candidate ($1: the
// per-cluster cap, ≤ 0 for none), then updates it only if it still qualifies: a row changed by a concurrent
// commit (a renewal, a cancel) is re-checked against the UPDATE's own conditions. In the update, $1 is the
// candidate, $2 the owner and $3 the lease in microseconds.
var claimSteps = []struct {
	name, candidate, update string
	capped                  bool // the candidate query takes the per-cluster cap as $1
}{
	{"take over", // the operation whose lease expired first
		`SELECT id FROM operations WHERE state = 'running' AND lease_until < {now} ORDER BY lease_until, id LIMIT 1`,
		`UPDATE operations SET owner = $2, lease_until = {now} + $3, attempts = attempts + 1,
			version = version + 1, updated_at = {now}
		WHERE id = $1 AND state = 'running' AND lease_until < {now} RETURNING ` + opColumns, false},
	{"claim queued", // the oldest queued operation whose release has nothing running and nothing older queued;
		// with a cap, on a cluster below it, the cluster running the fewest first
		`SELECT q.id FROM (SELECT o.id, o.created_at, (SELECT count(*) FROM operations c
				WHERE c.cluster_id = o.cluster_id AND c.state = 'running') AS running
			FROM operations o WHERE o.state = 'queued' AND NOT EXISTS (
				SELECT 1 FROM operations r WHERE r.cluster_id = o.cluster_id AND r.release_name = o.release_name
				AND (r.state = 'running' OR (r.state = 'queued' AND (r.created_at, r.id) < (o.created_at, o.id))))) q
		WHERE $1 <= 0 OR q.running < $1
		ORDER BY CASE WHEN $1 > 0 THEN q.running ELSE 0 END, q.created_at, q.id LIMIT 1`,
		`UPDATE operations SET state = 'running', owner = $2, lease_until = {now} + $3, attempts = attempts + 1,
			version = version + 1, updated_at = {now}, started_at = {now}
		WHERE id = $1 AND state = 'queued' RETURNING ` + opColumns, true},
}

// ClaimOperation implements store.Operations. It runs in one transaction, which the dialect makes exclusive
// among every process sharing the database (SQLite's write lock, or Dialect.ClaimLock); the partial unique
// index on running operations backs this up.
func (s *Store) ClaimOperation(ctx context.Context, owner string, lease time.Duration, perCluster int) (store.Operation, bool, error) {
	if err := store.CheckOwner(owner, lease); err != nil {
		return store.Operation{}, false, fmt.Errorf("claim operation: %w", err)
	}
	var (
		op      store.Operation
		claimed bool
	)
	err := s.inTx(ctx, func(w *writer) error {
		if s.d.ClaimLock != "" {
			if _, err := w.exec(s.d.ClaimLock); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		for _, step := range claimSteps {
			for range raceRetries {
				var id string
				var args []any
				if step.capped {
					args = []any{perCluster}
				}
				err := w.row(step.candidate, args...).Scan(&id)
				if errors.Is(err, sql.ErrNoRows) {
					break
				}
				if err != nil {
					return fmt.Errorf("%s: %w", step.name, err)
				}
				op, err = s.scanOperation(w.row(step.update, id, owner, lease.Microseconds()))
				if errors.Is(err, sql.ErrNoRows) {
					continue // the candidate changed meanwhile; choose again
				}
				if err != nil {
					return fmt.Errorf("%s %q: %w", step.name, id, err)
				}
				claimed = true
				return nil
			}
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
func heldError(w *writer, id, owner string) error {
	var (
		cur   string
		state api.OperationState
	)
	err := w.row(`SELECT owner, state FROM operations WHERE id = $1`, id).Scan(&cur, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case cur != owner:
		return fmt.Errorf("held by %q, not %q: %w", cur, owner, store.ErrLeaseLost)
	case state == api.Running:
		// It was finished and claimed again by the same owner name between the write and this read.
		return fmt.Errorf("operation changed hands: %w", store.ErrLeaseLost)
	default:
		return fmt.Errorf("operation is %s, not running: %w", state, store.ErrConflict)
	}
}

// RenewLease implements store.Operations.
func (s *Store) RenewLease(ctx context.Context, id, owner string, lease time.Duration) (bool, error) {
	if err := store.CheckKey("operation id", id); err != nil {
		return false, fmt.Errorf("renew lease: %w", err)
	}
	var cancel bool
	err := store.CheckOwner(owner, lease)
	if err == nil {
		err = s.write(ctx, func(w *writer) error {
			err := w.row(`UPDATE operations SET lease_until = {now} + $3, version = version + 1, updated_at = {now}
				WHERE id = $1 AND owner = $2 AND state = 'running' RETURNING cancel_requested`,
				id, owner, lease.Microseconds()).Scan(&cancel)
			if errors.Is(err, sql.ErrNoRows) {
				return heldError(w, id, owner)
			}
			return err
		})
	}
	if err != nil {
		return false, fmt.Errorf("renew lease of operation %q: %w", id, err)
	}
	return cancel, nil
}

// updateHeld is the write of a method named what (such as "update progress of"): an UPDATE ... RETURNING
// opColumns that is conditional on owner holding the running operation id. invalid is what the method's own
// checks of its other arguments found; set has the SET assignments, with $1 = id, $2 = owner and $3... = args.
func (s *Store) updateHeld(ctx context.Context, what, id, owner string, invalid error, set string,
	args ...any) (store.Operation, error) {
	if err := store.CheckKey("operation id", id); err != nil {
		return store.Operation{}, fmt.Errorf("%s operation: %w", what, err)
	}
	err := store.CheckKey("operation owner", owner)
	if err == nil {
		err = invalid
	}
	var op store.Operation
	if err == nil {
		err = s.write(ctx, func(w *writer) error {
			var err error
			op, err = s.scanOperation(w.row(`UPDATE operations SET `+set+`, version = version + 1,
				updated_at = {now} WHERE id = $1 AND owner = $2 AND state = 'running' RETURNING `+opColumns,
				append([]any{id, owner}, args...)...))
			if errors.Is(err, sql.ErrNoRows) {
				return heldError(w, id, owner)
			}
			return err
		})
	}
	if err != nil {
		return store.Operation{}, fmt.Errorf("%s operation %q: %w", what, id, err)
	}
	return op, nil
}

// AdoptOperation implements store.Operations. Everything else is kept: progress, StartedAt and the revisions,
// which the restarted owner needs to recover.
func (s *Store) AdoptOperation(ctx context.Context, id, owner string, lease time.Duration) (store.Operation, error) {
	return s.updateHeld(ctx, "adopt", id, owner, store.CheckOwner(owner, lease),
		`lease_until = {now} + $3, attempts = attempts + 1`, lease.Microseconds())
}

// UpdateProgress implements store.Operations.
func (s *Store) UpdateProgress(ctx context.Context, id, owner string, progress []byte) (store.Operation, error) {
	return s.updateHeld(ctx, "update progress of", id, owner, nil, `progress = $3`, nullBytes(progress))
}

// RecordRevisions implements store.Operations.
func (s *Store) RecordRevisions(ctx context.Context, id, owner string, base *int, written int) (store.Operation, error) {
	var baseArg sql.NullInt64
	if base != nil {
		baseArg = sql.NullInt64{Int64: int64(*base), Valid: true}
	}
	return s.updateHeld(ctx, "record revisions of", id, owner, store.CheckRevisions(base, written),
		`base_revision = COALESCE($3, base_revision),
		written_revision = CASE WHEN $4 > written_revision THEN $4 ELSE written_revision END`,
		baseArg, int64(written))
}

// FinishOperation implements store.Operations.
func (s *Store) FinishOperation(ctx context.Context, id, owner string, fin store.Finish) (store.Operation, error) {
	fin, err := fin.Normalize()
	return s.updateHeld(ctx, "finish", id, owner, err, `state = $3, result = $4, revision = $5, error_code = $6,
		error_message = $7, error_field = $8, target_results = $9, lease_until = NULL, finished_at = {now}`,
		string(fin.State), nullBytes(fin.Result), int64(fin.Revision), fin.ErrorCode, fin.ErrorMessage, fin.ErrorField,
		nullBytes(fin.TargetResults))
}

// CancelOperation implements store.Operations.
func (s *Store) CancelOperation(ctx context.Context, id string) (store.Operation, error) {
	if err := store.CheckKey("operation id", id); err != nil {
		return store.Operation{}, fmt.Errorf("cancel operation: %w", err)
	}
	var op store.Operation
	err := s.write(ctx, func(w *writer) error {
		var err error
		op, err = s.scanOperation(w.row(`UPDATE operations SET
			state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
			finished_at = CASE WHEN state = 'queued' THEN {now} ELSE finished_at END,
			cancel_requested = TRUE, version = version + 1, updated_at = {now}
			WHERE id = $1 AND (state = 'queued' OR (state = 'running' AND NOT cancel_requested))
			RETURNING `+opColumns, id))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Already flagged, finished, or missing.
		op, err = s.scanOperation(w.row(selectOp+` WHERE id = $1`, id))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case op.State.Terminal():
			return fmt.Errorf("operation is already %s: %w", op.State, store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		if !errors.Is(err, store.ErrConflict) {
			op = store.Operation{}
		}
		return op, fmt.Errorf("cancel operation %q: %w", id, err)
	}
	return op, nil
}

// PruneOperations implements store.Operations.
func (s *Store) PruneOperations(ctx context.Context, finishedBefore time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(w *writer) error {
		res, err := w.exec(`DELETE FROM operations WHERE finished_at IS NOT NULL AND finished_at < $1`,
			finishedBefore.UnixMicro())
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune operations: %w", err)
	}
	return int(n), nil
}
