package kdu

import (
	"errors"
	"fmt"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
)

// Sentinel errors, shared with the REST API's Go client (they are defined in package api). Every error kdu
// returns wraps at most one of these; callers branch with errors.Is, and the service maps them to HTTP statuses
// in one place.
var (
	// ErrInvalid means an input was rejected before anything changed. The error is a *FieldError.
	ErrInvalid = api.ErrInvalid
	// ErrNotFound means a cluster, repository or release does not exist.
	ErrNotFound = api.ErrNotFound
	// ErrExists means a cluster, repository or release of that name already exists.
	ErrExists = api.ErrExists
	// ErrBusy means another operation on the same release did not finish within the lock wait.
	ErrBusy = api.ErrBusy
	// ErrPending means Helm records an operation in progress on the release (pending-install/upgrade/rollback).
	ErrPending = api.ErrPending
	// ErrUnsupported means the operation does not exist for Helm KDUs (docs/n2vc.md#exec_primitive), or that the
	// cluster lacks what it needs (a *CRDNotInstalledError).
	ErrUnsupported = api.ErrUnsupported
	// ErrUnreachable means the cluster's API server could not be reached or refused the credentials.
	ErrUnreachable = api.ErrUnreachable
	// ErrRepoAuth means a chart repository or registry refused kdu's credentials (a 401 or 403).
	ErrRepoAuth = api.ErrRepoAuth
	// ErrRepoUnreachable means a chart repository or registry could not be reached, or failed.
	ErrRepoUnreachable = api.ErrRepoUnreachable
	// ErrVerification means a chart asked to be verified is unsigned, signed by an unknown key, tampered with or
	// (for OCI) not pinned by digest.
	ErrVerification = api.ErrVerification
	// ErrHasReleases means a cluster still has releases and removal was not forced.
	ErrHasReleases = api.ErrHasReleases
	// ErrTimeout means an operation's wait for readiness ran out of time.
	ErrTimeout = api.ErrTimeout
)

// FieldError is a rejected input: which field, and why. It wraps ErrInvalid.
type FieldError = api.FieldError

func invalid(field string, err error) error {
	return &FieldError{Field: field, Reason: err.Error(), Err: err}
}

func invalidf(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// NotFoundError says which kind of thing was not found: "cluster", "repository", "release", "chart",
// "namespace", "secret" or "secret key". It wraps ErrNotFound.
type NotFoundError struct {
	Kind string
	Msg  string
	// Field names the request field that named the missing thing, when there is one (for example
	// "source.key" of a Secret copy); the API answers it as the error's field.
	Field string
	Err   error
}

func (e *NotFoundError) Error() string { return e.Msg }

// Unwrap returns ErrNotFound and the underlying cause.
func (e *NotFoundError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrNotFound, e.Err}
	}
	return []error{ErrNotFound}
}

func notFound(kind, format string, args ...any) error {
	return &NotFoundError{Kind: kind, Msg: fmt.Sprintf(format, args...) + " not found"}
}

// CRDNotInstalledError means an operation needs a custom resource the cluster does not serve: its
// CustomResourceDefinition (for example certificates.cert-manager.io) is not installed. It wraps
// ErrUnsupported.
type CRDNotInstalledError struct {
	// CRD is the definition's name, <plural>.<group>.
	CRD string
	// Needs names what provides it ("cert-manager").
	Needs string
}

func (e *CRDNotInstalledError) Error() string {
	return fmt.Sprintf("the CustomResourceDefinition %s is not installed on the cluster: install %s first", e.CRD, e.Needs)
}

// Unwrap returns ErrUnsupported.
func (e *CRDNotInstalledError) Unwrap() error { return ErrUnsupported }

// translate maps errors of kdu's internal packages to the public sentinels, keeping their text.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrNotFound), errors.Is(err, ErrExists),
		errors.Is(err, ErrUnreachable), errors.Is(err, ErrRepoAuth), errors.Is(err, ErrRepoUnreachable),
		errors.Is(err, ErrVerification):
		return err
	case errors.Is(err, engine.ErrReleaseNotFound):
		return &NotFoundError{Kind: "release", Msg: err.Error(), Err: err}
	case errors.Is(err, engine.ErrNamespaceNotFound):
		return &NotFoundError{Kind: "namespace", Msg: err.Error(), Err: err}
	case errors.Is(err, engine.ErrChartNotFound):
		return &NotFoundError{Kind: "chart", Msg: err.Error(), Err: err}
	case errors.Is(err, engine.ErrReleaseExists):
		return &wrapped{err, ErrExists}
	case errors.Is(err, engine.ErrAmbiguousRelease), errors.Is(err, engine.ErrForbidden):
		return &FieldError{Field: "namespace", Reason: err.Error(), Err: err}
	case errors.Is(err, engine.ErrInvalidChart):
		return &FieldError{Field: "chart", Reason: err.Error(), Err: err}
	case errors.Is(err, cluster.ErrInvalidKubeconfig):
		return &FieldError{Field: "kubeconfig", Reason: err.Error(), Err: err}
	case errors.Is(err, cluster.ErrUnreachable), errors.Is(err, engine.ErrUnreachable), errors.Is(err, engine.ErrTillerUnavailable):
		return &wrapped{err, ErrUnreachable}
	}
	return err
}

// wrapped keeps an error's text and chain and adds a public sentinel to it.
type wrapped struct {
	err      error
	sentinel error
}

func (w *wrapped) Error() string   { return w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.err, w.sentinel} }
