package kdu_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/testkit/clustertest"
	"github.com/kdu-io/kdu/internal/testkit/tillertest"
)

// What kdu creates when it installs Tiller (internal/engine/tiller), and Tiller's release storage.
const (
	tillerDeploy     = "tiller-deploy"
	tillerAccount    = "kdu-tiller"
	tillerPods       = "app=helm,name=tiller"
	tillerReleaseSel = "OWNER=TILLER"
)

// TestHelm2InClusterTiller is N2VC's helm2 set-up: kdu registers a helm2 cluster without a Tiller address, so it
// installs Tiller (tiller-deploy) itself and then reaches it the way the helm v2 CLI does, by a port-forward
// through the API server to the Tiller Pod. On the dev cluster that Pod runs nothing, but kwok (its kubelet)
// forwards Tiller's port of Pods in clustertest.TillerForwardNamespace to a real Tiller on loopback, which this
// test runs: every release operation below goes kdu → API server → kwok → that Tiller.
func TestHelm2InClusterTiller(t *testing.T) {
	const id = "incluster2"
	e := newEnv(t, kdu.Options{})
	tns := clustertest.TillerForwardNamespace
	addr := tc.TillerForward(t) // exclusive until the test ends: one Tiller on that address at a time
	removeTiller(t, tns)        // leftovers of an interrupted run would make kdu find Tiller present
	t.Cleanup(func() { removeTiller(t, tns) })
	tl := tillertest.StartAt(t, tc.KubeconfigPath, tns, addr)

	c, err := e.m.AddCluster(e.ctx, kdu.ClusterSpec{ID: id, Kubeconfig: tc.Kubeconfig, Flavour: kdu.FlavourHelm2, TillerNamespace: tns})
	if err != nil || !c.InstalledSW || c.TillerAddress != "" || c.TillerNamespace != tns {
		t.Fatalf("register a helm2 cluster without a Tiller address: %v %+v; want Tiller installed", err, c)
	}
	if _, err := tc.Clientset.AppsV1().Deployments(tns).Get(e.ctx, tillerDeploy, metav1.GetOptions{}); err != nil {
		t.Fatalf("kdu installed no Tiller: %v", err)
	}
	waitTillerPodRunning(e.ctx, t, tns)

	target := kdu.Target{Cluster: id, Namespace: e.ns, Name: "pfapp"}
	rel, err := e.m.Install(e.ctx, id, kdu.InstallOptions{Name: target.Name, Chart: webapp(t), Namespace: e.ns,
		Values: kdu.Values{Set: []string{"message=through-the-tunnel"}},
		Wait:   kdu.Wait{Atomic: true, Timeout: time.Minute}})
	if err != nil || rel.State != "deployed" || rel.Revision != 1 || rel.Namespace != e.ns {
		t.Fatalf("install through the port-forwarded Tiller: %v %+v", err, rel)
	}
	if got := e.configMapMessage("pfapp-webapp"); got != "through-the-tunnel" {
		t.Fatalf("configmap says %q", got)
	}
	// The loopback Tiller made the release: the helm v2 CLI, talking to it directly, sees it, and it stored
	// the release in its namespace.
	if names := tillerReleases(t, tl); strings.Join(names, ",") != "pfapp" {
		t.Fatalf("the loopback Tiller has releases %v, want [pfapp]", names)
	}
	secrets, err := tc.Clientset.CoreV1().Secrets(tns).List(e.ctx, metav1.ListOptions{LabelSelector: tillerReleaseSel + ",NAME=pfapp"})
	if err != nil || len(secrets.Items) != 1 {
		t.Fatalf("Tiller's storage of pfapp in %s: %v %d secrets", tns, err, len(secrets.Items))
	}

	st, err := e.m.Status(e.ctx, target)
	if err != nil || st.State != "deployed" || len(st.Resources) != 3 {
		t.Fatalf("status: %v %+v", err, st)
	}
	if ready, total := st.ReadyCount(); ready != total {
		t.Fatalf("status resources not ready: %+v", st.Resources)
	}
	rels, err := e.m.List(e.ctx, id, kdu.ListOptions{})
	if err != nil || strings.Join(releaseNames(rels), ",") != "pfapp" {
		t.Fatalf("list: %v %v", err, releaseNames(rels))
	}

	if _, err := e.m.Uninstall(e.ctx, target, kdu.UninstallOptions{}); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if names := tillerReleases(t, tl); len(names) != 0 {
		t.Fatalf("the loopback Tiller still has %v after the uninstall", names)
	}
	if _, err := e.m.Status(e.ctx, target); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("status after the uninstall: %v, want ErrNotFound", err)
	}

	// Removal with uninstall_sw takes away what kdu installed; the namespace stays (it is shared).
	if err := e.m.RemoveCluster(e.ctx, id, kdu.RemoveOptions{UninstallSW: true}); err != nil {
		t.Fatalf("remove the cluster with uninstallSW: %v", err)
	}
	if _, err := e.m.GetCluster(e.ctx, id); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("the cluster is still registered: %v", err)
	}
	for what, get := range map[string]func() error{
		"deployment": func() error {
			_, err := tc.Clientset.AppsV1().Deployments(tns).Get(e.ctx, tillerDeploy, metav1.GetOptions{})
			return err
		},
		"service": func() error {
			_, err := tc.Clientset.CoreV1().Services(tns).Get(e.ctx, tillerDeploy, metav1.GetOptions{})
			return err
		},
		"service account": func() error {
			_, err := tc.Clientset.CoreV1().ServiceAccounts(tns).Get(e.ctx, tillerAccount, metav1.GetOptions{})
			return err
		},
		"cluster role binding": func() error {
			_, err := tc.Clientset.RbacV1().ClusterRoleBindings().Get(e.ctx, tillerAccount+"-"+tns, metav1.GetOptions{})
			return err
		},
	} {
		if err := get(); !apierrors.IsNotFound(err) {
			t.Errorf("Tiller's %s is still there after uninstallSW: %v", what, err)
		}
	}
}

// tillerReleases lists the releases of Tiller tl (every status) with the helm v2 CLI.
func tillerReleases(t *testing.T, tl *tillertest.Tiller) []string {
	t.Helper()
	out, err := tl.Helm(t, "ls", "--all", "--short")
	if err != nil {
		t.Fatalf("helm2 ls: %v", err)
	}
	return strings.Fields(out)
}

// waitTillerPodRunning waits until a Tiller Pod in namespace ns runs: kdu's port-forward picks a running one, and
// registration does not wait for it (an operation right after it fails with "no running Tiller pod").
func waitTillerPodRunning(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		pods, err := tc.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: tillerPods})
		why := err
		if err == nil {
			why = fmt.Errorf("%d pods, none running", len(pods.Items))
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Tiller pod (%s) in %s not running: %v", tillerPods, ns, why)
		case <-tick.C:
		}
	}
}

// removeTiller deletes from the shared namespace ns whatever a Tiller set-up leaves: kdu's Tiller objects and
// Tiller's release Secrets. Missing objects are fine.
func removeTiller(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := tc.Clientset
	for what, del := range map[string]func() error{
		"deployment": func() error {
			return cs.AppsV1().Deployments(ns).Delete(ctx, tillerDeploy, metav1.DeleteOptions{})
		},
		"service": func() error { return cs.CoreV1().Services(ns).Delete(ctx, tillerDeploy, metav1.DeleteOptions{}) },
		"service account": func() error {
			return cs.CoreV1().ServiceAccounts(ns).Delete(ctx, tillerAccount, metav1.DeleteOptions{})
		},
		"cluster role binding": func() error {
			return cs.RbacV1().ClusterRoleBindings().Delete(ctx, tillerAccount+"-"+ns, metav1.DeleteOptions{})
		},
		"release secrets": func() error {
			return cs.CoreV1().Secrets(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: tillerReleaseSel})
		},
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("clean Tiller's %s out of %s: %v", what, ns, err)
		}
	}
}
