package kdu_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/ocitest"
	"github.com/kdu-io/kdu/internal/testkit/pkitest"
)

// releaseAbsent fails the test if a release of that name exists in the env's namespace.
func (e *env) releaseAbsent(name string) {
	e.t.Helper()
	if _, err := e.m.Status(e.ctx, e.target(name)); !errors.Is(err, kdu.ErrNotFound) {
		e.t.Fatalf("release %s: %v, want it not to exist", name, err)
	}
}

func TestRepositoryTLS(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	pki := pkitest.New(t)
	tlsRepo := chartrepotest.NewWithOptions(t, webapp(t), chartrepotest.Options{User: "kdu", Pass: "tls-pass-1", TLS: pki})
	mtlsRepo := chartrepotest.NewWithOptions(t, webapp(t), chartrepotest.Options{TLS: pki, MutualTLS: true})

	// Unknown CA, wrong CA, garbage CA: clear errors, nothing stored.
	for _, tc := range []struct {
		spec  kdu.RepoSpec
		field string
		text  string
	}{
		{kdu.RepoSpec{Name: "tls", URL: tlsRepo.URL, Username: "kdu", Password: "tls-pass-1"}, "url", "certificate"},
		{kdu.RepoSpec{Name: "tls", URL: tlsRepo.URL, Username: "kdu", Password: "tls-pass-1", CACert: pki.OtherCAPEM()}, "url", "certificate"},
		{kdu.RepoSpec{Name: "tls", URL: tlsRepo.URL, CACert: []byte("not pem")}, "caCert", "PEM"},
		{kdu.RepoSpec{Name: "tls", URL: tlsRepo.URL, CACert: pki.CAPEM(), CertPEM: pki.ClientCertPEM()}, "clientCert", "key"},
		{kdu.RepoSpec{Name: "tls", URL: tlsRepo.URL, CACert: pki.CAPEM(), Username: "kdu", Password: "wrong"}, "password", "401"},
		{kdu.RepoSpec{Name: "mtls", URL: mtlsRepo.URL, CACert: pki.CAPEM()}, "url", ""},
		{kdu.RepoSpec{Name: "mtls", URL: mtlsRepo.URL, CACert: pki.CAPEM(), CertPEM: pki.OtherClientCertPEM(), KeyPEM: pki.OtherClientKeyPEM()}, "url", ""},
	} {
		_, err := e.m.AddRepo(e.ctx, clusterID, tc.spec)
		wantErr(t, err, kdu.ErrInvalid, tc.field)
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("add %s: error %q does not mention %q", tc.spec.Name, err, tc.text)
		}
		if tc.field == "password" && !strings.Contains(err.Error(), `"tls"`) {
			t.Errorf("a refused login does not name the repository: %v", err)
		}
	}
	if repos, _ := e.m.Repos(e.ctx, clusterID); len(repos) != 0 {
		t.Fatalf("rejected repositories were stored: %+v", repos)
	}

	r, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "tls", URL: tlsRepo.URL, Username: "kdu", Password: "tls-pass-1", CACert: pki.CAPEM()})
	if err != nil || !r.HasCACert || !r.HasPassword || r.HasClientCert {
		t.Fatalf("add TLS repository: %v %+v", err, r)
	}
	if _, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "mtls", URL: mtlsRepo.URL, CACert: pki.CAPEM(),
		CertPEM: pki.ClientCertPEM(), KeyPEM: pki.ClientKeyPEM()}); err != nil {
		t.Fatalf("add mutual-TLS repository: %v", err)
	}
	// A second Manager over the same data directory reads the sealed credentials and TLS material back.
	m2, err := kdu.Open(e.ctx, kdu.Options{DataDir: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	for _, ref := range []string{"tls/webapp:0.1.0", "mtls/webapp:0.2.0"} {
		name := strings.Split(ref, "/")[0]
		rel, err := m2.Install(e.ctx, clusterID, kdu.InstallOptions{Name: name, Chart: ref, Namespace: e.ns, Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
		if err != nil || rel.State != kdu.ReleaseState("deployed") {
			t.Fatalf("install %s: %v %+v", ref, err, rel)
		}
	}
	db, err := os.ReadFile(filepath.Join(e.dir, "kdu.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range [][]byte{[]byte("tls-pass-1"), bytes.TrimSpace(pki.ClientKeyPEM())} {
		if bytes.Contains(db, secret) {
			t.Fatalf("a secret is stored in plaintext: %.20q", secret)
		}
	}
}

func TestOCIRegistry(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	reg := ocitest.New(t, ocitest.Options{User: "robot", Pass: "oci-pass-1"})
	ref1, digest1 := reg.Push(t, "charts", chartrepotest.Package(t, webapp(t), "0.1.0"), nil)
	_, _ = reg.Push(t, "charts", chartrepotest.Package(t, webapp(t), "0.2.0"), nil)
	if !strings.HasPrefix(ref1, "oci://"+reg.Host()+"/charts/webapp:") {
		t.Fatalf("pushed %s", ref1)
	}
	url := "oci://" + reg.Host() + "/charts"

	_, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "oci", URL: url, PlainHTTP: true, Username: "robot", Password: "wrong"})
	wantErr(t, err, kdu.ErrInvalid, "password")
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), `"oci"`) {
		t.Fatalf("wrong registry password: %v, want a 401 naming the repository", err)
	}
	_, err = e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "oci", URL: url, Username: "robot", Password: "oci-pass-1"})
	wantErr(t, err, kdu.ErrInvalid, "url") // TLS to a plain-HTTP registry: plain HTTP must be asked for
	_, err = e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "oci", URL: url, Type: "http", PlainHTTP: true})
	wantErr(t, err, kdu.ErrInvalid, "url")
	r, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "oci", URL: url, PlainHTTP: true, Username: "robot", Password: "oci-pass-1"})
	if err != nil || r.Type != kdu.RepoTypeOCI || !r.PlainHTTP {
		t.Fatalf("add OCI registry: %v %+v", err, r)
	}

	// Install by digest onto the cluster, with the registry's credentials found by URL prefix.
	byDigest := "oci://" + reg.Host() + "/charts/webapp@" + digest1
	rel, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "bydigest", Chart: byDigest, Namespace: e.ns, Verify: true,
		Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
	if err != nil || rel.ChartVersion != "0.1.0" || rel.State != "deployed" {
		t.Fatalf("install %s: %v %+v", byDigest, err, rel)
	}
	// The same digest again is served from the digest-keyed cache: no blob is downloaded.
	blobs := reg.BlobGets()
	if _, err := e.m.ShowChart(e.ctx, kdu.ShowOptions{Cluster: clusterID, Chart: byDigest}); err != nil {
		t.Fatal(err)
	}
	if got := reg.BlobGets(); got != blobs {
		t.Fatalf("a cached chart was downloaded again: %d blob GETs, want %d", got, blobs)
	}

	// "repo/chart:tag" through the registered OCI repository; latest by tag listing; upgrade between them.
	rel, err = e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "bytag", Chart: "oci/webapp:0.1.0", Namespace: e.ns})
	if err != nil || rel.ChartVersion != "0.1.0" {
		t.Fatalf("install oci/webapp:0.1.0: %v %+v", err, rel)
	}
	up, err := e.m.Upgrade(e.ctx, e.target("bytag"), kdu.UpgradeOptions{Chart: "oci/webapp"})
	if err != nil || up.ChartVersion != "0.2.0" {
		t.Fatalf("upgrade to the latest tag: %v %+v", err, up)
	}

	// Verification of an OCI chart needs a pinned digest (or a signed provenance layer).
	_, err = e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "unpinned", Chart: "oci/webapp:0.1.0", Namespace: e.ns, Verify: true})
	wantErr(t, err, kdu.ErrVerification, "")
	e.releaseAbsent("unpinned")

	// A digest that is not in the registry, a tag that is not there.
	missing := "oci://" + reg.Host() + "/charts/webapp@sha256:" + strings.Repeat("0", 64)
	_, err = e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "missing", Chart: missing, Namespace: e.ns})
	wantErr(t, err, kdu.ErrNotFound, "")
	_, err = e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "missing", Chart: "oci/webapp:9.9.9", Namespace: e.ns})
	wantErr(t, err, kdu.ErrNotFound, "")

	// Without the registered repository, the registry refuses anonymous pulls: a clear 401.
	if err := e.m.RemoveRepo(e.ctx, clusterID, "oci"); err != nil {
		t.Fatal(err)
	}
	_, err = e.m.ShowChart(e.ctx, kdu.ShowOptions{Cluster: clusterID, Chart: "oci://" + reg.Host() + "/charts/webapp:0.2.0"})
	if !errors.Is(err, kdu.ErrRepoAuth) && !errors.Is(err, kdu.ErrRepoUnreachable) {
		t.Fatalf("anonymous pull from a private registry over TLS: %v", err)
	}
}

func TestVerifiedInstall(t *testing.T) {
	signer := chartrepotest.NewSigner(t)
	repo := chartrepotest.NewWithOptions(t, webapp(t), chartrepotest.Options{Signer: signer, TamperVersion: "0.2.0"})
	unsigned := chartrepotest.New(t, webapp(t), "", "")
	e := newEnv(t, kdu.Options{})
	if _, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "signed", URL: repo.URL, Keyring: signer.Keyring()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "nokeys", URL: repo.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "unsigned", URL: unsigned.URL, Keyring: signer.Keyring()}); err != nil {
		t.Fatal(err)
	}
	_, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "badring", URL: repo.URL, Keyring: []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n-----END PGP PRIVATE KEY BLOCK-----\n")})
	wantErr(t, err, kdu.ErrInvalid, "keyring")

	rel, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "good", Chart: "signed/webapp:0.1.0", Namespace: e.ns, Verify: true})
	if err != nil || rel.ChartVersion != "0.1.0" {
		t.Fatalf("verified install: %v", err)
	}
	for _, tc := range []struct{ name, chart, text string }{
		{"tampered", "signed/webapp:0.2.0", "sha256 sum does not match"},
		{"nokeyring", "nokeys/webapp:0.1.0", "no keyring"},
		{"notsigned", "unsigned/webapp:0.1.0", "not signed"},
		{"localdir", webapp(t), "provenance"},
	} {
		_, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: tc.name, Chart: tc.chart, Namespace: e.ns, Verify: true})
		wantErr(t, err, kdu.ErrVerification, "")
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: error %q does not say %q", tc.name, err, tc.text)
		}
		e.releaseAbsent(tc.name)
	}
	// The same tampered chart installs when verification is not asked for; an upgrade to it with verify fails
	// and leaves the release at its revision.
	_, err = e.m.Upgrade(e.ctx, e.target("good"), kdu.UpgradeOptions{Chart: "signed/webapp:0.2.0", Verify: true})
	wantErr(t, err, kdu.ErrVerification, "")
	if st, err := e.m.Status(e.ctx, e.target("good")); err != nil || st.Revision != 1 {
		t.Fatalf("after a refused upgrade: %v %+v", err, st)
	}
	if _, err := e.m.Upgrade(e.ctx, e.target("good"), kdu.UpgradeOptions{Verify: true}); !errors.Is(err, kdu.ErrInvalid) {
		t.Fatalf("verify without a chart: %v", err)
	}

	// A server-wide keyring verifies repositories without their own.
	e2 := newEnv(t, kdu.Options{Keyring: signer.Keyring()})
	if _, err := e2.m.AddRepo(e2.ctx, clusterID, kdu.RepoSpec{Name: "nokeys", URL: repo.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := e2.m.Install(e2.ctx, clusterID, kdu.InstallOptions{Name: "global", Chart: "nokeys/webapp:0.1.0", Namespace: e2.ns, Verify: true}); err != nil {
		t.Fatalf("verified with the server keyring: %v", err)
	}
}

func TestProjectAndStableRepositories(t *testing.T) {
	shared := chartrepotest.New(t, webapp(t), "", "")
	stable := chartrepotest.NewWithOptions(t, webapp(t), chartrepotest.Options{BrokenEntry: true})
	e := newEnv(t, kdu.Options{StableRepoURL: stable.URL})

	// The default stable repository is listed and resolves without being stored.
	repos, err := e.m.Repos(e.ctx, clusterID)
	if err != nil || len(repos) != 1 || repos[0].Scope != kdu.ScopeDefault || repos[0].Name != "stable" {
		t.Fatalf("repos with a stable URL: %v %+v", err, repos)
	}
	// The index has broken entries (one claims 9.9.9): they are skipped, the latest valid version wins.
	info, err := e.m.ShowChart(e.ctx, kdu.ShowOptions{Cluster: clusterID, Chart: "stable/webapp"})
	if err != nil || info.Metadata.Version != "0.2.0" {
		t.Fatalf("show stable/webapp: %v %+v", err, info)
	}

	// A project repository is shared by the project's clusters ("" is the default project, dev's).
	if _, err := e.m.AddProjectRepo(e.ctx, "", kdu.RepoSpec{Name: "shared", URL: shared.URL}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.AddProjectRepo(e.ctx, "Bad Project", kdu.RepoSpec{Name: "x", URL: shared.URL}); !errors.Is(err, kdu.ErrInvalid) {
		t.Fatalf("bad project name: %v", err)
	}
	rel, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "fromshared", Chart: "shared/webapp:0.1.0", Namespace: e.ns})
	if err != nil || rel.ChartVersion != "0.1.0" {
		t.Fatalf("install from a project repository: %v", err)
	}
	if pr, err := e.m.ProjectRepos(e.ctx, ""); err != nil || len(pr) != 1 || pr[0].Scope != kdu.ScopeProject {
		t.Fatalf("project repos: %v %+v", err, pr)
	}
	if err := e.m.RemoveRepo(e.ctx, clusterID, "shared"); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("removing a project repository as a cluster one: %v", err)
	}

	// A cluster repository named "stable" shadows the default one.
	if _, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "stable", URL: shared.URL}); err != nil {
		t.Fatal(err)
	}
	repos, _ = e.m.Repos(e.ctx, clusterID)
	var scopes []string
	for _, r := range repos {
		scopes = append(scopes, r.Name+"="+r.Scope)
	}
	if strings.Join(scopes, ",") != "stable=cluster,shared=project" {
		t.Fatalf("effective repositories: %v", scopes)
	}
	ups, err := e.m.UpdateProjectRepos(e.ctx, "")
	if err != nil || len(ups) != 1 || ups[0].Versions != 2 {
		t.Fatalf("update project repos: %v %+v", err, ups)
	}
	if err := e.m.RemoveProjectRepo(e.ctx, "", "shared"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.ShowChart(e.ctx, kdu.ShowOptions{Cluster: clusterID, Chart: "shared/webapp"}); !errors.Is(err, kdu.ErrInvalid) {
		t.Fatalf("a removed project repository still resolves: %v", err)
	}
}

func TestSyncRepos(t *testing.T) {
	a := chartrepotest.New(t, webapp(t), "", "")
	b := chartrepotest.New(t, webapp(t), "u", "sync-pass")
	e := newEnv(t, kdu.Options{})
	names := func(cs []kdu.RepoChange) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.ID+":"+c.Name)
		}
		return strings.Join(out, ",")
	}
	// A hand-added repository, including one named stable: synchronisation removes both.
	for _, n := range []string{"manual", "stable"} {
		if _, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: n, URL: a.URL}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.m.SyncRepos(e.ctx, clusterID, []kdu.RepoSpec{
		{ID: "id-1", Name: "one", URL: a.URL},
		{ID: "id-2", Name: "two", URL: b.URL, Username: "u", Password: "sync-pass"},
	})
	if err != nil || names(res.Added) != "id-1:one,id-2:two" || names(res.Removed) != ":manual,:stable" || len(res.Updated) != 0 {
		t.Fatalf("first sync: %v %+v", err, res)
	}
	// Same list again: nothing changes.
	res, err = e.m.SyncRepos(e.ctx, clusterID, []kdu.RepoSpec{
		{ID: "id-1", Name: "one", URL: a.URL},
		{ID: "id-2", Name: "two", URL: b.URL, Username: "u", Password: "sync-pass"},
	})
	if err != nil || res.Changed() || res.Unchanged != 2 {
		t.Fatalf("idempotent sync: %v %+v", err, res)
	}
	// An invalid entry, an unreachable one or refused credentials: an error naming the entry, and nothing changes.
	for _, tc := range []struct {
		desired []kdu.RepoSpec
		field   string
	}{
		{[]kdu.RepoSpec{{ID: "id-1", Name: "one", URL: b.URL}, {ID: "id-3", Name: "three", URL: "ftp://x"}}, "repos[1].url"},
		{[]kdu.RepoSpec{{ID: "id-3", Name: "three", URL: "http://127.0.0.1:1"}}, "repos[0].url"},
		{[]kdu.RepoSpec{{ID: "id-2", Name: "two", URL: b.URL, Username: "u", Password: "wrong"}}, "repos[0].password"},
		{[]kdu.RepoSpec{{ID: "id-1", Name: "one", URL: a.URL}, {ID: "id-1", Name: "uno", URL: a.URL}}, "repos[1].id"},
		{[]kdu.RepoSpec{{Name: "one", URL: a.URL}, {Name: "one", URL: b.URL}}, "repos[1].name"},
	} {
		_, err := e.m.SyncRepos(e.ctx, clusterID, tc.desired)
		wantErr(t, err, kdu.ErrInvalid, tc.field)
	}
	if repos, _ := e.m.Repos(e.ctx, clusterID); len(repos) != 2 || repos[0].URL != a.URL {
		t.Fatalf("a failed sync changed the repositories: %+v", repos)
	}
	// A changed URL is an update; a missing entry is a removal reported by its id.
	res, err = e.m.SyncRepos(e.ctx, clusterID, []kdu.RepoSpec{
		{ID: "id-1", Name: "one", URL: b.URL, Username: "u", Password: "sync-pass"},
		{ID: "id-3", Name: "three", URL: a.URL},
	})
	if err != nil || names(res.Added) != "id-3:three" || names(res.Updated) != "id-1:one" || names(res.Removed) != "id-2:two" {
		t.Fatalf("second sync: %v %+v", err, res)
	}
	if _, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "synced", Chart: "one/webapp:0.1.0", Namespace: e.ns}); err != nil {
		t.Fatalf("install through a synchronised repository: %v", err)
	}
	// An empty list removes everything.
	res, err = e.m.SyncRepos(e.ctx, clusterID, nil)
	if err != nil || len(res.Removed) != 2 {
		t.Fatalf("sync to nothing: %v %+v", err, res)
	}
}

func TestShowChartSchemaAndDependencies(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	dir := t.TempDir()
	chart := filepath.Join(dir, "schemed")
	for name, data := range map[string]string{
		"Chart.yaml":            "apiVersion: v2\nname: schemed\nversion: 0.1.0\ndependencies:\n- name: sub\n  version: 0.1.0\n  condition: sub.enabled\n",
		"values.yaml":           "replicaCount: 1\nsub:\n  enabled: false\n",
		"values.schema.json":    `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"replicaCount":{"type":"integer","minimum":0}}}`,
		"templates/cm.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
		"charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
	} {
		p := filepath.Join(chart, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	archive := chartrepotest.Package(t, chart, "0.1.0")
	for _, opts := range []kdu.ShowOptions{{Chart: chart}, {ChartArchive: archive}} {
		info, err := e.m.ShowChart(e.ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(info.Schema, `"minimum":0`) || len(info.Dependencies) != 1 || info.Dependencies[0].Condition != "sub.enabled" {
			t.Fatalf("show %+v: schema %q deps %+v", opts.Chart, info.Schema, info.Dependencies)
		}
		if opts.ChartArchive != nil && !strings.HasPrefix(info.Digest, "sha256:") {
			t.Fatalf("archive digest %q", info.Digest)
		}
	}
	// The schema is enforced at install: a negative replica count is refused before anything is applied.
	_, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "schemed", Chart: chart, Namespace: e.ns,
		Values: kdu.Values{Set: []string{"replicaCount=-1"}}})
	if err == nil || !strings.Contains(err.Error(), "minimum") {
		t.Fatalf("install against the schema: %v", err)
	}
	e.releaseAbsent("schemed")
}

// tarEntry is one entry of a hand-made chart archive.
type tarEntry struct {
	name     string
	data     []byte
	size     int64 // for a zero-filled file written without holding it in memory
	linkname string
	typeflag byte
}

func hostileArchive(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typeflag, Linkname: e.linkname, Size: int64(len(e.data))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if e.size > 0 {
			h.Size = e.size
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.size > 0 {
			if _, err := io.CopyN(tw, zeroReader{}, e.size); err != nil {
				t.Fatal(err)
			}
		} else if _, err := tw.Write(e.data); err != nil && h.Typeflag == tar.TypeReg {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestHostileCharts(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	chartYAML := tarEntry{name: "evil/Chart.yaml", data: []byte("apiVersion: v2\nname: evil\nversion: 0.1.0\n")}
	cm := tarEntry{name: "evil/templates/cm.yaml", data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: evil\n")}
	laughs := "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
	for i := 'b'; i <= 'j'; i++ {
		prev := string(i - 1)
		laughs += string(i) + ": &" + string(i) + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
	}
	many := []tarEntry{chartYAML}
	for i := range 6000 {
		many = append(many, tarEntry{name: "evil/files/f" + strconv.Itoa(i), data: []byte("x")})
	}
	cases := []struct {
		name    string
		archive []byte
		text    string
	}{
		{"zip bomb", hostileArchive(t, chartYAML, cm, tarEntry{name: "evil/files/z1", size: 15 << 20}, tarEntry{name: "evil/files/z2", size: 15 << 20},
			tarEntry{name: "evil/files/z3", size: 15 << 20}, tarEntry{name: "evil/files/z4", size: 15 << 20}, tarEntry{name: "evil/files/z5", size: 15 << 20}), "MaxDecompressedSize"},
		{"huge file", hostileArchive(t, chartYAML, cm, tarEntry{name: "evil/files/zeros", size: 200 << 20}), "MaxFileSize"},
		{"parent path", hostileArchive(t, chartYAML, tarEntry{name: "evil/../../etc/cron.d/x", data: []byte("x")}), ".."},
		{"absolute path", hostileArchive(t, chartYAML, tarEntry{name: "/etc/passwd", data: []byte("x")}), "absolute"},
		{"link outside", hostileArchive(t, chartYAML, tarEntry{name: "evil/templates/pw.yaml", linkname: "/etc/passwd", typeflag: tar.TypeSymlink}), "link"},
		{"billion laughs", hostileArchive(t, chartYAML, cm, tarEntry{name: "evil/values.yaml", data: []byte(laughs)}), "alias"},
		{"too many files", hostileArchive(t, many...), "files"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.archive) > 20<<20 {
				t.Fatalf("test archive is %d bytes: it would be refused for its size alone", len(tc.archive))
			}
			_, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "evil", ChartArchive: tc.archive, Namespace: e.ns})
			wantErr(t, err, kdu.ErrInvalid, "chartArchive")
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not mention %q", err, tc.text)
			}
			e.releaseAbsent("evil")
		})
	}

	// The same zip bomb from a repository: refused, and nothing lands in the chart cache.
	bomb := cases[0].archive
	sum := sha256.Sum256(bomb)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			fmt.Fprintf(w, "apiVersion: v1\nentries:\n  evil:\n  - apiVersion: v2\n    name: evil\n    version: 0.1.0\n    urls: [evil-0.1.0.tgz]\n    digest: %x\n", sum)
		case "/evil-0.1.0.tgz":
			_, _ = w.Write(bomb)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	if _, err := e.m.AddRepo(e.ctx, clusterID, kdu.RepoSpec{Name: "evil", URL: srv.URL}); err != nil {
		t.Fatal(err)
	}
	_, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "evil", Chart: "evil/evil:0.1.0", Namespace: e.ns})
	wantErr(t, err, kdu.ErrInvalid, "chart")
	e.releaseAbsent("evil")
	blobs, _ := filepath.Glob(filepath.Join(e.dir, "cache", "*", "blobs", "*"))
	if len(blobs) != 0 {
		t.Fatalf("a refused chart was cached: %v", blobs)
	}
}
