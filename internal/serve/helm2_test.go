package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/client"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/clustertest"
	"github.com/kdu-io/kdu/internal/testkit/tillertest"
)

// helm2Release is one release as the helm v2 CLI lists it (`helm ls --output json`).
type helm2Release struct {
	Name      string
	Revision  int
	Status    string
	Namespace string
}

// helm2Oracle lists the releases the helm v2 CLI sees through Tiller (every status).
func helm2Oracle(t *testing.T, tl *tillertest.Tiller) []helm2Release {
	t.Helper()
	out, err := tl.Helm(t, "ls", "--all", "--output", "json")
	if err != nil {
		t.Fatalf("helm2 ls: %v", err)
	}
	var ls struct{ Releases []helm2Release }
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &ls); err != nil {
			t.Fatalf("helm2 ls output %q: %v", out, err)
		}
	}
	return ls.Releases
}

// markNeverReadyPodsReady makes the Running Pods of ns labelled kdu.test/never-ready=true Ready, as their
// readiness probe would once it succeeds, and returns how many it changed. The dev cluster leaves them alone
// once they run, so the change sticks.
func markNeverReadyPodsReady(t *testing.T, ns string) int {
	t.Helper()
	ctx := context.Background()
	pods, err := tc.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: clustertest.NeverReadyLabel + "=true"})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	changed := 0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := tc.Clientset.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			now := metav1.Now()
			for i, c := range cur.Status.Conditions {
				if c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
					cur.Status.Conditions[i].Status, cur.Status.Conditions[i].Reason, cur.Status.Conditions[i].Message = corev1.ConditionTrue, "", ""
					cur.Status.Conditions[i].LastTransitionTime = now
				}
			}
			for i := range cur.Status.ContainerStatuses {
				cur.Status.ContainerStatuses[i].Ready = true
			}
			_, err = tc.Clientset.CoreV1().Pods(ns).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatalf("make pod %s ready: %v", p.Name, err)
		}
		changed++
	}
	return changed
}

// waitingProgress returns the first event, before the last one, that reports a running operation waiting with
// fewer objects ready than it has.
func waitingProgress(ops []api.Operation) *api.Operation {
	for i := range ops[:max(len(ops)-1, 0)] {
		op := &ops[i]
		if pr := op.Progress; op.State == api.Running && pr != nil && pr.Total > 0 && pr.Ready < pr.Total && len(pr.NotReady) > 0 {
			return op
		}
	}
	return nil
}

// TestHelm2ThroughAPI registers a Helm 2 cluster through the API, reaching a real Tiller v2.17.0, and drives
// every KDU endpoint on it, with the helm v2 CLI as the oracle of what Tiller holds.
func TestHelm2ThroughAPI(t *testing.T) {
	s := startService(t, serve.Options{})
	tns, ns := tc.Namespace(t), tc.Namespace(t)
	tl := tillertest.Start(t, tc.KubeconfigPath, tns)
	kubeconfig := string(tc.Kubeconfig)

	// Bad registrations: 422 naming the field, nothing stored.
	for _, bad := range []struct {
		req   api.ClusterRequest
		field string
	}{
		{api.ClusterRequest{Flavour: "helm4"}, "flavour"},
		{api.ClusterRequest{TillerAddress: tl.Addr()}, "flavour"},
		{api.ClusterRequest{Flavour: kdu.FlavourHelm2, TillerNamespace: "Bad_NS"}, "tillerNamespace"},
		{api.ClusterRequest{Flavour: kdu.FlavourHelm2, TillerNamespace: tns, TillerAddress: "no-port"}, "tillerAddress"},
		{api.ClusterRequest{Flavour: kdu.FlavourHelm2, TillerNamespace: tns, TillerAddress: "127.0.0.1:1"}, "tillerAddress"},
	} {
		bad.req.ID, bad.req.Kubeconfig = "legacy", kubeconfig
		s.wantError(http.StatusUnprocessableEntity, "invalid", bad.field, "POST", "/v1/clusters", "", bad.req)
	}
	s.wantError(http.StatusNotFound, "not_found", "cluster", "GET", "/v1/clusters/legacy", "", nil)

	var cl kdu.Cluster
	s.callJSON(http.StatusCreated, "POST", "/v1/clusters", "", api.ClusterRequest{ID: "legacy", Kubeconfig: kubeconfig,
		Flavour: kdu.FlavourHelm2, TillerNamespace: tns, TillerAddress: tl.Addr()}, &cl)
	if cl.ID != "legacy" || cl.Flavour != kdu.FlavourHelm2 || cl.TillerNamespace != tns || cl.TillerAddress != tl.Addr() || cl.InstalledSW {
		t.Fatalf("registered %+v", cl)
	}
	s.registerDev("", "dev", "")
	var cls api.List[kdu.Cluster]
	s.callJSON(http.StatusOK, "GET", "/v1/clusters", "", nil, &cls)
	flavours := map[string]string{}
	for _, c := range cls.Items {
		flavours[c.ID] = c.Flavour
	}
	if flavours["legacy"] != kdu.FlavourHelm2 || flavours["dev"] != kdu.FlavourHelm3 || len(flavours) != 2 {
		t.Fatalf("cluster flavours listed: %v", flavours)
	}
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/legacy", "", nil, &cl)
	if cl.Flavour != kdu.FlavourHelm2 || cl.TillerAddress != tl.Addr() {
		t.Fatalf("get: %+v", cl)
	}

	// Install asynchronously, with a webhook and the SSE stream following it. Its Pods start never-ready: once
	// progress has reported the release waiting, they are made Ready and Tiller's wait ends.
	hook := newHookReceiver(t)
	events := openEvents(t, s, "/v1/events?cluster=legacy", "")
	chart := chartrepotest.Package(t, webappDir(t), "0.1.0")
	atomic, timeout := true, api.Duration(3*time.Minute)
	var op api.Operation
	s.callJSON(http.StatusAccepted, "POST", "/v1/clusters/legacy/kdus", "", api.InstallRequest{
		Name: "h2web", Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chart},
		Values: api.Values{Set: []string{"message=from-api"}, SetString: []string{`podLabels.kdu\.test/never-ready=true`}},
		Wait:   api.Wait{Atomic: &atomic, Timeout: &timeout},
		Common: api.Common{StatusTargets: []api.StatusTarget{{Webhook: &api.WebhookTarget{URL: hook.url("/h2web")}}}},
	}, &op)
	if op.State.Terminal() || op.Kind != "install" {
		t.Fatalf("install accepted: %+v", op)
	}
	waitFor(t, time.Minute, "a webhook POST reporting the release waiting, ready < total", func() bool {
		ps := hook.posts("/h2web")
		for _, p := range ps {
			if pr := p.op.Progress; p.op.State == api.Running && pr != nil && pr.Total > 0 && pr.Ready < pr.Total && len(pr.NotReady) > 0 {
				return true
			}
		}
		return false
	})
	var running api.Operation
	s.callJSON(http.StatusOK, "GET", "/v1/operations/"+op.ID, "", nil, &running)
	if running.State != api.Running {
		t.Fatalf("the install ended while its Pods were not ready: %+v", running)
	}
	waitFor(t, time.Minute, "the release's Pod to run, then made ready", func() bool { return markNeverReadyPodsReady(t, ns) > 0 })
	if op = s.waitOp("", op.ID); op.State != api.Succeeded || op.Release == nil || op.Release.Revision != 1 ||
		op.Release.State != "deployed" || op.Release.Namespace != ns {
		t.Fatalf("install through Tiller: %+v (error %+v)", op, op.Error)
	}
	waitFor(t, 30*time.Second, "the final webhook POST", func() bool {
		ps := hook.posts("/h2web")
		return len(ps) > 0 && ps[len(ps)-1].op.State.Terminal()
	})
	ps := hook.posts("/h2web")
	t.Logf("webhook: %s", summary(ps))
	hookOps := make([]api.Operation, len(ps))
	for i, p := range ps {
		hookOps[i] = p.op
	}
	if w := waitingProgress(hookOps); w == nil {
		t.Errorf("no webhook POST before the last reported progress with ready < total")
	}
	if last := hookOps[len(hookOps)-1]; last.State != api.Succeeded || last.Progress == nil || last.Progress.Ready != last.Progress.Total {
		t.Errorf("last webhook POST: %s progress %+v, want succeeded, all ready", last.State, last.Progress)
	}
	var streamed []api.Operation
	deadline := time.After(30 * time.Second)
	for len(streamed) == 0 || streamed[len(streamed)-1].State != api.Succeeded {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if e.ID == op.ID {
				streamed = append(streamed, e)
			}
		case <-deadline:
			t.Fatalf("the event stream did not reach the end of the install: %d events", len(streamed))
		}
	}
	if w := waitingProgress(streamed); w == nil {
		t.Errorf("no SSE event before the last reported progress with ready < total (%d events)", len(streamed))
	} else {
		t.Logf("SSE: waiting %s %d/%d, not ready %v", w.Progress.Phase, w.Progress.Ready, w.Progress.Total, w.Progress.NotReady)
	}

	// Reads.
	var st kdu.Status
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/legacy/kdus/h2web?namespace="+ns, "", nil, &st)
	if ready, total := st.ReadyCount(); st.State != "deployed" || st.Revision != 1 || len(st.Resources) != 3 || ready != total {
		t.Fatalf("status: %+v", st)
	}
	checkList := func(revision int) {
		t.Helper()
		var rels api.List[kdu.Release]
		s.callJSON(http.StatusOK, "GET", "/v1/clusters/legacy/kdus", "", nil, &rels)
		oracle := helm2Oracle(t, tl)
		var got, want []string
		for _, r := range rels.Items {
			got = append(got, r.Namespace+"/"+r.Name+":"+string(r.State))
		}
		for _, r := range oracle {
			want = append(want, r.Namespace+"/"+r.Name+":"+strings.ToLower(r.Status))
		}
		if !slices.Equal(got, want) || len(oracle) != 1 || oracle[0].Revision != revision || rels.Items[0].Revision != revision {
			t.Fatalf("kdu lists %v (%+v), helm2 lists %v (%+v); want revision %d", got, rels.Items, want, oracle, revision)
		}
	}
	checkList(1)
	var vals map[string]any
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/legacy/kdus/h2web/values", "", nil, &vals)
	if vals["message"] != "from-api" {
		t.Fatalf("values: %v", vals)
	}

	// Upgrade (values reused; the Pods now become ready by themselves), scale, rollback to the previous revision.
	s.callJSON(http.StatusOK, "POST", "/v1/clusters/legacy/kdus/h2web:upgrade?wait=true", "", api.UpgradeRequest{
		Namespace: ns, Values: api.Values{SetString: []string{`podLabels.kdu\.test/never-ready=false`}},
		Wait: api.Wait{Timeout: &timeout},
	}, &op)
	if op.State != api.Succeeded || op.Revision != 2 {
		t.Fatalf("upgrade: %+v (error %+v)", op, op.Error)
	}
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/legacy/kdus/h2web/values", "", nil, &vals)
	if labels, _ := vals["podLabels"].(map[string]any); vals["message"] != "from-api" || labels["kdu.test/never-ready"] != "false" {
		t.Fatalf("values after the upgrade: %v", vals)
	}
	two := 2
	s.callJSON(http.StatusAccepted, "POST", "/v1/clusters/legacy/kdus/h2web:scale", "", api.ScaleRequest{Namespace: ns, Replicas: &two}, &op)
	if op = s.waitOp("", op.ID); op.State != api.Succeeded || op.Revision != 3 {
		t.Fatalf("scale: %+v (error %+v)", op, op.Error)
	}
	var sc api.ScaleCount
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/legacy/kdus/h2web/scale", "", nil, &sc)
	if sc.Replicas != 2 {
		t.Fatalf("scale count: %+v", sc)
	}
	checkList(3)
	s.callJSON(http.StatusOK, "POST", "/v1/clusters/legacy/kdus/h2web:rollback?wait=true", "", api.RollbackRequest{Namespace: ns}, &op)
	if op.State != api.Succeeded || op.Revision != 4 {
		t.Fatalf("rollback: %+v (error %+v)", op, op.Error)
	}
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/legacy/kdus/h2web/scale", "", nil, &sc)
	if sc.Replicas != 1 {
		t.Fatalf("scale count after the rollback to revision 2: %+v", sc)
	}
	checkList(4)
	var hist api.List[kdu.Release]
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/legacy/kdus/h2web/history", "", nil, &hist)
	if len(hist.Items) != 4 || hist.Items[0].State != "superseded" || hist.Items[3].State != "deployed" || hist.Items[3].Revision != 4 {
		t.Fatalf("history: %+v", hist.Items)
	}
	var svcs api.List[kdu.Service]
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/legacy/kdus/h2web/services", "", nil, &svcs)
	if len(svcs.Items) != 1 || svcs.Items[0].Name != "h2web-webapp" || len(svcs.Items[0].Ports) == 0 {
		t.Fatalf("services: %+v", svcs.Items)
	}
	// The helm3 cluster on the same API server sees none of Tiller's releases.
	var devRels api.List[kdu.Release]
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/dev/kdus?namespace="+ns, "", nil, &devRels)
	if len(devRels.Items) != 0 {
		t.Fatalf("the helm3 cluster lists %+v", devRels.Items)
	}

	// Removal flags are checked before anything happens; a cluster with releases stays.
	s.wantError(http.StatusBadRequest, "malformed", "uninstallSW", "DELETE", "/v1/clusters/legacy?uninstallSW=maybe", "", nil)
	s.wantError(http.StatusUnprocessableEntity, "invalid", "uninstallSW", "DELETE", "/v1/clusters/legacy?forget=true&uninstallSW=true", "", nil)
	s.wantError(http.StatusConflict, "has_releases", "", "DELETE", "/v1/clusters/legacy", "", nil)

	// Uninstall: gone from Tiller.
	s.callJSON(http.StatusAccepted, "DELETE", "/v1/clusters/legacy/kdus/h2web?namespace="+ns, "", nil, &op)
	if op = s.waitOp("", op.ID); op.State != api.Succeeded {
		t.Fatalf("uninstall: %+v (error %+v)", op, op.Error)
	}
	if rels := helm2Oracle(t, tl); len(rels) != 0 {
		t.Fatalf("helm2 still lists %+v after the uninstall", rels)
	}
	s.wantError(http.StatusNotFound, "not_found", "", "GET", "/v1/clusters/legacy/kdus/h2web?namespace="+ns, "", nil)
	s.callJSON(http.StatusNoContent, "DELETE", "/v1/clusters/legacy", "", nil, nil)
	s.callJSON(http.StatusNoContent, "DELETE", "/v1/clusters/dev?forget=true", "", nil, nil)
}

// TestHelm2RemoveTillerThroughAPI registers helm2 clusters through the API and the Go client and removes one
// with uninstallSW: Tiller's objects, which an earlier registration without an address installed, go; a
// removal without it leaves them.
func TestHelm2RemoveTillerThroughAPI(t *testing.T) {
	s := startService(t, serve.Options{})
	c := s.client("")
	ctx := context.Background()
	tns := tc.Namespace(t)
	crb := "kdu-tiller-" + tns
	t.Cleanup(func() {
		_ = tc.Clientset.RbacV1().ClusterRoleBindings().Delete(context.Background(), crb, metav1.DeleteOptions{})
	})

	// Without an address, registration installs Tiller when it is absent.
	var fresh kdu.Cluster
	s.callJSON(http.StatusCreated, "POST", "/v1/clusters", "", api.ClusterRequest{ID: "fresh2", Kubeconfig: string(tc.Kubeconfig),
		Flavour: kdu.FlavourHelm2, TillerNamespace: tns}, &fresh)
	if fresh.Flavour != kdu.FlavourHelm2 || fresh.TillerNamespace != tns || fresh.TillerAddress != "" || !fresh.InstalledSW {
		t.Fatalf("registered without an address: %+v", fresh)
	}
	tillerObjects := func() map[string]bool {
		t.Helper()
		present := map[string]bool{}
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
			switch err := get(); {
			case err == nil:
				present[what] = true
			case !apierrors.IsNotFound(err):
				t.Fatalf("get Tiller's %s: %v", what, err)
			}
		}
		return present
	}
	if got := tillerObjects(); len(got) != 4 {
		t.Fatalf("Tiller objects after registration: %v, want all 4", got)
	}

	// The Tiller pod does not run on the simulated node: a real Tiller on loopback serves that namespace.
	tl := tillertest.Start(t, tc.KubeconfigPath, tns)
	for _, id := range []string{"keep2", "reset2"} {
		cl, err := c.AddCluster(ctx, api.ClusterRequest{ID: id, Kubeconfig: string(tc.Kubeconfig), Flavour: kdu.FlavourHelm2,
			TillerNamespace: tns, TillerAddress: tl.Addr()})
		if err != nil || cl.Flavour != kdu.FlavourHelm2 || cl.TillerNamespace != tns || cl.TillerAddress != tl.Addr() || cl.InstalledSW {
			t.Fatalf("register %s through the client: %v %+v", id, err, cl)
		}
	}
	for _, bad := range []struct {
		spec  api.ClusterRequest
		field string
	}{
		{api.ClusterRequest{Flavour: "helm4"}, "flavour"},
		{api.ClusterRequest{Flavour: kdu.FlavourHelm2, TillerNamespace: tns, TillerAddress: "no-port"}, "tillerAddress"},
	} {
		bad.spec.ID, bad.spec.Kubeconfig = "bad2", string(tc.Kubeconfig)
		var ce *client.Error
		if _, err := c.AddCluster(ctx, bad.spec); !errors.Is(err, kdu.ErrInvalid) || !errors.As(err, &ce) || ce.Field != bad.field {
			t.Fatalf("register %+v through the client: %v, want invalid %s", bad.spec, err, bad.field)
		}
	}

	// A removal without uninstallSW leaves Tiller.
	if err := c.RemoveCluster(ctx, "keep2", client.RemoveOptions{}); err != nil {
		t.Fatalf("remove keep2: %v", err)
	}
	if got := tillerObjects(); len(got) != 4 {
		t.Fatalf("Tiller objects after a removal without uninstallSW: %v, want all 4", got)
	}
	if err := c.RemoveCluster(ctx, "reset2", client.RemoveOptions{Forget: true, UninstallSW: true}); !errors.Is(err, kdu.ErrInvalid) {
		t.Fatalf("forget with uninstallSW through the client: %v", err)
	}
	// With uninstallSW, through the client (DELETE …?uninstallSW=true).
	if err := c.RemoveCluster(ctx, "reset2", client.RemoveOptions{UninstallSW: true}); err != nil {
		t.Fatalf("remove reset2 with uninstallSW: %v", err)
	}
	if got := tillerObjects(); len(got) != 0 {
		t.Fatalf("Tiller objects left after uninstallSW: %v", got)
	}
	s.wantError(http.StatusNotFound, "not_found", "cluster", "GET", "/v1/clusters/reset2", "", nil)
	// The cluster whose registration installed Tiller can still be forgotten.
	s.callJSON(http.StatusNoContent, "DELETE", "/v1/clusters/fresh2?forget=true", "", nil, nil)
	var cls api.List[kdu.Cluster]
	s.callJSON(http.StatusOK, "GET", "/v1/clusters", "", nil, &cls)
	if len(cls.Items) != 0 {
		t.Fatalf("clusters left: %+v", cls.Items)
	}
}
