package api

import "time"

// ReleaseState is the state of one release revision as Helm records it.
type ReleaseState string

// The release states Helm records.
const (
	ReleaseUnknown         ReleaseState = "unknown"
	ReleaseDeployed        ReleaseState = "deployed"
	ReleaseUninstalled     ReleaseState = "uninstalled"
	ReleaseSuperseded      ReleaseState = "superseded"
	ReleaseFailed          ReleaseState = "failed"
	ReleaseUninstalling    ReleaseState = "uninstalling"
	ReleasePendingInstall  ReleaseState = "pending-install"
	ReleasePendingUpgrade  ReleaseState = "pending-upgrade"
	ReleasePendingRollback ReleaseState = "pending-rollback"
)

// ReleaseStates lists every state Helm records.
var ReleaseStates = []ReleaseState{ReleaseUnknown, ReleaseDeployed, ReleaseUninstalled, ReleaseSuperseded,
	ReleaseFailed, ReleaseUninstalling, ReleasePendingInstall, ReleasePendingUpgrade, ReleasePendingRollback}

// IsPending reports whether the state is one of the pending-* states, which Helm uses as its release lock.
func (s ReleaseState) IsPending() bool {
	return s == ReleasePendingInstall || s == ReleasePendingUpgrade || s == ReleasePendingRollback
}

// Valid reports whether s is a state Helm records.
func (s ReleaseState) Valid() bool {
	for _, v := range ReleaseStates {
		if s == v {
			return true
		}
	}
	return false
}

// Release is one revision of a release as recorded in Helm's storage.
type Release struct {
	Name          string       `json:"name"`
	Namespace     string       `json:"namespace"`
	Revision      int          `json:"revision"`
	State         ReleaseState `json:"status"`
	Description   string       `json:"description"`
	Chart         string       `json:"chart"` // "<name>-<version>", as helm list prints it
	ChartName     string       `json:"chartName"`
	ChartVersion  string       `json:"chartVersion"`
	AppVersion    string       `json:"appVersion"`
	FirstDeployed time.Time    `json:"firstDeployed"`
	Updated       time.Time    `json:"updated"`
	// PodLabels and NodeSelector are the release's post-render settings: added to every workload's pod template
	// by kdu (see the install request's podLabels).
	PodLabels    map[string]string `json:"podLabels,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
}

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
	// Manifest is the release's objects as Helm recorded them, only with ?manifest=true (N2VC's status_kdu
	// returned it). Secrets' data values are "***" unless the caller is an admin.
	Manifest []map[string]any `json:"manifest,omitempty"`
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

// Progress reports readiness while an operation waits.
type Progress struct {
	Phase    string       `json:"phase"` // e.g. "applying", "waiting", "rolling back"
	Revision int          `json:"revision,omitempty"`
	State    ReleaseState `json:"state,omitempty"`
	Ready    int          `json:"ready"`
	Total    int          `json:"total"`
	NotReady []Resource   `json:"notReady,omitempty"`
}

// Service is a Service object of a release (docs/n2vc.md#get_services), read from the cluster.
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
