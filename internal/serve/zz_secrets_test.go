package serve_test

// This file's name sorts last: its tests run after every other test of the package (none is parallel), and
// check what all of them left behind.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// allResponses records the headers and bodies of every API response of the test binary that went through the
// validating transport (s.call, s.callJSON, s.client, event streams), and what status targets received
// (webhook bodies, MongoDB documents): the secrets test greps them.
var allResponses lockedBuffer

func init() {
	// Every test call goes through validating; its inner transport records what the service answered. A tee
	// records stream bodies as the client reads them, without waiting for their end.
	validating.next = &recordingTransport{next: validating.next}
}

type recordingTransport struct{ next http.RoundTripper }

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	fmt.Fprintf(&allResponses, "\n%s %s -> %d\n", req.Method, req.URL.Path, resp.StatusCode)
	_ = resp.Header.Write(&allResponses)
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, &allResponses), resp.Body}
	return resp, nil
}

// secret is something that must never be logged or answered, with the forms it could take in text.
type secret struct {
	name  string
	forms []string
}

// newSecret derives the searchable forms of a secret value: as is, JSON-escaped, base64 (standard and URL) and
// as Go prints a []byte. Values of 48 bytes or more also give every 20-character window (stride 4) of their
// lines and of their base64 forms, so that a partial leak of 23 characters or more (a PEM line, a truncated
// value) is found too. PEM armour ("-----BEGIN ...") is the same in every PEM and gives no windows.
func newSecret(name string, value []byte) secret {
	s := secret{name: name}
	add := func(f string) {
		if len(f) >= 8 {
			s.forms = append(s.forms, f)
		}
	}
	windows := func(line string) {
		for i := 0; i+20 <= len(line); i += 4 {
			add(line[i : i+20])
		}
	}
	raw := string(value)
	esc, _ := json.Marshal(raw)
	b64, b64url := base64.StdEncoding.EncodeToString(value), base64.RawURLEncoding.EncodeToString(value)
	for _, f := range []string{raw, string(esc[1 : len(esc)-1]), b64, b64url, fmt.Sprint(value)} {
		add(f)
	}
	if len(value) < 48 {
		return s
	}
	pem := strings.HasPrefix(raw, "-----BEGIN")
	for _, line := range strings.Split(raw, "\n") {
		if !strings.HasPrefix(line, "-----") {
			windows(line)
		}
	}
	for _, f := range []string{b64, b64url} {
		if pem { // the first and last 48 characters encode the armour
			f = f[min(48, len(f)):max(48, len(f)-48)]
		}
		windows(f)
	}
	return s
}

// find returns the name of the first secret found in text, and the form found.
func findSecret(text string, secrets []secret) (name, form string, found bool) {
	for _, s := range secrets {
		for _, f := range s.forms {
			if strings.Contains(text, f) {
				return s.name, f, true
			}
		}
	}
	return "", "", false
}

// redactSecrets replaces every form of every secret in text, for failure messages.
func redactSecrets(text string, secrets []secret) string {
	for _, s := range secrets {
		for _, f := range s.forms {
			text = strings.ReplaceAll(text, f, "<SECRET>")
		}
	}
	return text
}

// testSecrets lists every secret the tests of this package used.
func testSecrets(t *testing.T) []secret {
	t.Helper()
	cfg, err := clientcmd.Load(tc.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	var out []secret
	kube := 0
	for name, ai := range cfg.AuthInfos {
		for what, v := range map[string][]byte{
			"client key": ai.ClientKeyData, "client certificate": ai.ClientCertificateData,
			"token": []byte(ai.Token), "password": []byte(ai.Password),
		} {
			if len(v) > 0 {
				out = append(out, newSecret("kubeconfig "+what+" of user "+name, v))
				kube++
			}
		}
	}
	if kube == 0 {
		t.Fatal("the test kubeconfig has no credentials to look for")
	}
	out = append(out,
		newSecret("repository password", []byte("repo-secret-pw")),
		newSecret("repository basic auth", []byte("u:repo-secret-pw")),
		newSecret("webhook header", []byte(hookSecret)),
		// The KDU_SECRET_KEY of replicas_test.go (raw and as set, base64).
		newSecret("secret key", []byte("0123456789abcdef0123456789abcdef")),
		// The Secret value TestKubernetesHelpers copies.
		newSecret("copied Secret value", []byte(copiedSecretValue)),
	)
	// The repository password and TLS client keys of TestRepos.
	out = append(out, newSecret("repository password of TestRepos", []byte(repoTestPassword)),
		newSecret("repository basic auth of TestRepos", []byte("deploy:"+repoTestPassword)))
	for i, key := range repoTestKeys {
		out = append(out, newSecret(fmt.Sprintf("repository client key %d", i), key))
	}
	for i, tok := range authzTokens {
		out = append(out, newSecret(fmt.Sprintf("bearer token %d", i), []byte(tok)))
	}
	return out
}

// TestZZSecretsNeverLogged checks that no secret any test of this package used appears in the logs of the
// in-process services they ran, in any API response they received or in what status targets received.
func TestZZSecretsNeverLogged(t *testing.T) {
	secrets := testSecrets(t)

	t.Run("detector", func(t *testing.T) {
		// The search finds secrets the way a leak would show them: in a JSON log line, whole or in part.
		key := secrets[0]
		var raw []byte
		for _, s := range secrets {
			if strings.Contains(s.name, "client key") {
				key = s
				raw = []byte(s.forms[0])
			}
		}
		if raw == nil {
			raw = []byte(key.forms[0])
		}
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		log.Info("oops", "kubeconfig", string(raw))
		log.Info("oops", "data", raw)
		log.Info("oops", "part", string(raw)[len(raw)/2:len(raw)/2+50])
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			if _, _, found := findSecret(line, []secret{key}); !found {
				t.Errorf("a leak of %s is not found in %.120s…", key.name, line)
			}
		}
		for _, tok := range authzTokens[:min(1, len(authzTokens))] {
			if _, _, found := findSecret(`{"msg":"request","authorization":"Bearer `+tok+`"}`, secrets); !found {
				t.Error("a leaked bearer token is not found")
			}
		}
		if name, form, found := findSecret(`{"msg":"kdu serving","address":"127.0.0.1:1234"}`, secrets); found {
			t.Errorf("an innocent line matches %s (%q)", name, form)
		}
	})

	logs := allLogs.String()
	if logs == "" {
		t.Log("no service logs: no other test of the package ran")
	}
	for _, line := range strings.Split(logs, "\n") {
		if name, _, found := findSecret(line, secrets); found {
			t.Errorf("the %s was logged, in: %.400s", name, redactSecrets(line, secrets))
		}
	}
	resps := allResponses.String()
	if name, form, found := findSecret(resps, secrets); found {
		i := strings.Index(resps, form)
		t.Errorf("an API response held the %s: …%.400s", name, redactSecrets(resps[max(0, i-200):min(len(resps), i+400)], secrets))
	}
	t.Logf("searched %d bytes of logs and %d bytes of responses for %d secrets", len(logs), len(resps), len(secrets))
}

// TestZZOpenAPICoverage checks that the tests of this package called every operation of the OpenAPI
// document at least once (through the validating transport).
func TestZZOpenAPICoverage(t *testing.T) {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			t.Skipf("-%s=%q selected a subset of the tests: coverage of the API is only meaningful for the whole package",
				strings.TrimPrefix(name, "test."), f.Value.String())
		}
	}
	validating.mu.Lock()
	loaded := validating.doc != nil
	validating.mu.Unlock()
	if !loaded {
		t.Fatal("no test called the API")
	}
	if u := validating.uncalled(); len(u) > 0 {
		t.Errorf("no test called these %d operations of the OpenAPI document (a test that failed early may be why):\n  %s",
			len(u), strings.Join(u, "\n  "))
	}
}
