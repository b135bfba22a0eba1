package kdu

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/kdu-io/kdu/internal/engine/helm"
	"github.com/kdu-io/kdu/internal/naming"
	"github.com/kdu-io/kdu/internal/store"
)

// Repo is a chart repository registered on a cluster (spec §4.2). It never carries the password.
type Repo struct {
	Cluster   string    `json:"cluster"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Type      string    `json:"type"`
	Username  string    `json:"username,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func repoOf(r store.Repo) Repo {
	return Repo{Cluster: r.ClusterID, Name: r.Name, URL: r.URL, Type: r.Type, Username: r.Username,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// RepoSpec registers a repository.
type RepoSpec struct {
	Name     string
	URL      string
	Username string
	Password string
}

var repoNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func validateRepoName(name string) error {
	if !repoNameRE.MatchString(name) {
		return invalidf("name", "repository name %q must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// AddRepo registers an HTTP chart repository on a cluster after downloading its index (as N2VC's repo add
// followed by repo update). Nothing is stored if the index cannot be fetched or parsed.
func (m *Manager) AddRepo(ctx context.Context, clusterRef string, spec RepoSpec) (*Repo, error) {
	_, id, err := naming.ParseClusterID(clusterRef)
	if err != nil {
		return nil, invalid("cluster", err)
	}
	if err := validateRepoName(spec.Name); err != nil {
		return nil, err
	}
	if err := checkRepoURL(spec.URL); err != nil {
		return nil, invalid("url", err)
	}
	if _, err := m.store.GetCluster(ctx, id); errors.Is(err, store.ErrNotFound) {
		return nil, notFound("cluster", "cluster %q", id)
	} else if err != nil {
		return nil, err
	}
	if _, err := m.store.GetRepo(ctx, id, spec.Name); err == nil {
		return nil, fmt.Errorf("repository %q is already registered on cluster %q: %w", spec.Name, id, ErrExists)
	}
	r := helm.Repository{URL: spec.URL, Username: spec.Username, Password: spec.Password}
	if _, err := m.loader.UpdateIndex(ctx, r); err != nil {
		return nil, invalid("url", fmt.Errorf("repository %q: %w", spec.Name, translate(err)))
	}
	rec := store.Repo{ClusterID: id, Name: spec.Name, URL: spec.URL, Type: store.RepoTypeHTTP, Username: spec.Username}
	if spec.Password != "" {
		rec.Password = []byte(spec.Password)
	}
	saved, err := m.store.CreateRepo(ctx, rec)
	if errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("repository %q is already registered on cluster %q: %w", spec.Name, id, ErrExists)
	}
	if err != nil {
		return nil, err
	}
	out := repoOf(saved)
	return &out, nil
}

// Repos lists a cluster's repositories.
func (m *Manager) Repos(ctx context.Context, clusterRef string) ([]Repo, error) {
	_, id, err := naming.ParseClusterID(clusterRef)
	if err != nil {
		return nil, invalid("cluster", err)
	}
	recs, err := m.store.ListRepos(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("cluster", "cluster %q", id)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Repo, len(recs))
	for i, r := range recs {
		out[i] = repoOf(r)
	}
	return out, nil
}

// RemoveRepo unregisters a repository and forgets its cached index.
func (m *Manager) RemoveRepo(ctx context.Context, clusterRef, name string) error {
	_, id, err := naming.ParseClusterID(clusterRef)
	if err != nil {
		return invalid("cluster", err)
	}
	if err := validateRepoName(name); err != nil {
		return err
	}
	rec, err := m.store.GetRepo(ctx, id, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("repository", "repository %q on cluster %q", name, id)
	}
	if err != nil {
		return err
	}
	if err := m.store.DeleteRepo(ctx, id, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("repository", "repository %q on cluster %q", name, id)
		}
		return err
	}
	m.loader.ForgetIndex(helm.Repository{URL: rec.URL, Username: rec.Username})
	return nil
}

// RepoUpdate reports the refresh of one repository's index.
type RepoUpdate struct {
	Name     string `json:"name"`
	Charts   int    `json:"charts"`
	Versions int    `json:"versions"`
	Error    string `json:"error,omitempty"`
}

// UpdateRepos downloads the indexes of a cluster's repositories (all of them, or those named). Each result
// carries its own error; the call fails only if the cluster or a named repository does not exist.
func (m *Manager) UpdateRepos(ctx context.Context, clusterRef string, names ...string) ([]RepoUpdate, error) {
	_, id, err := naming.ParseClusterID(clusterRef)
	if err != nil {
		return nil, invalid("cluster", err)
	}
	var recs []store.Repo
	if len(names) == 0 {
		if recs, err = m.store.ListRepos(ctx, id); errors.Is(err, store.ErrNotFound) {
			return nil, notFound("cluster", "cluster %q", id)
		} else if err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		r, err := m.store.GetRepo(ctx, id, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("repository", "repository %q on cluster %q", n, id)
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	out := make([]RepoUpdate, len(recs))
	for i, r := range recs {
		out[i].Name = r.Name
		idx, err := m.loader.UpdateIndex(ctx, helm.Repository{URL: r.URL, Username: r.Username, Password: string(r.Password)})
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		out[i].Charts, out[i].Versions = helm.IndexCharts(idx)
	}
	return out, nil
}
