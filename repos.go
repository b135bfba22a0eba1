package kdu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/engine/charts"
	"github.com/kdu-io/kdu/internal/naming"
	"github.com/kdu-io/kdu/internal/store"
)

// Repository scopes: where a repository is registered.
const (
	ScopeCluster = api.ScopeCluster // registered on one cluster
	ScopeProject = api.ScopeProject // registered on a project, shared by its clusters
	ScopeDefault = api.ScopeDefault // the server's stable repository (Options.StableRepoURL)
)

// Repository types.
const (
	RepoTypeHTTP = api.RepoTypeHTTP // a chart repository with an index.yaml
	RepoTypeOCI  = api.RepoTypeOCI  // an OCI registry
)

// StableRepoName is the name of the default repository (docs/n2vc.md#init_env).
const StableRepoName = "stable"

func repoOf(r store.Repo) Repo {
	out := Repo{Cluster: r.ClusterID, ID: r.ExtID, Name: r.Name, URL: r.URL, Type: r.Type, Username: r.Username,
		HasPassword: len(r.Password) > 0, HasCACert: len(r.CACert) > 0, HasClientCert: len(r.CertPEM) > 0,
		HasKeyring: len(r.Keyring) > 0, InsecureSkipVerify: r.InsecureSkipVerify, PassCredentials: r.PassCredentials,
		PlainHTTP: r.PlainHTTP, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Scope: ScopeCluster}
	if r.IsProject() {
		out.Scope, out.Project = ScopeProject, r.Project
	}
	return out
}

// RepoSpec registers a repository. Secrets and TLS material are held in memory and encrypted at rest.
type RepoSpec struct {
	// ID is the caller's identifier of the repository (such as OSM's k8srepo _id), reported back by SyncRepos.
	ID   string
	Name string
	// URL is an http(s) URL for an HTTP repository, or oci://host[:port][/path] for an OCI registry.
	URL string
	// Type is RepoTypeHTTP or RepoTypeOCI; "" takes it from the URL's scheme.
	Type     string
	Username string
	Password string
	// CACert is a PEM bundle of the CAs that sign the repository's certificate (instead of the system roots).
	CACert []byte
	// CertPEM and KeyPEM are a TLS client certificate and its key, for repositories that require mutual TLS.
	CertPEM []byte
	KeyPEM  []byte
	// InsecureSkipVerify skips verification of the repository's TLS certificate.
	InsecureSkipVerify bool
	// PassCredentials sends the credentials to every host the index points at, not only the repository's own.
	PassCredentials bool
	// PlainHTTP lets an OCI registry be reached over plain HTTP (an http:// repository needs no flag).
	PlainHTTP bool
	// Keyring holds PGP public keys that this repository's charts are signed with (for Verify).
	Keyring []byte
}

var (
	repoNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	extIDRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
)

func validateRepoName(name string) error {
	if !repoNameRE.MatchString(name) {
		return invalidf("name", "repository name %q must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// validateURL checks the URL against the type (given, or taken from the URL's scheme).
func (spec RepoSpec) validateURL() error {
	if strings.HasPrefix(strings.ToLower(spec.URL), "oci://") {
		return checkOCIRepoURL(spec.URL)
	}
	return checkRepoURL(spec.URL)
}

// record validates a spec and returns the store record it describes (without scope). Field names in errors are
// prefixed with prefix (such as "repos[2].").
func (spec RepoSpec) record(prefix string) (store.Repo, error) {
	fail := func(field string, err error) (store.Repo, error) {
		var fe *FieldError
		if errors.As(err, &fe) {
			return store.Repo{}, &FieldError{Field: prefix + fe.Field, Reason: fe.Reason, Err: fe.Err}
		}
		return store.Repo{}, &FieldError{Field: prefix + field, Reason: err.Error(), Err: err}
	}
	if err := validateRepoName(spec.Name); err != nil {
		return fail("name", err)
	}
	if spec.ID != "" && !extIDRE.MatchString(spec.ID) {
		return fail("id", fmt.Errorf("repository id %q must be 1-128 letters, digits, '.', '_', ':' or '-'", spec.ID))
	}
	typ := spec.Type
	if typ == "" {
		typ = RepoTypeHTTP
		if strings.HasPrefix(strings.ToLower(spec.URL), "oci://") {
			typ = RepoTypeOCI
		}
	}
	switch typ {
	case RepoTypeHTTP:
		if err := checkRepoURL(spec.URL); err != nil {
			return fail("url", err)
		}
		if spec.PlainHTTP {
			return fail("plainHTTP", errors.New("plain HTTP is a setting of OCI registries; an HTTP repository uses the scheme of its URL"))
		}
	case RepoTypeOCI:
		if err := checkOCIRepoURL(spec.URL); err != nil {
			return fail("url", err)
		}
	default:
		return fail("type", fmt.Errorf("repository type %q must be %q or %q", spec.Type, RepoTypeHTTP, RepoTypeOCI))
	}
	if (spec.Username == "") != (spec.Password == "") {
		if spec.Username == "" {
			return fail("username", errors.New("a password needs a username"))
		}
		return fail("password", errors.New("a username needs a password"))
	}
	if strings.ContainsAny(spec.Username, ":\r\n\x00") {
		return fail("username", errors.New("a username may not contain ':', line breaks or NUL"))
	}
	hr := charts.Repository{CACert: spec.CACert, CertPEM: spec.CertPEM, KeyPEM: spec.KeyPEM}
	if _, err := hr.TLSConfig(); err != nil {
		field := "caCert"
		if len(spec.CertPEM) > 0 || len(spec.KeyPEM) > 0 {
			if _, caErr := (charts.Repository{CACert: spec.CACert}).TLSConfig(); caErr == nil {
				field = "clientCert"
			}
		}
		return fail(field, err)
	}
	if len(spec.Keyring) > 0 {
		if _, err := charts.ParseKeyring(spec.Keyring); err != nil {
			return fail("keyring", err)
		}
	}
	rec := store.Repo{Name: spec.Name, ExtID: spec.ID, URL: strings.TrimSuffix(spec.URL, "/"), Type: typ,
		Username: spec.Username, CACert: nonEmpty(spec.CACert), CertPEM: nonEmpty(spec.CertPEM),
		KeyPEM: nonEmpty(spec.KeyPEM), Keyring: nonEmpty(spec.Keyring), InsecureSkipVerify: spec.InsecureSkipVerify,
		PassCredentials: spec.PassCredentials, PlainHTTP: spec.PlainHTTP}
	if spec.Password != "" {
		rec.Password = []byte(spec.Password)
	}
	return rec, nil
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// sameRepo reports whether two records describe the same repository settings (scope and timestamps aside).
func sameRepo(a, b store.Repo) bool {
	return a.Name == b.Name && a.ExtID == b.ExtID && a.URL == b.URL && a.Type == b.Type && a.Username == b.Username &&
		bytes.Equal(a.Password, b.Password) && bytes.Equal(a.CACert, b.CACert) && bytes.Equal(a.CertPEM, b.CertPEM) &&
		bytes.Equal(a.KeyPEM, b.KeyPEM) && bytes.Equal(a.Keyring, b.Keyring) &&
		a.InsecureSkipVerify == b.InsecureSkipVerify && a.PassCredentials == b.PassCredentials && a.PlainHTTP == b.PlainHTTP
}

// helmRepo is the loader's view of a stored repository.
func helmRepo(r store.Repo) charts.Repository {
	return charts.Repository{Name: r.Name, URL: r.URL, Username: r.Username, Password: string(r.Password),
		CACert: r.CACert, CertPEM: r.CertPEM, KeyPEM: r.KeyPEM, InsecureSkipVerify: r.InsecureSkipVerify,
		PassCredentials: r.PassCredentials, PlainHTTP: r.PlainHTTP, Keyring: r.Keyring}
}

// repoScope is where repositories are registered: a cluster (cluster != "") or a project.
type repoScope struct {
	cluster string
	project string
}

func (s repoScope) String() string {
	if s.cluster != "" {
		return fmt.Sprintf("cluster %q", s.cluster)
	}
	if s.project == "" {
		return "the default project"
	}
	return fmt.Sprintf("project %q", s.project)
}

func (m *Manager) clusterScope(ctx context.Context, clusterRef string) (repoScope, store.Cluster, error) {
	_, id, err := naming.ParseClusterID(clusterRef)
	if err != nil {
		return repoScope{}, store.Cluster{}, invalid("cluster", err)
	}
	c, err := m.store.GetCluster(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return repoScope{}, c, notFound("cluster", "cluster %q", id)
	}
	if err != nil {
		return repoScope{}, c, err
	}
	return repoScope{cluster: id}, c, nil
}

func projectScope(project string) (repoScope, error) {
	if project != "" {
		if err := naming.ValidateProject(project); err != nil {
			return repoScope{}, invalid("project", err)
		}
	}
	return repoScope{project: project}, nil
}

func (m *Manager) getRepo(ctx context.Context, s repoScope, name string) (store.Repo, error) {
	if s.cluster != "" {
		return m.store.GetRepo(ctx, s.cluster, name)
	}
	return m.store.GetProjectRepo(ctx, s.project, name)
}

func (m *Manager) listRepos(ctx context.Context, s repoScope) ([]store.Repo, error) {
	if s.cluster != "" {
		return m.store.ListRepos(ctx, s.cluster)
	}
	return m.store.ListProjectRepos(ctx, s.project)
}

// probeRepo checks that a repository answers with the given settings: an HTTP repository's index is downloaded
// (and cached), an OCI registry is pinged with the credentials. Errors name field prefix+"url" or the credential
// field the failure points at.
func (m *Manager) probeRepo(ctx context.Context, rec store.Repo, prefix string) error {
	hr := helmRepo(rec)
	var err error
	if rec.Type == RepoTypeOCI {
		err = m.loader.PingRegistry(ctx, hr)
	} else {
		_, err = m.loader.UpdateIndex(ctx, hr)
	}
	if err == nil {
		return nil
	}
	err = translate(err)
	field := "url"
	if errors.Is(err, ErrRepoAuth) {
		field = "password"
		if rec.Username == "" {
			field = "username"
		}
	}
	return &FieldError{Field: prefix + field, Reason: err.Error(), Err: err}
}

func (m *Manager) addRepo(ctx context.Context, s repoScope, spec RepoSpec) (*Repo, error) {
	rec, err := spec.record("")
	if err != nil {
		return nil, err
	}
	rec.ClusterID, rec.Project = s.cluster, s.project
	if _, err := m.getRepo(ctx, s, spec.Name); err == nil {
		return nil, fmt.Errorf("repository %q is already registered on %s: %w", spec.Name, s, ErrExists)
	}
	if err := m.probeRepo(ctx, rec, ""); err != nil {
		return nil, err
	}
	saved, err := m.store.CreateRepo(ctx, rec)
	if errors.Is(err, store.ErrExists) {
		return nil, fmt.Errorf("repository %q is already registered on %s: %w", spec.Name, s, ErrExists)
	}
	if err != nil {
		return nil, err
	}
	out := repoOf(saved)
	return &out, nil
}

func (m *Manager) removeRepo(ctx context.Context, s repoScope, name string) error {
	if err := validateRepoName(name); err != nil {
		return err
	}
	rec, err := m.getRepo(ctx, s, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("repository", "repository %q on %s", name, s)
	}
	if err != nil {
		return err
	}
	if s.cluster != "" {
		err = m.store.DeleteRepo(ctx, s.cluster, name)
	} else {
		err = m.store.DeleteProjectRepo(ctx, s.project, name)
	}
	if errors.Is(err, store.ErrNotFound) {
		return notFound("repository", "repository %q on %s", name, s)
	}
	if err != nil {
		return err
	}
	m.loader.ForgetIndex(helmRepo(rec))
	return nil
}

func (m *Manager) updateRepos(ctx context.Context, recs []store.Repo) []RepoUpdate {
	out := make([]RepoUpdate, len(recs))
	for i, r := range recs {
		out[i].Name, out[i].Scope = r.Name, repoOf(r).Scope
		if r.Type == RepoTypeOCI {
			// An OCI registry has no index: refreshing it means checking that it answers.
			if err := m.loader.PingRegistry(ctx, helmRepo(r)); err != nil {
				out[i].Error = err.Error()
			}
			continue
		}
		idx, err := m.loader.UpdateIndex(ctx, helmRepo(r))
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		out[i].Charts, out[i].Versions = charts.IndexCharts(idx)
	}
	return out
}

func (m *Manager) selectRepos(ctx context.Context, s repoScope, names []string) ([]store.Repo, error) {
	if len(names) == 0 {
		return m.listRepos(ctx, s)
	}
	var recs []store.Repo
	for _, n := range names {
		if err := validateRepoName(n); err != nil {
			return nil, err
		}
		r, err := m.getRepo(ctx, s, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("repository", "repository %q on %s", n, s)
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// AddRepo registers a repository on a cluster (docs/n2vc.md#repo_add) after checking that it answers with the
// given settings: an HTTP repository's index is downloaded, an OCI registry is pinged with the credentials.
// Nothing is stored if the check fails; a refused login is an error on the password field that names the
// repository.
func (m *Manager) AddRepo(ctx context.Context, clusterRef string, spec RepoSpec) (*Repo, error) {
	s, _, err := m.clusterScope(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	return m.addRepo(ctx, s, spec)
}

// AddProjectRepo registers a repository on a project: every cluster of the project resolves "name/chart"
// against it unless the cluster has a repository of the same name. project "" is the default project.
func (m *Manager) AddProjectRepo(ctx context.Context, project string, spec RepoSpec) (*Repo, error) {
	s, err := projectScope(project)
	if err != nil {
		return nil, err
	}
	return m.addRepo(ctx, s, spec)
}

// Repos lists the repositories a cluster resolves chart references against, in resolution order: its own,
// then its project's (those it does not shadow), then the default stable repository if it is configured and
// not shadowed.
func (m *Manager) Repos(ctx context.Context, clusterRef string) ([]Repo, error) {
	s, c, err := m.clusterScope(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	recs, err := m.effectiveRepos(ctx, s.cluster, c.Project)
	if err != nil {
		return nil, err
	}
	out := make([]Repo, 0, len(recs))
	for _, r := range recs {
		out = append(out, repoOfEffective(r, m.opts.StableRepoURL))
	}
	return out, nil
}

// ProjectRepos lists the repositories of a project.
func (m *Manager) ProjectRepos(ctx context.Context, project string) ([]Repo, error) {
	s, err := projectScope(project)
	if err != nil {
		return nil, err
	}
	recs, err := m.listRepos(ctx, s)
	if err != nil {
		return nil, err
	}
	out := make([]Repo, len(recs))
	for i, r := range recs {
		out[i] = repoOf(r)
	}
	return out, nil
}

// RemoveRepo unregisters a cluster repository and forgets its cached index.
func (m *Manager) RemoveRepo(ctx context.Context, clusterRef, name string) error {
	s, _, err := m.clusterScope(ctx, clusterRef)
	if err != nil {
		return err
	}
	return m.removeRepo(ctx, s, name)
}

// RemoveProjectRepo unregisters a project repository.
func (m *Manager) RemoveProjectRepo(ctx context.Context, project, name string) error {
	s, err := projectScope(project)
	if err != nil {
		return err
	}
	return m.removeRepo(ctx, s, name)
}

// UpdateRepos refreshes the indexes of a cluster's own repositories (all of them, or those named) and checks
// its OCI registries. Each result carries its own error; the call fails only if the cluster or a named
// repository does not exist.
func (m *Manager) UpdateRepos(ctx context.Context, clusterRef string, names ...string) ([]RepoUpdate, error) {
	s, _, err := m.clusterScope(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	recs, err := m.selectRepos(ctx, s, names)
	if err != nil {
		return nil, err
	}
	return m.updateRepos(ctx, recs), nil
}

// UpdateProjectRepos refreshes the indexes of a project's repositories (all, or those named).
func (m *Manager) UpdateProjectRepos(ctx context.Context, project string, names ...string) ([]RepoUpdate, error) {
	s, err := projectScope(project)
	if err != nil {
		return nil, err
	}
	recs, err := m.selectRepos(ctx, s, names)
	if err != nil {
		return nil, err
	}
	return m.updateRepos(ctx, recs), nil
}

// effectiveRepos returns the repositories a cluster resolves against, in resolution order, with the default
// stable repository (a record with neither cluster nor project, and no timestamps) last when configured.
func (m *Manager) effectiveRepos(ctx context.Context, clusterID, project string) ([]store.Repo, error) {
	own, err := m.store.ListRepos(ctx, clusterID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("cluster", "cluster %q", clusterID)
	}
	if err != nil {
		return nil, err
	}
	shared, err := m.store.ListProjectRepos(ctx, project)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := make([]store.Repo, 0, len(own)+len(shared)+1)
	for _, list := range [][]store.Repo{own, shared} {
		for _, r := range list {
			if !seen[r.Name] {
				seen[r.Name] = true
				out = append(out, r)
			}
		}
	}
	if m.opts.StableRepoURL != "" && !seen[StableRepoName] {
		out = append(out, m.stableRepo())
	}
	return out, nil
}

// stableRepo is the default stable repository as a record. Its Project is a marker no real project can have
// ("/" is not allowed in project names), so that it never passes for a repository of the default project.
func (m *Manager) stableRepo() store.Repo {
	typ := RepoTypeHTTP
	if strings.HasPrefix(m.opts.StableRepoURL, "oci://") {
		typ = RepoTypeOCI
	}
	return store.Repo{Project: "/default", Name: StableRepoName, URL: strings.TrimSuffix(m.opts.StableRepoURL, "/"), Type: typ}
}

func repoOfEffective(r store.Repo, stableURL string) Repo {
	if r.IsProject() && r.Project == "/default" && r.Name == StableRepoName && stableURL != "" {
		return Repo{Scope: ScopeDefault, Name: r.Name, URL: r.URL, Type: r.Type}
	}
	return repoOf(r)
}

// resolveRepo finds the repository "name" of a cluster: its own, else its project's, else the default stable.
func (m *Manager) resolveRepo(ctx context.Context, clusterID, name string) (store.Repo, error) {
	r, err := m.store.GetRepo(ctx, clusterID, name)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return r, err
	}
	c, err := m.store.GetCluster(ctx, clusterID)
	if err != nil {
		return store.Repo{}, err
	}
	r, err = m.store.GetProjectRepo(ctx, c.Project, name)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return r, err
	}
	if name == StableRepoName && m.opts.StableRepoURL != "" {
		return m.stableRepo(), nil
	}
	return store.Repo{}, store.ErrNotFound
}

// registryFor finds the settings (credentials, TLS, plain HTTP) for a direct oci:// reference: the cluster's
// (else its project's) OCI repository whose URL is the longest prefix of the reference. None gives anonymous
// access over TLS with the system roots.
func (m *Manager) registryFor(ctx context.Context, clusterID, ociURL string) (charts.Repository, error) {
	if clusterID == "" {
		return charts.Repository{}, nil
	}
	c, err := m.store.GetCluster(ctx, clusterID)
	if err != nil {
		return charts.Repository{}, err
	}
	recs, err := m.effectiveRepos(ctx, clusterID, c.Project)
	if err != nil {
		return charts.Repository{}, err
	}
	var best store.Repo
	for _, r := range recs {
		if r.Type != RepoTypeOCI {
			continue
		}
		if (ociURL == r.URL || strings.HasPrefix(ociURL, r.URL+"/")) && len(r.URL) > len(best.URL) {
			best = r
		}
	}
	if best.URL == "" {
		return charts.Repository{}, nil
	}
	return helmRepo(best), nil
}

func checkOCIRepoURL(s string) error {
	if !strings.HasPrefix(s, "oci://") {
		return fmt.Errorf("%q must be an oci://host[:port][/path] URL", redactUserinfo(s))
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q has no host", redactUserinfo(s))
	case u.User != nil:
		return errors.New("credentials in the URL are not accepted; give them separately")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q may not have a query or fragment", redactUserinfo(s))
	case strings.ContainsAny(s, " \t\r\n@"):
		return fmt.Errorf("%q contains whitespace or '@'", redactUserinfo(s))
	case strings.Contains(u.Path, ":"):
		return fmt.Errorf("%q names a tag; a registry URL names a host and an optional path", s)
	}
	for _, seg := range strings.Split(strings.Trim(u.Path, "/"), "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%q has a %q path segment", s, seg)
		}
	}
	return nil
}
