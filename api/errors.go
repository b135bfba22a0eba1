package api

import "errors"

// Error is the body of every error response, under "error", and the error of a failed operation.
type Error struct {
	// Code is a stable machine-readable code: invalid, unauthorized, forbidden, not_found, exists, busy,
	// pending, conflict, unsupported, unreachable, timeout, cancelled, interrupted, too_large, internal,
	// verification_failed (a chart asked to be verified does not verify), repo_unauthorized (a chart repository
	// refused kdu's credentials), repo_unreachable (a chart repository could not be reached).
	Code string `json:"code"`
	// Message says what went wrong, for people.
	Message string `json:"message"`
	// Field names the request field at fault, if any (for example "chart" or "values.set[0]").
	Field string `json:"field,omitempty"`
}

// ErrorResponse is the JSON body of a non-2xx response.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// Error codes, the values of Error.Code.
const (
	CodeInvalid      = "invalid"
	CodeMalformed    = "malformed"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeExists       = "exists"
	CodeBusy         = "busy"
	CodePending      = "pending"
	CodeConflict     = "conflict"
	CodeHasReleases  = "has_releases"
	CodeUnsupported  = "unsupported"
	CodeUnreachable  = "unreachable"
	// CodeRepoUnauthorized: a chart repository or registry refused kdu's credentials (ErrRepoAuth).
	CodeRepoUnauthorized = "repo_unauthorized"
	// CodeRepoUnreachable: a chart repository or registry could not be reached, or failed (ErrRepoUnreachable).
	CodeRepoUnreachable = "repo_unreachable"
	// CodeVerificationFailed: a chart asked to be verified did not verify (ErrVerification).
	CodeVerificationFailed = "verification_failed"
	CodeTimeout            = "timeout"
	CodeCancelled          = "cancelled"
	CodeInterrupted        = "interrupted"
	CodeTooLarge           = "too_large"
	CodeUnavailable        = "unavailable"
	CodeInternal           = "internal"
)

// Sentinel errors, shared by the library (package kdu re-exports them) and the Go client (whose errors unwrap
// to the sentinel of their code), so that callers branch with errors.Is alike whichever they use.
var (
	// ErrInvalid means an input was rejected before anything changed. The library's error is a *FieldError.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound means a cluster, repository or release does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a cluster, repository or release of that name already exists.
	ErrExists = errors.New("already exists")
	// ErrBusy means another operation on the same release did not finish within the lock wait.
	ErrBusy = errors.New("busy: another operation holds the lock")
	// ErrPending means Helm records an operation in progress on the release (pending-install/upgrade/rollback).
	ErrPending = errors.New("release has an operation in progress")
	// ErrUnsupported means the operation does not exist for Helm KDUs (docs/n2vc.md#exec_primitive).
	ErrUnsupported = errors.New("unsupported for Helm KDUs")
	// ErrUnreachable means the cluster's API server could not be reached or refused the credentials.
	ErrUnreachable = errors.New("cluster unreachable")
	// ErrRepoAuth means a chart repository or registry refused kdu's credentials (a 401 or 403).
	ErrRepoAuth = errors.New("chart source refused the credentials")
	// ErrRepoUnreachable means a chart repository or registry could not be reached, or failed.
	ErrRepoUnreachable = errors.New("chart source unreachable")
	// ErrVerification means a chart asked to be verified is unsigned, signed by an unknown key, tampered with or
	// (for OCI) not pinned by digest.
	ErrVerification = errors.New("chart verification failed")
	// ErrHasReleases means a cluster still has releases and removal was not forced.
	ErrHasReleases = errors.New("cluster has releases")
	// ErrTimeout means an operation's wait for readiness ran out of time.
	ErrTimeout = errors.New("timed out waiting for resources")
	// ErrCancelled means a user cancelled the operation.
	ErrCancelled = errors.New("operation cancelled")
	// ErrInterrupted means the service shut down during the operation, or the process running it died.
	ErrInterrupted = errors.New("operation interrupted")
)

// FieldError is a rejected input: which field, and why. It wraps ErrInvalid.
type FieldError struct {
	Field  string
	Reason string
	Err    error // the underlying cause, if any
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalid and the underlying cause.
func (e *FieldError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

// Sentinel returns the sentinel error an error code stands for, or nil for codes without one (unauthorized,
// forbidden, conflict, internal, ...).
func Sentinel(code string) error {
	switch code {
	case CodeInvalid, CodeMalformed, CodeTooLarge:
		return ErrInvalid
	case CodeNotFound:
		return ErrNotFound
	case CodeExists:
		return ErrExists
	case CodeBusy:
		return ErrBusy
	case CodePending:
		return ErrPending
	case CodeHasReleases:
		return ErrHasReleases
	case CodeUnsupported:
		return ErrUnsupported
	case CodeUnreachable:
		return ErrUnreachable
	case CodeRepoUnauthorized:
		return ErrRepoAuth
	case CodeRepoUnreachable:
		return ErrRepoUnreachable
	case CodeVerificationFailed:
		return ErrVerification
	case CodeTimeout:
		return ErrTimeout
	case CodeCancelled:
		return ErrCancelled
	case CodeInterrupted:
		return ErrInterrupted
	}
	return nil
}
