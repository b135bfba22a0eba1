package cli

import (
	"strings"
	"testing"

	"github.com/kdu-io/kdu"
)

// TestCLIPostRenderAndMigrate: --pod-label and --node-selector on install, kept by an upgrade without them,
// cleared by --clear-pod-labels, --force-replace, and kdu migrate; bad flags exit 2.
func TestCLIPostRenderAndMigrate(t *testing.T) {
	c := newCLI(t)
	chart := repoFile(t, "examples/charts/webapp")
	c.ok("cluster", "add", "dev", "--kubeconfig", tc.KubeconfigPath)

	c.fails(ExitInvalid, "want key=value", "install", "cli-pr", chart, "-n", c.ns, "--pod-label", "novalue")
	c.fails(ExitInvalid, `podLabels["Bad Key"]`, "install", "cli-pr", chart, "-n", c.ns, "--pod-label", "Bad Key=x")
	// Each answer into a fresh value: decoding into a used one would merge the maps.
	release := func(args ...string) (rel kdu.Release) {
		t.Helper()
		mustJSON(t, c.ok(append(args, "-o", "json")...), &rel)
		return rel
	}
	rel := release("install", "cli-pr", chart, "-n", c.ns, "--wait", "--pod-label", "osm.etsi.org/ns=n1",
		"--node-selector", "type=kwok")
	if rel.PodLabels["osm.etsi.org/ns"] != "n1" || rel.NodeSelector["type"] != "kwok" {
		t.Fatalf("install printed %+v", rel)
	}
	if out := c.ok("status", "cli-pr", "-n", c.ns); !strings.Contains(out, "osm.etsi.org/ns=n1") || !strings.Contains(out, "type=kwok") {
		t.Errorf("kdu status does not show the post-render settings:\n%s", out)
	}
	if out := c.ok("status", "cli-pr", "-n", c.ns, "--manifest"); !strings.Contains(out, "MANIFEST:") || !strings.Contains(out, "kind: Deployment") {
		t.Errorf("kdu status --manifest:\n%s", out)
	}
	var st kdu.Status
	mustJSON(t, c.ok("status", "cli-pr", "-n", c.ns, "--manifest", "-o", "json"), &st)
	if len(st.Manifest) == 0 {
		t.Errorf("kdu status --manifest -o json has no manifest")
	}
	rel = release("upgrade", "cli-pr", "-n", c.ns, "--wait", "--set", "replicaCount=2", "--force-replace")
	if rel.Revision != 2 || rel.PodLabels["osm.etsi.org/ns"] != "n1" {
		t.Fatalf("upgrade without post-render flags printed %+v", rel)
	}
	c.fails(ExitInvalid, "exclude each other", "upgrade", "cli-pr", "-n", c.ns, "--pod-label", "a=b", "--clear-pod-labels")
	rel = release("scale", "cli-pr", "1", "-n", c.ns, "--clear-pod-labels")
	if len(rel.PodLabels) != 0 || rel.NodeSelector["type"] != "kwok" {
		t.Fatalf("scale --clear-pod-labels printed %+v", rel)
	}
	c.fails(ExitInvalid, "nodeSelector", "migrate", "cli-pr", "-n", c.ns)
	rel = release("migrate", "cli-pr", "-n", c.ns, "--node-selector", "kubernetes.io/os=linux")
	if rel.NodeSelector["kubernetes.io/os"] != "linux" || rel.NodeSelector["type"] != "" {
		t.Fatalf("migrate printed %+v", rel)
	}
	c.ok("uninstall", "cli-pr", "-n", c.ns)
}
