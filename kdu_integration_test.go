package kdu_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/testkit/clustertest"
)

var tc *clustertest.Cluster

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m, &tc)) }

const clusterID = "dev"

// env is one test's Manager over its own data directory, with the dev cluster registered.
type env struct {
	t   *testing.T
	ctx context.Context
	m   *kdu.Manager
	ns  string
	dir string
	// withHook makes podTemplates include the workloads chart's hook Job.
	withHook bool
}

func newEnv(t *testing.T, opts kdu.Options) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	m, err := kdu.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if _, err := m.AddCluster(ctx, kdu.ClusterSpec{ID: clusterID, Kubeconfig: tc.Kubeconfig}); err != nil {
		t.Fatalf("add cluster: %v", err)
	}
	return &env{t: t, ctx: ctx, m: m, ns: tc.Namespace(t), dir: opts.DataDir}
}

func chartPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func webapp(t *testing.T) string { return chartPath(t, "examples/charts/webapp") }

func (e *env) target(name string) kdu.Target {
	return kdu.Target{Cluster: clusterID, Namespace: e.ns, Name: name}
}

func (e *env) install(name string, opts kdu.InstallOptions) *kdu.Release {
	e.t.Helper()
	opts.Name = name
	if opts.Chart == "" {
		opts.Chart = webapp(e.t)
	}
	if opts.Namespace == "" {
		opts.Namespace = e.ns
	}
	rel, err := e.m.Install(e.ctx, clusterID, opts)
	if err != nil {
		e.t.Fatalf("install %s: %v", name, err)
	}
	return rel
}

func (e *env) deployment(name string) *appsv1.Deployment {
	e.t.Helper()
	d, err := tc.Clientset.AppsV1().Deployments(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get deployment %s: %v", name, err)
	}
	return d
}

func (e *env) configMapMessage(name string) string {
	e.t.Helper()
	cm, err := tc.Clientset.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get configmap %s: %v", name, err)
	}
	return strings.TrimSpace(cm.Data["index.html"])
}

func wantErr(t *testing.T, err error, target error, field string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("error %q does not wrap %v", err, target)
	}
	if field != "" {
		var fe *kdu.FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Fatalf("error %q: want a field error naming %q", err, field)
		}
	}
}

// TestLifecycle runs every KDU operation on one release, once reading through direct API calls and once
// through the watch cache.
func TestLifecycle(t *testing.T) {
	for _, watch := range []bool{false, true} {
		name := "direct"
		if watch {
			name = "watchcache"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, kdu.Options{WatchCache: watch})
			var progress []kdu.Progress
			var pmu sync.Mutex
			rel := e.install("web", kdu.InstallOptions{
				Wait: kdu.Wait{Wait: true, Timeout: time.Minute, Progress: func(p kdu.Progress) {
					pmu.Lock()
					progress = append(progress, p)
					pmu.Unlock()
				}},
				Values: kdu.Values{Set: []string{"message=first"}},
			})
			if rel.Revision != 1 || rel.State != "deployed" || rel.Chart != "webapp-0.1.0" || rel.AppVersion != "1.0.0" {
				t.Fatalf("install returned %+v", rel)
			}
			pmu.Lock()
			if len(progress) == 0 {
				t.Error("no progress reported while waiting")
			}
			pmu.Unlock()
			tg := e.target("web")

			st, err := e.m.Status(e.ctx, tg)
			if err != nil {
				t.Fatal(err)
			}
			ready, total := st.ReadyCount()
			if st.State != "deployed" || total != 3 || ready != 3 {
				t.Fatalf("status: state %s, %d/%d ready: %+v", st.State, ready, total, st.Resources)
			}
			kinds := map[string]bool{}
			for _, r := range st.Resources {
				kinds[r.Kind] = true
			}
			if !kinds["Deployment"] || !kinds["Service"] || !kinds["ConfigMap"] {
				t.Fatalf("status resources %+v: want a Deployment, a Service and a ConfigMap", st.Resources)
			}

			// Lookup by name across namespaces (no namespace given) finds the same release.
			if st2, err := e.m.Status(e.ctx, kdu.Target{Cluster: clusterID, Name: "web"}); err != nil || st2.Namespace != e.ns {
				t.Fatalf("status without namespace: %v %+v", err, st2)
			}

			rels, err := e.m.List(e.ctx, clusterID, kdu.ListOptions{Namespace: e.ns})
			if err != nil || len(rels) != 1 || rels[0].Name != "web" {
				t.Fatalf("list: %v %+v", err, rels)
			}

			vals, err := e.m.GetValues(e.ctx, tg, false)
			if err != nil || vals["message"] != "first" || len(vals) != 1 {
				t.Fatalf("values: %v %v", err, vals)
			}
			all, err := e.m.GetValues(e.ctx, tg, true)
			if err != nil || all["replicaCount"] != float64(1) || all["message"] != "first" {
				t.Fatalf("all values: %v %v", err, all)
			}

			up, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{
				Values: kdu.Values{Set: []string{"message=second"}}, Wait: kdu.Wait{Wait: true, Timeout: time.Minute},
			})
			if err != nil || up.Revision != 2 {
				t.Fatalf("upgrade: %v %+v", err, up)
			}
			if got := e.configMapMessage("web-webapp"); got != "second" {
				t.Fatalf("after upgrade the page is %q, want second", got)
			}

			rb, err := e.m.Rollback(e.ctx, tg, kdu.RollbackOptions{Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
			if err != nil || rb.Revision != 3 {
				t.Fatalf("rollback: %v %+v", err, rb)
			}
			if got := e.configMapMessage("web-webapp"); got != "first" {
				t.Fatalf("after rollback the page is %q, want first", got)
			}

			h, err := e.m.History(e.ctx, tg)
			if err != nil || len(h) != 3 {
				t.Fatalf("history: %v %+v", err, h)
			}
			if h[0].State != "superseded" || h[1].State != "superseded" || h[2].State != "deployed" ||
				!strings.Contains(h[2].Description, "Rollback to 1") {
				t.Fatalf("history states/descriptions: %+v", h)
			}

			svcs, err := e.m.Services(e.ctx, tg)
			if err != nil || len(svcs) != 1 || svcs[0].Type != "ClusterIP" || svcs[0].ClusterIP == "" ||
				len(svcs[0].Ports) != 1 || svcs[0].Ports[0].Port != 80 {
				t.Fatalf("services: %v %+v", err, svcs)
			}

			gone, err := e.m.Uninstall(e.ctx, tg, kdu.UninstallOptions{})
			if err != nil || gone == nil || gone.Name != "web" {
				t.Fatalf("uninstall: %v %+v", err, gone)
			}
			if _, err := e.m.Status(e.ctx, tg); !errors.Is(err, kdu.ErrNotFound) {
				t.Fatalf("status after uninstall: %v, want ErrNotFound", err)
			}
			if _, err := tc.Clientset.AppsV1().Deployments(e.ns).Get(e.ctx, "web-webapp", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("deployment still there after uninstall: %v", err)
			}
			again, err := e.m.Uninstall(e.ctx, tg, kdu.UninstallOptions{})
			if err != nil || again != nil {
				t.Fatalf("second uninstall: %v %+v, want nil, nil (idempotent)", err, again)
			}
		})
	}
}

func TestInstallGeneratesUniqueName(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	rel, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Chart: webapp(t), Namespace: e.ns})
	if err != nil {
		t.Fatal(err)
	}
	// The model is an absolute path: only its last element counts (docs/n2vc.md#generate_kdu_instance_name).
	if !strings.HasPrefix(rel.Name, "webapp-") || len(rel.Name) != len("webapp-")+10 {
		t.Fatalf("generated name %q, want webapp-<10 digits>", rel.Name)
	}
	name, err := e.m.GenerateName(e.ctx, clusterID, "stable/openldap:1.2.4")
	if err != nil || !strings.HasPrefix(name, "stable-openldap-1-2-4-") {
		t.Fatalf("generate name: %q %v", name, err)
	}
}

func TestInstallRefusesNameUsedInAnotherNamespace(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("dup", kdu.InstallOptions{})
	other := tc.Namespace(t)
	_, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "dup", Chart: webapp(t), Namespace: other})
	wantErr(t, err, kdu.ErrExists, "")
	if !strings.Contains(err.Error(), e.ns) {
		t.Fatalf("error %q does not say where the name is used", err)
	}
}

func TestInstallCreatesNamespaceAndParamsValues(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	ns := e.ns + "-new"
	t.Cleanup(func() {
		_ = tc.Clientset.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	rel, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{
		Name: "params", Chart: webapp(t), Namespace: ns, CreateNamespace: true,
		Values: kdu.Values{
			Params: map[string]any{
				"message":        "from params",
				"podLabels":      "!!yaml {tier: web, team: nfv}",
				"literal.dotted": "kept as one key",
			},
			Files: []kdu.ValuesFile{{Name: "extra.yaml", Data: []byte("service:\n  port: 8080\n")}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Namespace != ns {
		t.Fatalf("release in %s, want %s", rel.Namespace, ns)
	}
	vals, err := e.m.GetValues(e.ctx, kdu.Target{Cluster: clusterID, Name: "params"}, false)
	if err != nil {
		t.Fatal(err)
	}
	labels, _ := vals["podLabels"].(map[string]any)
	if labels["tier"] != "web" || labels["team"] != "nfv" {
		t.Fatalf("!!yaml param not parsed: %#v", vals["podLabels"])
	}
	if vals["literal.dotted"] != "kept as one key" {
		t.Fatalf("dotted param key not literal: %#v", vals)
	}
	d, err := tc.Clientset.AppsV1().Deployments(ns).Get(e.ctx, "params-webapp", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Labels["tier"] != "web" {
		t.Fatalf("deployment pod labels: %v %v", err, d)
	}
	svc, err := tc.Clientset.CoreV1().Services(ns).Get(e.ctx, "params-webapp", metav1.GetOptions{})
	if err != nil || svc.Spec.Ports[0].Port != 8080 {
		t.Fatalf("values file not applied: %v", err)
	}
}

func TestScale(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("sc", kdu.InstallOptions{Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
	tg := e.target("sc")

	// Before any scale the count comes from the chart defaults.
	if n, err := e.m.ScaleCount(e.ctx, tg, ""); err != nil || n != 1 {
		t.Fatalf("scale count before scaling: %d %v, want 1", n, err)
	}
	rel, err := e.m.Scale(e.ctx, tg, kdu.ScaleOptions{Replicas: 3, Wait: kdu.Wait{Atomic: true, Timeout: time.Minute}})
	if err != nil || rel.Revision != 2 {
		t.Fatalf("scale: %v %+v", err, rel)
	}
	d := e.deployment("sc-webapp")
	if *d.Spec.Replicas != 3 || d.Status.ReadyReplicas != 3 {
		t.Fatalf("deployment replicas %d ready %d, want 3/3", *d.Spec.Replicas, d.Status.ReadyReplicas)
	}
	if n, err := e.m.ScaleCount(e.ctx, tg, ""); err != nil || n != 3 {
		t.Fatalf("scale count: %d %v, want 3", n, err)
	}
	// Scale reuses the other values.
	if _, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{Values: kdu.Values{Set: []string{"message=kept"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Scale(e.ctx, tg, kdu.ScaleOptions{Replicas: 2}); err != nil {
		t.Fatal(err)
	}
	if got := e.configMapMessage("sc-webapp"); got != "kept" {
		t.Fatalf("scale lost a value: message is %q", got)
	}

	// Per-resource keys.
	e.install("mu", kdu.InstallOptions{Chart: chartPath(t, "testdata/charts/multi")})
	mt := e.target("mu")
	if n, err := e.m.ScaleCount(e.ctx, mt, "backend"); err != nil || n != 2 {
		t.Fatalf("backend count: %d %v, want 2", n, err)
	}
	if _, err := e.m.Scale(e.ctx, mt, kdu.ScaleOptions{Replicas: 4, Resource: "backend"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Scale(e.ctx, mt, kdu.ScaleOptions{Replicas: 5, Resource: "frontend"}); err != nil {
		t.Fatal(err)
	}
	if r := *e.deployment("mu-backend").Spec.Replicas; r != 4 {
		t.Fatalf("backend replicas %d, want 4", r)
	}
	if r := *e.deployment("mu-frontend").Spec.Replicas; r != 5 {
		t.Fatalf("frontend replicas %d, want 5", r)
	}
	vals, _ := e.m.GetValues(e.ctx, mt, false)
	if b, _ := vals["backend"].(map[string]any); b["replicas"] != float64(4) {
		t.Fatalf("user values after scale: %#v", vals)
	}

	// Bad scale input changes nothing.
	before, _ := e.m.History(e.ctx, mt)
	_, err = e.m.Scale(e.ctx, mt, kdu.ScaleOptions{Replicas: 1, Resource: "nosuch"})
	wantErr(t, err, kdu.ErrInvalid, "resource")
	_, err = e.m.Scale(e.ctx, mt, kdu.ScaleOptions{Replicas: 1, Resource: "sidecar"})
	wantErr(t, err, kdu.ErrInvalid, "resource")
	_, err = e.m.Scale(e.ctx, mt, kdu.ScaleOptions{Replicas: -1})
	wantErr(t, err, kdu.ErrInvalid, "replicas")
	after, _ := e.m.History(e.ctx, mt)
	if len(after) != len(before) {
		t.Fatalf("a rejected scale created a revision: %d → %d", len(before), len(after))
	}

	e.install("both", kdu.InstallOptions{Chart: chartPath(t, "testdata/charts/bothkeys")})
	_, err = e.m.Scale(e.ctx, e.target("both"), kdu.ScaleOptions{Replicas: 2})
	wantErr(t, err, kdu.ErrInvalid, "resource")
	if !strings.Contains(err.Error(), "replicaCount") || !strings.Contains(err.Error(), "replicas") {
		t.Fatalf("both-keys error %q does not name both keys", err)
	}
}

func TestServicesLoadBalancer(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("lb", kdu.InstallOptions{Values: kdu.Values{Set: []string{"service.type=LoadBalancer"}}})
	tg := e.target("lb")
	svcs, err := e.m.Services(e.ctx, tg)
	if err != nil || len(svcs) != 1 {
		t.Fatalf("services with a pending load balancer: %v %+v", err, svcs)
	}
	if s := svcs[0]; s.Type != "LoadBalancer" || len(s.ExternalIPs) != 0 || len(s.Hostnames) != 0 || s.Ports[0].NodePort == 0 {
		t.Fatalf("pending load balancer: %+v", s)
	}
	svc, err := tc.Clientset.CoreV1().Services(e.ns).Get(e.ctx, "lb-webapp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}, {Hostname: "lb.example.test"}}
	if _, err := tc.Clientset.CoreV1().Services(e.ns).UpdateStatus(e.ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	svcs, err = e.m.Services(e.ctx, tg)
	if err != nil || len(svcs) != 1 {
		t.Fatal(err)
	}
	if s := svcs[0]; len(s.ExternalIPs) != 1 || s.ExternalIPs[0] != "192.0.2.10" || len(s.Hostnames) != 1 || s.Hostnames[0] != "lb.example.test" {
		t.Fatalf("load balancer addresses: %+v", s)
	}
}

func TestAtomicInstallFailureLeavesNothing(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	ns := e.ns + "-atomic"
	t.Cleanup(func() {
		_ = tc.Clientset.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	_, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{
		Name: "never", Chart: webapp(t), Namespace: ns, CreateNamespace: true,
		Values: kdu.Values{SetString: []string{`podLabels.kdu\.test/never-ready=true`}},
		Wait:   kdu.Wait{Atomic: true, Timeout: 3 * time.Second},
	})
	if !errors.Is(err, kdu.ErrTimeout) {
		t.Fatalf("atomic install of a never-ready chart: %v, want a readiness timeout", err)
	}
	if !strings.Contains(err.Error(), "uninstalled") {
		t.Fatalf("error %q does not say the release was uninstalled", err)
	}
	rels, lerr := e.m.List(e.ctx, clusterID, kdu.ListOptions{})
	if lerr != nil {
		t.Fatal(lerr)
	}
	for _, r := range rels {
		if r.Name == "never" {
			t.Fatalf("release left behind after atomic failure: %+v", r)
		}
	}
	if _, err := tc.Clientset.AppsV1().Deployments(ns).Get(e.ctx, "never-webapp", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("deployment left behind: %v", err)
	}
	waitGone(t, e.ctx, func() error {
		_, err := tc.Clientset.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{})
		return err
	})
}

// waitGone polls until get reports NotFound or a terminating namespace (deletion is asynchronous).
func waitGone(t *testing.T, ctx context.Context, get func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := get()
		if apierrors.IsNotFound(err) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("still present: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestAtomicUpgradeFailureRollsBack(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("au", kdu.InstallOptions{Values: kdu.Values{Set: []string{"message=good"}}, Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
	tg := e.target("au")
	rel, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{
		Values: kdu.Values{Set: []string{"message=bad"}, SetString: []string{`podLabels.kdu\.test/never-ready=true`}},
		Wait:   kdu.Wait{Atomic: true, Timeout: 3 * time.Second},
	})
	if !errors.Is(err, kdu.ErrTimeout) || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("atomic upgrade to never-ready pods: %v, want a readiness timeout and a rollback", err)
	}
	if rel == nil || rel.Revision != 3 || rel.State != "deployed" {
		t.Fatalf("after a failed atomic upgrade the release is %+v, want revision 3 deployed (the rollback)", rel)
	}
	st, err := e.m.Status(e.ctx, tg)
	if err != nil || st.State != "deployed" || !strings.Contains(st.Description, "Rollback to 1") {
		t.Fatalf("status after failed atomic upgrade: %v %+v", err, st)
	}
	if got := e.configMapMessage("au-webapp"); got != "good" {
		t.Fatalf("page after rollback %q, want good", got)
	}
	h, _ := e.m.History(e.ctx, tg)
	if len(h) != 3 || h[1].State != "failed" {
		t.Fatalf("history: %+v", h)
	}
}

func TestPendingReleaseIsReported(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("pend", kdu.InstallOptions{Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
	tg := e.target("pend")
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		_, err := e.m.Upgrade(ctx, tg, kdu.UpgradeOptions{
			Values: kdu.Values{SetString: []string{`podLabels.kdu\.test/never-ready=true`}},
			Wait:   kdu.Wait{Wait: true, Timeout: time.Minute},
		})
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := e.m.Status(e.ctx, tg)
		if err == nil && st.State == "pending-upgrade" && st.Revision == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never reported pending-upgrade: %v %+v", err, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled upgrade reported success")
	}
	st, err := e.m.Status(e.ctx, tg)
	if err != nil || st.State != "failed" {
		t.Fatalf("after cancelling the wait the release is %v %+v, want failed (never left pending)", err, st)
	}
}

func TestConcurrentUpgradesAreSerialised(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("cc", kdu.InstallOptions{Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
	tg := e.target("cc")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	revs := make([]int, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{
				Values: kdu.Values{Set: []string{"message=m" + string(rune('a'+i))}},
				Wait:   kdu.Wait{Wait: true, Timeout: time.Minute},
			})
			errs[i] = err
			if rel != nil {
				revs[i] = rel.Revision
			}
		}()
	}
	wg.Wait()
	seen := map[int]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("upgrade %d failed (operations on one release must queue, not collide): %v", i, err)
		}
		if seen[revs[i]] {
			t.Fatalf("two upgrades produced revision %d", revs[i])
		}
		seen[revs[i]] = true
	}
	h, _ := e.m.History(e.ctx, tg)
	if len(h) != 5 {
		t.Fatalf("history has %d revisions, want 5", len(h))
	}

	// With no patience, the second operation fails fast and clearly.
	busy := newEnv(t, kdu.Options{LockWait: -1})
	busy.ns = e.ns
	started := make(chan struct{})
	go func() {
		_, _ = busy.m.Upgrade(busy.ctx, tg, kdu.UpgradeOptions{
			Values: kdu.Values{Set: []string{"message=slow"}},
			Wait: kdu.Wait{Wait: true, Timeout: time.Minute, Progress: func(kdu.Progress) {
				select {
				case <-started:
				default:
					close(started)
				}
			}},
		})
	}()
	<-started
	_, err := busy.m.Upgrade(busy.ctx, tg, kdu.UpgradeOptions{Values: kdu.Values{Set: []string{"message=x"}}})
	wantErr(t, err, kdu.ErrBusy, "")
}

func TestRemoveClusterWithReleases(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("keep", kdu.InstallOptions{})
	err := e.m.RemoveCluster(e.ctx, clusterID, kdu.RemoveOptions{})
	wantErr(t, err, kdu.ErrHasReleases, "")
	if !strings.Contains(err.Error(), e.ns+"/keep") {
		t.Fatalf("error %q does not list the release", err)
	}
	if _, err := e.m.GetCluster(e.ctx, clusterID); err != nil {
		t.Fatalf("cluster gone after a refused removal: %v", err)
	}
	if err := e.m.RemoveCluster(e.ctx, clusterID, kdu.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.GetCluster(e.ctx, clusterID); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("cluster still registered: %v", err)
	}
	if _, err := tc.Clientset.AppsV1().Deployments(e.ns).Get(e.ctx, "keep-webapp", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("forced removal left the release's deployment: %v", err)
	}
}
