package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// testToken is the bearer token used by the tests; no error may ever contain it.
const testToken = "kdu-unit-test-token-5f1e0c9b7a3d"

// testPKI is a throwaway certificate authority plus a client certificate it signed.
type testPKI struct {
	caCert  *x509.Certificate
	caKey   *ecdsa.PrivateKey
	caPEM   []byte
	certPEM []byte
	keyPEM  []byte
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kdu-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{caCert: caCert, caKey: caKey, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.certPEM, p.keyPEM = p.issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kdu-admin", Organization: []string{"system:masters"}},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return p
}

// issue signs tmpl with the CA and returns the certificate and its private key in PEM.
func (p *testPKI) issue(t testing.TB, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// issueServer signs a serving certificate for 127.0.0.1.
func (p *testPKI) issueServer(t testing.TB) (certPEM, keyPEM []byte) {
	return p.issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// secrets lists the strings no error may contain.
func (p *testPKI) secrets() []string {
	keyBody := strings.TrimSpace(string(p.keyPEM))
	lines := strings.Split(keyBody, "\n")
	return []string{testToken, b64(p.keyPEM), lines[1]}
}

// tokenKubeconfig is a minimal valid kubeconfig with one context using a bearer token.
func tokenKubeconfig(server string, caPEM []byte) string {
	ca := "    insecure-skip-tls-verify: true\n"
	if caPEM != nil {
		ca = "    certificate-authority-data: " + b64(caPEM) + "\n"
	}
	return `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster:
    server: ` + server + "\n" + ca + `contexts:
- name: ctx1
  context:
    cluster: c1
    user: u1
current-context: ctx1
users:
- name: u1
  user:
    token: ` + testToken + "\n"
}

func assertNoSecrets(t *testing.T, err error, secrets []string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains secret material %q", err, s)
		}
	}
}

type kcCase struct {
	name      string
	data      string
	context   string
	wantErr   []string // substrings of the error; nil means success
	server    string
	ctxName   string
	namespace string
}

func kubeconfigCases(p *testPKI) []kcCase {
	caData := b64(p.caPEM)
	certData := b64(p.certPEM)
	keyData := b64(p.keyPEM)

	certs := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: %s
contexts:
- name: prod
  context:
    cluster: prod-cluster
    user: admin
    namespace: apps
current-context: prod
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
`, caData, certData, keyData)

	// two contexts, two clusters, two users; currentContext is substituted.
	multi := func(current string) string {
		cc := ""
		if current != "" {
			cc = "current-context: " + current + "\n"
		}
		return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: ca
  cluster:
    server: https://alpha.example:6443
    certificate-authority-data: %[1]s
- name: cb
  cluster:
    server: https://beta.example:6443
    certificate-authority-data: %[1]s
contexts:
- name: alpha
  context:
    cluster: ca
    user: ua
    namespace: na
- name: beta
  context:
    cluster: cb
    user: ub
%[2]susers:
- name: ua
  user:
    token: %[3]s
- name: ub
  user:
    client-certificate-data: %[4]s
    client-key-data: %[5]s
`, caData, cc, testToken, certData, keyData)
	}

	single := strings.Replace(tokenKubeconfig("https://127.0.0.1:6443", p.caPEM), "current-context: ctx1\n", "", 1)

	// withUser/withCluster build one-context kubeconfigs with a custom user or cluster body.
	withUser := func(user string) string {
		return `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: ` + caData + `
contexts:
- name: ctx1
  context:
    cluster: c1
    user: u1
current-context: ctx1
users:
- name: u1
  user:
` + user
	}
	withCluster := func(cluster string) string {
		return `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster:
` + cluster + `contexts:
- name: ctx1
  context:
    cluster: c1
    user: u1
current-context: ctx1
users:
- name: u1
  user:
    token: ` + testToken + "\n"
	}

	jsonKC := fmt.Sprintf(`{"apiVersion":"v1","kind":"Config",
"clusters":[{"name":"j","cluster":{"server":"https://json.example:443","certificate-authority-data":%q}}],
"contexts":[{"name":"jctx","context":{"cluster":"j","user":"ju","namespace":"jns"}}],
"current-context":"jctx",
"users":[{"name":"ju","user":{"token":%q}}]}`, caData, testToken)

	return []kcCase{
		{name: "embedded certs", data: certs, server: "https://10.0.0.1:6443", ctxName: "prod", namespace: "apps"},
		{name: "token auth", data: tokenKubeconfig("https://127.0.0.1:6443", p.caPEM), server: "https://127.0.0.1:6443", ctxName: "ctx1"},
		{name: "current-context", data: multi("beta"), server: "https://beta.example:6443", ctxName: "beta"},
		{name: "explicit context overrides current-context", data: multi("beta"), context: "alpha",
			server: "https://alpha.example:6443", ctxName: "alpha", namespace: "na"},
		{name: "explicit context without current-context", data: multi(""), context: "beta",
			server: "https://beta.example:6443", ctxName: "beta"},
		{name: "single context without current-context", data: single, server: "https://127.0.0.1:6443", ctxName: "ctx1"},
		{name: "several contexts without current-context", data: multi(""),
			wantErr: []string{"no current-context", "2 contexts", "alpha, beta"}},
		{name: "unknown context", data: multi("alpha"), context: "nope",
			wantErr: []string{`"nope"`, "not found", "available: alpha, beta"}},
		{name: "current-context names a missing context", data: multi("gamma"),
			wantErr: []string{`"gamma"`, "available: alpha, beta"}},
		{name: "context names a missing cluster",
			data:    strings.Replace(tokenKubeconfig("https://127.0.0.1:6443", p.caPEM), "    cluster: c1\n", "    cluster: ghost\n", 1),
			wantErr: []string{`"ctx1"`, `cluster "ghost"`}},
		{name: "context names a missing user",
			data:    strings.Replace(tokenKubeconfig("https://127.0.0.1:6443", p.caPEM), "    user: u1\n", "    user: phantom\n", 1),
			wantErr: []string{`"ctx1"`, `user "phantom"`}},
		{name: "empty", data: "", wantErr: []string{"empty"}},
		{name: "whitespace only", data: " \n\t\n", wantErr: []string{"empty"}},
		{name: "oversize", data: tokenKubeconfig("https://127.0.0.1:6443", p.caPEM) + "# " + strings.Repeat("x", MaxKubeconfigSize) + "\n",
			wantErr: []string{"bytes, more than the 1048576 allowed"}},
		{name: "garbage yaml", data: "users: [\n  token: " + testToken + "\n  {{{ ::: \"" + testToken + "\"",
			wantErr: []string{"cannot parse kubeconfig"}},
		{name: "wrong type holding the token", data: "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: [\"" + testToken + "\"]\n",
			wantErr: []string{"cannot parse kubeconfig"}},
		{name: "unknown field next to the token", data: withUser("    token: " + testToken + "\n    tokn: \"" + testToken + "\"\n"),
			wantErr: nil, server: "https://127.0.0.1:6443", ctxName: "ctx1"},
		{name: "not a kubeconfig", data: "hello world", wantErr: []string{"cannot parse kubeconfig"}},
		{name: "no contexts", data: "apiVersion: v1\nkind: Config\nclusters: []\n", wantErr: []string{"no contexts"}},
		{name: "json kubeconfig", data: jsonKC, server: "https://json.example:443", ctxName: "jctx", namespace: "jns"},
		{name: "certificate-authority file", data: withCluster("    server: https://127.0.0.1:6443\n    certificate-authority: /etc/kubernetes/ca.crt\n"),
			wantErr: []string{`cluster "c1"`, "certificate-authority refers to a file"}},
		{name: "client-certificate file", data: withUser("    client-certificate: /home/u/.kube/client.crt\n    client-key-data: " + keyData + "\n"),
			wantErr: []string{`user "u1"`, "client-certificate refers to a file"}},
		{name: "client-key file", data: withUser("    client-certificate-data: " + certData + "\n    client-key: /home/u/.kube/client.key\n"),
			wantErr: []string{`user "u1"`, "client-key refers to a file"}},
		{name: "token file", data: withUser("    tokenFile: /var/run/secrets/token\n"),
			wantErr: []string{`user "u1"`, "tokenFile refers to a file"}},
		{name: "exec plugin", data: withUser("    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"id\"]\n      interactiveMode: Never\n"),
			wantErr: []string{`user "u1"`, "exec credential plugins are not supported"}},
		{name: "auth-provider plugin", data: withUser("    auth-provider:\n      name: oidc\n      config:\n        id-token: " + testToken + "\n"),
			wantErr: []string{`user "u1"`, "auth-provider plugins are not supported"}},
		{name: "proxy-url", data: withCluster("    server: https://127.0.0.1:6443\n    proxy-url: http://proxy.example:3128\n"),
			wantErr: []string{`cluster "c1"`, "proxy-url"}},
		{name: "server ftp", data: withCluster("    server: ftp://files.example/\n"),
			wantErr: []string{`cluster "c1"`, `"ftp://files.example/"`, "not an http(s) URL"}},
		{name: "server without scheme", data: withCluster("    server: 127.0.0.1:6443\n"),
			wantErr: []string{"not an http(s) URL"}},
		{name: "server without host", data: withCluster("    server: https://\n"),
			wantErr: []string{"not an http(s) URL"}},
		{name: "server missing", data: withCluster("    insecure-skip-tls-verify: true\n"),
			wantErr: []string{"not an http(s) URL"}},
		{name: "plain http server", data: withCluster("    server: http://127.0.0.1:8080\n"), server: "http://127.0.0.1:8080", ctxName: "ctx1"},
		{name: "two auth methods (client-go validation)", data: withUser("    token: " + testToken + "\n    username: admin\n    password: " + testToken + "x\n"),
			wantErr: []string{"more than one authentication method"}},
		{name: "impersonation is data, accepted", data: withUser("    token: " + testToken + "\n    as: jane\n    as-groups: [devs]\n"),
			server: "https://127.0.0.1:6443", ctxName: "ctx1"},
	}
}

func TestParseKubeconfig(t *testing.T) {
	p := newTestPKI(t)
	for _, tc := range kubeconfigCases(p) {
		t.Run(tc.name, func(t *testing.T) {
			kc, err := ParseKubeconfig([]byte(tc.data), tc.context)
			assertNoSecrets(t, err, append(p.secrets(), testToken+"x"))
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("ParseKubeconfig succeeded (server %q), want an error containing %q", kc.Server, tc.wantErr)
				}
				if !errors.Is(err, ErrInvalidKubeconfig) {
					t.Errorf("error %q does not wrap ErrInvalidKubeconfig", err)
				}
				t.Logf("error: %v", err)
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKubeconfig: %v", err)
			}
			if kc.Server != tc.server || kc.Context() != tc.ctxName || kc.Namespace != tc.namespace {
				t.Errorf("got server %q context %q namespace %q, want %q %q %q",
					kc.Server, kc.Context(), kc.Namespace, tc.server, tc.ctxName, tc.namespace)
			}
		})
	}
}

// TestParseKubeconfigMinify checks that only the chosen context, its cluster and its user survive.
func TestParseKubeconfigMinify(t *testing.T) {
	p := newTestPKI(t)
	var multi string
	for _, tc := range kubeconfigCases(p) {
		if tc.name == "current-context" {
			multi = tc.data
		}
	}
	kc, err := ParseKubeconfig([]byte(multi), "alpha")
	if err != nil {
		t.Fatal(err)
	}
	b, err := kc.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(b)
	if err != nil {
		t.Fatalf("re-loading Bytes(): %v", err)
	}
	if cfg.CurrentContext != "alpha" {
		t.Errorf("current-context = %q, want alpha", cfg.CurrentContext)
	}
	if len(cfg.Contexts) != 1 || cfg.Contexts["alpha"] == nil {
		t.Errorf("contexts = %v, want only alpha", keys(cfg.Contexts))
	}
	if len(cfg.Clusters) != 1 || cfg.Clusters["ca"] == nil {
		t.Fatalf("clusters = %v, want only ca", keys(cfg.Clusters))
	}
	if len(cfg.AuthInfos) != 1 || cfg.AuthInfos["ua"] == nil {
		t.Fatalf("users = %v, want only ua", keys(cfg.AuthInfos))
	}
	if cfg.AuthInfos["ua"].Token != testToken {
		t.Errorf("token was not kept")
	}
	if string(cfg.Clusters["ca"].CertificateAuthorityData) != string(p.caPEM) {
		t.Errorf("certificate-authority-data was not kept")
	}
	if strings.Contains(string(b), "beta") || strings.Contains(string(b), b64(p.keyPEM)) {
		t.Errorf("Bytes() still holds the other context or its user's key")
	}
	// The reduced kubeconfig is itself acceptable and names the same context.
	kc2, err := ParseKubeconfig(b, "")
	if err != nil {
		t.Fatalf("re-parsing Bytes(): %v", err)
	}
	if kc2.Context() != "alpha" || kc2.Server != kc.Server || kc2.Namespace != "na" {
		t.Errorf("re-parsed %q %q %q", kc2.Context(), kc2.Server, kc2.Namespace)
	}
}

func keys[V any](m map[string]V) []string { return sortedKeys(m) }

func TestFlatten(t *testing.T) {
	p := newTestPKI(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	caPath := write("pki/ca.crt", p.caPEM)
	certPath := write("pki/client.crt", p.certPEM)
	keyPath := write("pki/client.key", p.keyPEM)
	tokPath := write("token", []byte("  "+testToken+"\n"))

	kcfg := func(cluster, user string) string {
		return `apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443
` + cluster + `contexts:
- name: ctx1
  context:
    cluster: c1
    user: u1
current-context: ctx1
users:
- name: u1
  user:
` + user
	}
	cases := []struct {
		name      string
		data      string
		wantToken bool
		wantCert  bool
	}{
		{"relative cert and key", kcfg("    certificate-authority: pki/ca.crt\n",
			"    client-certificate: pki/client.crt\n    client-key: ./pki/client.key\n"), false, true},
		{"absolute cert and key", kcfg("    certificate-authority: "+caPath+"\n",
			"    client-certificate: "+certPath+"\n    client-key: "+keyPath+"\n"), false, true},
		{"relative token file", kcfg("    certificate-authority: pki/ca.crt\n", "    tokenFile: token\n"), true, false},
		{"absolute token file", kcfg("    certificate-authority: "+caPath+"\n", "    tokenFile: "+tokPath+"\n"), true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseKubeconfig([]byte(tc.data), ""); !errors.Is(err, ErrInvalidKubeconfig) {
				t.Fatalf("unflattened kubeconfig: got %v, want ErrInvalidKubeconfig", err)
			}
			flat, err := Flatten([]byte(tc.data), filepath.Join(dir, "config"))
			if err != nil {
				t.Fatalf("Flatten: %v", err)
			}
			kc, err := ParseKubeconfig(flat, "")
			if err != nil {
				t.Fatalf("ParseKubeconfig(Flatten(...)): %v", err)
			}
			b, err := kc.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := clientcmd.Load(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(cfg.Clusters["c1"].CertificateAuthorityData); got != string(p.caPEM) {
				t.Errorf("certificate-authority not inlined")
			}
			u := cfg.AuthInfos["u1"]
			if tc.wantToken && u.Token != testToken {
				t.Errorf("token = %q, want the trimmed content of the token file", u.Token)
			}
			if tc.wantCert && (string(u.ClientCertificateData) != string(p.certPEM) || string(u.ClientKeyData) != string(p.keyPEM)) {
				t.Errorf("client certificate/key not inlined")
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		for _, data := range []string{
			kcfg("    certificate-authority: nowhere/ca.crt\n", "    token: x\n"),
			kcfg("    insecure-skip-tls-verify: true\n", "    tokenFile: nowhere/token\n"),
		} {
			_, err := Flatten([]byte(data), filepath.Join(dir, "config"))
			if !errors.Is(err, ErrInvalidKubeconfig) {
				t.Errorf("Flatten with a missing file: got %v, want ErrInvalidKubeconfig", err)
			}
		}
	})
	t.Run("garbage", func(t *testing.T) {
		_, err := Flatten([]byte("token: \""+testToken+"\n: ["), filepath.Join(dir, "config"))
		if !errors.Is(err, ErrInvalidKubeconfig) {
			t.Fatalf("got %v, want ErrInvalidKubeconfig", err)
		}
		assertNoSecrets(t, err, []string{testToken})
	})
}

func FuzzParseKubeconfig(f *testing.F) {
	p := newTestPKI(f)
	for _, tc := range kubeconfigCases(p) {
		if len(tc.data) > 64<<10 {
			continue // the oversize case only exercises the size check
		}
		f.Add([]byte(tc.data), tc.context)
	}
	f.Fuzz(func(t *testing.T, data []byte, contextName string) {
		kc, err := ParseKubeconfig(data, contextName)
		if err != nil {
			if !errors.Is(err, ErrInvalidKubeconfig) {
				t.Fatalf("error %q does not wrap ErrInvalidKubeconfig", err)
			}
			return
		}
		b, err := kc.Bytes()
		if err != nil {
			t.Fatalf("Bytes after a successful parse: %v", err)
		}
		kc2, err := ParseKubeconfig(b, "")
		if err != nil {
			t.Fatalf("re-parsing Bytes(): %v\n%s", err, b)
		}
		if kc2.Server != kc.Server || kc2.Context() != kc.Context() || kc2.Namespace != kc.Namespace {
			t.Fatalf("re-parsed to %q/%q/%q, want %q/%q/%q",
				kc2.Server, kc2.Context(), kc2.Namespace, kc.Server, kc.Context(), kc.Namespace)
		}
	})
}

// TestParseKubeconfigErrorSaysWhy checks that redacting a parse error does not leave it meaningless.
func TestParseKubeconfigErrorSaysWhy(t *testing.T) {
	_, err := ParseKubeconfig([]byte("hello world"), "")
	if !errors.Is(err, ErrInvalidKubeconfig) {
		t.Fatalf("got %v, want ErrInvalidKubeconfig", err)
	}
	// client-go says "couldn't get version/kind; json parse error: ...": the redaction must not cut it at the
	// apostrophe of "couldn't", which leaves "cannot parse kubeconfig: couldn …".
	if !strings.Contains(err.Error(), "kind") {
		t.Errorf("error %q does not say why the input is not a kubeconfig", err)
	}
}

// TestParseKubeconfigServerUserinfoNotQuoted checks that a password in the server URL's userinfo (which Go's
// HTTP client would send as basic auth) never appears in an error.
func TestParseKubeconfigServerUserinfoNotQuoted(t *testing.T) {
	const password = "s3cr3t-pw-in-url"
	for _, server := range []string{"ftp://admin:" + password + "@files.example/", "https://admin:" + password + "@"} {
		data := strings.Replace(tokenKubeconfig("https://127.0.0.1:6443", nil), "https://127.0.0.1:6443", server, 1)
		_, err := ParseKubeconfig([]byte(data), "")
		if !errors.Is(err, ErrInvalidKubeconfig) {
			t.Fatalf("server %q: got %v, want ErrInvalidKubeconfig", server, err)
		}
		assertNoSecrets(t, err, []string{password, testToken})
	}
}
