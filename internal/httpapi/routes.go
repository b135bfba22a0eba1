package httpapi

import (
	"net/http"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
)

var (
	nsParam      = param{Name: "namespace", Type: "string", Desc: "the release's namespace; default: found by name across the cluster"}
	opListParams = []param{
		{Name: "cluster", Type: "string", Desc: "only operations on this cluster"},
		{Name: "kdu", Type: "string", Desc: "only operations on this release"},
		{Name: "state", Type: "string", Desc: "queued, running, succeeded, failed or cancelled"},
		{Name: "kind", Type: "string", Desc: "install, upgrade, scale, migrate, rollback or uninstall"},
		{Name: "limit", Type: "integer", Desc: "page size (default 100, at most 1000)"},
		{Name: "before", Type: "string", Desc: "the next page: the `next` of the previous one"},
	}
	e400, e404, e409, e413, e422, e502 = http.StatusBadRequest, http.StatusNotFound, http.StatusConflict,
		http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusBadGateway
	e403 = http.StatusForbidden
)

// table is every endpoint of the API.
func (s *Server) table() []*route {
	return []*route{
		// Service.
		{Method: "GET", Path: "/healthz", ID: "healthz", Summary: "liveness", Tag: "service", Public: true,
			Status: 200, Resp: api.Health{}, h: s.healthz},
		{Method: "GET", Path: "/readyz", ID: "readyz", Summary: "readiness: the store answers", Tag: "service", Public: true,
			Status: 200, Resp: api.Health{}, Errors: []int{http.StatusServiceUnavailable}, h: s.readyz},
		{Method: "GET", Path: "/metrics", ID: "metrics", Summary: "Prometheus metrics", Tag: "service", Public: true,
			Status: 200, Text: true, h: s.metrics},
		{Method: "GET", Path: "/v1/openapi.json", ID: "openapi", Summary: "this document", Tag: "service", Public: true,
			Status: 200, Resp: map[string]any{}, h: s.openapi},

		// Clusters.
		{Method: "GET", Path: "/v1/clusters", ID: "listClusters", Summary: "list the clusters the token may see", Tag: "clusters",
			Status: 200, Resp: api.List[kdu.Cluster]{}, h: s.listClusters},
		{Method: "POST", Path: "/v1/clusters", ID: "registerCluster", Summary: "register a cluster (checks that its API server answers)", Tag: "clusters",
			Write: true, Body: api.ClusterRequest{}, Status: 201, Resp: kdu.Cluster{}, Errors: []int{e400, e403, e409, e413, e422, e502}, h: s.registerCluster},
		{Method: "GET", Path: "/v1/clusters/{cluster}", ID: "getCluster", Summary: "get a cluster", Tag: "clusters",
			Status: 200, Resp: kdu.Cluster{}, Errors: []int{e404}, h: s.getCluster},
		{Method: "DELETE", Path: "/v1/clusters/{cluster}", ID: "deleteCluster", Summary: "remove a cluster", Tag: "clusters", Write: true, Long: true,
			Query: []param{{Name: "force", Type: "boolean", Desc: "uninstall its releases first"}, {Name: "forget", Type: "boolean", Desc: "remove it even if it cannot be reached (its releases stay)"},
				{Name: "uninstallSW", Type: "boolean", Desc: "on a helm2 cluster, also remove Tiller (its Deployment, Service, cluster role binding and service account) once its releases are gone; excludes forget"}},
			Status: 204, Errors: []int{e400, e403, e404, e409, e422, e502}, h: s.deleteCluster},
		{Method: "POST", Path: "/v1/clusters/{cluster}:check", ID: "checkCluster", Summary: "check that a cluster answers and record its version", Tag: "clusters", Write: true,
			Status: 200, Resp: kdu.Cluster{}, Errors: []int{e403, e404, e502}, h: s.checkCluster},

		// Repositories: a cluster's own, and those of projects (shared by the project's clusters).
		{Method: "GET", Path: "/v1/clusters/{cluster}/repos", ID: "listRepos", Summary: "list the chart repositories a cluster resolves against: its own, its project's, then the default stable repository", Tag: "repos",
			Status: 200, Resp: api.List[kdu.Repo]{}, Errors: []int{e404, e422}, h: s.listRepos},
		{Method: "POST", Path: "/v1/clusters/{cluster}/repos", ID: "addRepo", Summary: "add a chart repository or OCI registry to a cluster (its index is fetched, or the registry pinged)", Tag: "repos", Write: true,
			Body: api.RepoRequest{}, Status: 201, Resp: kdu.Repo{}, Errors: []int{e400, e403, e404, e409, e413, e422, e502}, h: s.addRepo},
		{Method: "DELETE", Path: "/v1/clusters/{cluster}/repos/{repo}", ID: "removeRepo", Summary: "remove a chart repository of a cluster", Tag: "repos", Write: true,
			Status: 204, Errors: []int{e403, e404, e422}, h: s.removeRepo},
		{Method: "POST", Path: "/v1/clusters/{cluster}/repos:update", ID: "updateRepos", Summary: "refresh the indexes of a cluster's repositories", Tag: "repos", Write: true,
			Body: api.RepoUpdateRequest{}, BodyOptional: true, Status: 200, Resp: api.List[kdu.RepoUpdate]{}, Errors: []int{e400, e403, e404, e413, e422, e502}, h: s.updateRepos},
		{Method: "POST", Path: "/v1/clusters/{cluster}/repos:sync", ID: "syncRepos", Summary: "make a cluster's own repositories exactly the list given (every entry is checked before anything changes)", Tag: "repos", Write: true,
			MaxBody: repoSyncMaxBody, Body: api.RepoSyncRequest{}, Status: 200, Resp: kdu.RepoSync{}, Errors: []int{e400, e403, e404, e409, e413, e422, e502}, h: s.syncRepos},
		{Method: "GET", Path: "/v1/projects/{project}/repos", ID: "listProjectRepos", Summary: "list a project's chart repositories ({project} \"-\" is the default project)", Tag: "repos",
			Status: 200, Resp: api.List[kdu.Repo]{}, Errors: []int{e404, e422}, h: s.listProjectRepos},
		{Method: "POST", Path: "/v1/projects/{project}/repos", ID: "addProjectRepo", Summary: "add a chart repository or OCI registry to a project, for all its clusters", Tag: "repos", Write: true,
			Body: api.RepoRequest{}, Status: 201, Resp: kdu.Repo{}, Errors: []int{e400, e403, e409, e413, e422, e502}, h: s.addProjectRepo},
		{Method: "DELETE", Path: "/v1/projects/{project}/repos/{repo}", ID: "removeProjectRepo", Summary: "remove a chart repository of a project", Tag: "repos", Write: true,
			Status: 204, Errors: []int{e403, e404, e422}, h: s.removeProjectRepo},
		{Method: "POST", Path: "/v1/projects/{project}/repos:update", ID: "updateProjectRepos", Summary: "refresh the indexes of a project's repositories", Tag: "repos", Write: true,
			Body: api.RepoUpdateRequest{}, BodyOptional: true, Status: 200, Resp: api.List[kdu.RepoUpdate]{}, Errors: []int{e400, e403, e404, e413, e422}, h: s.updateProjectRepos},

		// KDUs.
		{Method: "GET", Path: "/v1/clusters/{cluster}/kdus", ID: "listKdus", Summary: "list releases (every state)", Tag: "kdus",
			Query:  []param{{Name: "namespace", Type: "string", Desc: "only this namespace"}, {Name: "state", Type: "string", Desc: "comma-separated release states"}},
			Status: 200, Resp: api.List[kdu.Release]{}, Errors: []int{e404, e422, e502}, h: s.listKdus},
		{Method: "POST", Path: "/v1/clusters/{cluster}/kdus", ID: "installKdu", Summary: "install a chart (asynchronous)", Tag: "kdus", Write: true, Long: true,
			MaxBody: chartMaxBody, Body: api.InstallRequest{}, Status: 202, Resp: api.Operation{}, Errors: []int{e400, e403, e404, e409, e413, e422, e502}, h: s.install},
		{Method: "GET", Path: "/v1/clusters/{cluster}/kdus/{name}", ID: "kduStatus", Summary: "a release's status: its newest revision and the readiness of its objects", Tag: "kdus",
			Query:  []param{nsParam, {Name: "manifest", Type: "boolean", Desc: "add the release's objects as Helm recorded them (Secrets' data masked unless the caller is an admin)"}},
			Status: 200, Resp: kdu.Status{}, Errors: []int{e400, e404, e422, e502}, h: s.status},
		{Method: "DELETE", Path: "/v1/clusters/{cluster}/kdus/{name}", ID: "uninstallKdu", Summary: "uninstall a release (asynchronous; idempotent)", Tag: "kdus", Write: true, Long: true,
			Body: api.UninstallRequest{}, BodyOptional: true, Query: []param{nsParam}, Status: 202, Resp: api.Operation{}, Errors: []int{e400, e403, e404, e422}, h: s.uninstall},
		{Method: "POST", Path: "/v1/clusters/{cluster}/kdus/{name}:upgrade", ID: "upgradeKdu", Summary: "upgrade a release (asynchronous)", Tag: "kdus", Write: true, Long: true,
			MaxBody: chartMaxBody, Body: api.UpgradeRequest{}, Status: 202, Resp: api.Operation{}, Errors: []int{e400, e403, e404, e413, e422, e502}, h: s.upgrade},
		{Method: "POST", Path: "/v1/clusters/{cluster}/kdus/{name}:scale", ID: "scaleKdu", Summary: "set a release's replica count (asynchronous)", Tag: "kdus", Write: true, Long: true,
			Body: api.ScaleRequest{}, Status: 202, Resp: api.Operation{}, Errors: []int{e400, e403, e404, e422, e502}, h: s.scale},
		{Method: "POST", Path: "/v1/clusters/{cluster}/kdus/{name}:migrate", ID: "migrateKdu", Summary: "move a release to other nodes: an atomic upgrade of its current chart and values with a new nodeSelector and forceReplace (asynchronous)", Tag: "kdus", Write: true, Long: true,
			Body: api.MigrateRequest{}, Status: 202, Resp: api.Operation{}, Errors: []int{e400, e403, e404, e422, e502}, h: s.migrate},
		{Method: "POST", Path: "/v1/clusters/{cluster}/kdus:generateName", ID: "generateKduName", Summary: "a release name derived from a chart reference (N2VC's format), unused on the cluster at the time of the call", Tag: "kdus",
			Body: api.GenerateNameRequest{}, Status: 200, Resp: api.GeneratedName{}, Errors: []int{e400, e404, e422, e502}, h: s.generateName},
		{Method: "GET", Path: "/v1/clusters/{cluster}/services/{namespace}/{name}", ID: "getService", Summary: "one Service of the cluster (N2VC's get_service), in the shape of a release's services", Tag: "kdus",
			Status: 200, Resp: kdu.Service{}, Errors: []int{e404, e422, e502}, h: s.getService},
		{Method: "POST", Path: "/v1/clusters/{cluster}/kdus/{name}:execPrimitive", ID: "execPrimitive", Summary: "N2VC's exec_primitive: Helm KDUs support no primitives, so the answer is always 422 unsupported", Tag: "kdus",
			Body: api.PrimitiveRequest{}, Status: 422, Resp: api.ErrorResponse{}, Errors: []int{e400, e404}, h: s.execPrimitive},
		{Method: "POST", Path: "/v1/clusters/{cluster}/kdus/{name}:upgradeCharm", ID: "upgradeCharm", Summary: "N2VC's upgrade_charm: Helm KDUs have no charm, so the answer is always 422 unsupported", Tag: "kdus",
			Query: []param{nsParam}, Status: 422, Resp: api.ErrorResponse{}, Errors: []int{e404}, h: s.upgradeCharm},
		{Method: "POST", Path: "/v1/clusters/{cluster}/kdus/{name}:rollback", ID: "rollbackKdu", Summary: "roll a release back (asynchronous)", Tag: "kdus", Write: true, Long: true,
			Body: api.RollbackRequest{}, BodyOptional: true, Status: 202, Resp: api.Operation{}, Errors: []int{e400, e403, e404, e422, e502}, h: s.rollback},
		{Method: "GET", Path: "/v1/clusters/{cluster}/kdus/{name}/scale", ID: "kduScaleCount", Summary: "a release's replica count", Tag: "kdus",
			Query:  []param{nsParam, {Name: "resource", Type: "string", Desc: "the values key of the resource; default the top level"}},
			Status: 200, Resp: api.ScaleCount{}, Errors: []int{e404, e422, e502}, h: s.scaleCount},
		{Method: "GET", Path: "/v1/clusters/{cluster}/kdus/{name}/history", ID: "kduHistory", Summary: "a release's revisions, oldest first", Tag: "kdus",
			Query: []param{nsParam}, Status: 200, Resp: api.List[kdu.Release]{}, Errors: []int{e404, e422, e502}, h: s.history},
		{Method: "GET", Path: "/v1/clusters/{cluster}/kdus/{name}/values", ID: "kduValues", Summary: "a release's user-supplied values (or all with ?all=true)", Tag: "kdus",
			Query: []param{nsParam, {Name: "all", Type: "boolean", Desc: "every computed value"}}, Status: 200, Resp: map[string]any{}, Errors: []int{e404, e422, e502}, h: s.values},
		{Method: "GET", Path: "/v1/clusters/{cluster}/kdus/{name}/services", ID: "kduServices", Summary: "a release's Services", Tag: "kdus",
			Query: []param{nsParam}, Status: 200, Resp: api.List[kdu.Service]{}, Errors: []int{e404, e422, e502}, h: s.services},

		// Kubernetes helpers: synchronous calls on a cluster besides Helm, each idempotent.
		{Method: "PUT", Path: "/v1/clusters/{cluster}/namespaces/{name}", ID: "putNamespace", Summary: "create a namespace with labels, or merge the labels into an existing one (nothing else of it changes)", Tag: "kubernetes", Write: true,
			Body: api.NamespaceRequest{}, BodyOptional: true, Status: 200, Resp: kdu.Namespace{}, Errors: []int{e400, e403, e404, e409, e413, e422, e502}, h: s.putNamespace},
		{Method: "DELETE", Path: "/v1/clusters/{cluster}/namespaces/{name}", ID: "deleteNamespace", Summary: "delete a namespace and everything in it; Kubernetes finishes in the background (a missing or terminating namespace is success; Kubernetes' own are refused)", Tag: "kubernetes", Write: true,
			Status: 204, Errors: []int{e403, e404, e422, e502}, h: s.deleteNamespace},
		{Method: "PUT", Path: "/v1/clusters/{cluster}/namespaces/{namespace}/certificates/{name}", ID: "putCertificate", Summary: "create or update a cert-manager Certificate (cert-manager.io/v1) for the DNS names of a prefix in the namespace; 422 unsupported when the CRD certificates.cert-manager.io is not installed", Tag: "kubernetes", Write: true,
			Body: api.CertificateRequest{}, Status: 200, Resp: kdu.Certificate{}, Errors: []int{e400, e403, e404, e409, e413, e422, e502}, h: s.putCertificate},
		{Method: "DELETE", Path: "/v1/clusters/{cluster}/namespaces/{namespace}/certificates/{name}", ID: "deleteCertificate", Summary: "delete a cert-manager Certificate (a missing one, namespace or CRD is success)", Tag: "kubernetes", Write: true,
			Status: 204, Errors: []int{e403, e404, e422, e502}, h: s.deleteCertificate},
		{Method: "POST", Path: "/v1/clusters/{cluster}/secrets:copy", ID: "copySecret", Summary: "copy one key of a Secret into a new Opaque Secret (404 naming source.name or source.key when missing; 409 when the target exists with other content)", Tag: "kubernetes", Write: true,
			Body: api.SecretCopyRequest{}, Status: 200, Resp: kdu.SecretCopy{}, Errors: []int{e400, e403, e404, e409, e413, e422, e502}, h: s.copySecret},
		{Method: "PUT", Path: "/v1/clusters/{cluster}/namespaces/{namespace}/rbac/{name}", ID: "putRBAC", Summary: "create or update a Role with the rules and a RoleBinding of the same name granting it to a service account of the namespace", Tag: "kubernetes", Write: true,
			Body: api.RBACRequest{}, Status: 200, Resp: kdu.RBAC{}, Errors: []int{e400, e403, e404, e409, e413, e422, e502}, h: s.putRBAC},

		// Charts.
		{Method: "POST", Path: "/v1/charts:show", ID: "showChart", Summary: "a chart's metadata, default values, values schema, README, dependencies and digest", Tag: "charts",
			MaxBody: chartMaxBody, Body: api.ShowRequest{}, Status: 200, Resp: kdu.ChartInfo{}, Errors: []int{e400, e404, e413, e422, e502}, h: s.showChart},

		// Operations.
		{Method: "GET", Path: "/v1/operations", ID: "listOperations", Summary: "list operations, newest first", Tag: "operations",
			Query: opListParams, Status: 200, Resp: api.List[api.Operation]{}, Errors: []int{e400}, h: s.listOperations},
		{Method: "GET", Path: "/v1/operations/{id}", ID: "getOperation", Summary: "get an operation", Tag: "operations",
			Query: []param{{Name: "wait", Type: "boolean", Desc: "block until it ends (or the server's wait limit)"}}, Long: true,
			Status: 200, Resp: api.Operation{}, Errors: []int{e404}, h: s.getOperation},
		{Method: "POST", Path: "/v1/operations/{id}:cancel", ID: "cancelOperation", Summary: "cancel an operation: a queued one at once, a running one stops its wait and rolls back if atomic", Tag: "operations", Write: true,
			Status: 202, Resp: api.Operation{}, Errors: []int{e403, e404, e409}, h: s.cancelOperation},
		{Method: "GET", Path: "/v1/operations/{id}/events", ID: "operationEvents", Summary: "Server-Sent Events: the operation now, then each change until it ends", Tag: "operations", Long: true,
			Status: 200, Stream: true, Errors: []int{e404}, h: s.operationEvents},
		{Method: "GET", Path: "/v1/events", ID: "events", Summary: "Server-Sent Events: every change of every operation the token may see", Tag: "operations", Long: true,
			Query: []param{{Name: "cluster", Type: "string", Desc: "only this cluster"}}, Status: 200, Stream: true, h: s.events},
	}
}
