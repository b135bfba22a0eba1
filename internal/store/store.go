// Package store defines kdu's persistence interface: registered clusters and their chart repositories, with
// secrets (kubeconfigs, repository passwords) held in plaintext in memory and encrypted at rest by each
// implementation.
//
// Implementations live in sub-packages: store/sqlstore holds the SQL implementation, and store/sqlite (the
// embedded default) and store/postgres are its dialects. Every implementation must pass the conformance suite in
// store/storetest.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Sentinel errors. Implementations wrap them with %w and say what and which key was involved, so callers test
// with errors.Is.
var (
	// ErrNotFound means the cluster or repository does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a cluster or repository with that key already exists.
	ErrExists = errors.New("already exists")
	// ErrInvalid means an argument cannot be stored: an empty key, or a string with a NUL byte or invalid UTF-8
	// (which portable SQL back ends cannot hold).
	ErrInvalid = errors.New("invalid argument")
)

// Cluster flavours.
const (
	// FlavourHelm3 selects the Helm v3+ engine. It is what an empty Flavour is stored as.
	FlavourHelm3 = "helm3"
	// FlavourHelm2 selects the Helm v2 (Tiller) engine.
	FlavourHelm2 = "helm2"
)

// Repository types.
const (
	// RepoTypeHTTP is a classic chart repository with an index.yaml. It is what an empty Type is stored as.
	RepoTypeHTTP = "http"
	// RepoTypeOCI is an OCI registry.
	RepoTypeOCI = "oci"
)

// Cluster is a registered Kubernetes cluster.
type Cluster struct {
	// ID is the cluster's key. The caller validates it; the store treats it as an opaque string and never as a
	// file path.
	ID string
	// Kubeconfig is the kubeconfig file content, in plaintext in memory and encrypted at rest.
	Kubeconfig []byte
	// Context is the kubeconfig context to use; "" means its current-context.
	Context string
	// Namespace is the default namespace for KDUs on this cluster.
	Namespace string
	// Flavour is FlavourHelm3 or FlavourHelm2; "" is stored as FlavourHelm3.
	Flavour string
	// Server is the API server URL, for information only.
	Server string
	// Version is the server version seen at registration or at the last check, such as "v1.37.2".
	Version string
	// Project is the owning project; "" means none.
	Project string
	// TillerNamespace is the namespace where Tiller runs, for FlavourHelm2 clusters; "" for FlavourHelm3. The
	// store keeps it as given and fills in no default.
	TillerNamespace string
	// TillerAddress is the explicit host:port of Tiller's gRPC endpoint; "" means port-forward to the Tiller pod.
	TillerAddress string
	// InstalledSW records that kdu installed Tiller itself when the cluster was registered (N2VC's
	// installed_sw), so that a reset may remove it again.
	InstalledSW bool
	// CreatedAt and UpdatedAt are set by the store (UTC, microsecond precision); values passed in are ignored.
	CreatedAt, UpdatedAt time.Time
}

// Clone returns a deep copy of c.
func (c Cluster) Clone() Cluster {
	c.Kubeconfig = cloneBytes(c.Kubeconfig)
	return c
}

// Repo is a chart repository registered on one cluster, or on a project and shared by the project's clusters.
// A repository with a ClusterID is a cluster repository (its Project is ignored and stored as ""); one with an
// empty ClusterID belongs to Project ("" is the default project of clusters registered without one).
type Repo struct {
	// ClusterID is the ID of the cluster that owns the repository; "" for a project repository.
	ClusterID string
	// Project owns a project repository (ClusterID == "").
	Project string
	// Name is the repository's name, unique within its cluster or project.
	Name string
	// ExtID is the caller's identifier of the repository (such as OSM's k8srepo _id); "" means none.
	ExtID string
	// URL is the repository or registry URL.
	URL string
	// Type is RepoTypeHTTP or RepoTypeOCI; "" is stored as RepoTypeHTTP.
	Type string
	// Username is the login name; "" means anonymous.
	Username string
	// Password is the login secret, in plaintext in memory and encrypted at rest; nil means none.
	Password []byte
	// CACert is a PEM bundle of CAs trusted for the repository's TLS certificate; nil means the system pool.
	CACert []byte
	// CertPEM and KeyPEM are a TLS client certificate and its key (the key encrypted at rest); nil means none.
	CertPEM []byte
	KeyPEM  []byte
	// Keyring holds the PGP public keys that provenance files of the repository's charts must be signed with.
	Keyring []byte
	// InsecureSkipVerify disables TLS certificate verification.
	InsecureSkipVerify bool
	// PassCredentials sends the credentials to every host the repository's index points at, not only its own.
	PassCredentials bool
	// PlainHTTP allows an OCI registry to be reached over plain HTTP.
	PlainHTTP bool
	// CreatedAt and UpdatedAt are set by the store (UTC, microsecond precision); values passed in are ignored.
	CreatedAt, UpdatedAt time.Time
}

// IsProject reports whether r is a project repository.
func (r Repo) IsProject() bool { return r.ClusterID == "" }

// Clone returns a deep copy of r.
func (r Repo) Clone() Repo {
	r.Password = cloneBytes(r.Password)
	r.CACert = cloneBytes(r.CACert)
	r.CertPEM = cloneBytes(r.CertPEM)
	r.KeyPEM = cloneBytes(r.KeyPEM)
	r.Keyring = cloneBytes(r.Keyring)
	return r
}

// Store persists clusters and repositories. Implementations are safe for concurrent use. Values passed in and
// returned are copies: mutating them afterwards does not affect the store.
type Store interface {
	// CreateCluster stores a new cluster and returns it as stored (defaults and timestamps filled in). It fails
	// with ErrExists if the ID is taken.
	CreateCluster(ctx context.Context, c Cluster) (Cluster, error)
	// UpdateCluster replaces every field of an existing cluster except ID and CreatedAt, and returns it as
	// stored. It fails with ErrNotFound if there is no such cluster.
	UpdateCluster(ctx context.Context, c Cluster) (Cluster, error)
	// GetCluster returns one cluster, or ErrNotFound.
	GetCluster(ctx context.Context, id string) (Cluster, error)
	// ListClusters returns every cluster ordered by ID (byte-wise). No clusters gives an empty slice.
	ListClusters(ctx context.Context) ([]Cluster, error)
	// DeleteCluster deletes a cluster and all its repositories, or fails with ErrNotFound.
	DeleteCluster(ctx context.Context, id string) error

	// CreateRepo stores a new cluster repository (r.ClusterID set) or project repository (r.ClusterID empty) and
	// returns it as stored. It fails with ErrNotFound if the cluster does not exist and with ErrExists if the
	// cluster or project already has a repository of that name.
	CreateRepo(ctx context.Context, r Repo) (Repo, error)
	// UpdateRepo replaces every field of an existing cluster or project repository except ClusterID, Project,
	// Name and CreatedAt, and returns it as stored. It fails with ErrNotFound if there is no such repository.
	UpdateRepo(ctx context.Context, r Repo) (Repo, error)
	// GetRepo returns one repository, or ErrNotFound.
	GetRepo(ctx context.Context, clusterID, name string) (Repo, error)
	// ListRepos returns the repositories of one cluster ordered by name (byte-wise), or ErrNotFound if the
	// cluster does not exist. A cluster without repositories gives an empty slice.
	ListRepos(ctx context.Context, clusterID string) ([]Repo, error)
	// DeleteRepo deletes one repository, or fails with ErrNotFound.
	DeleteRepo(ctx context.Context, clusterID, name string) error

	// GetProjectRepo returns one project repository, or ErrNotFound. project may be "".
	GetProjectRepo(ctx context.Context, project, name string) (Repo, error)
	// ListProjectRepos returns the repositories of one project ordered by name (byte-wise); a project without
	// repositories (or unknown) gives an empty slice.
	ListProjectRepos(ctx context.Context, project string) ([]Repo, error)
	// DeleteProjectRepo deletes one project repository, or fails with ErrNotFound.
	DeleteProjectRepo(ctx context.Context, project, name string) error

	Operations

	// Close releases the store's resources. Calls made after Close fail.
	Close() error
}

// CheckKey reports whether s can be used as (part of) a key: non-empty, valid UTF-8 and free of NUL bytes. field
// names the argument in the error, which wraps ErrInvalid.
func CheckKey(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s is empty: %w", field, ErrInvalid)
	}
	return CheckText(field, s)
}

// CheckText reports whether s can be stored as text: valid UTF-8 and free of NUL bytes. field names the argument
// in the error, which wraps ErrInvalid.
func CheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8: %w", field, ErrInvalid)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("%s contains a NUL byte: %w", field, ErrInvalid)
		}
	}
	return nil
}

// Normalize checks every text field of c and fills in defaults (Flavour; TillerNamespace gets none). It is for
// implementations; the error wraps ErrInvalid and names the field.
func (c Cluster) Normalize() (Cluster, error) {
	if err := CheckKey("cluster id", c.ID); err != nil {
		return c, err
	}
	for _, f := range []struct{ name, v string }{
		{"cluster context", c.Context}, {"cluster namespace", c.Namespace}, {"cluster flavour", c.Flavour},
		{"cluster server", c.Server}, {"cluster version", c.Version}, {"cluster project", c.Project},
		{"cluster tiller namespace", c.TillerNamespace}, {"cluster tiller address", c.TillerAddress},
	} {
		if err := CheckText(f.name, f.v); err != nil {
			return c, fmt.Errorf("cluster %q: %w", c.ID, err)
		}
	}
	if c.Flavour == "" {
		c.Flavour = FlavourHelm3
	}
	return c, nil
}

// Normalize checks every text field of r and fills in defaults (Type). A cluster repository (ClusterID set)
// needs a valid ClusterID and has its Project cleared; a project repository (ClusterID "") may have an empty
// Project, which must still be valid text. Both need a Name. It is for implementations; the error wraps
// ErrInvalid and names the field.
func (r Repo) Normalize() (Repo, error) {
	owner := "project " + strconv.Quote(r.Project)
	if r.IsProject() {
		if err := CheckText("repo project", r.Project); err != nil {
			return r, err
		}
	} else {
		if err := CheckKey("repo cluster id", r.ClusterID); err != nil {
			return r, err
		}
		r.Project = ""
		owner = "cluster " + strconv.Quote(r.ClusterID)
	}
	if err := CheckKey("repo name", r.Name); err != nil {
		return r, fmt.Errorf("%s: %w", owner, err)
	}
	for _, f := range []struct{ name, v string }{
		{"repo ext id", r.ExtID}, {"repo url", r.URL}, {"repo type", r.Type}, {"repo username", r.Username},
	} {
		if err := CheckText(f.name, f.v); err != nil {
			return r, fmt.Errorf("%s repo %q: %w", owner, r.Name, err)
		}
	}
	if r.Type == "" {
		r.Type = RepoTypeHTTP
	}
	return r, nil
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// KubeconfigAAD is the additional authenticated data that binds a sealed kubeconfig to its cluster's row. All
// back ends use it, so ciphertexts can be copied between back ends but not between rows.
func KubeconfigAAD(clusterID string) []byte {
	return []byte("kdu/cluster/" + strconv.Quote(clusterID) + "/kubeconfig")
}

// RepoPasswordAAD is the additional authenticated data that binds a sealed cluster repository password to its
// row. The quoting keeps it unambiguous whatever characters the keys contain.
func RepoPasswordAAD(clusterID, name string) []byte {
	return []byte("kdu/repo/" + strconv.Quote(clusterID) + "/" + strconv.Quote(name) + "/password")
}

// RepoSecretAAD binds a sealed secret field ("password" or "key") of a cluster or project repository to its row.
// For a cluster repository's password it equals RepoPasswordAAD.
func RepoSecretAAD(r Repo, field string) []byte {
	if r.IsProject() {
		return []byte("kdu/project-repo/" + strconv.Quote(r.Project) + "/" + strconv.Quote(r.Name) + "/" + field)
	}
	return []byte("kdu/repo/" + strconv.Quote(r.ClusterID) + "/" + strconv.Quote(r.Name) + "/" + field)
}
