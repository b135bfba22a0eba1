package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kdu-io/kdu/api"
)

// AddCluster registers a cluster. Project is taken from the spec (a token scoped to one project defaults to it).
func (c *Client) AddCluster(ctx context.Context, req api.ClusterRequest) (*api.Cluster, error) {
	var out api.Cluster
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters", body: req}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Clusters lists the clusters the token may see.
func (c *Client) Clusters(ctx context.Context) ([]api.Cluster, error) {
	var out api.List[api.Cluster]
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters"}, &out)
	return out.Items, err
}

// clusterPath turns a cluster reference (possibly the legacy "namespace:id") into its id and namespace. The
// server checks both (the id is escaped into the path, never trusted as one); here only an empty id is caught.
func clusterPath(ref string) (id, ns string, err error) {
	id = ref
	if i := strings.LastIndexByte(ref, ':'); i >= 0 {
		ns, id = ref[:i], ref[i+1:]
	}
	if id == "" {
		return "", "", &api.FieldError{Field: "cluster", Reason: "a cluster id is required"}
	}
	return id, ns, nil
}

// GetCluster returns a cluster.
func (c *Client) GetCluster(ctx context.Context, ref string) (*api.Cluster, error) {
	id, _, err := clusterPath(ref)
	if err != nil {
		return nil, err
	}
	var out api.Cluster
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + id}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CheckCluster checks that a cluster answers and records its version.
func (c *Client) CheckCluster(ctx context.Context, ref string) (*api.Cluster, error) {
	id, _, err := clusterPath(ref)
	if err != nil {
		return nil, err
	}
	var out api.Cluster
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + ":check"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveOptions are the flags of RemoveCluster.
type RemoveOptions struct {
	// Force removes a cluster that still has releases (they are left running).
	Force bool
	// Forget removes a cluster whose API server no longer answers, without uninstalling anything.
	Forget bool
	// UninstallSW removes Tiller from a helm2 cluster whose Tiller kdu installed.
	UninstallSW bool
}

// RemoveCluster unregisters a cluster (with opts.UninstallSW, also removing Tiller from a helm2 cluster).
func (c *Client) RemoveCluster(ctx context.Context, ref string, opts RemoveOptions) error {
	id, _, err := clusterPath(ref)
	if err != nil {
		return err
	}
	q := url.Values{}
	if opts.Force {
		q.Set("force", "true")
	}
	if opts.Forget {
		q.Set("forget", "true")
	}
	if opts.UninstallSW {
		q.Set("uninstallSW", "true")
	}
	_, err = c.do(ctx, request{method: http.MethodDelete, path: "/v1/clusters/" + id, query: q}, nil)
	return err
}

// AddRepo adds a chart repository or OCI registry to a cluster. The spec is sent whole, secrets included (over
// the connection only: the server stores them encrypted and never returns them).
func (c *Client) AddRepo(ctx context.Context, cluster string, req api.RepoRequest) (*api.Repo, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	var out api.Repo
	_, err = c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + "/repos", body: req}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Repos lists the repositories a cluster resolves against: its own, its project's, then the default stable one.
func (c *Client) Repos(ctx context.Context, cluster string) ([]api.Repo, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	var out api.List[api.Repo]
	_, err = c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + id + "/repos"}, &out)
	return out.Items, err
}

// RemoveRepo removes a repository of a cluster.
func (c *Client) RemoveRepo(ctx context.Context, cluster, name string) error {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, request{method: http.MethodDelete, path: "/v1/clusters/" + id + "/repos/" + name}, nil)
	return err
}

// UpdateRepos refreshes the indexes of a cluster's repositories (all, or those named).
func (c *Client) UpdateRepos(ctx context.Context, cluster string, names ...string) ([]api.RepoUpdate, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	var out api.List[api.RepoUpdate]
	_, err = c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + "/repos:update", body: api.RepoUpdateRequest{Names: names}}, &out)
	return out.Items, err
}

// SyncRepos makes a cluster's own repositories exactly the desired list and reports what changed (see
// api.Manager.SyncRepos). An empty list removes them all.
func (c *Client) SyncRepos(ctx context.Context, cluster string, desired []api.RepoRequest) (*api.RepoSync, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	req := api.RepoSyncRequest{Repos: desired}
	if req.Repos == nil {
		req.Repos = []api.RepoRequest{}
	}
	var out api.RepoSync
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + "/repos:sync", body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// projectPath returns the API path of a project: "" (the default project) is "-".
func projectPath(project string) (string, error) {
	if project == "" {
		return "/v1/projects/-", nil
	}
	if project == "-" {
		return "", &api.FieldError{Field: "project", Reason: `"-" names the default project in paths: use ""`}
	}
	return "/v1/projects/" + project, nil
}

// AddProjectRepo adds a chart repository or OCI registry to a project ("" is the default project): every
// cluster of the project resolves against it.
func (c *Client) AddProjectRepo(ctx context.Context, project string, req api.RepoRequest) (*api.Repo, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out api.Repo
	if _, err := c.do(ctx, request{method: http.MethodPost, path: p + "/repos", body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProjectRepos lists a project's repositories.
func (c *Client) ProjectRepos(ctx context.Context, project string) ([]api.Repo, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out api.List[api.Repo]
	_, err = c.do(ctx, request{method: http.MethodGet, path: p + "/repos"}, &out)
	return out.Items, err
}

// RemoveProjectRepo removes a repository of a project.
func (c *Client) RemoveProjectRepo(ctx context.Context, project, name string) error {
	p, err := projectPath(project)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, request{method: http.MethodDelete, path: p + "/repos/" + name}, nil)
	return err
}

// UpdateProjectRepos refreshes the indexes of a project's repositories (all, or those named).
func (c *Client) UpdateProjectRepos(ctx context.Context, project string, names ...string) ([]api.RepoUpdate, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out api.List[api.RepoUpdate]
	_, err = c.do(ctx, request{method: http.MethodPost, path: p + "/repos:update", body: api.RepoUpdateRequest{Names: names}}, &out)
	return out.Items, err
}

// kduPath returns the path of a release and the namespace query of a target.
func kduPath(t api.Target) (string, url.Values, error) {
	id, ns, err := clusterPath(t.Cluster)
	if err != nil {
		return "", nil, err
	}
	if t.Namespace != "" {
		ns = t.Namespace
	}
	if t.Name == "" {
		return "", nil, &api.FieldError{Field: "name", Reason: "a release name is required"}
	}
	q := url.Values{}
	if ns != "" {
		q.Set("namespace", ns)
	}
	return "/v1/clusters/" + id + "/kdus/" + t.Name, q, nil
}

// Status returns a release's status.
func (c *Client) Status(ctx context.Context, t api.Target) (*api.Status, error) {
	return c.status(ctx, t, false)
}

// StatusWithManifest is Status with the release's objects as Helm recorded them (Status.Manifest); Secrets'
// data values are masked unless the token is an admin's.
func (c *Client) StatusWithManifest(ctx context.Context, t api.Target) (*api.Status, error) {
	return c.status(ctx, t, true)
}

func (c *Client) status(ctx context.Context, t api.Target, manifest bool) (*api.Status, error) {
	p, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	if manifest {
		if q == nil {
			q = url.Values{}
		}
		q.Set("manifest", "true")
	}
	var out api.Status
	if _, err := c.do(ctx, request{method: http.MethodGet, path: p, query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListOptions select the releases List returns.
type ListOptions struct {
	// Namespace limits the list to one namespace ("" is the cluster's default namespace, if any, else all).
	Namespace string
	// States limits the list to releases in these states (none: every state).
	States []api.ReleaseState
}

// List lists a cluster's releases.
func (c *Client) List(ctx context.Context, cluster string, opts ListOptions) ([]api.Release, error) {
	id, ns, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	if opts.Namespace != "" {
		ns = opts.Namespace
	}
	if ns != "" {
		q.Set("namespace", ns)
	}
	if len(opts.States) > 0 {
		ss := make([]string, len(opts.States))
		for i, s := range opts.States {
			ss[i] = string(s)
		}
		q.Set("state", strings.Join(ss, ","))
	}
	var out api.List[api.Release]
	_, err = c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + id + "/kdus", query: q}, &out)
	return out.Items, err
}

// History returns a release's revisions.
func (c *Client) History(ctx context.Context, t api.Target) ([]api.Release, error) {
	p, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	var out api.List[api.Release]
	_, err = c.do(ctx, request{method: http.MethodGet, path: p + "/history", query: q}, &out)
	return out.Items, err
}

// GetValues returns a release's user values, or all computed values.
func (c *Client) GetValues(ctx context.Context, t api.Target, all bool) (map[string]any, error) {
	p, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	if all {
		q.Set("all", "true")
	}
	var out map[string]any
	_, err = c.do(ctx, request{method: http.MethodGet, path: p + "/values", query: q}, &out)
	return out, err
}

// Services returns a release's Services.
func (c *Client) Services(ctx context.Context, t api.Target) ([]api.Service, error) {
	p, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	var out api.List[api.Service]
	_, err = c.do(ctx, request{method: http.MethodGet, path: p + "/services", query: q}, &out)
	return out.Items, err
}

// ScaleCount returns a release's replica count.
func (c *Client) ScaleCount(ctx context.Context, t api.Target, resource string) (int, error) {
	p, q, err := kduPath(t)
	if err != nil {
		return 0, err
	}
	if resource != "" {
		q.Set("resource", resource)
	}
	var out api.ScaleCount
	_, err = c.do(ctx, request{method: http.MethodGet, path: p + "/scale", query: q}, &out)
	return out.Replicas, err
}

// ShowChart describes a chart. A chart on the caller's disk must be sent packaged, in ChartArchive.
func (c *Client) ShowChart(ctx context.Context, req api.ShowRequest) (*api.ChartInfo, error) {
	if req.Cluster != "" {
		var err error
		if req.Cluster, _, err = clusterPath(req.Cluster); err != nil {
			return nil, err
		}
	}
	var out api.ChartInfo
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/charts:show", body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListOperations lists operations, newest first.
func (c *Client) ListOperations(ctx context.Context, f OperationFilter) (api.List[api.Operation], error) {
	q := url.Values{}
	for k, v := range map[string]string{"cluster": f.Cluster, "kdu": f.Release, "state": f.State, "kind": f.Kind, "before": f.Before} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out api.List[api.Operation]
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/operations", query: q}, &out)
	return out, err
}

// OperationFilter selects operations.
type OperationFilter struct {
	Cluster, Release, State, Kind, Before string
	Limit                                 int
}

// GetOperation returns an operation.
func (c *Client) GetOperation(ctx context.Context, id string) (*api.Operation, error) {
	var out api.Operation
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/operations/" + id}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CancelOperation cancels an operation.
func (c *Client) CancelOperation(ctx context.Context, id string) (*api.Operation, error) {
	var out api.Operation
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/operations/" + id + ":cancel"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GenerateName returns a release name derived from a chart reference in N2VC's format, unused on the cluster
// at the time of the call.
func (c *Client) GenerateName(ctx context.Context, cluster, chart string) (string, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return "", err
	}
	var out api.GeneratedName
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + "/kdus:generateName",
		body: api.GenerateNameRequest{Chart: chart}}, &out); err != nil {
		return "", err
	}
	return out.Name, nil
}

// Service returns one Service of a cluster by namespace and name (N2VC's get_service).
func (c *Client) Service(ctx context.Context, cluster, namespace, name string) (*api.Service, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	if namespace == "" || name == "" {
		return nil, errors.New("kdu client: a Service needs a namespace and a name")
	}
	var out api.Service
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + id + "/services/" + escapePath(namespace) + "/" + escapePath(name)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
