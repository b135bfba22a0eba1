package serve_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/serve"
)

// copiedSecretValue is the Secret value TestKubernetesHelpers copies: the secrets test checks it was never
// logged or answered.
const copiedSecretValue = "ee-ca-private-value-0f3c41"

// TestKubernetesHelpers drives the Kubernetes helper endpoints on the local control plane, raw and through the
// Go client: namespaces, cert-manager Certificates (without and with the CRD), Secret copies and RBAC, with
// their errors (each naming its field) and their idempotency.
func TestKubernetesHelpers(t *testing.T) {
	s := startService(t, serve.Options{})
	ns := tc.Namespace(t)
	s.registerDev("", "dev", "")
	cl := s.client("")
	ctx := context.Background()
	suffix := ns[len(ns)-5:]
	core := tc.Clientset.CoreV1()

	t.Run("namespaces", func(t *testing.T) {
		name := "api-ns-" + suffix
		t.Cleanup(func() { _ = core.Namespaces().Delete(ctx, name, metav1.DeleteOptions{}) })
		path := "/v1/clusters/dev/namespaces/" + name
		var n api.Namespace
		s.callJSON(http.StatusOK, "PUT", path, "", api.NamespaceRequest{Labels: map[string]string{"osm.etsi.org/ns-id": "0f3c"}}, &n)
		if n.Result != api.ResultCreated || n.Name != name || n.Labels["osm.etsi.org/ns-id"] != "0f3c" || n.Phase != "Active" {
			t.Fatalf("created: %+v", n)
		}
		s.callJSON(http.StatusOK, "PUT", path, "", nil, &n) // no body: no labels to add
		if n.Result != api.ResultUnchanged {
			t.Fatalf("again: %+v", n)
		}
		got, err := cl.CreateNamespace(ctx, "dev", name, api.NamespaceRequest{Labels: map[string]string{"team": "core"}})
		if err != nil || got.Result != api.ResultUpdated || got.Labels["osm.etsi.org/ns-id"] != "0f3c" || got.Labels["team"] != "core" {
			t.Fatalf("merge through the client: %+v %v", got, err)
		}
		s.wantError(422, "invalid", `labels["bad key"]`, "PUT", path, "", api.NamespaceRequest{Labels: map[string]string{"bad key": "x"}})
		s.wantError(422, "invalid", `labels["ok"]`, "PUT", path, "", api.NamespaceRequest{Labels: map[string]string{"ok": "not ok"}})
		s.wantError(422, "invalid", "name", "PUT", "/v1/clusters/dev/namespaces/Not-A-Label", "", nil)
		s.wantError(400, "malformed", "bogus", "PUT", path, "", `{"bogus": 1}`)
		s.wantError(404, "not_found", "cluster", "PUT", "/v1/clusters/nope/namespaces/"+name, "", nil)
		if _, err := core.Namespaces().Get(ctx, "not-a-label", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("a refused request created a namespace: %v", err)
		}

		s.callJSON(http.StatusNoContent, "DELETE", path, "", nil, nil)
		if err := cl.DeleteNamespace(ctx, "dev", name); err != nil {
			t.Fatalf("delete again through the client: %v", err)
		}
		s.callJSON(http.StatusNoContent, "DELETE", "/v1/clusters/dev/namespaces/never-was-"+suffix, "", nil, nil)
		s.wantError(422, "invalid", "name", "DELETE", "/v1/clusters/dev/namespaces/kube-system", "", nil)
	})

	t.Run("certificates", func(t *testing.T) {
		path := "/v1/clusters/dev/namespaces/" + ns + "/certificates/ee-tls"
		req := api.CertificateRequest{DNSPrefix: "*", Usages: []string{"server auth"}}

		tc.CertManagerCRD(t, false)
		e := s.wantError(422, "unsupported", "", "PUT", path, "", req)
		if !strings.Contains(e.Message, "certificates.cert-manager.io") {
			t.Fatalf("without the CRD: %+v", e)
		}
		if _, err := cl.CreateCertificate(ctx, "dev", ns, "ee-tls", req); !errors.Is(err, api.ErrUnsupported) {
			t.Fatalf("without the CRD, through the client: %v", err)
		}
		s.wantError(422, "invalid", "dnsPrefix", "PUT", path, "", api.CertificateRequest{})
		s.callJSON(http.StatusNoContent, "DELETE", path, "", nil, nil)

		tc.CertManagerCRD(t, true)
		var cert api.Certificate
		s.callJSON(http.StatusOK, "PUT", path, "", req, &cert)
		if cert.Result != api.ResultCreated || cert.DNSNames[3] != "*."+ns+".svc.cluster.local" || cert.IssuerName != "ca-issuer" ||
			cert.Duration != "8760h" || len(cert.Usages) != 1 {
			t.Fatalf("created: %+v", cert)
		}
		// The legacy "namespace:id" reference gives the namespace to the client.
		got, err := cl.CreateCertificate(ctx, ns+":dev", "", "ee-tls", req)
		if err != nil || got.Result != api.ResultUnchanged || got.Namespace != ns {
			t.Fatalf("again through the client: %+v %v", got, err)
		}
		req.Duration, req.RenewBefore = "2160h", "720h"
		s.callJSON(http.StatusOK, "PUT", path, "", req, &cert)
		if cert.Result != api.ResultUpdated || cert.Duration != "2160h" {
			t.Fatalf("updated: %+v", cert)
		}
		s.wantError(422, "invalid", "duration", "PUT", path, "", api.CertificateRequest{DNSPrefix: "*", Duration: "a year"})
		s.wantError(422, "invalid", "renewBefore", "PUT", path, "", api.CertificateRequest{DNSPrefix: "*", RenewBefore: "9000h"})
		s.wantError(422, "invalid", "usages[0]", "PUT", path, "", api.CertificateRequest{DNSPrefix: "*", Usages: []string{"serverAuth"}})
		s.wantError(422, "invalid", "issuerKind", "PUT", path, "", api.CertificateRequest{DNSPrefix: "*", IssuerKind: "issuer"})
		s.wantError(422, "invalid", "namespace", "PUT", "/v1/clusters/dev/namespaces/NS/certificates/ee-tls", "", req)
		s.wantError(404, "not_found", "namespace", "PUT", "/v1/clusters/dev/namespaces/no-such-"+suffix+"/certificates/ee-tls", "", req)
		s.wantError(400, "malformed", "", "PUT", path, "", nil)

		s.callJSON(http.StatusNoContent, "DELETE", path, "", nil, nil)
		if err := cl.DeleteCertificate(ctx, ns+":dev", "", "ee-tls"); err != nil {
			t.Fatalf("delete again through the client: %v", err)
		}
		s.wantError(422, "invalid", "name", "DELETE", "/v1/clusters/dev/namespaces/"+ns+"/certificates/Bad", "", nil)
		// No namespace at all: the client asks the server for the cluster's default namespace.
		if err := cl.DeleteCertificate(ctx, "dev", "", "never-was"); err != nil {
			t.Fatalf("delete in the cluster's default namespace: %v", err)
		}
		if _, err := cl.CreateCertificate(ctx, "dev", "a/b", "x", req); !errors.Is(err, api.ErrInvalid) {
			t.Fatalf("a namespace with '/': %v", err)
		}
	})

	t.Run("secrets", func(t *testing.T) {
		src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "osm-ca"},
			Data: map[string][]byte{"ca.crt": []byte(copiedSecretValue), "tls.key": []byte("another-value-123")}}
		if _, err := core.Secrets(ns).Create(ctx, src, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		req := api.SecretCopyRequest{Source: api.SecretKeyRef{Namespace: ns, Name: "osm-ca", Key: "ca.crt"},
			Target: api.SecretKeyRef{Namespace: ns, Name: "ee-ca"}}
		var cp api.SecretCopy
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/secrets:copy", "", req, &cp)
		if cp.Result != api.ResultCreated || cp.Target.Key != "ca.crt" {
			t.Fatalf("copy: %+v", cp)
		}
		if got, err := core.Secrets(ns).Get(ctx, "ee-ca", metav1.GetOptions{}); err != nil || string(got.Data["ca.crt"]) != copiedSecretValue ||
			got.Type != corev1.SecretTypeOpaque {
			t.Fatalf("target: %v", err)
		}
		got, err := cl.CopySecret(ctx, ns+":dev", api.SecretCopyRequest{Source: api.SecretKeyRef{Name: "osm-ca", Key: "ca.crt"},
			Target: api.SecretKeyRef{Name: "ee-ca"}})
		if err != nil || got.Result != api.ResultUnchanged || got.Source.Namespace != ns {
			t.Fatalf("retry through the client: %+v %v", got, err)
		}
		other := req
		other.Source.Key = "tls.key"
		s.wantError(409, "exists", "", "POST", "/v1/clusters/dev/secrets:copy", "", other)
		missing := req
		missing.Source.Name = "no-such-secret"
		s.wantError(404, "not_found", "source.name", "POST", "/v1/clusters/dev/secrets:copy", "", missing)
		missing = req
		missing.Source.Key = "nope"
		e := s.wantError(404, "not_found", "source.key", "POST", "/v1/clusters/dev/secrets:copy", "", missing)
		if !strings.Contains(e.Message, `"nope"`) {
			t.Fatalf("missing key: %+v", e)
		}
		missing = req
		missing.Target.Namespace = "no-such-" + suffix
		s.wantError(404, "not_found", "target.namespace", "POST", "/v1/clusters/dev/secrets:copy", "", missing)
		bad := req
		bad.Target.Key = "a/b"
		s.wantError(422, "invalid", "target.key", "POST", "/v1/clusters/dev/secrets:copy", "", bad)
		s.wantError(400, "malformed", "", "POST", "/v1/clusters/dev/secrets:copy", "", nil)
	})

	t.Run("rbac", func(t *testing.T) {
		path := "/v1/clusters/dev/namespaces/" + ns + "/rbac/ee-rbac"
		req := api.RBACRequest{ServiceAccount: "ee-sa", Rules: []api.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}}
		var r api.RBAC
		s.callJSON(http.StatusOK, "PUT", path, "", req, &r)
		if r.Role != api.ResultCreated || r.RoleBinding != api.ResultCreated || r.Namespace != ns {
			t.Fatalf("setup: %+v", r)
		}
		s.callJSON(http.StatusOK, "PUT", path, "", req, &r)
		if r.Role != api.ResultUnchanged || r.RoleBinding != api.ResultUnchanged {
			t.Fatalf("again: %+v", r)
		}
		// Kubernetes allows ':' in RBAC names; the client sends it escaped, so it is not read as an action.
		got, err := cl.SetupRBAC(ctx, "dev", ns, "system:ee-rbac", req)
		if err != nil || got.Role != api.ResultCreated || got.Name != "system:ee-rbac" {
			t.Fatalf("a name with ':' through the client: %+v %v", got, err)
		}
		if _, err := tc.Clientset.RbacV1().RoleBindings(ns).Get(ctx, "system:ee-rbac", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		s.wantError(422, "invalid", "rules[0].verbs", "PUT", path, "", api.RBACRequest{ServiceAccount: "ee-sa",
			Rules: []api.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}})
		s.wantError(422, "invalid", "rules", "PUT", path, "", api.RBACRequest{ServiceAccount: "ee-sa"})
		s.wantError(422, "invalid", "serviceAccount", "PUT", path, "", api.RBACRequest{Rules: req.Rules})
		s.wantError(404, "not_found", "namespace", "PUT", "/v1/clusters/dev/namespaces/no-such-"+suffix+"/rbac/ee-rbac", "", req)

		clash := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ee-clash"},
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"}}
		if _, err := tc.Clientset.RbacV1().RoleBindings(ns).Create(ctx, clash, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		s.wantError(409, "exists", "", "PUT", "/v1/clusters/dev/namespaces/"+ns+"/rbac/ee-clash", "", req)
		if _, err := tc.Clientset.RbacV1().Roles(ns).Get(ctx, "ee-clash", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the Role of a failed setup remains: %v", err)
		}
	})
}
