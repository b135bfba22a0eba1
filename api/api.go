// Package api holds the wire types of kdu's REST API (/v1): what the service sends and receives as JSON. The
// service (internal/server) and the Go client (package client) share them, so they cannot drift apart.
package api

import (
	"time"

	"github.com/kdu-io/kdu"
)

// OperationState is the life-cycle state of an operation.
type OperationState string

// Operation states. Queued and Running are live; Succeeded, Failed and Cancelled are terminal.
const (
	Queued    OperationState = "queued"
	Running   OperationState = "running"
	Succeeded OperationState = "succeeded"
	Failed    OperationState = "failed"
	Cancelled OperationState = "cancelled"
)

// Terminal reports whether s is a final state.
func (s OperationState) Terminal() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Operation kinds.
const (
	KindInstall   = "install"
	KindUpgrade   = "upgrade"
	KindScale     = "scale"
	KindRollback  = "rollback"
	KindUninstall = "uninstall"
)

// Operation is an asynchronous KDU operation, as returned by every mutating KDU call (202 Accepted) and by
// /v1/operations.
type Operation struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Project string `json:"project,omitempty"`
	// Target is the release the operation acts on.
	Target kdu.Target     `json:"target"`
	State  OperationState `json:"state"`
	// Progress is the latest readiness report while the operation waits.
	Progress *kdu.Progress `json:"progress,omitempty"`
	// Error says why the operation failed or was cancelled.
	Error *Error `json:"error,omitempty"`
	// Revision is the release revision the operation produced.
	Revision int `json:"revision,omitempty"`
	// Release is the resulting release (on success; for uninstall, the release as it was).
	Release *kdu.Release `json:"release,omitempty"`
	// CancelRequested is true once a cancel was asked for a running operation.
	CancelRequested bool `json:"cancelRequested,omitempty"`
	// Attempts counts how many times a replica started the operation (more than one after a takeover).
	Attempts int `json:"attempts"`
	// Version increases with every change; events carry it so that clients can ignore stale ones.
	Version    int64      `json:"version"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

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

// StatusTarget says where an operation's status is written while it runs. Exactly one field is set.
type StatusTarget struct {
	// Mongo is an OSM-style MongoDB location (spec §2): kdu $sets <path>.operation, <path>.status,
	// <path>.detailed-status and <path>.status-time in the one document matching Filter in Collection.
	Mongo *MongoTarget `json:"mongo,omitempty"`
	// Webhook receives a POST of the Operation JSON on each change.
	Webhook *WebhookTarget `json:"webhook,omitempty"`
}

// MongoTarget is OSM's db_dict: {collection, filter, path}.
type MongoTarget struct {
	Collection string         `json:"collection"`
	Filter     map[string]any `json:"filter"`
	Path       string         `json:"path"`
}

// WebhookTarget is an HTTP(S) endpoint receiving operation updates.
type WebhookTarget struct {
	URL string `json:"url"`
	// Headers are sent with every POST (for example Authorization). They are secrets: encrypted at rest and
	// never returned.
	Headers map[string]string `json:"headers,omitempty"`
}
