package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/testkit/clustertest"
)

var tc *clustertest.Cluster

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m, &tc)) }

// cliEnv runs kdu commands in-process against its own data directory.
type cliEnv struct {
	t       *testing.T
	dataDir string
	ns      string
}

func newCLI(t *testing.T) *cliEnv {
	t.Setenv("KDU_CLUSTER", "")
	t.Setenv("KDU_SECRET_KEY", "")
	return &cliEnv{t: t, dataDir: t.TempDir(), ns: tc.Namespace(t)}
}

func (c *cliEnv) run(stdin string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"--data-dir", c.dataDir}, args...)
	code = Main(args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func (c *cliEnv) ok(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run("", args...)
	if code != 0 {
		c.t.Fatalf("kdu %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (c *cliEnv) fails(wantCode int, wantInStderr string, args ...string) {
	c.t.Helper()
	out, errs, code := c.run("", args...)
	if code != wantCode {
		c.t.Fatalf("kdu %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out, errs)
	}
	if !strings.Contains(errs, wantInStderr) {
		c.t.Fatalf("kdu %s: stderr %q does not contain %q", strings.Join(args, " "), errs, wantInStderr)
	}
}

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	root, err := clustertest.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, rel)
}

func TestCLIEndToEnd(t *testing.T) {
	c := newCLI(t)
	chart := repoFile(t, "examples/charts/webapp")

	// No cluster yet: a clear hint, exit 2.
	c.fails(ExitInvalid, "no cluster is registered", "list")

	var cl kdu.Cluster
	mustJSON(t, c.ok("cluster", "add", "dev", "--kubeconfig", tc.KubeconfigPath, "-o", "json"), &cl)
	if cl.ID != "dev" || cl.Version != "v1.37.2" || cl.Server == "" {
		t.Fatalf("cluster add printed %+v", cl)
	}
	if out := c.ok("cluster", "list"); !strings.Contains(out, "dev") || !strings.Contains(out, "v1.37.2") {
		t.Fatalf("cluster list:\n%s", out)
	}
	// The kubeconfig never shows.
	for _, args := range [][]string{{"cluster", "show", "dev", "-o", "json"}, {"cluster", "list", "-o", "yaml"}} {
		if out := c.ok(args...); strings.Contains(out, "client-key-data") || strings.Contains(out, "BEGIN") {
			t.Fatalf("kdu %v prints credentials:\n%s", args, out)
		}
	}

	var rel kdu.Release
	mustJSON(t, c.ok("install", "cli-web", chart, "-n", c.ns, "--wait", "--set", "message=hi", "-o", "json"), &rel)
	if rel.Name != "cli-web" || rel.Revision != 1 || rel.State != "deployed" {
		t.Fatalf("install printed %+v", rel)
	}

	var st kdu.Status
	mustYAML(t, c.ok("status", "cli-web", "-o", "yaml"), &st)
	if r, n := st.ReadyCount(); st.State != "deployed" || r != 3 || n != 3 {
		t.Fatalf("status: %+v", st)
	}
	if out := c.ok("status", "cli-web"); !strings.Contains(out, "RESOURCES:     3/3 ready") || !strings.Contains(out, "Deployment") {
		t.Fatalf("status table:\n%s", out)
	}

	c.ok("scale", "cli-web", "3")
	if out := strings.TrimSpace(c.ok("scale", "cli-web")); out != "3" {
		t.Fatalf("scale count printed %q, want 3", out)
	}
	c.fails(ExitInvalid, "replicas", "scale", "cli-web", "three")
	c.fails(ExitInvalid, "replicas", "scale", "cli-web", "--", "-2")
	c.fails(ExitInvalid, "resource", "scale", "cli-web", "2", "--resource", "nosuch")

	if out := c.ok("values", "cli-web"); !strings.Contains(out, "message: hi") || !strings.Contains(out, "replicaCount: 3") {
		t.Fatalf("values:\n%s", out)
	}
	valuesFile := filepath.Join(t.TempDir(), "v.yaml")
	if err := os.WriteFile(valuesFile, []byte("message: from file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.ok("upgrade", "cli-web", "-f", valuesFile, "--wait")
	if out := c.ok("values", "cli-web", "-o", "json"); !strings.Contains(out, `"from file"`) || !strings.Contains(out, `"replicaCount": 3`) {
		t.Fatalf("values after upgrade -f:\n%s", out)
	}
	c.ok("rollback", "cli-web")
	var hist []kdu.Release
	mustJSON(t, c.ok("history", "cli-web", "-o", "json"), &hist)
	if len(hist) != 4 || hist[3].State != "deployed" {
		t.Fatalf("history: %+v", hist)
	}
	var svcs []kdu.Service
	mustJSON(t, c.ok("services", "cli-web", "-o", "json"), &svcs)
	if len(svcs) != 1 || svcs[0].Name != "cli-web-webapp" {
		t.Fatalf("services: %+v", svcs)
	}
	var rels []kdu.Release
	mustJSON(t, c.ok("list", "-o", "json"), &rels)
	if len(rels) == 0 {
		t.Fatal("list printed no releases")
	}

	// Chart inspection.
	if out := c.ok("show", "chart", chart); !strings.Contains(out, "name: webapp") {
		t.Fatalf("show chart:\n%s", out)
	}
	if out := c.ok("show", "values", chart); !strings.Contains(out, "replicaCount: 1") {
		t.Fatalf("show values:\n%s", out)
	}
	if out := c.ok("show", "readme", chart); !strings.Contains(out, "# webapp") {
		t.Fatalf("show readme:\n%s", out)
	}

	// Bad input: non-zero exits with the error on stderr, nothing changed.
	c.fails(ExitInvalid, "chart", "install", "x", "stable/x;reboot", "-n", c.ns)
	c.fails(ExitInvalid, "name", "install", "Bad_Name", chart, "-n", c.ns)
	c.fails(ExitNotFound, "nosuch", "status", "nosuch")
	c.fails(ExitNotFound, `cluster "other"`, "status", "cli-web", "--cluster", "other")
	c.fails(ExitInvalid, "--output", "list", "-o", "xml")
	c.fails(ExitInvalid, "takes NAME", "status")
	c.fails(ExitConflict, "has releases", "cluster", "remove", "dev")

	out := c.ok("uninstall", "cli-web")
	if !strings.Contains(out, "uninstalled") {
		t.Fatalf("uninstall printed %q", out)
	}
	if out := c.ok("uninstall", "cli-web"); !strings.Contains(out, "nothing to uninstall") {
		t.Fatalf("second uninstall printed %q", out)
	}
	// Other tests' releases may still be on the shared cluster: unregister without touching them.
	c.fails(ExitInvalid, "exclude each other", "cluster", "remove", "dev", "--force", "--forget")
	c.ok("cluster", "remove", "dev", "--forget")
	c.fails(ExitNotFound, `cluster "dev"`, "cluster", "show", "dev")
}

func TestCLIKubeconfigFromStdinAndFileReferences(t *testing.T) {
	c := newCLI(t)
	kc, err := os.ReadFile(tc.KubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := c.run(string(kc), "cluster", "add", "ns1:fromstdin", "--kubeconfig", "-")
	if code != 0 {
		t.Fatalf("add from stdin: %d %s %s", code, out, errs)
	}
	if !strings.Contains(out, "ns1") {
		t.Fatalf("legacy namespace:id form did not set the default namespace:\n%s", out)
	}
	c.fails(ExitConflict, "already registered", "cluster", "add", "fromstdin", "--kubeconfig", tc.KubeconfigPath)
	c.ok("cluster", "add", "fromstdin", "--kubeconfig", tc.KubeconfigPath, "--replace")
	c.fails(ExitInvalid, "kubeconfig", "cluster", "add", "broken", "--kubeconfig", "/nonexistent/kubeconfig")

	// A kubeconfig whose certificates and key are files next to it (relative paths), as kubeadm and
	// minikube write them: the CLI inlines them before registering.
	dir := t.TempDir()
	cfg, err := clientcmd.Load(kc)
	if err != nil {
		t.Fatal(err)
	}
	for name, cl := range cfg.Clusters {
		writeFile(t, filepath.Join(dir, "ca.crt"), cl.CertificateAuthorityData)
		cl.CertificateAuthorityData, cl.CertificateAuthority = nil, "ca.crt"
		cfg.Clusters[name] = cl
	}
	for name, u := range cfg.AuthInfos {
		writeFile(t, filepath.Join(dir, "pki", "admin.crt"), u.ClientCertificateData)
		writeFile(t, filepath.Join(dir, "pki", "admin.key"), u.ClientKeyData)
		u.ClientCertificateData, u.ClientCertificate = nil, "pki/admin.crt"
		u.ClientKeyData, u.ClientKey = nil, "pki/admin.key"
		cfg.AuthInfos[name] = u
	}
	path := filepath.Join(dir, "config")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	c.ok("cluster", "add", "fromfiles", "--kubeconfig", path)
	c.ok("list", "--cluster", "fromfiles")
	// The library itself never reads files named in a kubeconfig.
	raw, _ := os.ReadFile(path)
	out, errs, code = c.run(string(raw), "cluster", "add", "viastdin", "--kubeconfig", "-")
	if code != ExitInvalid || !strings.Contains(errs, "refers to a file") {
		t.Fatalf("file references through stdin: exit %d\n%s%s", code, out, errs)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON (%v):\n%s", err, s)
	}
}

func mustYAML(t *testing.T, s string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not YAML (%v):\n%s", err, s)
	}
}
