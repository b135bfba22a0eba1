// Package apierr turns kdu's errors into the API's error codes and HTTP statuses — the one place where that
// mapping lives. Operation errors and HTTP error responses both go through it.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/store"
)

// Error codes: the API's own (package api owns them), named here for the server's code.
const (
	CodeInvalid            = api.CodeInvalid
	CodeMalformed          = api.CodeMalformed
	CodeUnauthorized       = api.CodeUnauthorized
	CodeForbidden          = api.CodeForbidden
	CodeNotFound           = api.CodeNotFound
	CodeExists             = api.CodeExists
	CodeBusy               = api.CodeBusy
	CodePending            = api.CodePending
	CodeConflict           = api.CodeConflict
	CodeHasReleases        = api.CodeHasReleases
	CodeUnsupported        = api.CodeUnsupported
	CodeUnreachable        = api.CodeUnreachable
	CodeRepoUnauthorized   = api.CodeRepoUnauthorized
	CodeRepoUnreachable    = api.CodeRepoUnreachable
	CodeVerificationFailed = api.CodeVerificationFailed
	CodeTimeout            = api.CodeTimeout
	CodeCancelled          = api.CodeCancelled
	CodeInterrupted        = api.CodeInterrupted
	CodeTooLarge           = api.CodeTooLarge
	CodeUnavailable        = api.CodeUnavailable
	CodeInternal           = api.CodeInternal
)

// Error is an error that already knows its API code and HTTP status: the service's own errors (auth, body
// parsing, idempotency conflicts).
type Error struct {
	Status int
	Body   api.Error
}

func (e *Error) Error() string { return e.Body.Message }

// New returns an *Error.
func New(status int, code, field, format string, args ...any) *Error {
	return &Error{Status: status, Body: api.Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}}
}

// Sentinels the operation runner uses for its own outcomes.
var (
	// ErrCancelled is the cause of a context cancelled because a user cancelled the operation.
	ErrCancelled = errors.New("operation cancelled")
	// ErrInterrupted is the cause of a context cancelled because the service shut down, or of an operation
	// whose process died.
	ErrInterrupted = errors.New("operation interrupted")
)

// From maps an error to an HTTP status and an API error. Unknown errors are internal (500) and their text is
// kept: kdu's errors never carry secrets.
func From(err error) (int, api.Error) {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Status, ae.Body
	}
	msg := err.Error()
	var fe *kdu.FieldError
	var nf *kdu.NotFoundError
	switch {
	case errors.As(err, &fe):
		return http.StatusUnprocessableEntity, api.Error{Code: CodeInvalid, Message: msg, Field: fe.Field}
	case errors.As(err, &nf) && nf.Field != "":
		return http.StatusNotFound, api.Error{Code: CodeNotFound, Message: msg, Field: nf.Field}
	// Chart source failures come before the generic sentinels: their causes may be wrapped in those too.
	case errors.Is(err, kdu.ErrVerification):
		return http.StatusUnprocessableEntity, api.Error{Code: CodeVerificationFailed, Message: msg}
	case errors.Is(err, kdu.ErrRepoAuth):
		return http.StatusBadGateway, api.Error{Code: CodeRepoUnauthorized, Message: msg}
	case errors.Is(err, kdu.ErrRepoUnreachable):
		return http.StatusBadGateway, api.Error{Code: CodeRepoUnreachable, Message: msg}
	case errors.Is(err, kdu.ErrInvalid):
		return http.StatusUnprocessableEntity, api.Error{Code: CodeInvalid, Message: msg}
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest, api.Error{Code: CodeMalformed, Message: msg}
	case errors.Is(err, kdu.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, api.Error{Code: CodeNotFound, Message: msg}
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, api.Error{Code: CodeConflict, Message: msg}
	case errors.Is(err, kdu.ErrExists), errors.Is(err, store.ErrExists):
		return http.StatusConflict, api.Error{Code: CodeExists, Message: msg}
	case errors.Is(err, kdu.ErrBusy):
		return http.StatusConflict, api.Error{Code: CodeBusy, Message: msg}
	case errors.Is(err, kdu.ErrPending):
		return http.StatusConflict, api.Error{Code: CodePending, Message: msg}
	case errors.Is(err, kdu.ErrHasReleases):
		return http.StatusConflict, api.Error{Code: CodeHasReleases, Message: msg}
	case errors.Is(err, kdu.ErrUnsupported):
		return http.StatusUnprocessableEntity, api.Error{Code: CodeUnsupported, Message: msg}
	case errors.Is(err, kdu.ErrUnreachable):
		return http.StatusBadGateway, api.Error{Code: CodeUnreachable, Message: msg}
	case errors.Is(err, ErrCancelled):
		return http.StatusConflict, api.Error{Code: CodeCancelled, Message: msg}
	case errors.Is(err, ErrInterrupted):
		return http.StatusServiceUnavailable, api.Error{Code: CodeInterrupted, Message: msg}
	case errors.Is(err, kdu.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, api.Error{Code: CodeTimeout, Message: msg}
	}
	return http.StatusInternalServerError, api.Error{Code: CodeInternal, Message: msg}
}

// Sentinel returns the kdu sentinel error an API error code stands for, so that a client can give its callers
// the same errors.Is tests as the library. Unknown codes give nil.
func Sentinel(code string) error {
	switch code {
	case CodeInvalid, CodeMalformed, CodeTooLarge:
		return kdu.ErrInvalid
	case CodeNotFound:
		return kdu.ErrNotFound
	case CodeExists:
		return kdu.ErrExists
	case CodeBusy:
		return kdu.ErrBusy
	case CodePending:
		return kdu.ErrPending
	case CodeHasReleases:
		return kdu.ErrHasReleases
	case CodeUnsupported:
		return kdu.ErrUnsupported
	case CodeUnreachable:
		return kdu.ErrUnreachable
	case CodeRepoUnauthorized:
		return kdu.ErrRepoAuth
	case CodeRepoUnreachable:
		return kdu.ErrRepoUnreachable
	case CodeVerificationFailed:
		return kdu.ErrVerification
	case CodeTimeout:
		return kdu.ErrTimeout
	case CodeCancelled:
		return ErrCancelled
	case CodeInterrupted:
		return ErrInterrupted
	}
	return nil
}
