package kdu_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kdu-io/kdu"
)

func TestUpgradeValuesModes(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("vm", kdu.InstallOptions{Values: kdu.Values{Set: []string{"message=a", "replicaCount=2"}}})
	tg := e.target("vm")
	values := func() map[string]any {
		t.Helper()
		v, err := e.m.GetValues(e.ctx, tg, false)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Reuse (the default) keeps the previous values and adds the new ones.
	if _, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{Values: kdu.Values{Set: []string{"service.port=81"}}}); err != nil {
		t.Fatal(err)
	}
	if v := values(); v["message"] != "a" || v["replicaCount"] != float64(2) {
		t.Fatalf("reuse lost values: %v", v)
	}

	// Reset forgets them: only the new values over the chart's defaults. That needs the chart: Helm does not
	// keep a release's chart defaults once values were reused.
	_, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{ValuesMode: kdu.ResetValues, Values: kdu.Values{Set: []string{"message=b"}}})
	wantErr(t, err, kdu.ErrInvalid, "chart")
	if _, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{Chart: webapp(t), ValuesMode: kdu.ResetValues, Values: kdu.Values{Set: []string{"message=b"}}}); err != nil {
		t.Fatal(err)
	}
	if v := values(); len(v) != 1 || v["message"] != "b" {
		t.Fatalf("reset kept old values: %v", v)
	}
	if r := *e.deployment("vm-webapp").Spec.Replicas; r != 1 {
		t.Fatalf("after reset the deployment has %d replicas, want the chart default 1", r)
	}

	// Reset-then-reuse: the chart's defaults, then the previous user values, then the new ones.
	if _, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{Chart: webapp(t), ValuesMode: kdu.ResetThenReuseValues, Values: kdu.Values{Set: []string{"replicaCount=3"}}}); err != nil {
		t.Fatal(err)
	}
	if v := values(); v["message"] != "b" || v["replicaCount"] != float64(3) {
		t.Fatalf("reset-then-reuse: %v", v)
	}

	// Rollback to an explicit revision restores that revision's values.
	rel, err := e.m.Rollback(e.ctx, tg, kdu.RollbackOptions{Revision: 1, Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
	if err != nil || rel.Revision != 5 || !strings.Contains(rel.Description, "Rollback to 1") {
		t.Fatalf("rollback to 1: %v %+v", err, rel)
	}
	if v := values(); v["message"] != "a" || v["replicaCount"] != float64(2) {
		t.Fatalf("values after rollback to 1: %v", v)
	}
	// The current revision re-deploys as a new one, as Helm does; a revision that never was is refused.
	if rel, err := e.m.Rollback(e.ctx, tg, kdu.RollbackOptions{Revision: 5}); err != nil || rel.Revision != 6 {
		t.Fatalf("rollback to the current revision 5: %v %+v", err, rel)
	}
	if _, err := e.m.Rollback(e.ctx, tg, kdu.RollbackOptions{Revision: 99}); err == nil {
		t.Fatal("rollback to revision 99 succeeded")
	}
	if _, err := e.m.Rollback(e.ctx, tg, kdu.RollbackOptions{Revision: -1}); !errors.Is(err, kdu.ErrInvalid) {
		t.Fatalf("rollback to -1: %v", err)
	}
}

func TestUpgradeForceConflicts(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("fc", kdu.InstallOptions{})
	// Someone else (an operator, kubectl) takes ownership of spec.replicas with server-side apply.
	patch := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"fc-webapp"},"spec":{"replicas":4}}`)
	force := true
	if _, err := tc.Clientset.AppsV1().Deployments(e.ns).Patch(e.ctx, "fc-webapp", types.ApplyPatchType, patch,
		metav1.PatchOptions{FieldManager: "other-controller", Force: &force}); err != nil {
		t.Fatal(err)
	}
	tg := e.target("fc")
	_, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{Values: kdu.Values{Set: []string{"replicaCount=2"}}})
	if err == nil || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("upgrade over a field another manager owns: %v, want a conflict", err)
	}
	if _, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{ForceConflicts: true, Values: kdu.Values{Set: []string{"replicaCount=2"}}}); err != nil {
		t.Fatalf("upgrade with force-conflicts: %v", err)
	}
	if r := *e.deployment("fc-webapp").Spec.Replicas; r != 2 {
		t.Fatalf("replicas %d after a forced upgrade, want 2", r)
	}
}

func TestListByState(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("okay", kdu.InstallOptions{})
	// A non-atomic install whose Pods never become ready ends failed and stays listed.
	_, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "broken", Chart: webapp(t), Namespace: e.ns,
		Values: kdu.Values{SetString: []string{`podLabels.kdu\.test/never-ready=true`}},
		Wait:   kdu.Wait{Wait: true, Timeout: 2 * time.Second}})
	if !errors.Is(err, kdu.ErrTimeout) {
		t.Fatalf("install: %v, want a timeout", err)
	}
	failed, err := e.m.List(e.ctx, clusterID, kdu.ListOptions{Namespace: e.ns, States: []kdu.ReleaseState{"failed"}})
	if err != nil || len(failed) != 1 || failed[0].Name != "broken" {
		t.Fatalf("failed releases: %v %+v", err, failed)
	}
	all, err := e.m.List(e.ctx, clusterID, kdu.ListOptions{Namespace: e.ns})
	if err != nil || len(all) != 2 {
		t.Fatalf("all releases: %v %+v", err, all)
	}
	if _, err := e.m.List(e.ctx, clusterID, kdu.ListOptions{States: []kdu.ReleaseState{"sleeping"}}); !errors.Is(err, kdu.ErrInvalid) {
		t.Fatalf("unknown state: %v", err)
	}
}
