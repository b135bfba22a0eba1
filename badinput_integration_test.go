package kdu_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store/sqlite"
)

// TestBadClusterInput: every rejected registration names what was wrong and stores nothing.
func TestBadClusterInput(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	unreachable := strings.Replace(string(tc.Kubeconfig), tcServer(t), "https://127.0.0.1:1", 1)
	cases := []struct {
		name   string
		spec   kdu.ClusterSpec
		target error
		field  string
		says   string
	}{
		{"malformed kubeconfig", kdu.ClusterSpec{ID: "c1", Kubeconfig: []byte("apiVersion: v1\nkind: Config\nclusters: [oops")},
			kdu.ErrInvalid, "kubeconfig", "cannot parse"},
		{"empty kubeconfig", kdu.ClusterSpec{ID: "c1", Kubeconfig: nil}, kdu.ErrInvalid, "kubeconfig", "empty"},
		{"unknown context", kdu.ClusterSpec{ID: "c1", Kubeconfig: tc.Kubeconfig, Context: "nope"},
			kdu.ErrInvalid, "kubeconfig", `context "nope" not found`},
		{"unreachable API server", kdu.ClusterSpec{ID: "c1", Kubeconfig: []byte(unreachable)},
			kdu.ErrUnreachable, "", "127.0.0.1:1"},
		{"bad id", kdu.ClusterSpec{ID: "../etc", Kubeconfig: tc.Kubeconfig}, kdu.ErrInvalid, "id", "cluster id"},
		{"bad legacy namespace", kdu.ClusterSpec{ID: "Bad_NS:c1", Kubeconfig: tc.Kubeconfig}, kdu.ErrInvalid, "id", "namespace"},
		{"exec plugin", kdu.ClusterSpec{ID: "c1", Kubeconfig: []byte(withExec(t))}, kdu.ErrInvalid, "kubeconfig", "exec"},
		{"already registered", kdu.ClusterSpec{ID: clusterID, Kubeconfig: tc.Kubeconfig}, kdu.ErrExists, "", "already registered"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.m.AddCluster(e.ctx, c.spec)
			wantErr(t, err, c.target, c.field)
			if !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %q does not say %q", err, c.says)
			}
			if strings.Contains(err.Error(), "BEGIN") || strings.Contains(err.Error(), "client-key-data") {
				t.Fatalf("error leaks kubeconfig content: %q", err)
			}
			cs, err := e.m.Clusters(e.ctx)
			if err != nil || len(cs) != 1 || cs[0].ID != clusterID {
				t.Fatalf("store changed: %v %+v", err, cs)
			}
		})
	}
}

// TestBadInstallInput: every rejected install names the field, and leaves no namespace and no release.
func TestBadInstallInput(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	ns := e.ns + "-x"
	t.Cleanup(func() {
		_ = tc.Clientset.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	good := kdu.InstallOptions{Name: "bad", Chart: webapp(t), Namespace: ns, CreateNamespace: true}
	cases := []struct {
		name   string
		mod    func(o *kdu.InstallOptions)
		target error
		field  string
		says   string
	}{
		{"shell metacharacters", func(o *kdu.InstallOptions) { o.Chart = "stable/x;rm -rf /" }, kdu.ErrInvalid, "chart", "invalid chart reference"},
		{"command substitution", func(o *kdu.InstallOptions) { o.Chart = "$(reboot)" }, kdu.ErrInvalid, "chart", "invalid chart reference"},
		{"spaces", func(o *kdu.InstallOptions) { o.Chart = "stable/open ldap" }, kdu.ErrInvalid, "chart", "invalid chart reference"},
		{"dot-dot path", func(o *kdu.InstallOptions) { o.Chart = "./charts/../../etc" }, kdu.ErrInvalid, "chart", ".."},
		{"flag injection", func(o *kdu.InstallOptions) { o.Chart = "stable/x --post-renderer=/bin/evil" }, kdu.ErrInvalid, "chart", "invalid chart reference"},
		{"version conflict", func(o *kdu.InstallOptions) { o.Chart = "stable/x:1.0.0"; o.Version = "2.0.0" }, kdu.ErrInvalid, "version", "differs"},
		{"unregistered repo", func(o *kdu.InstallOptions) { o.Chart = "nosuch/webapp" }, kdu.ErrInvalid, "chart", "not registered"},
		{"missing chart dir", func(o *kdu.InstallOptions) { o.Chart = "/nonexistent/chart" }, kdu.ErrNotFound, "", "does not exist"},
		{"invalid release name", func(o *kdu.InstallOptions) { o.Name = "Bad_Name" }, kdu.ErrInvalid, "name", "release name"},
		{"too long release name", func(o *kdu.InstallOptions) { o.Name = strings.Repeat("a", 54) }, kdu.ErrInvalid, "name", "53"},
		{"invalid namespace", func(o *kdu.InstallOptions) { o.Namespace = "Not/A/Namespace" }, kdu.ErrInvalid, "namespace", "namespace"},
		{"invalid values YAML", func(o *kdu.InstallOptions) {
			o.Values.Files = []kdu.ValuesFile{{Name: "broken.yaml", Data: []byte("a: [1, 2\nb: {")}}
		}, kdu.ErrInvalid, "values", "broken.yaml"},
		{"values not a map", func(o *kdu.InstallOptions) {
			o.Values.Files = []kdu.ValuesFile{{Name: "list.yaml", Data: []byte("- 1\n- 2\n")}}
		}, kdu.ErrInvalid, "values", "list.yaml"},
		{"!!yaml param that does not parse", func(o *kdu.InstallOptions) {
			o.Values.Params = map[string]any{"config": "!!yaml {unclosed: [1, 2"}
		}, kdu.ErrInvalid, "values", "config"},
		{"bad --set", func(o *kdu.InstallOptions) { o.Values.Set = []string{"a[x]=1"} }, kdu.ErrInvalid, "values", "--set"},
		{"--set that sets nothing", func(o *kdu.InstallOptions) { o.Values.Set = []string{"a.b[=1"} }, kdu.ErrInvalid, "values", "sets nothing"},
		{"negative timeout", func(o *kdu.InstallOptions) { o.Timeout = -1 }, kdu.ErrInvalid, "timeout", "negative"},
		{"name in use", func(o *kdu.InstallOptions) { o.Name = "taken" }, kdu.ErrExists, "", "taken"},
		{"missing namespace not to be created", func(o *kdu.InstallOptions) { o.CreateNamespace = false }, kdu.ErrNotFound, "", "namespace not found"},
	}
	e.install("taken", kdu.InstallOptions{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := good
			c.mod(&opts)
			_, err := e.m.Install(e.ctx, clusterID, opts)
			wantErr(t, err, c.target, c.field)
			if !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %q does not say %q", err, c.says)
			}
			if _, err := tc.Clientset.CoreV1().Namespaces().Get(e.ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Fatalf("namespace %s was created by a rejected install (%v)", ns, err)
			}
			rels, err := e.m.List(e.ctx, clusterID, kdu.ListOptions{Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rels {
				if r.Name == "bad" {
					t.Fatalf("a rejected install left release %+v", r)
				}
			}
		})
	}
}

// TestUnknownClusterAndRelease: operations on things that do not exist fail with ErrNotFound naming them.
func TestUnknownClusterAndRelease(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	noCluster := kdu.Target{Cluster: "nosuch", Name: "web"}
	noRelease := kdu.Target{Cluster: clusterID, Name: "nosuch"}
	checks := map[string]func(kdu.Target) error{
		"status":      func(tg kdu.Target) error { _, err := e.m.Status(e.ctx, tg); return err },
		"upgrade":     func(tg kdu.Target) error { _, err := e.m.Upgrade(e.ctx, tg, kdu.UpgradeOptions{}); return err },
		"scale":       func(tg kdu.Target) error { _, err := e.m.Scale(e.ctx, tg, kdu.ScaleOptions{Replicas: 1}); return err },
		"scale count": func(tg kdu.Target) error { _, err := e.m.ScaleCount(e.ctx, tg, ""); return err },
		"rollback":    func(tg kdu.Target) error { _, err := e.m.Rollback(e.ctx, tg, kdu.RollbackOptions{}); return err },
		"history":     func(tg kdu.Target) error { _, err := e.m.History(e.ctx, tg); return err },
		"values":      func(tg kdu.Target) error { _, err := e.m.GetValues(e.ctx, tg, false); return err },
		"services":    func(tg kdu.Target) error { _, err := e.m.Services(e.ctx, tg); return err },
	}
	for name, op := range checks {
		t.Run(name, func(t *testing.T) {
			err := op(noCluster)
			wantErr(t, err, kdu.ErrNotFound, "")
			if !strings.Contains(err.Error(), `cluster "nosuch"`) {
				t.Fatalf("unknown cluster error %q does not name it", err)
			}
			err = op(noRelease)
			wantErr(t, err, kdu.ErrNotFound, "")
			if !strings.Contains(err.Error(), "nosuch") {
				t.Fatalf("unknown release error %q does not name it", err)
			}
		})
	}
	if _, err := e.m.Install(e.ctx, "nosuch", kdu.InstallOptions{Chart: webapp(t)}); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("install on an unknown cluster: %v", err)
	}
	if _, err := e.m.Uninstall(e.ctx, noCluster, kdu.UninstallOptions{}); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("uninstall on an unknown cluster must fail (only a missing release is idempotent): %v", err)
	}
	if err := e.m.ExecPrimitive(e.ctx, noRelease, "reboot", nil); !errors.Is(err, kdu.ErrUnsupported) ||
		!strings.Contains(err.Error(), "don't support actions different from rollback, upgrade and status") {
		t.Fatalf("exec primitive: %v", err)
	}
}

func tcServer(t *testing.T) string {
	t.Helper()
	return strings.TrimSuffix(tc.RESTConfig.Host, "/")
}

// withExec returns the test kubeconfig with its user's credentials replaced by an exec credential plugin.
func withExec(t *testing.T) string {
	t.Helper()
	cfg, err := clientcmd.Load(tc.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range cfg.AuthInfos {
		u.ClientCertificateData, u.ClientKeyData = nil, nil
		u.Exec = &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/true"}
	}
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestForgetUnreachableCluster: a cluster whose API server is gone cannot be removed normally (its releases
// cannot be listed) but can be forgotten explicitly, which touches nothing on any cluster.
func TestForgetUnreachableCluster(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	e.install("stays", kdu.InstallOptions{})
	// Register a cluster, then make its stored server unreachable, as when a cluster is decommissioned.
	if _, err := e.m.AddCluster(e.ctx, kdu.ClusterSpec{ID: "gone", Kubeconfig: tc.Kubeconfig}); err != nil {
		t.Fatal(err)
	}
	box, err := secret.Load(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(e.ctx, filepath.Join(e.dir, sqlite.DBFileName), box)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.GetCluster(e.ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	rec.Kubeconfig = []byte(strings.Replace(string(rec.Kubeconfig), tcServer(t), "https://127.0.0.1:1", 1))
	if _, err := st.UpdateCluster(e.ctx, rec); err != nil {
		t.Fatal(err)
	}
	st.Close()

	err = e.m.RemoveCluster(e.ctx, "gone", kdu.RemoveOptions{Force: true})
	wantErr(t, err, kdu.ErrUnreachable, "")
	if !strings.Contains(err.Error(), "forget it") {
		t.Fatalf("error %q does not point at forgetting the cluster", err)
	}
	err = e.m.RemoveCluster(e.ctx, "gone", kdu.RemoveOptions{Force: true, Forget: true})
	wantErr(t, err, kdu.ErrInvalid, "forget")
	if err := e.m.RemoveCluster(e.ctx, "gone", kdu.RemoveOptions{Forget: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.GetCluster(e.ctx, "gone"); !errors.Is(err, kdu.ErrNotFound) {
		t.Fatalf("forgotten cluster still registered: %v", err)
	}
	if _, err := e.m.Status(e.ctx, e.target("stays")); err != nil {
		t.Fatalf("forgetting a cluster touched releases: %v", err)
	}
}
