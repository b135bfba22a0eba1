package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/httpapi"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/ocitest"
	"github.com/kdu-io/kdu/internal/testkit/pkitest"
)

// cliRepoPassword protects the test repositories of the repo command tests.
const cliRepoPassword = "cli-repo-pw-51d0a2"

// schemaChart writes a chart directory with a values schema and a dependency, and returns it and the schema.
func schemaChart(t *testing.T) (dir, schema string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "schemachart")
	schema = `{"type": "object", "properties": {"replicaCount": {"type": "integer"}}}`
	for name, content := range map[string]string{
		"Chart.yaml": "apiVersion: v2\nname: schemachart\nversion: 0.1.0\ndependencies:\n  - name: webapp\n    version: 0.1.0\n" +
			"    repository: https://charts.example.com\n",
		"values.yaml":        "replicaCount: 1\n",
		"values.schema.json": schema,
		"templates/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n",
	} {
		writeFile(t, filepath.Join(dir, name), []byte(content))
	}
	return dir, schema
}

// okIn runs a command with stdin and fails the test unless it exits 0.
func (c *cliEnv) okIn(stdin string, args ...string) (stdout, stderr string) {
	c.t.Helper()
	out, errs, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("kdu %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out, errs
}

// TestCLIRepos covers `kdu repo` in local mode: TLS, basic auth and mutual TLS repositories from files,
// passwords from stdin, a flag or the environment, project repositories, sync files, removal of several
// repositories, and verification and values schemas through install and show.
func TestCLIRepos(t *testing.T) {
	c := newCLI(t)
	t.Setenv(repoPasswordEnv, "")
	webapp := repoFile(t, "examples/charts/webapp")
	c.ok("cluster", "add", "dev", "--kubeconfig", tc.KubeconfigPath)

	pki := pkitest.New(t)
	files := t.TempDir()
	ca, cert, key := filepath.Join(files, "ca.pem"), filepath.Join(files, "pki", "client.crt"), filepath.Join(files, "pki", "client.key")
	writeFile(t, ca, pki.CAPEM())
	writeFile(t, cert, pki.ClientCertPEM())
	writeFile(t, key, pki.ClientKeyPEM())
	secure := chartrepotest.NewWithOptions(t, webapp, chartrepotest.Options{User: "deploy", Pass: cliRepoPassword, TLS: pki, MutualTLS: true})
	tlsArgs := []string{"--username", "deploy", "--ca-file", ca, "--cert-file", cert, "--key-file", key}

	// Bad flags: exit 2, naming the flag; nothing is contacted.
	before := secure.Requests.Load()
	c.fails(ExitInvalid, "--ca-file", "repo", "add", "x", secure.URL, "--ca-file", filepath.Join(files, "missing.pem"))
	c.fails(ExitInvalid, "--keyring", "repo", "add", "x", secure.URL, "--keyring", files)
	c.fails(ExitInvalid, "--cert-file and --key-file", "repo", "add", "x", secure.URL, "--cert-file", cert)
	c.fails(ExitInvalid, "exclude each other", "repo", "add", "x", secure.URL, "--cluster", "dev", "--project", "p")
	c.fails(ExitInvalid, "exclude each other", "repo", "add", "x", secure.URL, "--username", "u", "--password", "p", "--password-stdin")
	c.fails(ExitInvalid, "takes NAME URL", "repo", "add", "x")
	c.fails(ExitInvalid, "clientCert", "repo", "add", "x", secure.URL, "--cert-file", cert, "--key-file", ca)
	if n := secure.Requests.Load(); n != before {
		t.Fatalf("refused flags reached the repository (%d requests)", n-before)
	}

	// A wrong password is refused on the password field, naming the repository and the 401.
	out, errs, code := c.run("wrong\n", append([]string{"repo", "add", "secure", secure.URL, "--password-stdin"}, tlsArgs...)...)
	if code != ExitInvalid || !strings.Contains(errs, "password") || !strings.Contains(errs, `"secure"`) || !strings.Contains(errs, "401") {
		t.Fatalf("wrong password: exit %d\n%s%s", code, out, errs)
	}
	out, _ = c.okIn(cliRepoPassword+"\n", append([]string{"repo", "add", "secure", secure.URL, "--password-stdin", "--id", "r-1", "-o", "json"}, tlsArgs...)...)
	var r kdu.Repo
	mustJSON(t, out, &r)
	if r.Name != "secure" || r.ID != "r-1" || r.Scope != kdu.ScopeCluster || !r.HasPassword || !r.HasCACert || !r.HasClientCert {
		t.Fatalf("repo add printed %+v", r)
	}
	// The password from KDU_REPO_PASSWORD, on the default project.
	shared := chartrepotest.New(t, webapp, "deploy", cliRepoPassword)
	t.Setenv(repoPasswordEnv, cliRepoPassword)
	c.ok("repo", "add", "shared", shared.URL, "--project", "-", "--username", "deploy")
	t.Setenv(repoPasswordEnv, "")
	// --password works, with a warning.
	_, errs = c.okIn("", "repo", "add", "flagged", shared.URL, "--project", "-", "--username", "deploy", "--password", cliRepoPassword)
	if !strings.Contains(errs, "--password is visible") {
		t.Errorf("no warning about --password: %q", errs)
	}

	// The cluster resolves its own repositories, then its project's (here the default project).
	out = c.ok("repo", "list")
	for _, want := range []string{"NAME", "SCOPE", "AUTH", "secure", "cluster", "basic:deploy,client-cert,ca", "shared", "project:-", "flagged"} {
		if !strings.Contains(out, want) {
			t.Errorf("repo list does not show %q:\n%s", want, out)
		}
	}
	for _, format := range []string{"json", "yaml"} {
		out := c.ok("repo", "list", "-o", format)
		if strings.Contains(out, cliRepoPassword) || strings.Contains(out, "PRIVATE KEY") || !strings.Contains(out, "hasClientCert") {
			t.Fatalf("repo list -o %s:\n%s", format, out)
		}
	}
	var projectRepos []kdu.Repo
	mustJSON(t, c.ok("repo", "list", "--project", "-", "-o", "json"), &projectRepos)
	if len(projectRepos) != 2 || projectRepos[0].Scope != kdu.ScopeProject {
		t.Fatalf("repo list --project -: %+v", projectRepos)
	}
	if out := c.ok("repo", "update"); !strings.Contains(out, "secure") || !strings.Contains(out, "cluster") || strings.Contains(out, "shared") {
		t.Fatalf("repo update (the cluster's own):\n%s", out)
	}
	if out := c.ok("repo", "update", "shared", "--project", "-"); !strings.Contains(out, "shared") || !strings.Contains(out, "project") {
		t.Fatalf("repo update --project -:\n%s", out)
	}
	c.ok("show", "chart", "shared/webapp", "--version", "0.2.0")

	// Removal of several names: those that exist go, the missing one is an error.
	c.fails(ExitNotFound, "nosuch", "repo", "remove", "flagged", "nosuch", "--project", "-")
	if out := c.ok("repo", "list", "--project", "-"); strings.Contains(out, "flagged") || !strings.Contains(out, "shared") {
		t.Fatalf("after removing flagged:\n%s", out)
	}
	if out := c.ok("repo", "remove", "shared", "--project", "-", "-o", "json"); !strings.Contains(out, `"removed": "shared"`) {
		t.Fatalf("repo remove -o json: %s", out)
	}

	// Sync from a file: paths relative to it, a secret inline.
	plain := chartrepotest.New(t, webapp, "", "")
	syncFile := filepath.Join(files, "repos.yaml")
	writeFile(t, syncFile, []byte(`repos:
  - id: id-a
    name: sa
    url: `+plain.URL+`
  - id: id-b
    name: sb
    url: `+secure.URL+`
    username: deploy
    password: `+cliRepoPassword+`
    caFile: ca.pem
    certFile: pki/client.crt
    keyFile: pki/client.key
`))
	out = c.ok("repo", "sync", "-f", syncFile)
	if got, want := tableRows(out), "CHANGE NAME ID|added sa id-a|added sb id-b|removed secure r-1|0 unchanged"; got != want {
		t.Errorf("repo sync printed %q, want %q", got, want)
	}
	// A top-level list in JSON, from stdin: sb goes, sa stays.
	var res kdu.RepoSync
	out, _ = c.okIn(`[{"id": "id-a", "name": "sa", "url": "`+plain.URL+`"}]`, "repo", "sync", "-f", "-", "-o", "json")
	mustJSON(t, out, &res)
	if len(res.Added) != 0 || len(res.Updated) != 0 || len(res.Removed) != 1 || res.Removed[0] != (kdu.RepoChange{ID: "id-b", Name: "sb"}) || res.Unchanged != 1 {
		t.Fatalf("second sync: %+v", res)
	}
	bad := filepath.Join(files, "bad.yaml")
	for _, tc := range []struct{ content, want string }{
		{"- name: sa\n  url: " + plain.URL + "\n  bogus: 1\n", "unknown field"},
		{"- name: sa\n  url: " + plain.URL + "\n  caFile: nosuch.pem\n", "repos[0].caFile"},
		{"- name: sa\n  url: " + plain.URL + "\n  caFile: ca.pem\n  caCert: inline\n", "not both"},
		{"repos: {}\n", "repos"},
		{"", "no list"},
		{"- name: sa\n  url: " + plain.URL + "\n- name: sx\n  url: ftp://127.0.0.1/\n", "repos[1].url"},
	} {
		writeFile(t, bad, []byte(tc.content))
		c.fails(ExitInvalid, tc.want, "repo", "sync", "-f", bad)
	}
	c.fails(ExitInvalid, "-f FILE", "repo", "sync")
	if out := c.ok("repo", "list"); !strings.Contains(out, "sa") || strings.Contains(out, "sx") || strings.Contains(out, "sb") {
		t.Fatalf("refused syncs changed the repositories:\n%s", out)
	}

	// Verification: a signed repository with a tampered version.
	signer := chartrepotest.NewSigner(t)
	signed := chartrepotest.NewWithOptions(t, webapp, chartrepotest.Options{Signer: signer, TamperVersion: "0.2.0"})
	if out := c.ok("repo", "add", "signed", signed.URL, "--keyring", signer.KeyringFile(t)); !strings.Contains(out, "keyring") {
		t.Fatalf("repo add --keyring:\n%s", out)
	}
	c.ok("show", "chart", "signed/webapp", "--version", "0.1.0", "--verify")
	c.fails(ExitFailure, "does not verify", "show", "chart", "signed/webapp:0.2.0", "--verify")
	c.fails(ExitFailure, "does not verify", "install", "cli-tampered", "signed/webapp:0.2.0", "--verify", "-n", c.ns)
	c.fails(ExitNotFound, "cli-tampered", "status", "cli-tampered", "-n", c.ns)
	c.fails(ExitFailure, "no provenance", "install", "cli-unsigned", webapp, "--verify", "-n", c.ns)
	c.fails(ExitInvalid, "verify", "upgrade", "cli-tampered", "--verify", "-n", c.ns)

	// An OCI registry over plain HTTP, with credentials: by repository name, and by digest with --verify.
	reg := ocitest.New(t, ocitest.Options{User: "puller", Pass: cliRepoPassword})
	ref, digest := reg.Push(t, "charts", chartrepotest.Package(t, webapp, "0.1.0"), nil)
	c.fails(ExitInvalid, "url", "repo", "add", "oci", "oci://"+reg.Host()+"/charts") // TLS to a plain-HTTP registry
	out, _ = c.okIn(cliRepoPassword+"\n", "repo", "add", "oci", "oci://"+reg.Host()+"/charts", "--type", "oci", "--plain-http", "--username", "puller", "--password-stdin")
	if rows := tableRows(out); !strings.Contains(rows, "oci cluster oci oci://"+reg.Host()+"/charts basic:puller,plain-http") {
		t.Fatalf("repo add oci:\n%s", out)
	}
	if out := c.ok("show", "chart", "oci/webapp", "--version", "0.1.0"); !strings.Contains(out, "name: webapp") {
		t.Fatalf("show chart oci/webapp:\n%s", out)
	}
	c.fails(ExitFailure, "pinned by digest", "show", "chart", ref, "--verify")
	byDigest := "oci://" + reg.Host() + "/charts/webapp@" + digest
	if out := c.ok("show", "chart", byDigest, "--verify"); !strings.Contains(out, "version: 0.1.0") {
		t.Fatalf("show chart by digest:\n%s", out)
	}

	// Values schemas and dependencies.
	chart, schema := schemaChart(t)
	if out := c.ok("show", "schema", chart); strings.TrimSpace(out) != schema {
		t.Fatalf("show schema:\n%s", out)
	}
	var js map[string]string
	mustJSON(t, c.ok("show", "schema", chart, "-o", "json"), &js)
	if js["schema"] != schema {
		t.Fatalf("show schema -o json: %v", js)
	}
	if out := c.ok("show", "all", chart); !strings.Contains(out, schema) || !strings.Contains(out, "dependencies:") ||
		!strings.Contains(out, "repository: https://charts.example.com") || !strings.Contains(out, "replicaCount: 1") {
		t.Fatalf("show all:\n%s", out)
	}
	out, errs = c.okIn("", "show", "schema", webapp)
	if out != "" || !strings.Contains(errs, "no values schema") {
		t.Fatalf("show schema of a chart without one: %q %q", out, errs)
	}
	if out := c.ok("show", "all", webapp); strings.Contains(out, "dependencies:") {
		t.Fatalf("show all of a chart without dependencies:\n%s", out)
	}
}

// TestCLIReposThroughServer runs `kdu repo` against a kdu server: project repositories of the token's project,
// sync, and errors with their exit codes.
func TestCLIReposThroughServer(t *testing.T) {
	c := newCLI(t)
	t.Setenv(repoPasswordEnv, "")
	tok, hash, err := httpapi.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KDU_SERVER", startServer(t, "tokens:\n  - name: cli\n    sha256: "+hash+"\n    projects: [clirepos]\n"))
	t.Setenv("KDU_TOKEN", tok)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, kubeconfig, tc.Kubeconfig)
	c.ok("cluster", "add", "srvrepos", "--kubeconfig", kubeconfig)
	webapp := repoFile(t, "examples/charts/webapp")

	shared := chartrepotest.New(t, webapp, "deploy", cliRepoPassword)
	c.okIn(cliRepoPassword+"\n", "repo", "add", "shared", shared.URL, "--project", "clirepos", "--username", "deploy", "--password-stdin")
	out, errs, code := c.run("", "repo", "add", "x", shared.URL, "--project", "-")
	if code != ExitFailure || !strings.Contains(errs, "may not act on the default project") {
		t.Fatalf("repo add on the default project with a project token: exit %d\n%s%s", code, out, errs)
	}
	c.fails(ExitNotFound, "not found", "repo", "list", "--project", "other")
	if out := c.ok("repo", "list"); !strings.Contains(out, "shared") || !strings.Contains(out, "project:clirepos") {
		t.Fatalf("repo list of the cluster:\n%s", out)
	}
	if out := c.ok("repo", "update", "--project", "clirepos"); !strings.Contains(out, "shared") {
		t.Fatalf("repo update --project:\n%s", out)
	}
	// An unsigned chart does not verify, through the API too.
	c.fails(ExitFailure, "not signed", "show", "chart", "shared/webapp:0.2.0", "--verify")

	plain := chartrepotest.New(t, webapp, "", "")
	syncFile := filepath.Join(t.TempDir(), "repos.json")
	writeFile(t, syncFile, []byte(`{"repos": [{"id": "id-p", "name": "own", "url": "`+plain.URL+`"}]}`))
	var res kdu.RepoSync
	mustJSON(t, c.ok("repo", "sync", "-f", syncFile, "-o", "json"), &res)
	if len(res.Added) != 1 || res.Added[0] != (kdu.RepoChange{ID: "id-p", Name: "own"}) {
		t.Fatalf("sync through the server: %+v", res)
	}
	if out := c.ok("repo", "sync", "-f", syncFile); !strings.Contains(out, "no change") {
		t.Fatalf("second sync:\n%s", out)
	}
	c.fails(ExitInvalid, "repos[0].url", "repo", "sync", "-f", writeTemp(t, `[{"name": "own", "url": "ftp://x"}]`))

	chart, schema := schemaChart(t)
	if out := c.ok("show", "schema", chart); strings.TrimSpace(out) != schema {
		t.Fatalf("show schema through the server:\n%s", out)
	}
	if out := c.ok("repo", "remove", "own", "-o", "json"); !strings.Contains(out, `"removed": "own"`) {
		t.Fatalf("repo remove: %s", out)
	}
	c.fails(ExitNotFound, "shared", "repo", "remove", "shared")
	if out := c.ok("repo", "remove", "shared", "--project", "clirepos"); tableRows(out) != "repository shared removed" {
		t.Fatalf("repo remove --project: %s", out)
	}
	if out := c.ok("repo", "list", "-o", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("repo list after removals: %s", out)
	}
}

// tableRows returns a table's rows with their cells separated by one space, rows by "|".
func tableRows(out string) string {
	var rows []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Join(strings.Fields(line), " "))
	}
	return strings.Join(rows, "|")
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
