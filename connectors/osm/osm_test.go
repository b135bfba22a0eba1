// Package osm_test runs the OSM connector's Python tests (connectors/osm/tests, pytest) against the real thing:
// a `kdu serve` built from this repository, on the local control plane, with its status targets written into
// the project's MongoDB-wire test server, chart repositories on loopback and a real Tiller for Helm 2 KDUs.
//
// The Python environment (Debian's python3-* packages, a virtual environment under ~/.cache/kdu/osm-venv with
// the connector installed by pip) comes from scripts/osm-venv. KDU_OSM_PYTEST_ARGS adds pytest arguments (for
// example "-k lcm -x").
package osm_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdu-io/kdu/internal/httpapi"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/clustertest"
	"github.com/kdu-io/kdu/internal/testkit/mongotest"
	"github.com/kdu-io/kdu/internal/testkit/servetest"
	"github.com/kdu-io/kdu/internal/testkit/tillertest"
)

var tc *clustertest.Cluster

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m, &tc)) }

const (
	// pytestTimeout bounds the whole Python suite.
	pytestTimeout = 20 * time.Minute
	// logTailLines is how much of kdu serve's log a failure shows.
	logTailLines = 60
)

func TestConnectorAgainstKduServe(t *testing.T) {
	root, err := clustertest.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	python := venv(t, root)
	lint(t, python, filepath.Join(root, "connectors", "osm"))
	bin := buildKdu(t, root)

	mongoURI := mongotest.New(t)
	webapp := chartrepotest.New(t, filepath.Join(root, "examples", "charts", "webapp"), "", "")
	multi := chartrepotest.New(t, filepath.Join(root, "testdata", "charts", "multi"), "", "")
	tillerNS := tc.Namespace(t)
	tiller := tillertest.Start(t, tc.KubeconfigPath, tillerNS)
	tc.CertManagerCRD(t, true)

	// LCM's token: one project, as an operator would give it.
	token, hash, err := httpapi.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tokens.yaml")
	writeFile(t, tokenFile, fmt.Sprintf("tokens:\n  - name: osm-lcm\n    sha256: %s\n    projects: [osm]\n", hash))
	url := serve(t, bin, filepath.Join(dir, "data"), "--token-file", tokenFile, "--mongo-uri", mongoURI,
		"--mongo-database", "osm")

	args := []string{"-m", "pytest", "-p", "no:cacheprovider", "-rfEs", "-v", "--color=no"}
	if extra := os.Getenv("KDU_OSM_PYTEST_ARGS"); extra != "" {
		args = append(args, strings.Fields(extra)...)
	}
	cmd := exec.Command(python, args...)
	cmd.Dir = filepath.Join(root, "connectors", "osm", "tests")
	cmd.Env = append(cleanEnv(),
		"PYTHONSAFEPATH=1", "PYTHONDONTWRITEBYTECODE=1",
		"KDU_SERVER="+url, "KDU_TOKEN="+token,
		"KDU_OSM_TEST=1",
		"KDU_OSM_TEST_MONGO_URI="+mongoURI, "KDU_OSM_TEST_MONGO_DB=osm",
		"KDU_OSM_TEST_KUBECONFIG="+tc.KubeconfigPath,
		"KDU_OSM_TEST_REPO_URL="+webapp.URL, "KDU_OSM_TEST_MULTI_REPO_URL="+multi.URL,
		"KDU_OSM_TEST_CHARTS="+filepath.Join(root, "examples", "charts"),
		"KDU_OSM_TEST_TESTDATA_CHARTS="+filepath.Join(root, "testdata", "charts"),
		"KDU_OSM_TEST_TILLER_ADDRESS="+tiller.Addr(), "KDU_OSM_TEST_TILLER_NAMESPACE="+tillerNS,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(pytestTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("pytest did not finish within %s:\n%s", pytestTimeout, out.String())
	}
	if err != nil {
		t.Fatalf("pytest connectors/osm/tests: %v after %s:\n%s", err, time.Since(start).Round(time.Second), out.String())
	}
	if testing.Verbose() {
		t.Log(out.String())
	}
	t.Logf("pytest passed in %s: %s", time.Since(start).Round(time.Second), lastLine(out.String()))
}

// venv prepares the connector's Python environment and returns its interpreter.
func venv(t *testing.T, root string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "scripts", "osm-venv"))
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/osm-venv: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(lastLine(string(out)))
}

// lint runs pyflakes over the connector, its tests and its benchmark: unused imports and names, undefined
// names.
func lint(t *testing.T, python, dir string) {
	t.Helper()
	cmd := exec.Command(python, "-m", "pyflakes", "kdu_osm", "tests", filepath.Join("..", "..", "bench", "osmstatus"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pyflakes: %v\n%s", err, out)
	}
}

func buildKdu(t *testing.T, root string) string {
	t.Helper()
	bin, err := servetest.Build(root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// serve starts `kdu serve` on a loopback port and returns its URL once it is ready; it is stopped with SIGTERM
// when the test ends, and the end of its log shown if the test failed.
func serve(t *testing.T, bin, dataDir string, flags ...string) string {
	t.Helper()
	p, err := servetest.Start(t.Context(), bin, filepath.Join(t.TempDir(), "serve.log"), nil,
		append([]string{"--data-dir", dataDir}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(time.Minute)
		if t.Failed() {
			data, _ := os.ReadFile(p.LogPath)
			t.Logf("log of kdu serve (last %d lines):\n%s", logTailLines, tailLines(string(data), logTailLines))
		}
	})
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p.URL
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("kdu serve not ready within a minute")
	return ""
}

// cleanEnv is the environment without KDU_* and PYTHON* settings other tests may have set.
func cleanEnv() []string {
	var env []string
	for _, kv := range servetest.CleanEnv() {
		if !strings.HasPrefix(kv, "PYTHON") {
			env = append(env, kv)
		}
	}
	return env
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
