package api

import "time"

// Defaults of a request that leaves a field out. They follow N2VC: installs and upgrades are atomic and wait,
// an install creates its namespace, a rollback waits. The library's own zero values differ (no wait, not
// atomic); package client and the kdu CLI always send these fields explicitly.
const (
	DefaultAtomic          = true
	DefaultWait            = true
	DefaultCreateNamespace = true
	// DefaultTimeout bounds each wait of an install, upgrade, rollback or uninstall that gives no timeout.
	DefaultTimeout = 5 * time.Minute // N2VC's 300 s
	// DefaultScaleTimeout bounds the wait of a scale that gives no timeout.
	DefaultScaleTimeout = 30 * time.Minute
)

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// Duration is a time.Duration written as a Go duration string in JSON ("90s", "5m"). A JSON number is read
// as seconds, as N2VC's timeouts are.
type Duration time.Duration

// ValuesFile is one values document (YAML or JSON), as helm's -f gives it.
type ValuesFile struct {
	// Name identifies the document in errors (for example the file name it came from).
	Name    string `json:"name"`
	Content string `json:"content"`
}

// Values are the value sources of an install or upgrade, merged in this order (later wins): Files, Values,
// Params, Set, SetString.
type Values struct {
	// Files are values documents, as given with -f.
	Files []ValuesFile `json:"valuesFiles,omitempty"`
	// Values is a values object.
	Values map[string]any `json:"values,omitempty"`
	// Params are OSM-style parameters (docs/n2vc.md#params-and-values): literal top-level keys; a string value
	// starting with "!!yaml " is parsed as YAML.
	Params map[string]any `json:"params,omitempty"`
	// Set and SetString are helm --set / --set-string expressions.
	Set       []string `json:"set,omitempty"`
	SetString []string `json:"setString,omitempty"`
}

// Wait configures how a mutating operation waits for readiness.
type Wait struct {
	// Atomic rolls back on failure (an install is uninstalled, an upgrade returns to the previous revision)
	// and implies Wait. Default true, as N2VC.
	Atomic *bool `json:"atomic,omitempty"`
	// Wait blocks the operation until every object is ready or Timeout passes. Default true.
	Wait *bool `json:"wait,omitempty"`
	// Timeout bounds the wait: "5m" (default; 30m for scale).
	Timeout *Duration `json:"timeout,omitempty"`
}

// IsAtomic reports whether the operation rolls back on failure, DefaultAtomic if the request does not say.
func (w Wait) IsAtomic() bool { return boolOr(w.Atomic, DefaultAtomic) }

// Waits reports whether the operation waits for readiness, DefaultWait if the request does not say.
func (w Wait) Waits() bool { return boolOr(w.Wait, DefaultWait) }

// ChartSource names a chart: a reference (repo/chart[:version], https://…/chart.tgz), or an uploaded .tgz.
type ChartSource struct {
	Chart   string `json:"chart,omitempty"`
	Version string `json:"version,omitempty"`
	RepoURL string `json:"repoUrl,omitempty"`
	// ChartArchive is a chart .tgz (base64 in JSON), for charts that live with the client.
	ChartArchive []byte `json:"chartArchive,omitempty"`
	// Verify refuses a chart that does not verify: a signed provenance file for repository and URL charts, a
	// digest (@sha256:…) or signed provenance layer for OCI charts.
	Verify bool `json:"verify,omitempty"`
}

// Common carries what every mutating KDU request may add.
type Common struct {
	// StatusTargets receive the operation's status while it runs (docs/n2vc.md#status-reporting).
	StatusTargets []StatusTarget `json:"statusTargets,omitempty"`
}

// InstallRequest is the body of POST /v1/clusters/{cluster}/kdus.
type InstallRequest struct {
	// Name is the release name; "" generates one from the chart (docs/n2vc.md#generate_kdu_instance_name).
	Name string `json:"name,omitempty"`
	ChartSource
	// Namespace defaults to the cluster's default namespace.
	Namespace string `json:"namespace,omitempty"`
	// CreateNamespace creates the namespace if missing. Default true, as N2VC.
	CreateNamespace *bool  `json:"createNamespace,omitempty"`
	Description     string `json:"description,omitempty"`
	Values
	PostRender
	Wait
	Common
}

// PostRender are a release's post-render settings, on install, upgrade and scale: podLabels are added to the
// pod template (and the metadata) of every workload of the chart, hooks included, and nodeSelector is merged
// into every pod spec; on the same key they win over the chart's own. Keys and values are Kubernetes label
// keys and values. They belong to the release: an upgrade or scale that leaves a field out keeps the
// release's current setting, and an empty object clears it. Helm 2 clusters refuse them (unsupported).
type PostRender struct {
	PodLabels    map[string]string `json:"podLabels,omitzero"`
	NodeSelector map[string]string `json:"nodeSelector,omitzero"`
}

// CreatesNamespace reports whether a missing namespace is created, DefaultCreateNamespace if the request does
// not say.
func (r InstallRequest) CreatesNamespace() bool {
	return boolOr(r.CreateNamespace, DefaultCreateNamespace)
}

// UpgradeRequest is the body of POST /v1/clusters/{cluster}/kdus/{name}:upgrade.
type UpgradeRequest struct {
	Namespace string `json:"namespace,omitempty"`
	// ChartSource is the chart to upgrade to; empty keeps the release's chart.
	ChartSource
	// ValuesMode is "reuse" (default), "reset" or "reset-then-reuse".
	ValuesMode     string `json:"valuesMode,omitempty"`
	ForceConflicts bool   `json:"forceConflicts,omitempty"`
	// ForceReplace replaces changed objects instead of patching them (Helm's --force-replace, N2VC's force):
	// what a patch may not change is recreated. It owns every field, so forceConflicts is moot with it.
	ForceReplace bool   `json:"forceReplace,omitempty"`
	Description  string `json:"description,omitempty"`
	Values
	PostRender
	Wait
	Common
}

// ScaleRequest is the body of POST /v1/clusters/{cluster}/kdus/{name}:scale.
type ScaleRequest struct {
	Namespace string `json:"namespace,omitempty"`
	Replicas  *int   `json:"replicas"`
	// Resource names the values key of the resource to scale; "" is the top level.
	Resource string `json:"resource,omitempty"`
	// ForceReplace replaces changed objects instead of patching them (see UpgradeRequest).
	ForceReplace bool `json:"forceReplace,omitempty"`
	PostRender
	Wait
	Common
}

// GenerateNameRequest is the body of POST /v1/clusters/{cluster}/kdus:generateName.
type GenerateNameRequest struct {
	// Chart is the chart reference (N2VC's kdu_model) the name is derived from.
	Chart string `json:"chart"`
}

// GeneratedName is the answer of POST /v1/clusters/{cluster}/kdus:generateName: N2VC's format, DNS-1123, unused
// on the cluster at the time of the call.
type GeneratedName struct {
	Name string `json:"name"`
}

// PrimitiveRequest is the body of POST /v1/clusters/{cluster}/kdus/{name}:execPrimitive. Helm KDUs support no
// primitives: the answer is always the unsupported error, with N2VC's text.
type PrimitiveRequest struct {
	Namespace string         `json:"namespace,omitempty"`
	Primitive string         `json:"primitive"`
	Params    map[string]any `json:"params,omitempty"`
}

// MigrateRequest is the body of POST /v1/clusters/{cluster}/kdus/{name}:migrate: an atomic upgrade of the
// release's current chart and values with a new nodeSelector and forceReplace (docs/n2vc.md#migrate).
type MigrateRequest struct {
	Namespace string `json:"namespace,omitempty"`
	// NodeSelector is required: the labels of the nodes to move the release to.
	NodeSelector map[string]string `json:"nodeSelector"`
	// Timeout bounds the wait for readiness (a migrate always waits and is atomic).
	Timeout *Duration `json:"timeout,omitempty"`
	Common
}

// RollbackRequest is the body of POST /v1/clusters/{cluster}/kdus/{name}:rollback.
type RollbackRequest struct {
	Namespace string `json:"namespace,omitempty"`
	// Revision to return to; 0 is the previous one.
	Revision int       `json:"revision,omitempty"`
	Wait     *bool     `json:"wait,omitempty"`
	Timeout  *Duration `json:"timeout,omitempty"`
	Common
}

// Waits reports whether the rollback waits for readiness, DefaultWait if the request does not say.
func (r RollbackRequest) Waits() bool { return boolOr(r.Wait, DefaultWait) }

// UninstallRequest is the (optional) body of DELETE /v1/clusters/{cluster}/kdus/{name}.
type UninstallRequest struct {
	Namespace string    `json:"namespace,omitempty"`
	Wait      bool      `json:"wait,omitempty"`
	Timeout   *Duration `json:"timeout,omitempty"`
	Common
}

// ClusterRequest is the body of POST /v1/clusters.
type ClusterRequest struct {
	ID string `json:"id"`
	// Kubeconfig is the kubeconfig file content (self-contained: no file references or exec plugins). It is
	// encrypted at rest and never returned.
	Kubeconfig string `json:"kubeconfig"`
	Context    string `json:"context,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	// Project owns the cluster; a token scoped to one project defaults to it.
	Project string `json:"project,omitempty"`
	// Flavour is "helm3" (default: releases managed by kdu) or "helm2" (releases managed by a Tiller v2
	// server). On replace, the registered cluster's flavour and Tiller settings are kept.
	Flavour string `json:"flavour,omitempty"`
	// TillerNamespace is where Tiller runs on a helm2 cluster (default kube-system).
	TillerNamespace string `json:"tillerNamespace,omitempty"`
	// TillerAddress is Tiller's gRPC address (host:port) on a helm2 cluster, when it is reachable directly:
	// Tiller must answer there. Without it kdu port-forwards to the Tiller pod, and installs Tiller in
	// TillerNamespace if it is absent.
	TillerAddress string `json:"tillerAddress,omitempty"`
	// Replace re-registers an existing id with new credentials.
	Replace bool `json:"replace,omitempty"`
}

// RepoRequest is the body of POST /v1/clusters/{cluster}/repos and /v1/projects/{project}/repos, and one entry
// of a RepoSyncRequest.
type RepoRequest struct {
	// ID is the caller's identifier of the repository (OSM's k8srepo _id), reported back by repos:sync.
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	// URL is http(s)://… for an HTTP repository, oci://host[:port][/path] for an OCI registry.
	URL string `json:"url"`
	// Type is "http" or "oci"; empty takes it from the URL's scheme.
	Type     string `json:"type,omitempty"`
	Username string `json:"username,omitempty"`
	// Password is encrypted at rest and never returned.
	Password string `json:"password,omitempty"`
	// CACert is a PEM bundle of the CAs that sign the repository's certificate.
	CACert string `json:"caCert,omitempty"`
	// ClientCert and ClientKey (PEM) authenticate kdu to repositories that require mutual TLS. The key is
	// encrypted at rest and never returned.
	ClientCert string `json:"clientCert,omitempty"`
	ClientKey  string `json:"clientKey,omitempty"`
	// InsecureSkipVerify skips verification of the repository's TLS certificate.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// PassCredentials sends the credentials to every host the index points at, not only the repository's.
	PassCredentials bool `json:"passCredentials,omitempty"`
	// PlainHTTP lets an OCI registry be reached over plain HTTP.
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// Keyring holds ASCII-armored PGP public keys that the repository's charts are signed with (for verify).
	Keyring string `json:"keyring,omitempty"`
}

// RepoSyncRequest is the body of POST /v1/clusters/{cluster}/repos:sync: the cluster's desired repositories.
type RepoSyncRequest struct {
	Repos []RepoRequest `json:"repos"`
}

// RepoUpdateRequest is the (optional) body of POST /v1/clusters/{cluster}/repos:update.
type RepoUpdateRequest struct {
	// Names selects repositories; empty updates all.
	Names []string `json:"names,omitempty"`
}

// ShowRequest is the body of POST /v1/charts:show.
type ShowRequest struct {
	// Cluster resolves repo/chart references against that cluster's repositories.
	Cluster string `json:"cluster,omitempty"`
	ChartSource
}
