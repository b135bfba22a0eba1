package api

import "time"

// Cluster flavours.
const (
	FlavourHelm3 = "helm3" // releases managed by kdu through the Helm v4 SDK
	FlavourHelm2 = "helm2" // releases managed by a Tiller v2 server
)

// Cluster is a registered cluster as kdu shows it. It never carries the kubeconfig.
type Cluster struct {
	ID        string `json:"id"`
	Server    string `json:"server"`
	Context   string `json:"context"`
	Namespace string `json:"namespace"`
	Flavour   string `json:"flavour"`
	Version   string `json:"version"`
	// Project owns the cluster (the service's tokens are scoped to projects); "" means none.
	Project string `json:"project,omitempty"`
	// TillerNamespace and TillerAddress locate Tiller on a helm2 cluster (no address: port-forward to its pod).
	TillerNamespace string `json:"tillerNamespace,omitempty"`
	TillerAddress   string `json:"tillerAddress,omitempty"`
	// InstalledSW says kdu installed Tiller when it registered the cluster (N2VC's installed_sw).
	InstalledSW bool      `json:"installedSW,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Repository scopes: where a repository is registered.
const (
	ScopeCluster = "cluster" // registered on one cluster
	ScopeProject = "project" // registered on a project, shared by its clusters
	ScopeDefault = "default" // the server's stable repository
)

// Repository types.
const (
	RepoTypeHTTP = "http" // a chart repository with an index.yaml
	RepoTypeOCI  = "oci"  // an OCI registry
)

// Repo is a chart repository as kdu reports it. It never carries a secret: only whether one is set.
type Repo struct {
	// Cluster is set for a cluster repository, Project for a project repository.
	Cluster string `json:"cluster,omitempty"`
	Project string `json:"project,omitempty"`
	// Scope says where the repository is registered: ScopeCluster, ScopeProject or ScopeDefault.
	Scope string `json:"scope"`
	// ID is the caller's identifier of the repository (OSM's k8srepo _id), if it gave one.
	ID       string `json:"id,omitempty"`
	Name     string `json:"name"`
	URL      string `json:"url"`
	Type     string `json:"type"`
	Username string `json:"username,omitempty"`
	// HasPassword, HasCACert, HasClientCert and HasKeyring say which secrets and TLS material are set.
	HasPassword        bool      `json:"hasPassword,omitempty"`
	HasCACert          bool      `json:"hasCACert,omitempty"`
	HasClientCert      bool      `json:"hasClientCert,omitempty"`
	HasKeyring         bool      `json:"hasKeyring,omitempty"`
	InsecureSkipVerify bool      `json:"insecureSkipVerify,omitempty"`
	PassCredentials    bool      `json:"passCredentials,omitempty"`
	PlainHTTP          bool      `json:"plainHTTP,omitempty"`
	CreatedAt          time.Time `json:"createdAt"`
	UpdatedAt          time.Time `json:"updatedAt"`
}

// RepoUpdate is the outcome of refreshing one repository's index.
type RepoUpdate struct {
	Name     string `json:"name"`
	Scope    string `json:"scope"`
	Charts   int    `json:"charts"`
	Versions int    `json:"versions"`
	Error    string `json:"error,omitempty"`
}

// RepoChange names one repository that a synchronisation added, updated or removed: the caller's id (empty for
// a repository registered without one) and the name.
type RepoChange struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
}

// RepoSync reports what a synchronisation changed. Every list holds only the repositories it changed, each
// once.
type RepoSync struct {
	Added     []RepoChange `json:"added"`
	Updated   []RepoChange `json:"updated"`
	Removed   []RepoChange `json:"removed"`
	Unchanged int          `json:"unchanged"`
}

// Changed reports whether the synchronisation changed anything.
func (s *RepoSync) Changed() bool {
	return len(s.Added)+len(s.Updated)+len(s.Removed) > 0
}
