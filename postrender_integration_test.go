package kdu_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kdu-io/kdu"
)

func workloadsChart(t *testing.T) string { return chartPath(t, "testdata/charts/workloads") }

// podTemplates returns the pod templates of the workloads chart's objects (and of its hook Job) by kind.
func (e *env) podTemplates(name string) map[string]corev1.PodTemplateSpec {
	e.t.Helper()
	apps, batch := tc.Clientset.AppsV1(), tc.Clientset.BatchV1()
	out := map[string]corev1.PodTemplateSpec{}
	d, err := apps.Deployments(e.ns).Get(e.ctx, name+"-deploy", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out["Deployment"] = d.Spec.Template
	s, err := apps.StatefulSets(e.ns).Get(e.ctx, name+"-sts", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out["StatefulSet"] = s.Spec.Template
	ds, err := apps.DaemonSets(e.ns).Get(e.ctx, name+"-ds", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out["DaemonSet"] = ds.Spec.Template
	cj, err := batch.CronJobs(e.ns).Get(e.ctx, name+"-cron", metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	out["CronJob"] = cj.Spec.JobTemplate.Spec.Template
	if j, err := batch.Jobs(e.ns).Get(e.ctx, name+"-pre-install", metav1.GetOptions{}); err == nil && e.withHook {
		out["hook Job"] = j.Spec.Template
	}
	return out
}

// wantTemplates checks every pod template for labels and a node selector (nil: must not have the keys).
func (e *env) wantTemplates(name, when string, labels, selector map[string]string, absentLabel, absentSelector string) {
	e.t.Helper()
	tmpls := e.podTemplates(name)
	for _, kind := range []string{"Deployment", "StatefulSet", "DaemonSet", "CronJob"} {
		if _, ok := tmpls[kind]; !ok {
			e.t.Fatalf("%s: no %s", when, kind)
		}
	}
	for kind, tmpl := range tmpls {
		for k, v := range labels {
			if tmpl.Labels[k] != v {
				e.t.Errorf("%s: %s pod template label %s = %q, want %q (labels %v)", when, kind, k, tmpl.Labels[k], v, tmpl.Labels)
			}
		}
		for k, v := range selector {
			if tmpl.Spec.NodeSelector[k] != v {
				e.t.Errorf("%s: %s nodeSelector %s = %q, want %q (%v)", when, kind, k, tmpl.Spec.NodeSelector[k], v, tmpl.Spec.NodeSelector)
			}
		}
		if _, ok := tmpl.Labels[absentLabel]; absentLabel != "" && ok {
			e.t.Errorf("%s: %s pod template still has label %s", when, kind, absentLabel)
		}
		if _, ok := tmpl.Spec.NodeSelector[absentSelector]; absentSelector != "" && ok {
			e.t.Errorf("%s: %s still selects %s", when, kind, absentSelector)
		}
	}
}

// TestPostRender installs a chart with a Deployment, a StatefulSet, a DaemonSet, a CronJob and a pre-install
// hook Job with pod labels and a node selector, and follows the settings through upgrade, scale, a second
// Manager, clearing, bad input, force-replace and migrate.
func TestPostRender(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("watch cache %v", cached), func(t *testing.T) { testPostRender(t, cached) })
	}
}

func testPostRender(t *testing.T, cached bool) {
	e := newEnv(t, kdu.Options{WatchCache: cached})
	const name = "pr"
	labels := map[string]string{"osm.etsi.org/ns-id": "ns-1", "tier": "kdu"}
	selector := map[string]string{"type": "kwok"}
	wait := kdu.Wait{Wait: true, Timeout: 2 * time.Minute}
	rel := e.install(name, kdu.InstallOptions{Chart: workloadsChart(t), PostRender: kdu.PostRender{PodLabels: labels, NodeSelector: selector}, Wait: wait})
	if rel.PodLabels["osm.etsi.org/ns-id"] != "ns-1" || rel.NodeSelector["type"] != "kwok" {
		t.Errorf("installed release shows post-render %v / %v", rel.PodLabels, rel.NodeSelector)
	}
	// The chart's own "tier: chart" label loses to the post-render one; the hook Job got them too.
	// The pre-install hook runs at install only: its Job is checked then.
	e.withHook = true
	e.wantTemplates(name, "install", labels, selector, "", "")
	if _, ok := e.podTemplates(name)["hook Job"]; !ok {
		t.Error("the pre-install hook Job is not there to check")
	}
	e.withHook = false
	if tmpl := e.podTemplates(name)["StatefulSet"]; tmpl.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("the chart's own nodeSelector entry was lost: %v", tmpl.Spec.NodeSelector)
	}
	d := e.deployment(name + "-deploy")
	if d.Labels["osm.etsi.org/ns-id"] != "ns-1" {
		t.Errorf("the Deployment's own labels: %v", d.Labels)
	}
	cm, err := tc.Clientset.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name+"-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Labels["osm.etsi.org/ns-id"]; ok {
		t.Errorf("a ConfigMap got the pod labels: %v", cm.Labels)
	}

	// An upgrade and a scale that do not mention them keep them.
	if _, err := e.m.Upgrade(e.ctx, e.target(name), kdu.UpgradeOptions{Values: kdu.Values{Set: []string{"image=nginx:1.28"}}, Wait: wait}); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	e.wantTemplates(name, "upgrade without settings", labels, selector, "", "")
	if _, err := e.m.Scale(e.ctx, e.target(name), kdu.ScaleOptions{Replicas: 2, Wait: wait}); err != nil {
		t.Fatalf("scale: %v", err)
	}
	e.wantTemplates(name, "scale", labels, selector, "", "")
	if got := *e.deployment(name + "-deploy").Spec.Replicas; got != 2 {
		t.Errorf("replicas after scale = %d", got)
	}

	// Another kdu (its own data directory) sees them: they live with the release.
	other := newEnv(t, kdu.Options{})
	st, err := other.m.Status(other.ctx, kdu.Target{Cluster: clusterID, Namespace: e.ns, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if st.PodLabels["tier"] != "kdu" || st.NodeSelector["type"] != "kwok" {
		t.Errorf("another Manager's status shows %v / %v", st.PodLabels, st.NodeSelector)
	}

	// Bad input changes nothing.
	before, _ := e.m.Status(e.ctx, e.target(name))
	for field, pr := range map[string]kdu.PostRender{
		`podLabels["Bad Key"]`:  {PodLabels: map[string]string{"Bad Key": "x"}},
		`podLabels["app"]`:      {PodLabels: map[string]string{"app": "white space"}},
		`nodeSelector["-lead"]`: {NodeSelector: map[string]string{"-lead": "x"}},
		`nodeSelector["type"]`:  {NodeSelector: map[string]string{"type": strings.Repeat("x", 64)}},
	} {
		_, err := e.m.Upgrade(e.ctx, e.target(name), kdu.UpgradeOptions{PostRender: pr})
		wantErr(t, err, kdu.ErrInvalid, field)
		_, err = e.m.Scale(e.ctx, e.target(name), kdu.ScaleOptions{Replicas: 1, PostRender: pr})
		wantErr(t, err, kdu.ErrInvalid, field)
	}
	if after, _ := e.m.Status(e.ctx, e.target(name)); after.Revision != before.Revision {
		t.Errorf("refused requests made revision %d (was %d)", after.Revision, before.Revision)
	}

	// An empty map clears its setting only.
	if _, err := e.m.Upgrade(e.ctx, e.target(name), kdu.UpgradeOptions{PostRender: kdu.PostRender{PodLabels: map[string]string{}}, Wait: wait}); err != nil {
		t.Fatalf("upgrade clearing pod labels: %v", err)
	}
	e.wantTemplates(name, "pod labels cleared", nil, selector, "osm.etsi.org/ns-id", "")
	if st, _ := e.m.Status(e.ctx, e.target(name)); len(st.PodLabels) != 0 || st.NodeSelector["type"] != "kwok" {
		t.Errorf("status after clearing: %v / %v", st.PodLabels, st.NodeSelector)
	}

	// Force-replace: a field another manager owns makes server-side apply refuse the upgrade; a replace does it.
	patch := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q},"spec":{"replicas":5}}`, name+"-deploy")
	force := true
	if _, err := tc.Clientset.AppsV1().Deployments(e.ns).Patch(e.ctx, name+"-deploy", types.ApplyPatchType, []byte(patch),
		metav1.PatchOptions{FieldManager: "intruder", Force: &force}); err != nil {
		t.Fatal(err)
	}
	_, err = e.m.Upgrade(e.ctx, e.target(name), kdu.UpgradeOptions{Values: kdu.Values{Set: []string{"replicaCount=3"}}, Wait: wait})
	if err == nil || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("upgrade over another manager's field: %v, want a server-side apply conflict", err)
	}
	if _, err := e.m.Upgrade(e.ctx, e.target(name), kdu.UpgradeOptions{Values: kdu.Values{Set: []string{"replicaCount=3"}},
		ForceReplace: true, Wait: wait}); err != nil {
		t.Fatalf("force-replace upgrade: %v", err)
	}
	if got := *e.deployment(name + "-deploy").Spec.Replicas; got != 3 {
		t.Errorf("replicas after the force-replace upgrade = %d, want 3", got)
	}

	// Migrate moves the node selector, keeps the labels, and is atomic.
	if _, err := e.m.Upgrade(e.ctx, e.target(name), kdu.UpgradeOptions{PostRender: kdu.PostRender{PodLabels: labels}, Wait: wait}); err != nil {
		t.Fatalf("upgrade restoring labels: %v", err)
	}
	moved, err := e.m.Migrate(e.ctx, e.target(name), kdu.MigrateOptions{NodeSelector: map[string]string{"kubernetes.io/os": "linux"}, Wait: wait})
	if err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if moved.NodeSelector["kubernetes.io/os"] != "linux" || moved.NodeSelector["type"] != "" || moved.PodLabels["tier"] != "kdu" {
		t.Errorf("after migrate: %v / %v", moved.PodLabels, moved.NodeSelector)
	}
	e.wantTemplates(name, "migrate", labels, map[string]string{"kubernetes.io/os": "linux"}, "", "type")
	// A migrate to nodes that do not exist times out and returns to the previous revision. (A Deployment-only
	// chart: a StatefulSet whose Pod cannot be scheduled keeps it until it is deleted, rollback or not.)
	const web = "pr-web"
	e.install(web, kdu.InstallOptions{PostRender: kdu.PostRender{NodeSelector: selector}, Wait: wait})
	_, err = e.m.Migrate(e.ctx, e.target(web), kdu.MigrateOptions{NodeSelector: map[string]string{"type": "nowhere"},
		Wait: kdu.Wait{Timeout: 8 * time.Second}})
	if err == nil {
		t.Fatal("migrate to nodes that do not exist succeeded")
	}
	st, err = e.m.Status(e.ctx, e.target(web))
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "deployed" || st.Revision != 3 || st.NodeSelector["type"] != "kwok" {
		hist, _ := e.m.History(e.ctx, e.target(web))
		for _, h := range hist {
			t.Logf("revision %d %s: %s", h.Revision, h.State, h.Description)
		}
		t.Errorf("after a failed migrate: revision %d %s with %v, want revision 3 deployed back on type=kwok", st.Revision, st.State, st.NodeSelector)
	}
	if sel := e.deployment(web + "-webapp").Spec.Template.Spec.NodeSelector; sel["type"] != "kwok" {
		t.Errorf("the Deployment selects %v after the rollback", sel)
	}
	_, err = e.m.Migrate(e.ctx, e.target(name), kdu.MigrateOptions{})
	wantErr(t, err, kdu.ErrInvalid, "nodeSelector")
	for _, n := range []string{name, web} {
		if _, err := e.m.Uninstall(e.ctx, e.target(n), kdu.UninstallOptions{Wait: true}); err != nil && !errors.Is(err, kdu.ErrNotFound) {
			t.Fatal(err)
		}
	}
}

// TestRollbackToCurrentAndScalePhase: a rollback to the current revision re-deploys it as a new revision (how
// an operator repairs a release changed behind it), and a scale's progress says it is scaling.
func TestRollbackToCurrentAndScalePhase(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	const name = "rbc"
	e.install(name, kdu.InstallOptions{Wait: kdu.Wait{Wait: true, Timeout: 2 * time.Minute}})
	var phases []string
	rel, err := e.m.Scale(e.ctx, e.target(name), kdu.ScaleOptions{Replicas: 2, Wait: kdu.Wait{Wait: true, Timeout: 2 * time.Minute,
		Progress: func(p kdu.Progress) { phases = append(phases, p.Phase) }}})
	if err != nil {
		t.Fatal(err)
	}
	if len(phases) == 0 || phases[len(phases)-1] != "scaling" {
		t.Errorf("scale progress phases %v, want scaling", phases)
	}
	// Someone edits the Deployment behind kdu; rolling back to the current revision repairs it.
	d := e.deployment(name + "-webapp")
	d.Spec.Replicas = ptrInt32(5)
	if _, err := tc.Clientset.AppsV1().Deployments(e.ns).Update(e.ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	back, err := e.m.Rollback(e.ctx, e.target(name), kdu.RollbackOptions{Revision: rel.Revision, Wait: kdu.Wait{Wait: true, Timeout: 2 * time.Minute}})
	if err != nil {
		t.Fatalf("rollback to the current revision %d: %v", rel.Revision, err)
	}
	if back.Revision != rel.Revision+1 || back.State != "deployed" {
		t.Errorf("rollback to the current revision gave revision %d %s, want %d deployed", back.Revision, back.State, rel.Revision+1)
	}
	if got := *e.deployment(name + "-webapp").Spec.Replicas; got != 2 {
		t.Errorf("replicas after the repairing rollback = %d, want 2", got)
	}
}

func ptrInt32(v int32) *int32 { return &v }
