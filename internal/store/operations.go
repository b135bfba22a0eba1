package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kdu-io/kdu/api"
)

// More sentinel errors, for operations.
var (
	// ErrConflict means the operation is not in a state that allows the change (cancelling a finished
	// operation, finishing one that is not running).
	ErrConflict = errors.New("conflict")
	// ErrLeaseLost means the caller no longer owns the operation: its lease expired and another owner took it
	// over, or it was finished by someone else.
	ErrLeaseLost = errors.New("operation lease lost")
)

// Operation is a durable, asynchronous KDU operation (install, upgrade, ...). The store treats the JSON fields as
// opaque bytes. Request and Targets may hold secrets (chart values, webhook URLs with tokens): they are encrypted
// at rest, bound to the operation's ID.
type Operation struct {
	// ID is the operation's key, chosen by the caller (random); never a path.
	ID string
	// Kind is what the operation does: install, upgrade, scale, rollback, uninstall, ...
	Kind string
	// Project owns the operation (the cluster's project); "" means none.
	Project string
	// Cluster, Namespace and Release name the release the operation acts on. No two operations on the same
	// (Cluster, Release) are ever running at once.
	Cluster, Namespace, Release string
	// State is one of api's operation states. CreateOperation always stores api.Queued.
	State api.OperationState
	// Request is the operation's input (JSON); encrypted at rest.
	Request []byte
	// Targets lists where status goes (JSON); encrypted at rest.
	Targets []byte
	// Progress is the latest progress report (JSON).
	Progress []byte
	// Result is the outcome (JSON), set when the operation finishes.
	Result []byte
	// TargetResults says, per status target, whether the final status write was delivered (JSON), set when the
	// operation finishes; nil without targets.
	TargetResults []byte
	// Revision is the release revision the operation produced, if any.
	Revision int
	// BaseRevision is the Helm release revision that was current before the operation acted (0: there was no
	// release); nil means not recorded yet: the operation has not touched Helm. Recovery after a crash compares
	// it with the release's history. Set by RecordRevisions.
	BaseRevision *int
	// WrittenRevision is the highest release revision the operation has written; 0 means none yet. Set by
	// RecordRevisions.
	WrittenRevision int
	// ErrorCode, ErrorMessage and ErrorField describe a failure.
	ErrorCode, ErrorMessage, ErrorField string
	// IdempotencyKey, if set, is unique per Project: creating a second operation with the same key returns the
	// first. RequestHash lets the caller detect a key reused for a different request.
	IdempotencyKey, RequestHash string
	// Owner is the replica that claimed the operation and LeaseUntil when its claim expires unless renewed.
	Owner      string
	LeaseUntil time.Time
	// CancelRequested is set by CancelOperation on a running operation; the owner sees it when it renews.
	CancelRequested bool
	// Attempts counts claims, takeovers included.
	Attempts int
	// Version increases by one with every write to the operation (1 after create).
	Version int64
	// Timestamps set by the store (UTC, microsecond precision). StartedAt and FinishedAt are zero until then.
	CreatedAt, UpdatedAt, StartedAt, FinishedAt time.Time
}

// Clone returns a deep copy of o.
func (o Operation) Clone() Operation {
	o.Request = cloneBytes(o.Request)
	o.Targets = cloneBytes(o.Targets)
	o.Progress = cloneBytes(o.Progress)
	o.Result = cloneBytes(o.Result)
	o.TargetResults = cloneBytes(o.TargetResults)
	if o.BaseRevision != nil {
		base := *o.BaseRevision
		o.BaseRevision = &base
	}
	return o
}

// DefaultOperationLimit is how many operations ListOperations and ChangedOperations return when the limit is 0.
const DefaultOperationLimit = 100

// OperationFilter selects operations. Empty fields match everything.
type OperationFilter struct {
	// Projects, if not nil, keeps operations whose Project is in the list (an empty non-nil list matches none).
	Projects []string
	Cluster  string
	Release  string
	State    api.OperationState
	Kind     string
	// Before, if set, keeps operations created strictly before the operation with this ID (pagination: pass the
	// last ID of the previous page): after it in the newest-first order. An ID that names no operation fails
	// with ErrNotFound.
	Before string
	// Limit bounds the result; 0 means DefaultOperationLimit, a negative value is ErrInvalid.
	Limit int
}

// Finish is the outcome written by FinishOperation.
type Finish struct {
	// State is api.Succeeded, api.Failed or api.Cancelled.
	State    api.OperationState
	Result   []byte
	Revision int
	// ErrorCode, ErrorMessage and ErrorField describe a failure.
	ErrorCode, ErrorMessage, ErrorField string
	// TargetResults is what became of the final status write to each target (JSON).
	TargetResults []byte
}

// Operations persists operations. Several processes (replicas) may share one store: claims are exclusive.
//
// Methods that take an owner identify the caller by it; an owner should be unique per process incarnation (a
// restarted replica uses a new one), since whoever presents the owner string holds its operations. For every
// method that names an operation by ID, a missing operation is ErrNotFound.
type Operations interface {
	// CreateOperation stores a new queued operation and returns it as stored, with created true. If
	// op.IdempotencyKey is set and an operation of the same Project already has that key, nothing is stored
	// and the existing operation is returned with created false. An ID that is taken is ErrExists. Only the
	// request fields are kept (ID, Kind, Project, Cluster, Namespace, Release, Request, Targets,
	// IdempotencyKey, RequestHash); the rest starts empty: State api.Queued, Version 1, Attempts 0, and so on.
	// ID, Kind, Cluster and Release must be non-empty (see Operation.Normalize).
	CreateOperation(ctx context.Context, op Operation) (stored Operation, created bool, err error)
	// GetOperation returns one operation, or ErrNotFound.
	GetOperation(ctx context.Context, id string) (Operation, error)
	// ListOperations returns the operations matching f, newest first (by CreatedAt, then ID, both descending).
	// No match gives an empty slice.
	ListOperations(ctx context.Context, f OperationFilter) ([]Operation, error)
	// ChangedOperations returns up to limit (0 means DefaultOperationLimit) operations whose Version changed
	// after the given time (UpdatedAt > since), ordered by UpdatedAt then ID: it lets several replicas follow
	// each other's changes. A follower passes the UpdatedAt of the last operation it saw; because a write's
	// timestamp is taken before it commits, a follower of a store shared by several processes should go back a
	// little (a few seconds) and use Version to skip what it has already seen.
	ChangedOperations(ctx context.Context, since time.Time, limit int) ([]Operation, error)

	// ClaimOperation gives owner one operation to run, for lease, and reports false if there is none. It
	// prefers an operation left running by an owner whose lease expired (a takeover: state stays running,
	// Owner changes, Attempts increases, StartedAt stays). Otherwise it takes the oldest queued operation
	// whose release has no running operation and no older queued one, and sets it running (StartedAt,
	// Attempts). Concurrent claims, from any number of processes, never give one operation to two owners nor
	// run two operations of one release at once. lease must be positive.
	//
	// perCluster, when positive, caps the operations running on one cluster (over every owner sharing the
	// store): a queued operation of a cluster that has perCluster running waits, and among the clusters below
	// their cap the one running the fewest goes first (then the oldest operation), so that one busy cluster
	// does not starve the others. perCluster ≤ 0 means no cap, and strictly the oldest first.
	ClaimOperation(ctx context.Context, owner string, lease time.Duration, perCluster int) (Operation, bool, error)
	// RenewLease extends owner's lease on a running operation (to now + lease) and reports whether a cancel
	// was requested. It fails with ErrLeaseLost if owner does not hold it any more (another owner took it
	// over). An owner keeps its operation after its lease expired as long as nobody took it over.
	RenewLease(ctx context.Context, id, owner string, lease time.Duration) (cancelRequested bool, err error)
	// AdoptOperation is RenewLease for an owner that restarted: the same owner takes its running operation
	// back at once (its previous process is gone), extends the lease and counts a new attempt. It fails with
	// ErrLeaseLost if owner does not hold it any more.
	AdoptOperation(ctx context.Context, id, owner string, lease time.Duration) (Operation, error)
	// UpdateProgress records a progress report of a running operation held by owner (ErrLeaseLost otherwise).
	UpdateProgress(ctx context.Context, id, owner string, progress []byte) (Operation, error)
	// RecordRevisions records the Helm revisions of a running operation held by owner, with the errors of
	// UpdateProgress: base, if not nil, replaces BaseRevision; WrittenRevision becomes the larger of its
	// stored value and written, so a late or repeated report never lowers it. Revisions are never negative
	// (ErrInvalid). Adoption and takeover keep both, since recovery needs them.
	RecordRevisions(ctx context.Context, id, owner string, base *int, written int) (Operation, error)
	// FinishOperation ends a running operation held by owner (ErrLeaseLost otherwise) and sets FinishedAt;
	// Owner stays as a record and LeaseUntil becomes zero. fin is checked and cleaned by Finish.Normalize.
	//
	// RenewLease, UpdateProgress, RecordRevisions and FinishOperation fail with ErrLeaseLost when another owner
	// holds the operation, and with ErrConflict when owner held it but it is no longer running (already finished).
	FinishOperation(ctx context.Context, id, owner string, fin Finish) (Operation, error)
	// CancelOperation cancels a queued operation at once (state cancelled, FinishedAt set) or flags a running
	// one (CancelRequested); both set CancelRequested. Flagging an already flagged operation changes nothing.
	// A finished operation is returned unchanged with ErrConflict.
	CancelOperation(ctx context.Context, id string) (Operation, error)
	// PruneOperations deletes operations that finished strictly before the given time and returns how many.
	// Operations are history: deleting a cluster keeps its operations; only pruning removes them.
	PruneOperations(ctx context.Context, finishedBefore time.Time) (int, error)
	// Ping checks that the store answers (readiness).
	Ping(ctx context.Context) error
}

// Normalize checks op for CreateOperation and returns the part of it that is stored: ID, Kind, Cluster and
// Release must be keys (CheckKey), the other text fields text (CheckText); every field that the store manages
// is reset and State is api.Queued. Request and Targets are deep-copied; empty ones become nil. It is for
// implementations; the error wraps ErrInvalid and names the field.
func (op Operation) Normalize() (Operation, error) {
	if err := CheckKey("operation id", op.ID); err != nil {
		return Operation{}, err
	}
	for _, f := range []struct {
		name, v string
		key     bool
	}{
		{"operation kind", op.Kind, true}, {"operation cluster", op.Cluster, true},
		{"operation release", op.Release, true}, {"operation project", op.Project, false},
		{"operation namespace", op.Namespace, false}, {"operation idempotency key", op.IdempotencyKey, false},
		{"operation request hash", op.RequestHash, false},
	} {
		check := CheckText
		if f.key {
			check = CheckKey
		}
		if err := check(f.name, f.v); err != nil {
			return Operation{}, fmt.Errorf("operation %q: %w", op.ID, err)
		}
	}
	return Operation{
		ID: op.ID, Kind: op.Kind, Project: op.Project, Cluster: op.Cluster, Namespace: op.Namespace,
		Release: op.Release, State: api.Queued, Request: cloneBytes(op.Request), Targets: cloneBytes(op.Targets),
		IdempotencyKey: op.IdempotencyKey, RequestHash: op.RequestHash, Version: 1,
	}, nil
}

// Normalize checks fin for FinishOperation: State must be terminal (ErrInvalid otherwise). The error strings are
// made storable rather than refused (invalid UTF-8 replaced, NUL bytes removed), since an operation must be able
// to finish whatever its error says. Result is deep-copied; an empty one becomes nil.
func (fin Finish) Normalize() (Finish, error) {
	if !fin.State.Terminal() {
		return Finish{}, fmt.Errorf("finish state %q is not one of %s, %s, %s: %w",
			fin.State, api.Succeeded, api.Failed, api.Cancelled, ErrInvalid)
	}
	clean := func(s string) string {
		return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	}
	fin.ErrorCode, fin.ErrorMessage, fin.ErrorField = clean(fin.ErrorCode), clean(fin.ErrorMessage), clean(fin.ErrorField)
	fin.Result = cloneBytes(fin.Result)
	fin.TargetResults = cloneBytes(fin.TargetResults)
	return fin, nil
}

// CheckOwner checks the owner and lease arguments of ClaimOperation and RenewLease: owner must be a key (CheckKey)
// and lease positive. It is for implementations; the error wraps ErrInvalid.
func CheckOwner(owner string, lease time.Duration) error {
	if err := CheckKey("operation owner", owner); err != nil {
		return err
	}
	if lease <= 0 {
		return fmt.Errorf("lease %s is not positive: %w", lease, ErrInvalid)
	}
	return nil
}

// CheckRevisions checks the arguments of RecordRevisions: no revision is negative. It is for implementations;
// the error wraps ErrInvalid.
func CheckRevisions(base *int, written int) error {
	if base != nil && *base < 0 {
		return fmt.Errorf("base revision %d is negative: %w", *base, ErrInvalid)
	}
	if written < 0 {
		return fmt.Errorf("written revision %d is negative: %w", written, ErrInvalid)
	}
	return nil
}

// OperationRequestAAD binds an operation's sealed request to its row.
func OperationRequestAAD(id string) []byte {
	return []byte("kdu/operation/" + strconv.Quote(id) + "/request")
}

// OperationTargetsAAD binds an operation's sealed status targets to its row.
func OperationTargetsAAD(id string) []byte {
	return []byte("kdu/operation/" + strconv.Quote(id) + "/targets")
}
