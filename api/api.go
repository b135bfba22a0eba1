// Package api holds the wire types of kdu's REST API (/v1): what the service sends and receives as JSON, the
// request defaults, and the error codes clients switch on. It is a leaf: it imports only the standard
// library, so a program that only talks to a kdu server (package client) links nothing else of kdu.
//
// The library (package kdu) and its engines use these types for their results — kdu.Release is api.Release —
// so the REST contract is defined here, once, and an internal change cannot alter it silently.
package api

import "time"

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
	KindMigrate   = "migrate"
)

// Target addresses a KDU: a release on a cluster. Cluster may use the legacy "namespace:cluster_id" form; its
// namespace part then selects the namespace unless Namespace is set. With no namespace at all, the release is
// looked up by name across the cluster's namespaces.
type Target struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Operation is an asynchronous KDU operation, as returned by every mutating KDU call (202 Accepted) and by
// /v1/operations.
type Operation struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Project string `json:"project,omitempty"`
	// Target is the release the operation acts on.
	Target Target         `json:"target"`
	State  OperationState `json:"state"`
	// Progress is the latest readiness report while the operation waits.
	Progress *Progress `json:"progress,omitempty"`
	// Error says why the operation failed or was cancelled.
	Error *Error `json:"error,omitempty"`
	// Revision is the release revision the operation produced.
	Revision int `json:"revision,omitempty"`
	// Release is the resulting release (on success; for uninstall, the release as it was).
	Release *Release `json:"release,omitempty"`
	// StatusTargets says, once the operation has ended, what became of its final status write to each of its
	// status targets, in the request's order. The end is reported only after every target was written or the
	// write definitely failed.
	StatusTargets []TargetResult `json:"statusTargets,omitempty"`
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

// TargetResult is what became of an operation's final status write to one status target.
type TargetResult struct {
	// Kind is "mongo" or "webhook".
	Kind string `json:"kind"`
	// Delivered is true when the final status was written.
	Delivered bool `json:"delivered"`
	// Error says why it was not (it names no secret: no URL path, query, header or MongoDB URI).
	Error string `json:"error,omitempty"`
}

// StatusTarget says where an operation's status is written while it runs. Exactly one field is set.
type StatusTarget struct {
	// Mongo is an OSM-style MongoDB location (docs/n2vc.md#status-reporting): kdu $sets <path>.operation,
	// <path>.status, <path>.detailed-status and <path>.status-time in the one document matching Filter in
	// Collection.
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

// List wraps list responses: {"items": [...]}. Operations lists carry a cursor for the next page.
type List[T any] struct {
	Items []T `json:"items"`
	// Next, if set, is the value of ?before= for the next page.
	Next string `json:"next,omitempty"`
}

// Health is the body of /healthz and /readyz.
type Health struct {
	Status string `json:"status"`
}

// ScaleCount is the response of GET /v1/clusters/{cluster}/kdus/{name}/scale.
type ScaleCount struct {
	Resource string `json:"resource"`
	Replicas int    `json:"replicas"`
}
