package kdu_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kdu-io/kdu"
)

// namespacedKubeconfig returns a token kubeconfig for a ServiceAccount that is admin of one namespace only,
// as a tenant of a shared cluster would get.
func namespacedKubeconfig(t *testing.T, e *env) []byte {
	t.Helper()
	cs := tc.Clientset
	if _, err := cs.CoreV1().ServiceAccounts(e.ns).Create(e.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tenant-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "tenant", Namespace: e.ns}},
	}
	if _, err := cs.RbacV1().RoleBindings(e.ns).Create(e.ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	exp := int64(3600)
	tok, err := cs.CoreV1().ServiceAccounts(e.ns).CreateToken(e.ctx, "tenant",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: tc.RESTConfig.Host, CertificateAuthorityData: tc.RESTConfig.CAData}
	cfg.AuthInfos["tenant"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["tenant"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "tenant", Namespace: e.ns}
	cfg.CurrentContext = "tenant"
	out, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNamespaceScopedCredentials: with credentials that may act in one namespace only, kdu still installs,
// reads and upgrades there — the watch cache falls back to the API, the name check to the namespace — and
// asking for a release without its namespace says to name it.
func TestNamespaceScopedCredentials(t *testing.T) {
	for _, watch := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "watchcache"}[watch], func(t *testing.T) {
			e := newEnv(t, kdu.Options{WatchCache: watch})
			kc := namespacedKubeconfig(t, e)
			c, err := e.m.AddCluster(e.ctx, kdu.ClusterSpec{ID: "tenant", Kubeconfig: kc})
			if err != nil {
				t.Fatalf("register with a namespaced token: %v", err)
			}
			if c.Namespace != e.ns {
				t.Fatalf("default namespace %q, want the context's %q", c.Namespace, e.ns)
			}
			if name, err := e.m.GenerateName(e.ctx, "tenant", "stable/openldap"); err != nil || !strings.HasPrefix(name, "stable-openldap-") {
				t.Fatalf("generate a name with namespace-scoped credentials: %q %v", name, err)
			}
			// Generated name, no namespace given: the context's namespace is used.
			rel, err := e.m.Install(e.ctx, "tenant", kdu.InstallOptions{Chart: webapp(t), Wait: kdu.Wait{Wait: true, Timeout: time.Minute}})
			if err != nil {
				t.Fatalf("install: %v", err)
			}
			tg := kdu.Target{Cluster: "tenant", Namespace: e.ns, Name: rel.Name}
			st, err := e.m.Status(e.ctx, tg)
			if err != nil || st.State != "deployed" {
				t.Fatalf("status: %v %+v", err, st)
			}
			if r, n := st.ReadyCount(); r != 3 || n != 3 {
				t.Fatalf("status resources %d/%d ready: %+v", r, n, st.Resources)
			}
			if _, err := e.m.Scale(e.ctx, tg, kdu.ScaleOptions{Replicas: 2}); err != nil {
				t.Fatalf("scale: %v", err)
			}
			_, err = e.m.Status(e.ctx, kdu.Target{Cluster: "tenant", Name: rel.Name})
			if !errors.Is(err, kdu.ErrInvalid) || !strings.Contains(err.Error(), "name its namespace") {
				t.Fatalf("status without a namespace: %v, want an error asking for the namespace", err)
			}
			if _, err := e.m.Uninstall(e.ctx, tg, kdu.UninstallOptions{}); err != nil {
				t.Fatalf("uninstall: %v", err)
			}
		})
	}
}
