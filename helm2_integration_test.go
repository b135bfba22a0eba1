package kdu_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/testkit/tillertest"
)

const helm2ID = "legacy"

// helm2Env is a Manager with the dev cluster registered twice: as helm3 ("dev") and as helm2 ("legacy"), the
// latter reaching a real Tiller v2.17.0 that runs on loopback against the dev cluster.
type helm2Env struct {
	*env
	tiller *tillertest.Tiller
	tns    string
}

func newHelm2Env(t *testing.T) *helm2Env {
	t.Helper()
	e := newEnv(t, kdu.Options{})
	tns := tc.Namespace(t)
	tl := tillertest.Start(t, tc.KubeconfigPath, tns)
	c, err := e.m.AddCluster(e.ctx, kdu.ClusterSpec{ID: helm2ID, Kubeconfig: tc.Kubeconfig, Flavour: kdu.FlavourHelm2,
		TillerNamespace: tns, TillerAddress: tl.Addr()})
	if err != nil {
		t.Fatalf("register a helm2 cluster: %v", err)
	}
	if c.Flavour != kdu.FlavourHelm2 || c.TillerNamespace != tns || c.InstalledSW {
		t.Fatalf("registered %+v", c)
	}
	return &helm2Env{env: e, tiller: tl, tns: tns}
}

func (h *helm2Env) target(name string) kdu.Target {
	return kdu.Target{Cluster: helm2ID, Namespace: h.ns, Name: name}
}

// oracleNames lists the releases the helm v2 CLI sees (every status).
func (h *helm2Env) oracleNames(t *testing.T) []string {
	t.Helper()
	out, err := h.tiller.Helm(t, "ls", "--all", "--output", "json")
	if err != nil {
		t.Fatalf("helm2 ls: %v", err)
	}
	var ls struct{ Releases []struct{ Name string } }
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &ls); err != nil {
			t.Fatalf("helm2 ls output %q: %v", out, err)
		}
	}
	var names []string
	for _, r := range ls.Releases {
		names = append(names, r.Name)
	}
	return names
}

func releaseNames(rels []kdu.Release) []string {
	var out []string
	for _, r := range rels {
		out = append(out, r.Name)
	}
	return out
}

func TestHelm2Lifecycle(t *testing.T) {
	h := newHelm2Env(t)
	var progress []kdu.Progress
	rel, err := h.m.Install(h.ctx, helm2ID, kdu.InstallOptions{Name: "h2app", Chart: webapp(t), Namespace: h.ns,
		Values: kdu.Values{Set: []string{"message=from-tiller"}},
		Wait:   kdu.Wait{Atomic: true, Timeout: time.Minute, Progress: func(p kdu.Progress) { progress = append(progress, p) }}})
	if err != nil || rel.State != "deployed" || rel.Revision != 1 || rel.ChartVersion != "0.1.0" || rel.Namespace != h.ns {
		t.Fatalf("install through Tiller: %v %+v", err, rel)
	}
	if len(progress) == 0 || progress[len(progress)-1].Ready != progress[len(progress)-1].Total {
		t.Fatalf("progress while Tiller waited: %+v", progress)
	}
	if got := h.configMapMessage("h2app-webapp"); got != "from-tiller" {
		t.Fatalf("configmap says %q", got)
	}

	st, err := h.m.Status(h.ctx, h.target("h2app"))
	if err != nil || st.State != "deployed" || len(st.Resources) != 3 {
		t.Fatalf("status: %v %+v", err, st)
	}
	if ready, total := st.ReadyCount(); ready != total {
		t.Fatalf("status resources: %+v", st.Resources)
	}

	// What kdu lists equals what the helm v2 CLI lists.
	rels, err := h.m.List(h.ctx, helm2ID, kdu.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(releaseNames(rels), ","), strings.Join(h.oracleNames(t), ","); got != want || got != "h2app" {
		t.Fatalf("kdu lists %q, helm2 lists %q", got, want)
	}

	vals, err := h.m.GetValues(h.ctx, h.target("h2app"), false)
	if err != nil || vals["message"] != "from-tiller" {
		t.Fatalf("values: %v %v", err, vals)
	}
	all, err := h.m.GetValues(h.ctx, h.target("h2app"), true)
	if err != nil || all["replicaCount"] == nil {
		t.Fatalf("all values: %v %v", err, all)
	}

	// Upgrade reusing values, scale, rollback.
	up, err := h.m.Upgrade(h.ctx, h.target("h2app"), kdu.UpgradeOptions{Values: kdu.Values{Set: []string{"extra=1"}}, Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
	if err != nil || up.Revision != 2 {
		t.Fatalf("upgrade: %v %+v", err, up)
	}
	if got := h.configMapMessage("h2app-webapp"); got != "from-tiller" {
		t.Fatalf("reused values lost: %q", got)
	}
	if _, err := h.m.Scale(h.ctx, h.target("h2app"), kdu.ScaleOptions{Replicas: 2, Wait: kdu.Wait{Timeout: time.Minute}}); err != nil {
		t.Fatalf("scale: %v", err)
	}
	if n, err := h.m.ScaleCount(h.ctx, h.target("h2app"), ""); err != nil || n != 2 {
		t.Fatalf("scale count: %v %d", err, n)
	}
	if d := h.deployment("h2app-webapp"); *d.Spec.Replicas != 2 {
		t.Fatalf("deployment replicas %d", *d.Spec.Replicas)
	}
	rb, err := h.m.Rollback(h.ctx, h.target("h2app"), kdu.RollbackOptions{Revision: 1})
	if err != nil || rb.Revision != 4 {
		t.Fatalf("rollback: %v %+v", err, rb)
	}
	if d := h.deployment("h2app-webapp"); *d.Spec.Replicas != 1 {
		t.Fatalf("after rollback to 1: replicas %d", *d.Spec.Replicas)
	}
	// After four revisions, the release is listed once, as the helm v2 CLI lists it.
	rels, err = h.m.List(h.ctx, helm2ID, kdu.ListOptions{})
	if err != nil || len(rels) != 1 || rels[0].Revision != 4 || strings.Join(h.oracleNames(t), ",") != "h2app" {
		t.Fatalf("list after upgrades: %v %+v (helm2: %v)", err, rels, h.oracleNames(t))
	}
	hist, err := h.m.History(h.ctx, h.target("h2app"))
	if err != nil || len(hist) != 4 || hist[3].State != "deployed" || hist[0].State != "superseded" {
		t.Fatalf("history: %v %+v", err, hist)
	}
	svcs, err := h.m.Services(h.ctx, h.target("h2app"))
	if err != nil || len(svcs) != 1 || svcs[0].Name != "h2app-webapp" || len(svcs[0].Ports) == 0 {
		t.Fatalf("services: %v %+v", err, svcs)
	}

	// Errors have the same types as on Helm 3 clusters.
	if _, err := h.m.Status(h.ctx, h.target("nope")); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("status of a missing release: %v", err)
	}
	if _, err := h.m.Install(h.ctx, helm2ID, kdu.InstallOptions{Name: "h2app", Chart: webapp(t), Namespace: h.ns}); !errors.Is(err, kdu.ErrExists) {
		t.Fatalf("second install: %v", err)
	}
	if _, err := h.m.Install(h.ctx, helm2ID, kdu.InstallOptions{Name: "nons", Chart: webapp(t), Namespace: "kdu-absent-ns", CreateNamespace: false}); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("install into a missing namespace: %v", err)
	}

	if _, err := h.m.Uninstall(h.ctx, h.target("h2app"), kdu.UninstallOptions{}); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if names := h.oracleNames(t); len(names) != 0 {
		t.Fatalf("helm2 still lists %v after a purge", names)
	}
	if _, err := h.m.Uninstall(h.ctx, h.target("h2app"), kdu.UninstallOptions{}); err != nil {
		t.Fatalf("uninstall is idempotent: %v", err)
	}
}

func TestHelm2AtomicFailures(t *testing.T) {
	h := newHelm2Env(t)
	never := kdu.Values{SetString: []string{`podLabels.kdu\.test/never-ready=true`}}
	_, err := h.m.Install(h.ctx, helm2ID, kdu.InstallOptions{Name: "h2never", Chart: webapp(t), Namespace: h.ns, Values: never,
		Wait: kdu.Wait{Atomic: true, Timeout: 3 * time.Second}})
	if !errors.Is(err, kdu.ErrTimeout) || !strings.Contains(err.Error(), "purged") {
		t.Fatalf("atomic install of never-ready pods: %v, want a timeout saying the release was purged", err)
	}
	if names := h.oracleNames(t); len(names) != 0 {
		t.Fatalf("Tiller still has %v after an atomic failure", names)
	}

	if _, err := h.m.Install(h.ctx, helm2ID, kdu.InstallOptions{Name: "h2up", Chart: webapp(t), Namespace: h.ns, Wait: kdu.Wait{Wait: true, Timeout: time.Minute}}); err != nil {
		t.Fatal(err)
	}
	_, err = h.m.Upgrade(h.ctx, h.target("h2up"), kdu.UpgradeOptions{Values: never, Wait: kdu.Wait{Atomic: true, Timeout: 3 * time.Second}})
	if !errors.Is(err, kdu.ErrTimeout) || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("atomic upgrade to never-ready pods: %v", err)
	}
	st, err := h.m.Status(h.ctx, h.target("h2up"))
	if err != nil || st.Revision != 3 || st.State != "deployed" {
		t.Fatalf("after the atomic rollback: %v %+v", err, st)
	}
	if d := h.deployment("h2up-webapp"); d.Spec.Template.Labels["kdu.test/never-ready"] != "" {
		t.Fatal("the failed upgrade's pod template is still deployed")
	}
}

func TestHelm2Subchart(t *testing.T) {
	h := newHelm2Env(t)
	dir := filepath.Join(t.TempDir(), "parent")
	files := map[string]string{
		"Chart.yaml":                     "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n- name: child\n  version: 0.1.0\n  condition: child.enabled\n- name: extra\n  version: 0.1.0\n  condition: extra.enabled\n",
		"values.yaml":                    "child:\n  enabled: true\n  greeting: hi\nextra:\n  enabled: false\n",
		"templates/cm.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-parent\ndata:\n  k: v\n",
		"charts/child/Chart.yaml":        "apiVersion: v1\nname: child\nversion: 0.1.0\n",
		"charts/child/values.yaml":       "greeting: hello\n",
		"charts/child/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-child\ndata:\n  greeting: {{ .Values.greeting }}\n",
		"charts/extra/Chart.yaml":        "apiVersion: v1\nname: extra\nversion: 0.1.0\n",
		"charts/extra/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\n",
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.m.Install(h.ctx, helm2ID, kdu.InstallOptions{Name: "h2sub", Chart: dir, Namespace: h.ns}); err != nil {
		t.Fatalf("install a chart with subcharts through Tiller: %v", err)
	}
	cm, err := tc.Clientset.CoreV1().ConfigMaps(h.ns).Get(h.ctx, "h2sub-child", metav1.GetOptions{})
	if err != nil || cm.Data["greeting"] != "hi" {
		t.Fatalf("subchart ConfigMap with the parent's values: %v %+v", err, cm)
	}
	if _, err := tc.Clientset.CoreV1().ConfigMaps(h.ns).Get(h.ctx, "h2sub-extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a disabled subchart was rendered: %v", err)
	}
}

func TestHelm2ClusterInitAndReset(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	// Registration without a Tiller address installs Tiller when it is absent (docs/n2vc.md#init_env), with the
	// service account in Tiller's own namespace (N2VC put it in kube-system whatever the namespace: bug 25
	// of docs/n2vc.md#n2vc-bugs-and-what-kdu-does).
	tns := tc.Namespace(t)
	c, err := e.m.AddCluster(e.ctx, kdu.ClusterSpec{ID: "fresh2", Kubeconfig: tc.Kubeconfig, Flavour: kdu.FlavourHelm2, TillerNamespace: tns})
	if err != nil || !c.InstalledSW {
		t.Fatalf("register with Tiller absent: %v %+v", err, c)
	}
	d, err := tc.Clientset.AppsV1().Deployments(tns).Get(e.ctx, "tiller-deploy", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.ServiceAccountName != "kdu-tiller" {
		t.Fatalf("tiller deployment: %v", err)
	}
	if _, err := tc.Clientset.CoreV1().ServiceAccounts(tns).Get(e.ctx, "kdu-tiller", metav1.GetOptions{}); err != nil {
		t.Fatalf("service account in Tiller's namespace: %v", err)
	}
	crb, err := tc.Clientset.RbacV1().ClusterRoleBindings().Get(e.ctx, "kdu-tiller-"+tns, metav1.GetOptions{})
	if err != nil || crb.Subjects[0].Namespace != tns {
		t.Fatalf("cluster role binding: %v", err)
	}
	t.Cleanup(func() {
		_ = tc.Clientset.RbacV1().ClusterRoleBindings().Delete(context.Background(), "kdu-tiller-"+tns, metav1.DeleteOptions{})
	})
	// Registered again (another id): Tiller is detected, nothing installed.
	c2, err := e.m.AddCluster(e.ctx, kdu.ClusterSpec{ID: "again2", Kubeconfig: tc.Kubeconfig, Flavour: kdu.FlavourHelm2, TillerNamespace: tns})
	if err != nil || c2.InstalledSW {
		t.Fatalf("register with Tiller present: %v %+v", err, c2)
	}
	if err := e.m.RemoveCluster(e.ctx, "again2", kdu.RemoveOptions{Forget: true, UninstallSW: true}); !errors.Is(err, kdu.ErrInvalid) {
		t.Fatalf("forget with uninstallSW: %v", err)
	}

	// Reset with uninstall_sw on a cluster whose Tiller answers: Tiller, its binding and account are removed.
	tl := tillertest.Start(t, tc.KubeconfigPath, tns)
	if _, err := e.m.AddCluster(e.ctx, kdu.ClusterSpec{ID: "reset2", Kubeconfig: tc.Kubeconfig, Flavour: kdu.FlavourHelm2, TillerNamespace: tns, TillerAddress: tl.Addr()}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.RemoveCluster(e.ctx, "reset2", kdu.RemoveOptions{UninstallSW: true}); err != nil {
		t.Fatalf("reset with uninstall_sw: %v", err)
	}
	for what, get := range map[string]func() error{
		"deployment": func() error {
			_, err := tc.Clientset.AppsV1().Deployments(tns).Get(e.ctx, "tiller-deploy", metav1.GetOptions{})
			return err
		},
		"service": func() error {
			_, err := tc.Clientset.CoreV1().Services(tns).Get(e.ctx, "tiller-deploy", metav1.GetOptions{})
			return err
		},
		"binding": func() error {
			_, err := tc.Clientset.RbacV1().ClusterRoleBindings().Get(e.ctx, "kdu-tiller-"+tns, metav1.GetOptions{})
			return err
		},
		"service account": func() error {
			_, err := tc.Clientset.CoreV1().ServiceAccounts(tns).Get(e.ctx, "kdu-tiller", metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); !apierrors.IsNotFound(err) {
			t.Errorf("Tiller's %s is still there: %v", what, err)
		}
	}

	// Bad helm2 registrations: clear field errors, nothing stored.
	for _, tc2 := range []struct {
		spec  kdu.ClusterSpec
		field string
	}{
		{kdu.ClusterSpec{ID: "bad2", Flavour: "helm4"}, "flavour"},
		{kdu.ClusterSpec{ID: "bad2", TillerNamespace: "x"}, "flavour"},
		{kdu.ClusterSpec{ID: "bad2", Flavour: kdu.FlavourHelm2, TillerNamespace: "Bad_NS"}, "tillerNamespace"},
		{kdu.ClusterSpec{ID: "bad2", Flavour: kdu.FlavourHelm2, TillerAddress: "no-port"}, "tillerAddress"},
		{kdu.ClusterSpec{ID: "bad2", Flavour: kdu.FlavourHelm2, TillerNamespace: tns, TillerAddress: "127.0.0.1:1"}, "tillerAddress"},
	} {
		tc2.spec.Kubeconfig = tc.Kubeconfig
		_, err := e.m.AddCluster(e.ctx, tc2.spec)
		wantErr(t, err, kdu.ErrInvalid, tc2.field)
	}
	if _, err := e.m.GetCluster(e.ctx, "bad2"); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("a rejected registration was stored: %v", err)
	}
}

// TestHelm2OtherTillerVersion runs a Tiller of another minor release (v2.16.12): it refuses clients whose
// version header is not its own minor — the helm v2.17 CLI among them — and kdu, which sends the server's own
// version, works with it.
func TestHelm2OtherTillerVersion(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	tns := tc.Namespace(t)
	tl := tillertest.StartBinary(t, tc.KubeconfigPath, tns, tillertest.OtherVersionBinary)
	if tl.Version() != "v2.16.12" {
		t.Fatalf("the other Tiller reports %s", tl.Version())
	}
	if _, err := tl.Helm(t, "ls", "--all"); err == nil || !strings.Contains(err.Error(), "incompatible versions") {
		t.Fatalf("the v2.17 CLI against Tiller v2.16: %v, want Tiller's version rule to refuse it", err)
	}
	if _, err := e.m.AddCluster(e.ctx, kdu.ClusterSpec{ID: "old2", Kubeconfig: tc.Kubeconfig, Flavour: kdu.FlavourHelm2,
		TillerNamespace: tns, TillerAddress: tl.Addr()}); err != nil {
		t.Fatal(err)
	}
	rel, err := e.m.Install(e.ctx, "old2", kdu.InstallOptions{Name: "h216", Chart: webapp(t), Namespace: e.ns})
	if err != nil || rel.State != "deployed" {
		t.Fatalf("install through Tiller v2.16: %v %+v", err, rel)
	}
	if rels, err := e.m.List(e.ctx, "old2", kdu.ListOptions{}); err != nil || len(rels) != 1 {
		t.Fatalf("list: %v %+v", err, rels)
	}
	if _, err := e.m.Uninstall(e.ctx, kdu.Target{Cluster: "old2", Name: "h216"}, kdu.UninstallOptions{}); err != nil {
		t.Fatal(err)
	}
}
