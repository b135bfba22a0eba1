package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/httpapi"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/ocitest"
	"github.com/kdu-io/kdu/internal/testkit/pkitest"
)

// repoTestPassword is the password of every protected repository and registry of TestRepos.
const repoTestPassword = "kdu-repo-pw-9f3e1c77"

// repoTestKeys are the TLS client keys TestRepos gave the service: the secrets test looks for them.
var repoTestKeys [][]byte

func boolPtr(b bool) *bool { return &b }

// TestRepos covers chart sources through the API: TLS, basic auth and mutual TLS repositories, repos:sync,
// project repositories and their authorization, OCI registries, verification and values schemas.
func TestRepos(t *testing.T) {
	admin, adminHash := newBearer(t)
	alpha, alphaHash := newBearer(t)
	beta, betaHash := newBearer(t)
	s := startService(t, serve.Options{TokenFile: writeTokenFile(t,
		httpapi.TokenEntry{Name: "root", SHA256: adminHash, Admin: true},
		httpapi.TokenEntry{Name: "alpha-lcm", SHA256: alphaHash, Projects: []string{"alpha"}},
		httpapi.TokenEntry{Name: "beta-lcm", SHA256: betaHash, Projects: []string{"beta"}},
	)})
	s.registerDev(alpha, "ra", "alpha")
	s.registerDev(alpha, "rs", "alpha")
	s.registerDev(beta, "rb", "beta")
	ns := tc.Namespace(t)
	webapp := webappDir(t)
	pki := pkitest.New(t)
	repoTestKeys = append(repoTestKeys, pki.ClientKeyPEM())

	// on gives a subtest its own view of the service, so that its failures are its own.
	on := func(t *testing.T) *svc {
		sub := *s
		sub.t = t
		return &sub
	}

	// noSecrets fails the test if a response body holds the password or the client key.
	noSecrets := func(t *testing.T, what string, body []byte) {
		t.Helper()
		for _, secret := range [][]byte{[]byte(repoTestPassword), pki.ClientKeyPEM(), []byte("PRIVATE KEY")} {
			if bytes.Contains(body, secret) {
				t.Fatalf("%s answered a secret: %.80q…", what, secret)
			}
		}
	}

	t.Run("TLS, basic auth and mutual TLS", func(t *testing.T) {
		s := on(t)
		repo := chartrepotest.NewWithOptions(t, webapp, chartrepotest.Options{User: "deploy", Pass: repoTestPassword, TLS: pki, MutualTLS: true})
		req := api.RepoRequest{Name: "secure", URL: repo.URL, Username: "deploy", Password: repoTestPassword,
			CACert: string(pki.CAPEM()), ClientCert: string(pki.ClientCertPEM()), ClientKey: string(pki.ClientKeyPEM())}

		// Without the client certificate the TLS handshake fails: nothing is stored.
		noClient := req
		noClient.ClientCert, noClient.ClientKey = "", ""
		s.wantError(http.StatusUnprocessableEntity, "invalid", "url", "POST", "/v1/clusters/ra/repos", alpha, noClient)
		// With a wrong password: refused on the password field, naming the repository and the 401.
		wrong := req
		wrong.Password = repoTestPassword + "-wrong"
		e := s.wantError(http.StatusUnprocessableEntity, "invalid", "password", "POST", "/v1/clusters/ra/repos", alpha, wrong)
		if !strings.Contains(e.Message, `"secure"`) || !strings.Contains(e.Message, "401") {
			t.Errorf("wrong password: %q does not name the repository and its 401", e.Message)
		}
		// A key that does not parse is refused before anything is contacted.
		badKey := req
		badKey.ClientKey = "-----BEGIN EC PRIVATE KEY-----\nbm90IGEga2V5\n-----END EC PRIVATE KEY-----\n"
		s.wantError(http.StatusUnprocessableEntity, "invalid", "clientCert", "POST", "/v1/clusters/ra/repos", alpha, badKey)

		status, body := s.call("POST", "/v1/clusters/ra/repos", alpha, req)
		if status != http.StatusCreated {
			t.Fatalf("add: %d %s", status, body)
		}
		noSecrets(t, "add", body)
		var r kdu.Repo
		mustUnmarshal(t, body, &r)
		if r.Name != "secure" || r.Scope != kdu.ScopeCluster || r.Cluster != "ra" || r.Type != kdu.RepoTypeHTTP || r.Username != "deploy" ||
			!r.HasPassword || !r.HasCACert || !r.HasClientCert || r.HasKeyring {
			t.Fatalf("added repository: %+v", r)
		}
		status, body = s.call("GET", "/v1/clusters/ra/repos", alpha, nil)
		if status != http.StatusOK {
			t.Fatalf("list: %d %s", status, body)
		}
		noSecrets(t, "list", body)
		var rs api.List[kdu.Repo]
		mustUnmarshal(t, body, &rs)
		if len(rs.Items) != 1 || rs.Items[0].Name != "secure" || !rs.Items[0].HasClientCert {
			t.Fatalf("repositories of ra: %+v", rs.Items)
		}
		// The stored credentials and TLS material work: a chart comes through them.
		var info kdu.ChartInfo
		s.callJSON(http.StatusOK, "POST", "/v1/charts:show", alpha, api.ShowRequest{Cluster: "ra", ChartSource: api.ChartSource{Chart: "secure/webapp:0.2.0"}}, &info)
		if info.Metadata.Version != "0.2.0" || !strings.HasPrefix(info.Digest, "sha256:") {
			t.Fatalf("show through the TLS repository: %+v digest %q", info.Metadata, info.Digest)
		}
		var ups api.List[kdu.RepoUpdate]
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/ra/repos:update", alpha, api.RepoUpdateRequest{Names: []string{"secure"}}, &ups)
		if len(ups.Items) != 1 || ups.Items[0].Error != "" || ups.Items[0].Versions != len(chartrepotest.Versions) {
			t.Fatalf("update: %+v", ups.Items)
		}
		s.callJSON(http.StatusNoContent, "DELETE", "/v1/clusters/ra/repos/secure", alpha, nil, nil)
	})

	t.Run("sync", func(t *testing.T) {
		s := on(t)
		a := chartrepotest.New(t, webapp, "", "")
		b := chartrepotest.New(t, webapp, "", "")
		c := chartrepotest.New(t, webapp, "", "")
		sync := func(want int, repos []api.RepoRequest) kdu.RepoSync {
			t.Helper()
			var res kdu.RepoSync
			s.callJSON(want, "POST", "/v1/clusters/rs/repos:sync", alpha, api.RepoSyncRequest{Repos: repos}, &res)
			return res
		}
		names := func() string {
			t.Helper()
			var rs api.List[kdu.Repo]
			s.callJSON(http.StatusOK, "GET", "/v1/clusters/rs/repos", alpha, nil, &rs)
			var out []string
			for _, r := range rs.Items {
				if r.Scope == kdu.ScopeCluster {
					out = append(out, r.ID+"="+r.Name+"@"+r.URL)
				}
			}
			return strings.Join(out, " ")
		}
		checkSync(t, sync(http.StatusOK, []api.RepoRequest{
			{ID: "id-a", Name: "sa", URL: a.URL}, {ID: "id-b", Name: "sb", URL: b.URL}, {ID: "id-c", Name: "sc", URL: c.URL},
		}), "id-a=sa id-b=sb id-c=sc", "", "", 0)
		before := names()
		// sa unchanged, sb moves to another URL, sc goes, sd comes.
		checkSync(t, sync(http.StatusOK, []api.RepoRequest{
			{ID: "id-a", Name: "sa", URL: a.URL}, {ID: "id-b", Name: "sb", URL: c.URL}, {ID: "id-d", Name: "sd", URL: b.URL},
		}), "id-d=sd", "id-b=sb", "id-c=sc", 1)
		after := names()
		if want := "id-a=sa@" + a.URL + " id-b=sb@" + c.URL + " id-d=sd@" + b.URL; after != want {
			t.Fatalf("repositories after the second sync: %s, want %s (before: %s)", after, want, before)
		}
		// The same list again changes nothing.
		checkSync(t, sync(http.StatusOK, []api.RepoRequest{
			{ID: "id-a", Name: "sa", URL: a.URL}, {ID: "id-b", Name: "sb", URL: c.URL}, {ID: "id-d", Name: "sd", URL: b.URL},
		}), "", "", "", 3)

		// One invalid entry fails the whole sync, naming it, and nothing changes.
		s.wantError(http.StatusUnprocessableEntity, "invalid", "repos[1].url", "POST", "/v1/clusters/rs/repos:sync", alpha,
			api.RepoSyncRequest{Repos: []api.RepoRequest{{ID: "id-a", Name: "sa", URL: b.URL}, {ID: "id-x", Name: "sx", URL: "ftp://127.0.0.1/charts"}}})
		// So does one that cannot be reached (checked before anything changes).
		s.wantError(http.StatusUnprocessableEntity, "invalid", "repos[1].url", "POST", "/v1/clusters/rs/repos:sync", alpha,
			api.RepoSyncRequest{Repos: []api.RepoRequest{{ID: "id-a", Name: "sa", URL: b.URL}, {ID: "id-x", Name: "sx", URL: "http://127.0.0.1:1/charts"}}})
		s.wantError(http.StatusUnprocessableEntity, "invalid", "repos[1].name", "POST", "/v1/clusters/rs/repos:sync", alpha,
			api.RepoSyncRequest{Repos: []api.RepoRequest{{Name: "sa", URL: a.URL}, {Name: "sa", URL: b.URL}}})
		// A body without the list is refused rather than read as "remove everything".
		s.wantError(http.StatusUnprocessableEntity, "invalid", "repos", "POST", "/v1/clusters/rs/repos:sync", alpha, `{}`)
		s.wantError(http.StatusBadRequest, "malformed", "repos", "POST", "/v1/clusters/rs/repos:sync", alpha, `{"repos": {"name": "x"}}`)
		if got := names(); got != after {
			t.Fatalf("refused syncs changed the repositories: %s, was %s", got, after)
		}
		// Another project's token may not sync this cluster.
		s.wantError(http.StatusForbidden, "forbidden", "cluster", "POST", "/v1/clusters/rs/repos:sync", beta, api.RepoSyncRequest{Repos: []api.RepoRequest{}})

		// Through the Go client: an empty list removes them all.
		res, err := s.client(alpha).SyncRepos(context.Background(), "rs", nil)
		if err != nil {
			t.Fatal(err)
		}
		checkSync(t, *res, "", "", "id-a=sa id-b=sb id-d=sd", 0)
		if got := names(); got != "" {
			t.Fatalf("repositories after syncing to nothing: %s", got)
		}
	})

	t.Run("project repositories", func(t *testing.T) {
		s := on(t)
		repo := chartrepotest.New(t, webapp, "deploy", repoTestPassword)
		shared := api.RepoRequest{Name: "shared", URL: repo.URL, Username: "deploy", Password: repoTestPassword}
		// Only alpha (and admins) act on alpha's repositories; only admins on the default project's.
		s.wantError(http.StatusForbidden, "forbidden", "project", "POST", "/v1/projects/alpha/repos", beta, shared)
		s.wantError(http.StatusForbidden, "forbidden", "project", "POST", "/v1/projects/-/repos", alpha, shared)
		s.wantError(http.StatusUnprocessableEntity, "invalid", "project", "GET", "/v1/projects/-bad/repos", alpha, nil)
		wrong := shared
		wrong.Password = "not-" + repoTestPassword
		s.wantError(http.StatusUnprocessableEntity, "invalid", "password", "POST", "/v1/projects/alpha/repos", alpha, wrong)

		status, body := s.call("POST", "/v1/projects/alpha/repos", alpha, shared)
		if status != http.StatusCreated {
			t.Fatalf("add project repository: %d %s", status, body)
		}
		noSecrets(t, "add project repository", body)
		var r kdu.Repo
		mustUnmarshal(t, body, &r)
		if r.Scope != kdu.ScopeProject || r.Project != "alpha" || r.Cluster != "" || !r.HasPassword {
			t.Fatalf("project repository: %+v", r)
		}
		s.wantError(http.StatusConflict, "exists", "", "POST", "/v1/projects/alpha/repos", alpha, shared)

		var rs api.List[kdu.Repo]
		for _, tok := range []string{alpha, admin} {
			s.callJSON(http.StatusOK, "GET", "/v1/projects/alpha/repos", tok, nil, &rs)
			if len(rs.Items) != 1 || rs.Items[0].Name != "shared" {
				t.Fatalf("alpha's repositories: %+v", rs.Items)
			}
		}
		s.callJSON(http.StatusOK, "GET", "/v1/projects/-/repos", admin, nil, &rs)
		if len(rs.Items) != 0 {
			t.Fatalf("default project's repositories: %+v", rs.Items)
		}
		// Beta sees neither alpha's repositories nor the default project's, and changes nothing of them.
		s.wantError(http.StatusNotFound, "not_found", "project", "GET", "/v1/projects/alpha/repos", beta, nil)
		s.wantError(http.StatusNotFound, "not_found", "project", "GET", "/v1/projects/-/repos", beta, nil)
		s.wantError(http.StatusForbidden, "forbidden", "project", "DELETE", "/v1/projects/alpha/repos/shared", beta, nil)
		s.wantError(http.StatusForbidden, "forbidden", "project", "POST", "/v1/projects/alpha/repos:update", beta, nil)
		s.wantError(http.StatusNotFound, "not_found", "", "DELETE", "/v1/projects/alpha/repos/nosuch", alpha, nil)
		s.wantError(http.StatusNotFound, "not_found", "", "POST", "/v1/projects/alpha/repos:update", alpha, api.RepoUpdateRequest{Names: []string{"nosuch"}})

		// Alpha's clusters resolve against it.
		s.callJSON(http.StatusOK, "GET", "/v1/clusters/ra/repos", alpha, nil, &rs)
		if len(rs.Items) != 1 || rs.Items[0].Name != "shared" || rs.Items[0].Scope != kdu.ScopeProject {
			t.Fatalf("repositories of ra: %+v", rs.Items)
		}
		var ups api.List[kdu.RepoUpdate]
		s.callJSON(http.StatusOK, "POST", "/v1/projects/alpha/repos:update", alpha, nil, &ups)
		if len(ups.Items) != 1 || ups.Items[0].Scope != kdu.ScopeProject || ups.Items[0].Error != "" || ups.Items[0].Versions != len(chartrepotest.Versions) {
			t.Fatalf("project update: %+v", ups.Items)
		}
		var op api.Operation
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/ra/kdus?wait=true", alpha, api.InstallRequest{
			Name: "rp-shared", Namespace: ns, ChartSource: api.ChartSource{Chart: "shared/webapp:0.1.0"}, Wait: api.Wait{Wait: boolPtr(true)},
		}, &op)
		if op.State != api.Succeeded || op.Release == nil || op.Release.State != "deployed" || op.Release.Chart != "webapp-0.1.0" {
			t.Fatalf("install from the project repository: %+v (error %+v)", op, op.Error)
		}
		t.Cleanup(func() { uninstall(s, alpha, "ra", "rp-shared", ns) })

		// Beta's cluster does not resolve alpha's repository.
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/rb/kdus?wait=true", beta, api.InstallRequest{
			Name: "rp-stolen", Namespace: ns, ChartSource: api.ChartSource{Chart: "shared/webapp:0.1.0"},
		}, &op)
		if op.State != api.Failed || op.Error == nil || op.Error.Code != "invalid" || op.Error.Field != "chart" {
			t.Fatalf("install of alpha's repository chart on beta's cluster: %+v (error %+v)", op, op.Error)
		}
		s.wantError(http.StatusNotFound, "not_found", "", "GET", "/v1/clusters/rb/kdus/rp-stolen?namespace="+ns, beta, nil)

		// The Go client covers the same endpoints.
		cl := s.client(alpha)
		ctx := context.Background()
		if _, err := cl.AddProjectRepo(ctx, "alpha", api.RepoRequest{Name: "shared", URL: repo.URL, Username: "deploy", Password: repoTestPassword}); !errors.Is(err, kdu.ErrExists) {
			t.Fatalf("client AddProjectRepo of an existing repository: %v", err)
		}
		if _, err := s.client(beta).ProjectRepos(ctx, "alpha"); !errors.Is(err, kdu.ErrNotFound) {
			t.Fatalf("client ProjectRepos of another project: %v", err)
		}
		if us, err := cl.UpdateProjectRepos(ctx, "alpha", "shared"); err != nil || len(us) != 1 || us[0].Error != "" {
			t.Fatalf("client UpdateProjectRepos: %+v %v", us, err)
		}
		if err := cl.RemoveProjectRepo(ctx, "alpha", "shared"); err != nil {
			t.Fatal(err)
		}
		if list, err := cl.ProjectRepos(ctx, "alpha"); err != nil || len(list) != 0 {
			t.Fatalf("client ProjectRepos after removal: %+v %v", list, err)
		}
		// The default project, through an admin client.
		if r, err := s.client(admin).AddProjectRepo(ctx, "", api.RepoRequest{Name: "everyone", URL: repo.URL, Username: "deploy", Password: repoTestPassword}); err != nil || r.Scope != kdu.ScopeProject || r.Project != "" {
			t.Fatalf("client AddProjectRepo on the default project: %+v %v", r, err)
		}
		s.callJSON(http.StatusNoContent, "DELETE", "/v1/projects/-/repos/everyone", admin, nil, nil)
	})

	t.Run("OCI", func(t *testing.T) {
		s := on(t)
		reg := ocitest.New(t, ocitest.Options{User: "puller", Pass: repoTestPassword})
		ref, digest := reg.Push(t, "charts", chartrepotest.Package(t, webapp, "0.1.0"), nil)
		if ref != "oci://"+reg.Host()+"/charts/webapp:0.1.0" {
			t.Fatalf("pushed %s", ref)
		}
		// Without a cluster, no registered settings apply: TLS to a plain-HTTP registry fails (502 repo_unreachable).
		s.wantError(http.StatusBadGateway, "repo_unreachable", "", "POST", "/v1/charts:show", alpha, api.ShowRequest{ChartSource: api.ChartSource{Chart: ref}})
		req := api.RepoRequest{Name: "oci", URL: "oci://" + reg.Host() + "/charts", Username: "puller", Password: repoTestPassword}
		// Over TLS (the default) the plain-HTTP registry does not answer.
		s.wantError(http.StatusUnprocessableEntity, "invalid", "url", "POST", "/v1/clusters/ra/repos", alpha, req)
		req.PlainHTTP = true
		wrong := req
		wrong.Password = "nope"
		s.wantError(http.StatusUnprocessableEntity, "invalid", "password", "POST", "/v1/clusters/ra/repos", alpha, wrong)
		var r kdu.Repo
		s.callJSON(http.StatusCreated, "POST", "/v1/clusters/ra/repos", alpha, req, &r)
		if r.Type != kdu.RepoTypeOCI || !r.PlainHTTP || !r.HasPassword {
			t.Fatalf("OCI repository: %+v", r)
		}
		// By repository name, and by digest with verification: the cluster's registry settings apply.
		var info kdu.ChartInfo
		s.callJSON(http.StatusOK, "POST", "/v1/charts:show", alpha, api.ShowRequest{Cluster: "ra", ChartSource: api.ChartSource{Chart: "oci/webapp:0.1.0"}}, &info)
		if info.Metadata.Name != "webapp" || info.Metadata.Version != "0.1.0" {
			t.Fatalf("show oci/webapp:0.1.0: %+v", info.Metadata)
		}
		// A tag is not pinned and the chart carries no provenance: verification refuses it.
		s.wantError(http.StatusUnprocessableEntity, "verification_failed", "", "POST", "/v1/charts:show", alpha,
			api.ShowRequest{Cluster: "ra", ChartSource: api.ChartSource{Chart: ref, Verify: true}})
		byDigest := "oci://" + reg.Host() + "/charts/webapp@" + digest
		var op api.Operation
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/ra/kdus?wait=true", alpha, api.InstallRequest{
			Name: "rp-oci", Namespace: ns, ChartSource: api.ChartSource{Chart: byDigest, Verify: true}, Wait: api.Wait{Wait: boolPtr(true)},
		}, &op)
		if op.State != api.Succeeded || op.Release == nil || op.Release.State != "deployed" || op.Release.Chart != "webapp-0.1.0" {
			t.Fatalf("install by digest: %+v (error %+v)", op, op.Error)
		}
		t.Cleanup(func() { uninstall(s, alpha, "ra", "rp-oci", ns) })
		s.callJSON(http.StatusNoContent, "DELETE", "/v1/clusters/ra/repos/oci", alpha, nil, nil)
	})

	t.Run("verification", func(t *testing.T) {
		s := on(t)
		signer := chartrepotest.NewSigner(t)
		repo := chartrepotest.NewWithOptions(t, webapp, chartrepotest.Options{Signer: signer, TamperVersion: "0.2.0"})
		var r kdu.Repo
		s.callJSON(http.StatusCreated, "POST", "/v1/clusters/ra/repos", alpha, api.RepoRequest{Name: "signed", URL: repo.URL, Keyring: string(signer.Keyring())}, &r)
		if !r.HasKeyring {
			t.Fatalf("signed repository: %+v", r)
		}
		s.wantError(http.StatusUnprocessableEntity, "invalid", "keyring", "POST", "/v1/clusters/ra/repos", alpha,
			api.RepoRequest{Name: "badkeys", URL: repo.URL, Keyring: "not a keyring"})
		var info kdu.ChartInfo
		s.callJSON(http.StatusOK, "POST", "/v1/charts:show", alpha, api.ShowRequest{Cluster: "ra", ChartSource: api.ChartSource{Chart: "signed/webapp:0.1.0", Verify: true}}, &info)
		if info.Metadata.Version != "0.1.0" {
			t.Fatalf("show verified: %+v", info.Metadata)
		}
		s.wantError(http.StatusUnprocessableEntity, "verification_failed", "", "POST", "/v1/charts:show", alpha,
			api.ShowRequest{Cluster: "ra", ChartSource: api.ChartSource{Chart: "signed/webapp:0.2.0", Verify: true}})
		if _, err := s.client(alpha).ShowChart(context.Background(), api.ShowRequest{Cluster: "ra", ChartSource: api.ChartSource{Chart: "signed/webapp:0.2.0", Verify: true}}); !errors.Is(err, kdu.ErrVerification) {
			t.Fatalf("client ShowChart of a tampered chart: %v, want kdu.ErrVerification", err)
		}
		// Without verification the tampered provenance is not looked at.
		s.callJSON(http.StatusOK, "POST", "/v1/charts:show", alpha, api.ShowRequest{Cluster: "ra", ChartSource: api.ChartSource{Chart: "signed/webapp:0.2.0"}}, &info)

		var op api.Operation
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/ra/kdus?wait=true", alpha, api.InstallRequest{
			Name: "rp-tampered", Namespace: ns, ChartSource: api.ChartSource{Chart: "signed/webapp:0.2.0", Verify: true},
		}, &op)
		if op.State != api.Failed || op.Error == nil || op.Error.Code != "verification_failed" || op.Release != nil {
			t.Fatalf("install of a tampered chart: %+v (error %+v)", op, op.Error)
		}
		s.wantError(http.StatusNotFound, "not_found", "", "GET", "/v1/clusters/ra/kdus/rp-tampered?namespace="+ns, alpha, nil)
		// An uploaded archive has no provenance: refused at once.
		s.wantError(http.StatusUnprocessableEntity, "verification_failed", "", "POST", "/v1/clusters/ra/kdus", alpha, api.InstallRequest{
			Name: "rp-upload", Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webapp, "0.1.0"), Verify: true},
		})
		s.callJSON(http.StatusNoContent, "DELETE", "/v1/clusters/ra/repos/signed", alpha, nil, nil)
	})

	t.Run("unreachable sources", func(t *testing.T) {
		s := on(t)
		s.wantError(http.StatusBadGateway, "repo_unreachable", "", "POST", "/v1/charts:show", alpha,
			api.ShowRequest{ChartSource: api.ChartSource{Chart: "webapp", RepoURL: "http://127.0.0.1:1/charts"}})
		protected := chartrepotest.New(t, webapp, "deploy", repoTestPassword)
		s.wantError(http.StatusBadGateway, "repo_unauthorized", "", "POST", "/v1/charts:show", alpha,
			api.ShowRequest{ChartSource: api.ChartSource{Chart: "webapp", RepoURL: protected.URL}})
	})

	t.Run("values schema", func(t *testing.T) {
		s := on(t)
		dir := filepath.Join(t.TempDir(), "schemachart")
		schema := `{"$schema": "https://json-schema.org/draft-07/schema#", "type": "object",
 "properties": {"replicaCount": {"type": "integer", "minimum": 0}}, "required": ["replicaCount"]}`
		for name, content := range map[string]string{
			"Chart.yaml": "apiVersion: v2\nname: schemachart\nversion: 0.1.0\ndependencies:\n  - name: webapp\n    version: 0.1.0\n" +
				"    repository: https://charts.example.com\n    condition: webapp.enabled\n",
			"values.yaml":        "replicaCount: 1\n",
			"values.schema.json": schema,
			"templates/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
		} {
			path := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var info kdu.ChartInfo
		s.callJSON(http.StatusOK, "POST", "/v1/charts:show", alpha, api.ShowRequest{ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, dir, "0.1.0")}}, &info)
		if info.Schema != schema {
			t.Errorf("schema: %q, want %q", info.Schema, schema)
		}
		if len(info.Dependencies) != 1 || info.Dependencies[0].Name != "webapp" || info.Dependencies[0].Condition != "webapp.enabled" {
			t.Errorf("dependencies: %+v", info.Dependencies)
		}
		if !strings.HasPrefix(info.Digest, "sha256:") {
			t.Errorf("digest: %q", info.Digest)
		}
		// A chart without a schema has none.
		var plain kdu.ChartInfo
		s.callJSON(http.StatusOK, "POST", "/v1/charts:show", alpha, api.ShowRequest{ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webapp, "0.1.0")}}, &plain)
		if plain.Metadata.Name != "webapp" || plain.Schema != "" || len(plain.Dependencies) != 0 {
			t.Errorf("webapp: %+v schema %q, dependencies %+v", plain.Metadata, plain.Schema, plain.Dependencies)
		}
	})
}

// checkSync compares a sync result with "id=name ..." lists and the unchanged count.
func checkSync(t *testing.T, res kdu.RepoSync, added, updated, removed string, unchanged int) {
	t.Helper()
	str := func(cs []kdu.RepoChange) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID+"="+c.Name)
		}
		return strings.Join(out, " ")
	}
	if str(res.Added) != added || str(res.Updated) != updated || str(res.Removed) != removed || res.Unchanged != unchanged {
		t.Fatalf("sync: added %q updated %q removed %q unchanged %d; want %q %q %q %d",
			str(res.Added), str(res.Updated), str(res.Removed), res.Unchanged, added, updated, removed, unchanged)
	}
}

// uninstall removes a release at the end of a test.
func uninstall(s *svc, token, cluster, name, ns string) {
	s.t.Helper()
	var op api.Operation
	s.callJSON(http.StatusAccepted, "DELETE", "/v1/clusters/"+cluster+"/kdus/"+name+"?namespace="+ns, token, nil, &op)
	if op = s.waitOp(token, op.ID); op.State != api.Succeeded {
		s.t.Errorf("uninstall %s: %+v", name, op.Error)
	}
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}
