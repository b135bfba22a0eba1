package cli

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/httpapi"
	"github.com/kdu-io/kdu/internal/serve"
)

// TestCLIThroughServer runs the CLI against a kdu server (--server / KDU_SERVER, KDU_TOKEN): the same
// commands, output and exit codes as in local mode, plus `kdu operation`.
func TestCLIThroughServer(t *testing.T) {
	c := newCLI(t)
	tok, hash, err := httpapi.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	url := startServer(t, "tokens:\n  - name: cli\n    sha256: "+hash+"\n    projects: [cli]\n")
	dir := t.TempDir()

	// Without a token: refused with a clear message.
	t.Setenv("KDU_SERVER", url)
	t.Setenv("KDU_TOKEN", "")
	c.fails(ExitFailure, "valid bearer token is required", "cluster", "list")
	t.Setenv("KDU_TOKEN", tok)

	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeFile(t, kubeconfig, tc.Kubeconfig)
	c.ok("cluster", "add", "srv", "--kubeconfig", kubeconfig)
	if out := c.ok("cluster", "list", "-o", "json"); !strings.Contains(out, `"project": "cli"`) {
		t.Fatalf("cluster list: %s", out)
	}
	chart := repoFile(t, "examples/charts/webapp")
	_, stderr, code := c.run("", "install", "cli-srv", chart, "-n", c.ns, "--wait", "--progress", "lines", "--set", "replicaCount=2")
	if code != 0 || !strings.Contains(stderr, "resources ready") {
		t.Fatalf("install: exit %d, stderr %q", code, stderr)
	}
	var st struct {
		State string `json:"status"`
	}
	mustJSON(t, c.ok("status", "cli-srv", "-o", "json"), &st)
	if st.State != "deployed" {
		t.Fatalf("status: %+v", st)
	}
	if out := c.ok("list"); !strings.Contains(out, "cli-srv") {
		t.Fatalf("list: %s", out)
	}
	c.ok("scale", "cli-srv", "3", "--wait")
	if out := c.ok("scale", "cli-srv"); !strings.Contains(out, "3") {
		t.Fatalf("scale count: %s", out)
	}
	c.ok("upgrade", "cli-srv", "--set", "message=through-the-server")
	if out := c.ok("values", "cli-srv"); !strings.Contains(out, "through-the-server") {
		t.Fatalf("values: %s", out)
	}
	c.ok("rollback", "cli-srv")
	if out := c.ok("history", "cli-srv"); strings.Count(out, "webapp-0.1.0") != 4 {
		t.Fatalf("history: %s", out)
	}
	if out := c.ok("services", "cli-srv"); !strings.Contains(out, "cli-srv-webapp") {
		t.Fatalf("services: %s", out)
	}
	if out := c.ok("show", "chart", chart); !strings.Contains(out, "webapp") {
		t.Fatalf("show chart: %s", out)
	}

	// Operations.
	var ops api.List[api.Operation]
	mustJSON(t, c.ok("operation", "list", "--kdu", "cli-srv", "-o", "json"), &ops)
	if len(ops.Items) != 4 || ops.Items[3].Kind != "install" {
		t.Fatalf("operations: %+v", ops.Items)
	}
	id := ops.Items[0].ID
	if out := c.ok("operation", "get", id); !strings.Contains(out, "succeeded") {
		t.Fatalf("operation get: %s", out)
	}
	if out := c.ok("operation", "watch", id); !strings.Contains(out, "succeeded") {
		t.Fatalf("operation watch: %s", out)
	}
	c.fails(ExitConflict, "already ended", "operation", "cancel", id)
	c.fails(ExitNotFound, "not found", "operation", "get", "op-missing")

	// Errors keep their exit codes through the API.
	c.fails(ExitNotFound, "not found", "status", "ghost")
	c.fails(ExitInvalid, "name", "install", "Bad_Name", chart)
	c.fails(ExitConflict, "already exists", "install", "cli-srv", chart, "-n", c.ns)

	c.ok("uninstall", "cli-srv")
	c.fails(ExitNotFound, "not found", "status", "cli-srv")

	// Operations need a server.
	t.Setenv("KDU_SERVER", "")
	c.fails(ExitInvalid, "kdu server", "operation", "list")
}

// startServer runs a kdu service on a loopback port with the given token file until the test ends, and returns
// its URL.
func startServer(t *testing.T, tokenFile string) string {
	t.Helper()
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	writeFile(t, tokens, []byte(tokenFile))
	addr := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(ctx, serve.Options{Listen: "127.0.0.1:0", DataDir: filepath.Join(dir, "data"), TokenFile: tokens,
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), OnListen: func(a string) { addr <- a }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service: %v", err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-done:
		t.Fatalf("service: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("service did not start")
	}
	return ""
}
