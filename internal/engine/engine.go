// Package engine holds kdu's engine-neutral view of a Helm release: the types every engine (Helm 3 through the
// Helm v4 SDK today, Tiller for Helm 2 later) returns, the requests it accepts and the sentinel errors callers
// branch on. No package below engine leaks SDK types past this boundary.
package engine

import (
	"context"
	"errors"
	"time"
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
	ErrPending = errors.New("release has an operation in progress")
	// ErrUnsupported is returned by operations a Helm KDU does not support (exec-primitive, charm upgrade).
	ErrUnsupported = errors.New("unsupported for Helm KDUs")
	// ErrInvalidChart means a chart could not be loaded or is not a valid chart.
	ErrInvalidChart = errors.New("invalid chart")
	// ErrChartNotFound means the chart (or the requested version) does not exist in its source.
	ErrChartNotFound = errors.New("chart not found")
	// ErrSourceAuth means a chart repository or registry refused the credentials (401/403).
	ErrSourceAuth = errors.New("chart source refused the credentials")
	// ErrSourceUnreachable means a chart repository or registry could not be reached or failed (5xx, TLS).
	ErrSourceUnreachable = errors.New("chart source unreachable")
	// ErrVerification means a chart asked to be verified is unsigned, wrongly signed or not pinned.
	ErrVerification = errors.New("chart verification failed")
	// ErrTillerUnavailable means a Helm 2 cluster's Tiller could not be reached (no running pod, no answer).
	ErrTillerUnavailable = errors.New("tiller unavailable")
	// ErrUnreachable means the cluster's API server could not be reached.
	ErrUnreachable = errors.New("kubernetes API server unreachable")
	// ErrForbidden means the cluster's credentials may not do what the operation needs (a 403).
	ErrForbidden = errors.New("forbidden by the cluster")
	// ErrTimeout means an operation's wait for readiness ran out of time.
	ErrTimeout = errors.New("timed out waiting for resources")
)

// State is the state of one release revision as Helm records it.
type State string

// The release states Helm records.
const (
	StateUnknown         State = "unknown"
	StateDeployed        State = "deployed"
	StateUninstalled     State = "uninstalled"
	StateSuperseded      State = "superseded"
	StateFailed          State = "failed"
	StateUninstalling    State = "uninstalling"
	StatePendingInstall  State = "pending-install"
	StatePendingUpgrade  State = "pending-upgrade"
	StatePendingRollback State = "pending-rollback"
)

// IsPending reports whether the state is one of the pending-* states, which Helm uses as its release lock.
func (s State) IsPending() bool {
	return s == StatePendingInstall || s == StatePendingUpgrade || s == StatePendingRollback
}

// Release is one revision of a release as recorded in Helm's storage.
type Release struct {
	Name          string    `json:"name"`
	Namespace     string    `json:"namespace"`
	Revision      int       `json:"revision"`
	State         State     `json:"status"`
	Description   string    `json:"description"`
	Chart         string    `json:"chart"` // "<name>-<version>", as helm list prints it
	ChartName     string    `json:"chartName"`
	ChartVersion  string    `json:"chartVersion"`
	AppVersion    string    `json:"appVersion"`
	FirstDeployed time.Time `json:"firstDeployed"`
	Updated       time.Time `json:"updated"`
}

// Key identifies a release on a cluster.
func (r *Release) Key() Key { return Key{Namespace: r.Namespace, Name: r.Name} }

// Key identifies a release on one cluster: Helm release names are unique per namespace.
type Key struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// String renders the key as namespace/name.
func (k Key) String() string { return k.Namespace + "/" + k.Name }

// Resource is one object of a release's manifest with its observed readiness (kstatus).
type Resource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	// Status is the kstatus result: Current, InProgress, Failed, Terminating, NotFound or Unknown.
	Status  string `json:"status"`
	Ready   bool   `json:"ready"`
	Message string `json:"message,omitempty"`
}

// ID renders the resource as Kind/namespace/name (Kind/name for cluster-scoped objects).
func (r Resource) ID() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Status is a release's current revision together with the readiness of every resource in its manifest.
type Status struct {
	Release
	Notes     string     `json:"notes,omitempty"`
	Resources []Resource `json:"resources"`
}

// ReadyCount returns how many resources are ready and how many there are.
func (s *Status) ReadyCount() (ready, total int) {
	for _, r := range s.Resources {
		if r.Ready {
			ready++
		}
	}
	return ready, len(s.Resources)
}

// Service is a Service object of a release (spec §4.11), read from the cluster.
type Service struct {
	Name      string        `json:"name"`
	Namespace string        `json:"namespace"`
	Type      string        `json:"type"`
	ClusterIP string        `json:"clusterIP,omitempty"`
	Ports     []ServicePort `json:"ports"`
	// ExternalIPs are the load balancer ingress IPs (empty while a load balancer is pending).
	ExternalIPs []string `json:"externalIPs,omitempty"`
	// Hostnames are the load balancer ingress hostnames.
	Hostnames []string `json:"hostnames,omitempty"`
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name       string `json:"name,omitempty"`
	Protocol   string `json:"protocol"`
	Port       int32  `json:"port"`
	TargetPort string `json:"targetPort,omitempty"`
	NodePort   int32  `json:"nodePort,omitempty"`
}

// ChartMetadata is the descriptive part of a chart.
type ChartMetadata struct {
	Name        string   `json:"name"`
	Version     string   `json:"version"`
	AppVersion  string   `json:"appVersion,omitempty"`
	Description string   `json:"description,omitempty"`
	Type        string   `json:"type,omitempty"`
	APIVersion  string   `json:"apiVersion"`
	KubeVersion string   `json:"kubeVersion,omitempty"`
	Home        string   `json:"home,omitempty"`
	Sources     []string `json:"sources,omitempty"`
	Keywords    []string `json:"keywords,omitempty"`
	Deprecated  bool     `json:"deprecated,omitempty"`
}

// ChartInfo is what `show` returns. Values is the chart's default values file verbatim (YAML); Schema is its
// values.schema.json verbatim (JSON), if it has one.
type ChartInfo struct {
	Metadata ChartMetadata `json:"metadata"`
	Values   string        `json:"values,omitempty"`
	Readme   string        `json:"readme,omitempty"`
	Schema   string        `json:"schema,omitempty"`
	// Digest is the sha256 digest of the chart archive ("sha256:<hex>"), when it was loaded from one.
	Digest string `json:"digest,omitempty"`
	// Dependencies lists the chart's subcharts as declared in Chart.yaml.
	Dependencies []ChartDependency `json:"dependencies,omitempty"`
}

// ChartDependency is one dependency declared by a chart.
type ChartDependency struct {
	Name       string `json:"name"`
	Version    string `json:"version,omitempty"`
	Repository string `json:"repository,omitempty"`
	Condition  string `json:"condition,omitempty"`
	Alias      string `json:"alias,omitempty"`
}

// Progress reports readiness while an operation waits. Engines call a ProgressFunc from their own goroutine,
// only when something changed; it must not block.
type Progress struct {
	Phase    string     `json:"phase"` // e.g. "applying", "waiting", "rolling back"
	Revision int        `json:"revision,omitempty"`
	State    State      `json:"state,omitempty"`
	Ready    int        `json:"ready"`
	Total    int        `json:"total"`
	NotReady []Resource `json:"notReady,omitempty"`
}

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
}

// Chart is a loaded chart, opaque outside the engine that loaded it.
type Chart interface {
	Metadata() ChartMetadata
	// DefaultValues returns a deep copy of the chart's default values.
	DefaultValues() map[string]any
}

// InstallRequest describes an install.
type InstallRequest struct {
	Name            string
	Namespace       string
	Chart           Chart
	Values          map[string]any
	CreateNamespace bool
	Description     string
	WaitOptions
}

// ValuesMode says how an upgrade combines new values with the release's current ones (spec §4.5).
type ValuesMode int

// Values modes in the precedence order of spec §4.5.
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
	Description    string
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
}
