package cli

import (
	"context"

	"github.com/kdu-io/kdu"
)

// Backend is what the CLI drives: the library (local mode) or a kdu server through its API client.
// *kdu.Manager and remote (a server's API client) implement it.
type Backend interface {
	AddCluster(ctx context.Context, spec kdu.ClusterSpec) (*kdu.Cluster, error)
	Clusters(ctx context.Context) ([]kdu.Cluster, error)
	GetCluster(ctx context.Context, ref string) (*kdu.Cluster, error)
	CheckCluster(ctx context.Context, ref string) (*kdu.Cluster, error)
	RemoveCluster(ctx context.Context, ref string, opts kdu.RemoveOptions) error

	AddRepo(ctx context.Context, cluster string, spec kdu.RepoSpec) (*kdu.Repo, error)
	Repos(ctx context.Context, cluster string) ([]kdu.Repo, error)
	RemoveRepo(ctx context.Context, cluster, name string) error
	UpdateRepos(ctx context.Context, cluster string, names ...string) ([]kdu.RepoUpdate, error)
	SyncRepos(ctx context.Context, cluster string, desired []kdu.RepoSpec) (*kdu.RepoSync, error)
	AddProjectRepo(ctx context.Context, project string, spec kdu.RepoSpec) (*kdu.Repo, error)
	ProjectRepos(ctx context.Context, project string) ([]kdu.Repo, error)
	RemoveProjectRepo(ctx context.Context, project, name string) error
	UpdateProjectRepos(ctx context.Context, project string, names ...string) ([]kdu.RepoUpdate, error)

	Install(ctx context.Context, cluster string, opts kdu.InstallOptions) (*kdu.Release, error)
	Upgrade(ctx context.Context, t kdu.Target, opts kdu.UpgradeOptions) (*kdu.Release, error)
	Scale(ctx context.Context, t kdu.Target, opts kdu.ScaleOptions) (*kdu.Release, error)
	Migrate(ctx context.Context, t kdu.Target, opts kdu.MigrateOptions) (*kdu.Release, error)
	ScaleCount(ctx context.Context, t kdu.Target, resource string) (int, error)
	Rollback(ctx context.Context, t kdu.Target, opts kdu.RollbackOptions) (*kdu.Release, error)
	Uninstall(ctx context.Context, t kdu.Target, opts kdu.UninstallOptions) (*kdu.Release, error)
	Status(ctx context.Context, t kdu.Target) (*kdu.Status, error)
	// Manifest returns the release's objects; maskSecrets hides Secrets' data values (a server decides by
	// the caller's token and ignores it).
	Manifest(ctx context.Context, t kdu.Target, maskSecrets bool) ([]map[string]any, error)
	List(ctx context.Context, cluster string, opts kdu.ListOptions) ([]kdu.Release, error)
	History(ctx context.Context, t kdu.Target) ([]kdu.Release, error)
	GetValues(ctx context.Context, t kdu.Target, all bool) (map[string]any, error)
	Services(ctx context.Context, t kdu.Target) ([]kdu.Service, error)
	ShowChart(ctx context.Context, opts kdu.ShowOptions) (*kdu.ChartInfo, error)

	CreateNamespace(ctx context.Context, cluster string, opts kdu.NamespaceOptions) (*kdu.Namespace, error)
	DeleteNamespace(ctx context.Context, cluster, name string) error
	CreateCertificate(ctx context.Context, cluster string, opts kdu.CertificateOptions) (*kdu.Certificate, error)
	DeleteCertificate(ctx context.Context, cluster, namespace, name string) error
	CopySecret(ctx context.Context, cluster string, opts kdu.SecretCopyOptions) (*kdu.SecretCopy, error)
	SetupRBAC(ctx context.Context, cluster string, opts kdu.RBACOptions) (*kdu.RBAC, error)

	Close() error
}

var _ Backend = (*kdu.Manager)(nil)
