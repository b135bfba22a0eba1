package cli

import (
	"context"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/client"
	"github.com/kdu-io/kdu/internal/apiconv"
)

// remote is the Backend of a kdu server: the library's options go through apiconv to the API client. A chart
// on this machine is packaged here and uploaded, since the server does not read the caller's files.
type remote struct {
	c *client.Client
}

var _ Backend = remote{}

func progressOf(f kdu.ProgressFunc) client.ProgressFunc {
	if f == nil {
		return nil
	}
	return func(p api.Progress) { f(p) }
}

// localChart replaces a local chart path by its packaged archive.
func localChart(chart *string, archive *[]byte) error {
	data, err := kdu.LocalChart(*chart)
	if err != nil || data == nil {
		return err
	}
	*chart, *archive = "", data
	return nil
}

func (r remote) AddCluster(ctx context.Context, spec kdu.ClusterSpec) (*kdu.Cluster, error) {
	return r.c.AddCluster(ctx, apiconv.ClusterRequest(spec))
}

func (r remote) Clusters(ctx context.Context) ([]kdu.Cluster, error) { return r.c.Clusters(ctx) }

func (r remote) GetCluster(ctx context.Context, ref string) (*kdu.Cluster, error) {
	return r.c.GetCluster(ctx, ref)
}

func (r remote) CheckCluster(ctx context.Context, ref string) (*kdu.Cluster, error) {
	return r.c.CheckCluster(ctx, ref)
}

func (r remote) RemoveCluster(ctx context.Context, ref string, o kdu.RemoveOptions) error {
	return r.c.RemoveCluster(ctx, ref, client.RemoveOptions{Force: o.Force, Forget: o.Forget, UninstallSW: o.UninstallSW})
}

func (r remote) AddRepo(ctx context.Context, cluster string, spec kdu.RepoSpec) (*kdu.Repo, error) {
	return r.c.AddRepo(ctx, cluster, apiconv.RepoRequest(spec))
}

func (r remote) Repos(ctx context.Context, cluster string) ([]kdu.Repo, error) {
	return r.c.Repos(ctx, cluster)
}

func (r remote) RemoveRepo(ctx context.Context, cluster, name string) error {
	return r.c.RemoveRepo(ctx, cluster, name)
}

func (r remote) UpdateRepos(ctx context.Context, cluster string, names ...string) ([]kdu.RepoUpdate, error) {
	return r.c.UpdateRepos(ctx, cluster, names...)
}

func (r remote) SyncRepos(ctx context.Context, cluster string, desired []kdu.RepoSpec) (*kdu.RepoSync, error) {
	reqs := make([]api.RepoRequest, len(desired))
	for i, s := range desired {
		reqs[i] = apiconv.RepoRequest(s)
	}
	return r.c.SyncRepos(ctx, cluster, reqs)
}

func (r remote) AddProjectRepo(ctx context.Context, project string, spec kdu.RepoSpec) (*kdu.Repo, error) {
	return r.c.AddProjectRepo(ctx, project, apiconv.RepoRequest(spec))
}

func (r remote) ProjectRepos(ctx context.Context, project string) ([]kdu.Repo, error) {
	return r.c.ProjectRepos(ctx, project)
}

func (r remote) RemoveProjectRepo(ctx context.Context, project, name string) error {
	return r.c.RemoveProjectRepo(ctx, project, name)
}

func (r remote) UpdateProjectRepos(ctx context.Context, project string, names ...string) ([]kdu.RepoUpdate, error) {
	return r.c.UpdateProjectRepos(ctx, project, names...)
}

func (r remote) Install(ctx context.Context, cluster string, o kdu.InstallOptions) (*kdu.Release, error) {
	if err := localChart(&o.Chart, &o.ChartArchive); err != nil {
		return nil, err
	}
	return r.c.Install(ctx, cluster, apiconv.InstallRequest(o), progressOf(o.Progress))
}

func (r remote) Upgrade(ctx context.Context, t kdu.Target, o kdu.UpgradeOptions) (*kdu.Release, error) {
	if err := localChart(&o.Chart, &o.ChartArchive); err != nil {
		return nil, err
	}
	return r.c.Upgrade(ctx, t, apiconv.UpgradeRequest(t.Namespace, o), progressOf(o.Progress))
}

func (r remote) Scale(ctx context.Context, t kdu.Target, o kdu.ScaleOptions) (*kdu.Release, error) {
	return r.c.Scale(ctx, t, apiconv.ScaleRequest(t.Namespace, o), progressOf(o.Progress))
}

func (r remote) Migrate(ctx context.Context, t kdu.Target, o kdu.MigrateOptions) (*kdu.Release, error) {
	return r.c.Migrate(ctx, t, apiconv.MigrateRequest(t.Namespace, o), progressOf(o.Progress))
}

func (r remote) ScaleCount(ctx context.Context, t kdu.Target, resource string) (int, error) {
	return r.c.ScaleCount(ctx, t, resource)
}

func (r remote) Rollback(ctx context.Context, t kdu.Target, o kdu.RollbackOptions) (*kdu.Release, error) {
	return r.c.Rollback(ctx, t, apiconv.RollbackRequest(t.Namespace, o), progressOf(o.Progress))
}

func (r remote) Uninstall(ctx context.Context, t kdu.Target, o kdu.UninstallOptions) (*kdu.Release, error) {
	return r.c.Uninstall(ctx, t, apiconv.UninstallRequest(t.Namespace, o), nil)
}

func (r remote) Manifest(ctx context.Context, t kdu.Target, _ bool) ([]map[string]any, error) {
	st, err := r.c.StatusWithManifest(ctx, t)
	if err != nil {
		return nil, err
	}
	return st.Manifest, nil
}

func (r remote) Status(ctx context.Context, t kdu.Target) (*kdu.Status, error) {
	return r.c.Status(ctx, t)
}

func (r remote) List(ctx context.Context, cluster string, o kdu.ListOptions) ([]kdu.Release, error) {
	return r.c.List(ctx, cluster, client.ListOptions{Namespace: o.Namespace, States: o.States})
}

func (r remote) History(ctx context.Context, t kdu.Target) ([]kdu.Release, error) {
	return r.c.History(ctx, t)
}

func (r remote) GetValues(ctx context.Context, t kdu.Target, all bool) (map[string]any, error) {
	return r.c.GetValues(ctx, t, all)
}

func (r remote) Services(ctx context.Context, t kdu.Target) ([]kdu.Service, error) {
	return r.c.Services(ctx, t)
}

func (r remote) ShowChart(ctx context.Context, o kdu.ShowOptions) (*kdu.ChartInfo, error) {
	if err := localChart(&o.Chart, &o.ChartArchive); err != nil {
		return nil, err
	}
	return r.c.ShowChart(ctx, apiconv.ShowRequest(o))
}

func (r remote) CreateNamespace(ctx context.Context, cluster string, o kdu.NamespaceOptions) (*kdu.Namespace, error) {
	return r.c.CreateNamespace(ctx, cluster, o.Name, apiconv.NamespaceRequest(o))
}

func (r remote) DeleteNamespace(ctx context.Context, cluster, name string) error {
	return r.c.DeleteNamespace(ctx, cluster, name)
}

func (r remote) CreateCertificate(ctx context.Context, cluster string, o kdu.CertificateOptions) (*kdu.Certificate, error) {
	return r.c.CreateCertificate(ctx, cluster, o.Namespace, o.Name, apiconv.CertificateRequest(o))
}

func (r remote) DeleteCertificate(ctx context.Context, cluster, namespace, name string) error {
	return r.c.DeleteCertificate(ctx, cluster, namespace, name)
}

func (r remote) CopySecret(ctx context.Context, cluster string, o kdu.SecretCopyOptions) (*kdu.SecretCopy, error) {
	return r.c.CopySecret(ctx, cluster, apiconv.SecretCopyRequest(o))
}

func (r remote) SetupRBAC(ctx context.Context, cluster string, o kdu.RBACOptions) (*kdu.RBAC, error) {
	return r.c.SetupRBAC(ctx, cluster, o.Namespace, o.Name, apiconv.RBACRequest(o))
}

func (r remote) Close() error { return r.c.Close() }
