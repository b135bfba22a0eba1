package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/client"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/clustertest"
	"github.com/kdu-io/kdu/internal/testkit/pgtest"
)

var tc *clustertest.Cluster

func TestMain(m *testing.M) {
	code := clustertest.Main(m, &tc)
	pgtest.StopShared()
	os.Exit(code)
}

// allLogs collects the logs of every service the tests start: the secrets test greps them.
var allLogs lockedBuffer

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// svc is one kdu service running in-process on a loopback port.
type svc struct {
	t      *testing.T
	url    string
	dir    string
	cancel context.CancelFunc
	done   chan error
}

// startService runs serve.Run with o (defaults: fresh data dir, loopback port, short lease) until the test
// ends.
func startService(t *testing.T, o serve.Options) *svc {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Lease == 0 {
		o.Lease = 3 * time.Second
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 20 * time.Second
	}
	o.Version = "test"
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(io.MultiWriter(&allLogs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	addr := make(chan string, 1)
	o.OnListen = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	s := &svc{t: t, dir: o.DataDir, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- serve.Run(ctx, o) }()
	select {
	case a := <-addr:
		s.url = "http://" + a
	case err := <-s.done:
		t.Fatalf("service did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("service did not start in 30 s")
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop shuts the service down gracefully and waits for it.
func (s *svc) stop() {
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("service: %v", err)
		}
		s.done <- nil
	case <-time.After(time.Minute):
		s.t.Error("service did not stop within a minute")
	}
}

// testWriter sends log lines to the test log only when verbose, to keep failures readable.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

// client returns an API client with the given token through the validating transport.
func (s *svc) client(token string) *client.Client {
	s.t.Helper()
	c, err := client.New(s.url, token, client.WithHTTPClient(&http.Client{Transport: validating, Timeout: 5 * time.Minute}))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// call makes one raw API call through the validating transport and returns the status and body.
func (s *svc) call(method, path, token string, body any, hdr ...string) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Transport: validating, Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	checkValidation(s.t)
	return resp.StatusCode, data
}

// callJSON calls and decodes the answer, failing unless the status is want.
func (s *svc) callJSON(want int, method, path, token string, body, out any, hdr ...string) {
	s.t.Helper()
	status, data := s.call(method, path, token, body, hdr...)
	if status != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

// wantError checks an error answer: status, code and (if not empty) field.
func (s *svc) wantError(status int, code, field, method, path, token string, body any, hdr ...string) api.Error {
	s.t.Helper()
	var er api.ErrorResponse
	s.callJSON(status, method, path, token, body, &er, hdr...)
	if er.Error.Code != code || (field != "" && er.Error.Field != field) || er.Error.Message == "" {
		s.t.Fatalf("%s %s: error %+v, want code %q field %q", method, path, er.Error, code, field)
	}
	return er.Error
}

// registerDev registers the local control plane as cluster id (in project, if any).
func (s *svc) registerDev(token, id, project string) {
	s.t.Helper()
	s.callJSON(http.StatusCreated, "POST", "/v1/clusters", token, api.ClusterRequest{ID: id, Kubeconfig: string(tc.Kubeconfig), Project: project}, nil)
}

// waitOp follows an operation to its end.
func (s *svc) waitOp(token, id string) api.Operation {
	s.t.Helper()
	var op api.Operation
	s.callJSON(http.StatusOK, "GET", "/v1/operations/"+id+"?wait=true", token, nil, &op)
	if !op.State.Terminal() {
		s.t.Fatalf("operation %s still %s after waiting", id, op.State)
	}
	return op
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := clustertest.RepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func webappDir(t *testing.T) string {
	return filepath.Join(repoRoot(t), "examples", "charts", "webapp")
}

// ---- OpenAPI validation of every response of the test binary ----

// validating is the transport every test call goes through: it checks each JSON answer against the
// service's OpenAPI document (for its path, method and status) and records which operations were called.
var validating = &validator{next: http.DefaultTransport}

type validator struct {
	next http.RoundTripper

	mu       sync.Mutex
	doc      map[string]any
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
	called   map[string]bool // "METHOD /template"
	failures []string
}

func (v *validator) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		v.record(req, resp.StatusCode, nil, false)
		return resp, nil
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	v.record(req, resp.StatusCode, data, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"))
	return resp, nil
}

func (v *validator) load(base string) error {
	if v.doc != nil {
		return nil
	}
	resp, err := v.next.RoundTrip(mustRequest("GET", base+"/v1/openapi.json"))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return err
	}
	raw, _ := json.Marshal(doc)
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("https://kdu.test/openapi.json", parsed); err != nil {
		return err
	}
	v.doc, v.compiler, v.schemas, v.called = doc, c, map[string]*jsonschema.Schema{}, map[string]bool{}
	return nil
}

func mustRequest(method, u string) *http.Request {
	r, err := http.NewRequest(method, u, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// template finds the documented path matching a request path.
func (v *validator) template(method, path string) (string, bool) {
	paths := v.doc["paths"].(map[string]any)
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var best string
	for tpl, item := range paths {
		if _, ok := item.(map[string]any)[strings.ToLower(method)]; !ok {
			continue
		}
		segs := strings.Split(strings.TrimPrefix(tpl, "/"), "/")
		if len(segs) != len(parts) {
			continue
		}
		ok := true
		for i, s := range segs {
			p := parts[i]
			if strings.HasPrefix(s, "{") {
				action := s[strings.IndexByte(s, '}')+1:]
				if action != "" {
					ok = ok && strings.HasSuffix(p, action) && len(p) > len(action)
				} else {
					ok = ok && !strings.Contains(p, ":")
				}
				continue
			}
			ok = ok && s == p
		}
		if ok && (best == "" || strings.Count(best, "{") > strings.Count(tpl, "{")) {
			best = tpl
		}
	}
	return best, best != ""
}

func (v *validator) record(req *http.Request, status int, body []byte, isJSON bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.load(req.URL.Scheme + "://" + req.URL.Host); err != nil {
		v.failures = append(v.failures, "loading the OpenAPI document: "+err.Error())
		return
	}
	tpl, ok := v.template(req.Method, req.URL.EscapedPath())
	if !ok {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			v.failures = append(v.failures, fmt.Sprintf("%s %s answered %d but is not in the OpenAPI document", req.Method, req.URL.Path, status))
		}
		return
	}
	key := req.Method + " " + tpl
	v.called[key] = true
	op := v.doc["paths"].(map[string]any)[tpl].(map[string]any)[strings.ToLower(req.Method)].(map[string]any)
	resps := op["responses"].(map[string]any)
	code := fmt.Sprint(status)
	r, ok := resps[code].(map[string]any)
	if !ok {
		v.failures = append(v.failures, fmt.Sprintf("%s: status %d is not documented", key, status))
		return
	}
	content, _ := r["content"].(map[string]any)
	if body == nil || !isJSON || content == nil || content["application/json"] == nil {
		return
	}
	ptr := "https://kdu.test/openapi.json#/paths/" + escapePointer(tpl) + "/" + strings.ToLower(req.Method) +
		"/responses/" + code + "/content/application~1json/schema"
	sch := v.schemas[ptr]
	if sch == nil {
		var err error
		if sch, err = v.compiler.Compile(ptr); err != nil {
			v.failures = append(v.failures, fmt.Sprintf("%s %s: compiling its schema: %v", key, code, err))
			return
		}
		v.schemas[ptr] = sch
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		v.failures = append(v.failures, fmt.Sprintf("%s %s: body is not JSON: %v", key, code, err))
		return
	}
	if err := sch.Validate(inst); err != nil {
		v.failures = append(v.failures, fmt.Sprintf("%s %s: response does not match the OpenAPI schema: %v\nbody: %.500s", key, code, err, body))
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// checkValidation fails the test for schema violations seen so far (and clears them).
func checkValidation(t *testing.T) {
	t.Helper()
	validating.mu.Lock()
	f := validating.failures
	validating.failures = nil
	validating.mu.Unlock()
	for _, msg := range f {
		t.Error(msg)
	}
}

// uncalled returns the documented operations no test called.
func (v *validator) uncalled() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []string
	for tpl, item := range v.doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			if key := strings.ToUpper(method) + " " + tpl; !v.called[key] {
				out = append(out, key)
			}
		}
	}
	sort.Strings(out)
	return out
}

var _ = url.PathEscape
