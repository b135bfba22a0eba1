package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/httpapi"
)

// TestCLIKubernetesHelpers runs the helper commands (kdu cluster namespace|certificate|secret|rbac) locally
// and through a kdu server: their output, idempotency and exit codes (2 for bad input, 3 not found, 4
// conflicts).
func TestCLIKubernetesHelpers(t *testing.T) {
	for _, mode := range []string{"local", "server"} {
		t.Run(mode, func(t *testing.T) {
			c := newCLI(t)
			if mode == "server" {
				tok, hash, err := httpapi.NewToken()
				if err != nil {
					t.Fatal(err)
				}
				t.Setenv("KDU_SERVER", startServer(t, "tokens:\n  - name: cli\n    sha256: "+hash+"\n    admin: true\n"))
				t.Setenv("KDU_TOKEN", tok)
				kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
				writeFile(t, kubeconfig, tc.Kubeconfig)
				c.ok("cluster", "add", "dev", "--kubeconfig", kubeconfig)
			} else {
				c.ok("cluster", "add", "dev", "--kubeconfig", tc.KubeconfigPath)
			}
			helpers(t, c, mode)
		})
	}
}

func helpers(t *testing.T, c *cliEnv, mode string) {
	ctx := context.Background()
	core := tc.Clientset.CoreV1()

	// Namespaces.
	name := "cli-" + mode + "-" + c.ns[len(c.ns)-5:]
	t.Cleanup(func() { _ = core.Namespaces().Delete(ctx, name, metav1.DeleteOptions{}) })
	var ns kdu.Namespace
	mustJSON(t, c.ok("cluster", "namespace", "create", name, "--label", "osm.etsi.org/ns-id=0f3c", "-l", "managed-by=osm.etsi.org", "-o", "json"), &ns)
	if ns.Result != kdu.ResultCreated || ns.Labels["osm.etsi.org/ns-id"] != "0f3c" || ns.Labels["managed-by"] != "osm.etsi.org" {
		t.Fatalf("namespace create: %+v", ns)
	}
	if out := c.ok("cluster", "ns", "create", name, "--label", "managed-by=osm.etsi.org"); !strings.Contains(out, "unchanged") || !strings.Contains(out, "osm.etsi.org/ns-id=0f3c") {
		t.Fatalf("namespace create again:\n%s", out)
	}
	if out := c.ok("cluster", "namespace", "create", name, "--label", "team=core"); !strings.Contains(out, "updated") || !strings.Contains(out, "team=core") {
		t.Fatalf("namespace label:\n%s", out)
	}
	c.fails(ExitInvalid, "key=value", "cluster", "namespace", "create", name, "--label", "team")
	c.fails(ExitInvalid, `labels["bad key"]`, "cluster", "namespace", "create", name, "--label", "bad key=x")
	c.fails(ExitInvalid, "name", "cluster", "namespace", "create", "Bad")
	c.fails(ExitInvalid, "NAME", "cluster", "namespace", "create")
	c.ok("cluster", "namespace", "delete", name)
	c.ok("cluster", "namespace", "rm", name) // again: fine
	c.fails(ExitInvalid, "Kubernetes itself", "cluster", "namespace", "delete", "kube-system")

	// Certificates: without cert-manager's CRD, then with it.
	tc.CertManagerCRD(t, false)
	c.fails(ExitFailure, "certificates.cert-manager.io", "cluster", "certificate", "create", "ee-tls", "-n", c.ns, "--dns-prefix", "*")
	c.fails(ExitInvalid, "dnsPrefix", "cluster", "certificate", "create", "ee-tls", "-n", c.ns)
	tc.CertManagerCRD(t, true)
	var cert kdu.Certificate
	mustJSON(t, c.ok("cluster", "certificate", "create", "ee-tls", "-n", c.ns, "--dns-prefix", "*", "--usage", "server auth", "-o", "json"), &cert)
	if cert.Result != kdu.ResultCreated || cert.DNSNames[0] != "*."+c.ns || cert.Usages[0] != "server auth" || cert.IssuerKind != "ClusterIssuer" {
		t.Fatalf("certificate create: %+v", cert)
	}
	out := c.ok("cluster", "cert", "create", "ee-tls", "-n", c.ns, "--dns-prefix", "*", "--usage", "server auth",
		"--issuer", "ee-ca", "--issuer-kind", "Issuer", "--duration", "2160h", "--renew-before", "720h")
	if !strings.Contains(out, "updated") || !strings.Contains(out, "Issuer/ee-ca") || !strings.Contains(out, "2160h") {
		t.Fatalf("certificate update:\n%s", out)
	}
	c.fails(ExitInvalid, "--duration", "cluster", "certificate", "create", "ee-tls", "-n", c.ns, "--dns-prefix", "*", "--duration", "a year")
	c.fails(ExitInvalid, "usages[0]", "cluster", "certificate", "create", "ee-tls", "-n", c.ns, "--dns-prefix", "*", "--usage", "tls")
	c.fails(ExitNotFound, "not found", "cluster", "certificate", "create", "x", "-n", "no-such-"+c.ns[len(c.ns)-5:], "--dns-prefix", "*")
	c.ok("cluster", "certificate", "delete", "ee-tls", "-n", c.ns)
	c.ok("cluster", "certificate", "delete", "ee-tls", "-n", c.ns)

	// Secret copies.
	src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "osm-ca-" + mode}, Data: map[string][]byte{"ca.crt": []byte("the-value-" + mode)}}
	if _, err := core.Secrets(c.ns).Create(ctx, src, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	other := tc.Namespace(t)
	var cp kdu.SecretCopy
	mustJSON(t, c.ok("cluster", "secret", "copy", c.ns+"/"+src.Name, other+"/ee-ca", "--key", "ca.crt", "-o", "json"), &cp)
	if cp.Result != kdu.ResultCreated || cp.Target.Namespace != other || cp.Target.Key != "ca.crt" {
		t.Fatalf("secret copy: %+v", cp)
	}
	if got, err := core.Secrets(other).Get(ctx, "ee-ca", metav1.GetOptions{}); err != nil || string(got.Data["ca.crt"]) != "the-value-"+mode {
		t.Fatalf("copied secret: %v", err)
	}
	// -n is the namespace of both when they name none.
	if out := c.ok("cluster", "secret", "copy", src.Name, "ee-ca", "--key", "ca.crt", "--target-key", "root.crt", "-n", c.ns); !strings.Contains(out, "created") ||
		strings.Contains(out, "the-value") {
		t.Fatalf("secret copy with -n:\n%s", out)
	}
	c.fails(ExitConflict, "already exists", "cluster", "secret", "copy", c.ns+"/"+src.Name, c.ns+"/ee-ca", "--key", "ca.crt")
	c.fails(ExitNotFound, "nope", "cluster", "secret", "copy", c.ns+"/"+src.Name, c.ns+"/ee-x", "--key", "nope")
	c.fails(ExitNotFound, "not found", "cluster", "secret", "copy", c.ns+"/no-such", c.ns+"/ee-x", "--key", "ca.crt")
	c.fails(ExitInvalid, "--key", "cluster", "secret", "copy", src.Name, "ee-x", "-n", c.ns)
	c.fails(ExitInvalid, "NAMESPACE/NAME", "cluster", "secret", "copy", "a/b/c", "ee-x", "--key", "k")

	// RBAC.
	var r kdu.RBAC
	mustJSON(t, c.ok("cluster", "rbac", "create", "ee-rbac", "-n", c.ns, "--service-account", "ee-sa", "--resource", "pods,pods/log",
		"--verb", "get,list", "-o", "json"), &r)
	if r.Role != kdu.ResultCreated || r.RoleBinding != kdu.ResultCreated || len(r.Rules) != 1 || r.Rules[0].APIGroups[0] != "" ||
		strings.Join(r.Rules[0].Resources, ",") != "pods,pods/log" || strings.Join(r.Rules[0].Verbs, ",") != "get,list" {
		t.Fatalf("rbac create: %+v", r)
	}
	if out := c.ok("cluster", "rbac", "create", "ee-rbac", "-n", c.ns, "--service-account", "ee-sa", "--resource", "pods",
		"--resource", "pods/log", "--verb", "get", "--verb", "list"); strings.Count(out, "unchanged") != 2 || !strings.Contains(out, `"" (core)`) {
		t.Fatalf("rbac create again:\n%s", out)
	}
	if out := c.ok("cluster", "rbac", "create", "ee-rbac", "-n", c.ns, "--service-account", "ee-sa", "--api-group", "apps",
		"--resource", "deployments", "--verb", "get"); !strings.Contains(out, "updated") {
		t.Fatalf("rbac update:\n%s", out)
	}
	c.fails(ExitInvalid, "rules[0].verbs", "cluster", "rbac", "create", "ee-bad", "-n", c.ns, "--service-account", "ee-sa", "--resource", "pods")
	c.fails(ExitInvalid, "serviceAccount", "cluster", "rbac", "create", "ee-bad", "-n", c.ns, "--resource", "pods", "--verb", "get")
	if _, err := tc.Clientset.RbacV1().Roles(c.ns).Get(ctx, "ee-bad", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused command created a Role: %v", err)
	}
}
