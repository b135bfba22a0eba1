package cli

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/testkit/tillertest"
)

// helm2Names lists the releases the helm v2 CLI sees through Tiller (every status).
func helm2Names(t *testing.T, tl *tillertest.Tiller) []string {
	t.Helper()
	out, err := tl.Helm(t, "ls", "--all", "--output", "json")
	if err != nil {
		t.Fatalf("helm2 ls: %v", err)
	}
	var ls struct {
		Releases []struct{ Name, Namespace string }
	}
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &ls); err != nil {
			t.Fatalf("helm2 ls output %q: %v", out, err)
		}
	}
	var names []string
	for _, r := range ls.Releases {
		names = append(names, r.Namespace+"/"+r.Name)
	}
	return names
}

// tableRow returns the line of a table whose first column is name.
func tableRow(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return l
		}
	}
	return ""
}

// showField returns the value of the line of `cluster show` that starts with label.
func showField(out, label string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, label); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestCLIHelm2 registers Helm 2 clusters with the CLI (local mode), installs through a real Tiller v2.17.0, and
// removes Tiller with --uninstall-sw; the helm v2 CLI is the oracle of what Tiller holds.
func TestCLIHelm2(t *testing.T) {
	c := newCLI(t)
	tns := tc.Namespace(t)
	ctx := context.Background()
	crb := "kdu-tiller-" + tns
	t.Cleanup(func() {
		_ = tc.Clientset.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb, metav1.DeleteOptions{})
	})
	chart := repoFile(t, "examples/charts/webapp")
	kc := tc.KubeconfigPath

	if out := c.ok("cluster", "add", "--help"); !strings.Contains(out, "--helm2") || !strings.Contains(out, "--tiller-address") ||
		!strings.Contains(out, "--tiller-namespace") {
		t.Fatalf("cluster add --help does not document the helm2 flags:\n%s", out)
	}
	if out := c.ok("cluster", "remove", "--help"); !strings.Contains(out, "--uninstall-sw") {
		t.Fatalf("cluster remove --help does not document --uninstall-sw:\n%s", out)
	}
	// Bad registrations: nothing stored.
	c.fails(ExitInvalid, "need --helm2", "cluster", "add", "legacy", "--kubeconfig", kc, "--tiller-address", "127.0.0.1:44134")
	c.fails(ExitInvalid, "need --helm2", "cluster", "add", "legacy", "--kubeconfig", kc, "--tiller-namespace", tns)
	c.fails(ExitInvalid, "tillerAddress", "cluster", "add", "legacy", "--kubeconfig", kc, "--helm2", "--tiller-address", "no-port")
	c.fails(ExitInvalid, "tillerNamespace", "cluster", "add", "legacy", "--kubeconfig", kc, "--helm2", "--tiller-namespace", "Bad_NS")
	c.fails(ExitNotFound, `cluster "legacy"`, "cluster", "show", "legacy")

	// Without an address, registration installs Tiller (its Pod does not run on the simulated node).
	var fresh kdu.Cluster
	mustJSON(t, c.ok("cluster", "add", "fresh", "--kubeconfig", kc, "--helm2", "--tiller-namespace", tns, "-o", "json"), &fresh)
	if fresh.Flavour != kdu.FlavourHelm2 || fresh.TillerNamespace != tns || fresh.TillerAddress != "" || !fresh.InstalledSW {
		t.Fatalf("cluster add --helm2 without an address printed %+v", fresh)
	}
	if _, err := tc.Clientset.AppsV1().Deployments(tns).Get(ctx, "tiller-deploy", metav1.GetOptions{}); err != nil {
		t.Fatalf("Tiller's Deployment after registration: %v", err)
	}

	// A real Tiller on loopback serves that namespace.
	tl := tillertest.Start(t, kc, tns)
	var cl kdu.Cluster
	mustJSON(t, c.ok("cluster", "add", "legacy", "--kubeconfig", kc, "--helm2", "--tiller-namespace", tns, "--tiller-address", tl.Addr(), "-o", "json"), &cl)
	if cl.ID != "legacy" || cl.Flavour != kdu.FlavourHelm2 || cl.TillerNamespace != tns || cl.TillerAddress != tl.Addr() || cl.InstalledSW {
		t.Fatalf("cluster add --helm2 --tiller-address printed %+v", cl)
	}
	c.ok("cluster", "add", "modern", "--kubeconfig", kc)
	list := c.ok("cluster", "list")
	if !strings.Contains(tableRow(list, "NAME"), "FLAVOUR") || !strings.Contains(tableRow(list, "legacy"), " helm2 ") ||
		!strings.Contains(tableRow(list, "fresh"), " helm2 ") || !strings.Contains(tableRow(list, "modern"), " helm3 ") {
		t.Fatalf("cluster list does not show the flavours:\n%s", list)
	}
	show := c.ok("cluster", "show", "legacy")
	for _, want := range []string{"FLAVOUR:", "helm2", "TILLER NAMESPACE:", tns, "TILLER ADDRESS:", tl.Addr(), "TILLER INSTALLED BY KDU:"} {
		if !strings.Contains(show, want) {
			t.Fatalf("cluster show legacy lacks %q:\n%s", want, show)
		}
	}
	if got := showField(show, "TILLER INSTALLED BY KDU:"); got != "false" {
		t.Fatalf("cluster show legacy: installed by kdu %q:\n%s", got, show)
	}
	show = c.ok("cluster", "show", "fresh")
	if got := showField(show, "TILLER INSTALLED BY KDU:"); got != "true" || !strings.Contains(showField(show, "TILLER ADDRESS:"), "port-forward") {
		t.Fatalf("cluster show fresh:\n%s", show)
	}
	if show := c.ok("cluster", "show", "modern"); strings.Contains(show, "TILLER") {
		t.Fatalf("cluster show of a helm3 cluster shows Tiller details:\n%s", show)
	}

	// KDU commands on the helm2 cluster.
	var rel kdu.Release
	mustJSON(t, c.ok("-c", "legacy", "install", "h2cli", chart, "-n", c.ns, "--wait", "--set", "message=hi", "-o", "json"), &rel)
	if rel.Name != "h2cli" || rel.Revision != 1 || rel.State != "deployed" || rel.Namespace != c.ns {
		t.Fatalf("install printed %+v", rel)
	}
	var st kdu.Status
	mustYAML(t, c.ok("-c", "legacy", "status", "h2cli", "-o", "yaml"), &st)
	if r, n := st.ReadyCount(); st.State != "deployed" || r != 3 || n != 3 {
		t.Fatalf("status: %+v", st)
	}
	if out := c.ok("-c", "legacy", "status", "h2cli"); !strings.Contains(out, "RESOURCES:     3/3 ready") || !strings.Contains(out, "Deployment") {
		t.Fatalf("status table:\n%s", out)
	}
	var rels []kdu.Release
	mustJSON(t, c.ok("-c", "legacy", "list", "-o", "json"), &rels)
	var names []string
	for _, r := range rels {
		names = append(names, r.Namespace+"/"+r.Name)
	}
	if oracle := helm2Names(t, tl); !slices.Equal(names, oracle) || len(names) != 1 {
		t.Fatalf("kdu list printed %v, helm2 lists %v", names, oracle)
	}
	if out := c.ok("-c", "legacy", "values", "h2cli"); !strings.Contains(out, "message: hi") {
		t.Fatalf("values:\n%s", out)
	}
	// The helm3 cluster on the same API server does not see Tiller's release.
	c.fails(ExitNotFound, "h2cli", "-c", "modern", "status", "h2cli", "-n", c.ns)

	c.fails(ExitConflict, "has releases", "cluster", "remove", "legacy", "--uninstall-sw")
	if out := c.ok("-c", "legacy", "uninstall", "h2cli"); !strings.Contains(out, "uninstalled") {
		t.Fatalf("uninstall printed %q", out)
	}
	if oracle := helm2Names(t, tl); len(oracle) != 0 {
		t.Fatalf("helm2 still lists %v after the uninstall", oracle)
	}
	c.fails(ExitNotFound, "h2cli", "-c", "legacy", "status", "h2cli")

	// --uninstall-sw removes Tiller's objects (not with --forget, which does not contact the cluster).
	c.fails(ExitInvalid, "forget does not contact it", "cluster", "remove", "legacy", "--forget", "--uninstall-sw")
	if out := c.ok("cluster", "remove", "legacy", "--uninstall-sw"); !strings.Contains(out, "cluster legacy removed") {
		t.Fatalf("cluster remove --uninstall-sw printed %q", out)
	}
	for what, get := range map[string]func() error{
		"deployment": func() error {
			_, err := tc.Clientset.AppsV1().Deployments(tns).Get(ctx, "tiller-deploy", metav1.GetOptions{})
			return err
		},
		"service": func() error {
			_, err := tc.Clientset.CoreV1().Services(tns).Get(ctx, "tiller-deploy", metav1.GetOptions{})
			return err
		},
		"binding": func() error {
			_, err := tc.Clientset.RbacV1().ClusterRoleBindings().Get(ctx, crb, metav1.GetOptions{})
			return err
		},
		"service account": func() error {
			_, err := tc.Clientset.CoreV1().ServiceAccounts(tns).Get(ctx, "kdu-tiller", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); !apierrors.IsNotFound(err) {
			t.Errorf("Tiller's %s is still there after --uninstall-sw: %v", what, err)
		}
	}
	c.fails(ExitNotFound, `cluster "legacy"`, "cluster", "show", "legacy")
	c.ok("cluster", "remove", "fresh", "--forget")
	c.ok("cluster", "remove", "modern", "--forget")
}
