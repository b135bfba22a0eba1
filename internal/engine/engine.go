// Package engine is the boundary between kdu's library and its engines (Helm 3 through the Helm v4 SDK in
// engine/helm, Helm 2 through Tiller's gRPC API in engine/tiller): the Engine interface, the requests it
// accepts and the sentinel errors engines wrap. Results are the API's own types (api.Release, api.Status, ...):
// no engine leaks SDK types past this boundary.
package engine

import (
	"context"
	"errors"
	"time"

	"github.com/kdu-io/kdu/api"
)

// Sentinel errors. Engines wrap them with context (which release, which cluster) using %w.
var (
	// ErrReleaseNotFound means no release of that name exists (in the namespace, when one was given).
	ErrReleaseNotFound = errors.New("release not found")
	// ErrNamespaceNotFound means the target namespace does not exist and the operation may not create it.
	ErrNamespaceNotFound = errors.New("namespace not found")
	// ErrReleaseExists means an install named a release that already exists on the cluster.
	ErrReleaseExists = errors.New("release already exists")
	// ErrAmbiguousRelease means a release name exists in several namespaces and no namespace was given.
	ErrAmbiguousRelease = errors.New("release name exists in several namespaces")
	// ErrPending means the release is in a pending-* state owned by another operation.
	ErrPending = api.ErrPending
	// ErrUnsupported is returned by operations a Helm KDU does not support (exec-primitive, charm upgrade).
	ErrUnsupported = api.ErrUnsupported
	// ErrInvalidChart means a chart could not be loaded or is not a valid chart.
	ErrInvalidChart = errors.New("invalid chart")
	// ErrChartNotFound means the chart (or the requested version) does not exist in its source.
	ErrChartNotFound = errors.New("chart not found")
	// ErrSourceAuth means a chart repository or registry refused the credentials (401/403).
	ErrSourceAuth = api.ErrRepoAuth
	// ErrSourceUnreachable means a chart repository or registry could not be reached or failed (5xx, TLS).
	ErrSourceUnreachable = api.ErrRepoUnreachable
	// ErrVerification means a chart asked to be verified is unsigned, wrongly signed or not pinned.
	ErrVerification = api.ErrVerification
	// ErrTillerUnavailable means a Helm 2 cluster's Tiller could not be reached (no running pod, no answer).
	ErrTillerUnavailable = errors.New("tiller unavailable")
	// ErrUnreachable means the cluster's API server could not be reached.
	ErrUnreachable = errors.New("kubernetes API server unreachable")
	// ErrForbidden means the cluster's credentials may not do what the operation needs (a 403).
	ErrForbidden = errors.New("forbidden by the cluster")
	// ErrTimeout means an operation's wait for readiness ran out of time.
	ErrTimeout = api.ErrTimeout
)

// The API's result types, which every engine returns.
type (
	State           = api.ReleaseState
	Release         = api.Release
	Resource        = api.Resource
	Status          = api.Status
	Service         = api.Service
	ServicePort     = api.ServicePort
	ChartMetadata   = api.ChartMetadata
	ChartInfo       = api.ChartInfo
	ChartDependency = api.ChartDependency
	Progress        = api.Progress
)

// The release states Helm records.
const (
	StateUnknown         = api.ReleaseUnknown
	StateDeployed        = api.ReleaseDeployed
	StateUninstalled     = api.ReleaseUninstalled
	StateSuperseded      = api.ReleaseSuperseded
	StateFailed          = api.ReleaseFailed
	StateUninstalling    = api.ReleaseUninstalling
	StatePendingInstall  = api.ReleasePendingInstall
	StatePendingUpgrade  = api.ReleasePendingUpgrade
	StatePendingRollback = api.ReleasePendingRollback
)

// Key identifies a release on one cluster: Helm release names are unique per namespace.
type Key struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// KeyOf returns the key of a release.
func KeyOf(r *Release) Key { return Key{Namespace: r.Namespace, Name: r.Name} }

// String renders the key as namespace/name.
func (k Key) String() string { return k.Namespace + "/" + k.Name }

// Progress reports are sent by engines from their own goroutine, only when something changed; a ProgressFunc
// must not block.

// ProgressFunc receives progress updates. Nil means nobody listens.
type ProgressFunc func(Progress)

// ListOptions filters List. The zero value lists every release in every namespace in every state.
type ListOptions struct {
	Namespace string  // "" = all namespaces
	States    []State // empty = all states
}

// WaitOptions are shared by the mutating operations.
type WaitOptions struct {
	// Wait blocks until every resource is ready (kstatus) or Timeout passes.
	Wait bool
	// Atomic rolls back on failure: an install is uninstalled, an upgrade returns to the previous revision.
	// It implies Wait.
	Atomic bool
	// Timeout bounds each wait; zero means the engine default.
	Timeout time.Duration
	// Progress, if set, receives readiness updates while the operation runs.
	Progress ProgressFunc
	// Observe, if set, is told what the operation does to the release's history (see Observer).
	Observe Observer
}

// Observation is one thing an operation did to a release's recorded history.
type Observation struct {
	Event ObservedEvent
	// Revision is the revision concerned; with Base, 0 means there was no release.
	Revision int
	// State is the state recorded with the revision (Base, Write) or the state it had (Delete).
	State State
}

// ObservedEvent says what an Observation reports.
type ObservedEvent int

// Observed events.
const (
	// Base is the revision the operation starts from, reported once, before the operation changes anything.
	Base ObservedEvent = iota + 1
	// Write is a revision about to be created or updated in the release's history.
	Write
	// Delete is a revision removed from the release's history (an uninstall, or history trimming).
	Delete
)

// Observer receives Observations synchronously, in order, from the goroutine running the operation: Base once
// the caller's release lock is held and before anything changes, then a Write before each revision is created
// or updated (so a process that dies right after has already recorded it), and a Delete after each removal. An
// error from Base stops the operation before it acts; errors from the others are logged by the caller, since
// Helm's action cannot be stopped half-way.
type Observer func(Observation) error

// Notify sends o to the observer, if there is one.
func (f Observer) Notify(o Observation) error {
	if f == nil {
		return nil
	}
	return f(o)
}

// Chart is a loaded chart, opaque outside the engine that loaded it.
type Chart interface {
	Metadata() ChartMetadata
	// DefaultValues returns a deep copy of the chart's default values.
	DefaultValues() map[string]any
}

// PostRender are the post-render settings of an install or upgrade: labels added to every workload's pod
// template and a node selector merged into every pod spec (see internal/engine/postrender). In an upgrade, a
// nil map keeps the release's current setting and a non-nil one (empty included) replaces it.
type PostRender struct {
	PodLabels    map[string]string
	NodeSelector map[string]string
}

// Given reports whether the request sets either setting (an empty map included: it clears).
func (p PostRender) Given() bool { return p.PodLabels != nil || p.NodeSelector != nil }

// InstallRequest describes an install.
type InstallRequest struct {
	Name            string
	Namespace       string
	Chart           Chart
	Values          map[string]any
	CreateNamespace bool
	Description     string
	PostRender
	WaitOptions
}

// ValuesMode says how an upgrade combines new values with the release's current ones (docs/n2vc.md#upgrade).
type ValuesMode int

// Values modes in the precedence order of N2VC's upgrade (docs/n2vc.md#upgrade).
const (
	// ReuseValues merges the new values over the last release's user values (N2VC's default).
	ReuseValues ValuesMode = iota
	// ResetValues uses only the chart defaults and the new values.
	ResetValues
	// ResetThenReuseValues resets to the new chart's defaults, then merges the last user values and the new ones.
	ResetThenReuseValues
)

// UpgradeRequest describes an upgrade. A nil Chart upgrades with the chart of the current release.
type UpgradeRequest struct {
	Key
	Chart      Chart
	Values     map[string]any
	ValuesMode ValuesMode
	// ForceConflicts takes ownership of fields another field manager owns (server-side apply conflicts).
	ForceConflicts bool
	// ForceReplace replaces changed objects instead of patching them (Helm's --force-replace): what a patch
	// cannot change (an immutable field, a Service's type) is recreated. It implies owning every field.
	ForceReplace bool
	Description  string
	// Phase names the operation in progress reports ("scaling", "migrating"); "" is "upgrading".
	Phase string
	PostRender
	WaitOptions
}

// RollbackRequest describes a rollback. Revision 0 means the previous revision.
type RollbackRequest struct {
	Key
	Revision int
	WaitOptions
}

// UninstallRequest describes an uninstall.
type UninstallRequest struct {
	Key
	Wait    bool
	Timeout time.Duration
	// Observe, if set, is told what the uninstall does to the release's history (see Observer).
	Observe Observer
}

// Engine performs KDU operations on one cluster. Implementations are safe for concurrent use; callers
// serialise operations on one release (kdu holds a per-release lock around every mutating call).
type Engine interface {
	Install(ctx context.Context, req InstallRequest) (*Release, error)
	Upgrade(ctx context.Context, req UpgradeRequest) (*Release, error)
	Rollback(ctx context.Context, req RollbackRequest) (*Release, error)
	// Uninstall removes a release; it returns ErrReleaseNotFound when there is nothing to remove.
	Uninstall(ctx context.Context, req UninstallRequest) (*Release, error)
	// Unlock marks the newest revision of a release failed, with reason as its description, if it is in a
	// pending state (pending-install, pending-upgrade, pending-rollback) that no running operation owns: a
	// process that died mid-operation leaves it so, and Helm refuses every later operation until it changes.
	// It reports whether it changed anything.
	Unlock(ctx context.Context, key Key, reason string) (*Release, bool, error)

	// Find locates a release by name. With an empty namespace it searches every namespace and returns
	// ErrAmbiguousRelease if the name exists in more than one.
	Find(ctx context.Context, namespace, name string) (*Release, error)
	Status(ctx context.Context, key Key) (*Status, error)
	List(ctx context.Context, opts ListOptions) ([]Release, error)
	History(ctx context.Context, key Key) ([]Release, error)
	// Values returns the user-supplied values of the current revision, or every computed value if all is set.
	Values(ctx context.Context, key Key, all bool) (map[string]any, error)
	// ChartDefaults returns the default values recorded with the chart of the current revision.
	ChartDefaults(ctx context.Context, key Key) (map[string]any, error)
	Services(ctx context.Context, key Key) ([]Service, error)
	// Manifest returns the rendered manifest of the newest revision (hooks excluded), as Helm recorded it.
	Manifest(ctx context.Context, key Key) (string, error)
}
