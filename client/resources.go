package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/naming"
)

// AddCluster registers a cluster. Project is taken from the spec (a token scoped to one project defaults to it).
func (c *Client) AddCluster(ctx context.Context, spec kdu.ClusterSpec) (*kdu.Cluster, error) {
	var out kdu.Cluster
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters", body: api.ClusterRequest{
		ID: spec.ID, Kubeconfig: string(spec.Kubeconfig), Context: spec.Context, Namespace: spec.Namespace,
		Project: spec.Project, Flavour: spec.Flavour, TillerNamespace: spec.TillerNamespace, TillerAddress: spec.TillerAddress,
		Replace: spec.Replace,
	}}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Clusters lists the clusters the token may see.
func (c *Client) Clusters(ctx context.Context) ([]kdu.Cluster, error) {
	var out api.List[kdu.Cluster]
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters"}, &out)
	return out.Items, err
}

// clusterPath turns a cluster reference (possibly the legacy "namespace:id") into its id and namespace.
func clusterPath(ref string) (id, ns string, err error) {
	ns, id, err = naming.ParseClusterID(ref)
	if err != nil {
		return "", "", &kdu.FieldError{Field: "cluster", Reason: err.Error(), Err: err}
	}
	return id, ns, nil
}

// GetCluster returns a cluster.
func (c *Client) GetCluster(ctx context.Context, ref string) (*kdu.Cluster, error) {
	id, _, err := clusterPath(ref)
	if err != nil {
		return nil, err
	}
	var out kdu.Cluster
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + id}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CheckCluster checks that a cluster answers and records its version.
func (c *Client) CheckCluster(ctx context.Context, ref string) (*kdu.Cluster, error) {
	id, _, err := clusterPath(ref)
	if err != nil {
		return nil, err
	}
	var out kdu.Cluster
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + ":check"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveCluster unregisters a cluster (with opts.UninstallSW, also removing Tiller from a helm2 cluster).
func (c *Client) RemoveCluster(ctx context.Context, ref string, opts kdu.RemoveOptions) error {
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
func (c *Client) AddRepo(ctx context.Context, cluster string, spec kdu.RepoSpec) (*kdu.Repo, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	var out kdu.Repo
	_, err = c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + "/repos", body: api.RepoRequestOf(spec)}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Repos lists the repositories a cluster resolves against: its own, its project's, then the default stable one.
func (c *Client) Repos(ctx context.Context, cluster string) ([]kdu.Repo, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	var out api.List[kdu.Repo]
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
func (c *Client) UpdateRepos(ctx context.Context, cluster string, names ...string) ([]kdu.RepoUpdate, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	var out api.List[kdu.RepoUpdate]
	_, err = c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + "/repos:update", body: api.RepoUpdateRequest{Names: names}}, &out)
	return out.Items, err
}

// SyncRepos makes a cluster's own repositories exactly the desired list and reports what changed (see
// kdu.Manager.SyncRepos). An empty list removes them all.
func (c *Client) SyncRepos(ctx context.Context, cluster string, desired []kdu.RepoSpec) (*kdu.RepoSync, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	req := api.RepoSyncRequest{Repos: make([]api.RepoRequest, len(desired))}
	for i, spec := range desired {
		req.Repos[i] = api.RepoRequestOf(spec)
	}
	var out kdu.RepoSync
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
	if err := naming.ValidateProject(project); err != nil {
		return "", &kdu.FieldError{Field: "project", Reason: err.Error(), Err: err}
	}
	return "/v1/projects/" + project, nil
}

// AddProjectRepo adds a chart repository or OCI registry to a project ("" is the default project): every
// cluster of the project resolves against it.
func (c *Client) AddProjectRepo(ctx context.Context, project string, spec kdu.RepoSpec) (*kdu.Repo, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out kdu.Repo
	if _, err := c.do(ctx, request{method: http.MethodPost, path: p + "/repos", body: api.RepoRequestOf(spec)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ProjectRepos lists a project's repositories.
func (c *Client) ProjectRepos(ctx context.Context, project string) ([]kdu.Repo, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out api.List[kdu.Repo]
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
func (c *Client) UpdateProjectRepos(ctx context.Context, project string, names ...string) ([]kdu.RepoUpdate, error) {
	p, err := projectPath(project)
	if err != nil {
		return nil, err
	}
	var out api.List[kdu.RepoUpdate]
	_, err = c.do(ctx, request{method: http.MethodPost, path: p + "/repos:update", body: api.RepoUpdateRequest{Names: names}}, &out)
	return out.Items, err
}

// kduPath returns the path of a release and the namespace query of a target.
func kduPath(t kdu.Target) (string, url.Values, error) {
	id, ns, err := clusterPath(t.Cluster)
	if err != nil {
		return "", nil, err
	}
	if t.Namespace != "" {
		ns = t.Namespace
	}
	if t.Name == "" {
		return "", nil, &kdu.FieldError{Field: "name", Reason: "a release name is required"}
	}
	q := url.Values{}
	if ns != "" {
		q.Set("namespace", ns)
	}
	return "/v1/clusters/" + id + "/kdus/" + t.Name, q, nil
}

// Status returns a release's status.
func (c *Client) Status(ctx context.Context, t kdu.Target) (*kdu.Status, error) {
	p, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	var out kdu.Status
	if _, err := c.do(ctx, request{method: http.MethodGet, path: p, query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List lists a cluster's releases.
func (c *Client) List(ctx context.Context, cluster string, opts kdu.ListOptions) ([]kdu.Release, error) {
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
	var out api.List[kdu.Release]
	_, err = c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + id + "/kdus", query: q}, &out)
	return out.Items, err
}

// History returns a release's revisions.
func (c *Client) History(ctx context.Context, t kdu.Target) ([]kdu.Release, error) {
	p, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	var out api.List[kdu.Release]
	_, err = c.do(ctx, request{method: http.MethodGet, path: p + "/history", query: q}, &out)
	return out.Items, err
}

// GetValues returns a release's user values, or all computed values.
func (c *Client) GetValues(ctx context.Context, t kdu.Target, all bool) (map[string]any, error) {
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
func (c *Client) Services(ctx context.Context, t kdu.Target) ([]kdu.Service, error) {
	p, q, err := kduPath(t)
	if err != nil {
		return nil, err
	}
	var out api.List[kdu.Service]
	_, err = c.do(ctx, request{method: http.MethodGet, path: p + "/services", query: q}, &out)
	return out.Items, err
}

// ScaleCount returns a release's replica count.
func (c *Client) ScaleCount(ctx context.Context, t kdu.Target, resource string) (int, error) {
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

// ShowChart describes a chart. A local chart path is packaged and uploaded.
func (c *Client) ShowChart(ctx context.Context, opts kdu.ShowOptions) (*kdu.ChartInfo, error) {
	src, err := chartSource(opts.Chart, opts.Version, opts.RepoURL, opts.ChartArchive)
	if err != nil {
		return nil, err
	}
	src.Verify = opts.Verify
	req := api.ShowRequest{ChartSource: src}
	if opts.Cluster != "" {
		if req.Cluster, _, err = clusterPath(opts.Cluster); err != nil {
			return nil, err
		}
	}
	var out kdu.ChartInfo
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
