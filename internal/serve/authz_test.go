package serve_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/httpapi"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
)

// authzTokens are the bearer tokens TestAuthorization used (valid and invalid ones): the secrets test checks
// that none of them was ever logged or answered.
var authzTokens []string

// newBearer returns a fresh token and remembers it for the secrets test.
func newBearer(t *testing.T) (token, hash string) {
	t.Helper()
	token, hash, err := httpapi.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	authzTokens = append(authzTokens, token)
	return token, hash
}

// writeTokenFile writes a token file with the given entries and returns its path.
func writeTokenFile(t *testing.T, entries ...httpapi.TokenEntry) string {
	t.Helper()
	data, err := yaml.Marshal(httpapi.TokenFile{Tokens: entries})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAuthorization checks authentication and project scoping across every endpoint: tokens, 401s, public
// endpoints, clusters of other projects (404 on reads, 403 on writes), operations and event streams.
func TestAuthorization(t *testing.T) {
	admin, adminHash := newBearer(t)
	alpha, alphaHash := newBearer(t)
	beta, betaHash := newBearer(t)
	both, bothHash := newBearer(t)
	unknown, _ := newBearer(t) // well formed, but in no token file
	s := startService(t, serve.Options{TokenFile: writeTokenFile(t,
		httpapi.TokenEntry{Name: "root", SHA256: adminHash, Admin: true},
		httpapi.TokenEntry{Name: "alpha-lcm", SHA256: alphaHash, Projects: []string{"alpha"}},
		httpapi.TokenEntry{Name: "beta-lcm", SHA256: betaHash, Projects: []string{"beta"}},
		httpapi.TokenEntry{Name: "both-lcm", SHA256: bothHash, Projects: []string{"alpha", "beta"}},
	)})

	t.Run("authentication", func(t *testing.T) {
		// Every documented operation: the public ones answer without a token, the others want one. The
		// calls go through a validator of their own, so that these 401s do not count as calls of the
		// operations in the coverage test.
		var doc struct {
			Paths map[string]map[string]struct {
				Security []any `json:"security"`
			} `json:"paths"`
		}
		s.callJSON(http.StatusOK, "GET", "/v1/openapi.json", "", nil, &doc)
		own := &validator{next: validating.next}
		var public, private []string
		for path, item := range doc.Paths {
			for method, op := range item {
				method = strings.ToUpper(method)
				concrete := strings.NewReplacer("{cluster}", "ca", "{name}", "web", "{repo}", "charts", "{id}", "op-0123", "{namespace}", "ns").Replace(path)
				if len(op.Security) == 0 {
					public = append(public, method+" "+path)
					resp, body := rawCall(t, own, method, s.url+concrete, "", nil)
					if resp.StatusCode != http.StatusOK {
						t.Errorf("public %s %s without a token: %d %.200s", method, path, resp.StatusCode, body)
					}
					continue
				}
				private = append(private, method+" "+path)
				for _, auth := range []string{
					"",                      // none
					"Bearer " + unknown,     // a token of no token file
					"Bearer " + admin + "x", // almost the admin's
					"Bearer " + admin[:len(admin)-1],
					"Bearer ", // empty
					"Basic " + base64.StdEncoding.EncodeToString([]byte("root:"+admin)), // another scheme
					admin, // no scheme
				} {
					resp, body := rawCall(t, own, method, s.url+concrete, "", `{}`, "Authorization", auth)
					if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") ||
						!strings.Contains(string(body), `"code":"unauthorized"`) {
						t.Errorf("%s %s with Authorization %q: %d, WWW-Authenticate %q: %.200s", method, path, redact(auth), resp.StatusCode,
							resp.Header.Get("WWW-Authenticate"), body)
					}
				}
			}
		}
		sort.Strings(public)
		if want := []string{"GET /healthz", "GET /metrics", "GET /readyz", "GET /v1/openapi.json"}; strings.Join(public, ",") != strings.Join(want, ",") {
			t.Errorf("public endpoints: %v, want %v", public, want)
		}
		if len(private) < 25 {
			t.Errorf("only %d endpoints want a token: %v", len(private), private)
		}
		own.mu.Lock()
		for _, f := range own.failures {
			t.Error(f)
		}
		own.mu.Unlock()
		// The scheme is case-insensitive.
		s.callJSON(http.StatusOK, "GET", "/v1/clusters", "", nil, nil, "Authorization", "bearer "+admin)
	})

	// Clusters: alpha's token registers in alpha without naming it; the admin registers in beta.
	var cl kdu.Cluster
	s.callJSON(http.StatusCreated, "POST", "/v1/clusters", alpha, api.ClusterRequest{ID: "ca", Kubeconfig: string(tc.Kubeconfig)}, &cl)
	if cl.Project != "alpha" {
		t.Fatalf("cluster registered with alpha's token: project %q", cl.Project)
	}
	s.callJSON(http.StatusCreated, "POST", "/v1/clusters", admin, api.ClusterRequest{ID: "cb", Kubeconfig: string(tc.Kubeconfig), Project: "beta"}, &cl)
	if cl.Project != "beta" {
		t.Fatalf("cluster registered by the admin in beta: project %q", cl.Project)
	}
	s.wantError(http.StatusForbidden, "forbidden", "project", "POST", "/v1/clusters", alpha,
		api.ClusterRequest{ID: "cx", Kubeconfig: string(tc.Kubeconfig), Project: "beta"})
	s.wantError(http.StatusForbidden, "forbidden", "id", "POST", "/v1/clusters", alpha,
		api.ClusterRequest{ID: "cb", Kubeconfig: string(tc.Kubeconfig), Replace: true})
	// Registering another project's id says nothing about that cluster (not its server).
	if e := s.wantError(http.StatusForbidden, "forbidden", "id", "POST", "/v1/clusters", alpha,
		api.ClusterRequest{ID: "cb", Kubeconfig: string(tc.Kubeconfig)}); strings.Contains(e.Message, "127.0.0.1") {
		t.Errorf("the refusal reveals the other project's cluster: %s", e.Message)
	}
	s.wantError(http.StatusUnprocessableEntity, "invalid", "project", "POST", "/v1/clusters", both,
		api.ClusterRequest{ID: "cx", Kubeconfig: string(tc.Kubeconfig)})

	for _, c := range []struct {
		token string
		want  []string
	}{{alpha, []string{"ca"}}, {beta, []string{"cb"}}, {both, []string{"ca", "cb"}}, {admin, []string{"ca", "cb"}}} {
		var cls api.List[kdu.Cluster]
		s.callJSON(http.StatusOK, "GET", "/v1/clusters", c.token, nil, &cls)
		var ids []string
		for _, cl := range cls.Items {
			ids = append(ids, cl.ID)
		}
		sort.Strings(ids)
		if strings.Join(ids, ",") != strings.Join(c.want, ",") {
			t.Errorf("token %s lists clusters %v, want %v", tokenName(c.token, admin, alpha, beta, both), ids, c.want)
		}
	}
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/cb", beta, nil, &cl)
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/ca", both, nil, &cl)

	// Beta's cluster with alpha's token: it does not exist for reads, and writes are forbidden.
	one := 1
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/clusters/cb", nil},
		{"GET", "/v1/clusters/cb/kdus", nil},
		{"GET", "/v1/clusters/cb/repos", nil},
		{"GET", "/v1/clusters/cb/kdus/web", nil},
		{"GET", "/v1/clusters/cb/kdus/web/history", nil},
		{"GET", "/v1/clusters/cb/kdus/web/values", nil},
		{"GET", "/v1/clusters/cb/kdus/web/services", nil},
		{"GET", "/v1/clusters/cb/kdus/web/scale", nil},
		{"POST", "/v1/charts:show", api.ShowRequest{Cluster: "cb", ChartSource: api.ChartSource{Chart: "charts/webapp"}}},
	} {
		s.wantError(http.StatusNotFound, "not_found", "cluster", c.method, c.path, alpha, c.body)
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/clusters/cb/kdus", api.InstallRequest{Name: "web", ChartSource: api.ChartSource{Chart: "charts/webapp"}}},
		{"DELETE", "/v1/clusters/cb", nil},
		{"DELETE", "/v1/clusters/cb?force=true", nil},
		{"POST", "/v1/clusters/cb:check", nil},
		{"POST", "/v1/clusters/cb/repos", api.RepoRequest{Name: "charts", URL: "http://127.0.0.1:1/"}},
		{"DELETE", "/v1/clusters/cb/repos/charts", nil},
		{"POST", "/v1/clusters/cb/repos:update", nil},
		{"POST", "/v1/clusters/cb/kdus/web:upgrade", api.UpgradeRequest{}},
		{"POST", "/v1/clusters/cb/kdus/web:scale", api.ScaleRequest{Replicas: &one}},
		{"POST", "/v1/clusters/cb/kdus/web:rollback", nil},
		{"DELETE", "/v1/clusters/cb/kdus/web", nil},
		{"PUT", "/v1/clusters/cb/namespaces/ee", api.NamespaceRequest{Labels: map[string]string{"a": "b"}}},
		{"DELETE", "/v1/clusters/cb/namespaces/ee", nil},
		{"PUT", "/v1/clusters/cb/namespaces/ee/certificates/tls", api.CertificateRequest{DNSPrefix: "*"}},
		{"DELETE", "/v1/clusters/cb/namespaces/ee/certificates/tls", nil},
		{"POST", "/v1/clusters/cb/secrets:copy", api.SecretCopyRequest{Source: api.SecretKeyRef{Name: "a", Key: "k"}, Target: api.SecretKeyRef{Name: "b"}}},
		{"PUT", "/v1/clusters/cb/namespaces/ee/rbac/role", api.RBACRequest{ServiceAccount: "sa",
			Rules: []api.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}}}},
	} {
		s.wantError(http.StatusForbidden, "forbidden", "cluster", c.method, c.path, alpha, c.body)
	}
	// Nothing of that reached beta's cluster.
	s.callJSON(http.StatusOK, "GET", "/v1/clusters/cb", admin, nil, &cl)
	if n := countOpsAs(s, admin); n != 0 {
		t.Fatalf("refused requests queued %d operations", n)
	}

	// Operations: alpha installs on its cluster while both projects follow the global event stream.
	ns := tc.Namespace(t)
	alphaEvents := openEvents(t, s, "/v1/events", alpha)
	betaEvents := openEvents(t, s, "/v1/events", beta)
	var op api.Operation
	s.callJSON(http.StatusAccepted, "POST", "/v1/clusters/ca/kdus", alpha, api.InstallRequest{
		Name: "authz-web", Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.1.0")},
	}, &op, "Idempotency-Key", "authz-install-1")
	if op.Project != "alpha" {
		t.Fatalf("operation of alpha's cluster: project %q", op.Project)
	}
	t.Cleanup(func() {
		var un api.Operation
		s.callJSON(http.StatusAccepted, "DELETE", "/v1/clusters/ca/kdus/authz-web?namespace="+ns, alpha, nil, &un)
		if un = s.waitOp(alpha, un.ID); un.State != api.Succeeded {
			t.Errorf("uninstall: %+v", un)
		}
	})
	// Beta's token cannot see, follow or cancel it, even while it runs.
	s.wantError(http.StatusNotFound, "not_found", "id", "GET", "/v1/operations/"+op.ID, beta, nil)
	s.wantError(http.StatusNotFound, "not_found", "id", "GET", "/v1/operations/"+op.ID+"?wait=true", beta, nil)
	s.wantError(http.StatusNotFound, "not_found", "id", "GET", "/v1/operations/"+op.ID+"/events", beta, nil)
	s.wantError(http.StatusForbidden, "forbidden", "id", "POST", "/v1/operations/"+op.ID+":cancel", beta, nil)

	// Alpha follows it to its end on the operation's own stream.
	var last api.Operation
	for ev := range openEvents(t, s, "/v1/operations/"+op.ID+"/events", alpha) {
		last = ev
	}
	if last.ID != op.ID || last.State != api.Succeeded {
		t.Fatalf("last event of the install: %+v", last)
	}
	s.callJSON(http.StatusOK, "GET", "/v1/operations/"+op.ID, both, nil, &op)
	s.callJSON(http.StatusOK, "GET", "/v1/operations/"+op.ID, admin, nil, &op)
	s.wantError(http.StatusForbidden, "forbidden", "id", "POST", "/v1/operations/"+op.ID+":cancel", beta, nil)
	for _, c := range []struct {
		token string
		sees  bool
	}{{alpha, true}, {both, true}, {admin, true}, {beta, false}} {
		var ops api.List[api.Operation]
		s.callJSON(http.StatusOK, "GET", "/v1/operations", c.token, nil, &ops)
		seen := false
		for _, o := range ops.Items {
			seen = seen || o.ID == op.ID
			if c.token == beta && o.Project != "beta" {
				t.Errorf("beta's token lists operation %s of project %q", o.ID, o.Project)
			}
		}
		if seen != c.sees {
			t.Errorf("token %s lists alpha's operation: %v, want %v", tokenName(c.token, admin, alpha, beta, both), seen, c.sees)
		}
		s.callJSON(http.StatusOK, "GET", "/v1/operations?cluster=ca", c.token, nil, &ops)
		if c.token == beta && len(ops.Items) != 0 {
			t.Errorf("beta's token lists operations of cluster ca: %+v", ops.Items)
		}
	}

	// The same Idempotency-Key in another project is another operation.
	var other api.Operation
	s.callJSON(http.StatusAccepted, "DELETE", "/v1/clusters/cb/kdus/authz-ghost?namespace="+ns, beta, nil, &other, "Idempotency-Key", "authz-install-1")
	if other.ID == op.ID || other.Project != "beta" {
		t.Fatalf("beta's request with alpha's Idempotency-Key: %+v (alpha's operation %s)", other, op.ID)
	}
	s.waitOp(beta, other.ID)

	// The global streams: alpha's saw its operation end; beta's saw nothing of it.
	states := map[api.OperationState]bool{}
	deadline := time.After(30 * time.Second)
	for !states[api.Succeeded] {
		select {
		case ev, ok := <-alphaEvents:
			if !ok {
				t.Fatal("alpha's event stream ended")
			}
			if ev.ID == op.ID {
				states[ev.State] = true
			}
			if ev.Project != "alpha" {
				t.Errorf("alpha's stream carried an operation of project %q", ev.Project)
			}
		case <-deadline:
			t.Fatalf("alpha's stream saw %v of its operation", states)
		}
	}
	sawBeta := false
	quiet := time.After(time.Second)
drain:
	for {
		select {
		case ev, ok := <-betaEvents:
			if !ok {
				break drain
			}
			if ev.Project != "beta" || ev.Target.Cluster != "cb" {
				t.Errorf("beta's stream carried %s of project %q on cluster %s", ev.ID, ev.Project, ev.Target.Cluster)
			}
			sawBeta = sawBeta || ev.ID == other.ID
		case <-quiet:
			break drain
		}
	}
	if !sawBeta {
		t.Error("beta's stream did not carry beta's own operation: the stream is not working, so its silence proves nothing")
	}
}

// countOpsAs counts the operations a token sees.
func countOpsAs(s *svc, token string) int {
	var ops api.List[api.Operation]
	s.callJSON(http.StatusOK, "GET", "/v1/operations?limit=1000", token, nil, &ops)
	return len(ops.Items)
}

// openEvents opens a Server-Sent Events stream through the validating transport and returns its operations;
// the channel closes when the stream ends (or the test does).
func openEvents(t *testing.T, s *svc, path, token string) <-chan api.Operation {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: validating}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	checkValidation(t)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := make(chan api.Operation, 256)
	go readEvents(resp.Body, c)
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return c
}

func tokenName(tok string, admin, alpha, beta, both string) string {
	switch tok {
	case admin:
		return "admin"
	case alpha:
		return "alpha"
	case beta:
		return "beta"
	case both:
		return "alpha+beta"
	}
	return "?"
}

// redact shortens an Authorization value for messages: tests do not print tokens either.
func redact(auth string) string {
	if len(auth) > 12 {
		return auth[:12] + "…"
	}
	return auth
}
