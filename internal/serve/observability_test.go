package serve_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
)

// TestMetrics checks the Prometheus metrics after an install through the API.
func TestMetrics(t *testing.T) {
	s := startService(t, serve.Options{})
	ns := tc.Namespace(t)
	s.registerDev("", "dev", "")
	var op api.Operation
	s.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/kdus?wait=true", "", api.InstallRequest{
		Name: "obs-metrics", Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.1.0")},
	}, &op)
	if op.State != api.Succeeded {
		t.Fatalf("install: %+v", op)
	}
	s.wantError(http.StatusNotFound, "not_found", "", "GET", "/v1/no/such/thing-"+op.ID, "", nil)

	// The request metrics are recorded once the handler returned, just after the answer: poll.
	var ms []sample
	waitFor(t, 10*time.Second, "the metrics of the install's request", func() bool {
		ms = scrape(t, s)
		return value(ms, "kdu_http_request_duration_seconds_count", "method", "POST", "route", "/v1/clusters/{cluster}/kdus", "code", "200") >= 1 &&
			value(ms, "kdu_http_request_duration_seconds_count", "method", "GET", "route", "unmatched", "code", "404") >= 1
	})
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"kdu_operations_total", []string{"kind", "install", "state", "succeeded"}},
		{"kdu_operation_duration_seconds_count", []string{"kind", "install", "state", "succeeded"}},
		{"kdu_operation_duration_seconds_bucket", []string{"kind", "install", "state", "succeeded", "le", "+Inf"}},
		{"kdu_operation_queue_seconds_count", []string{"kind", "install"}},
		{"kdu_operation_queue_seconds_bucket", []string{"kind", "install", "le", "+Inf"}},
		{"kdu_http_request_duration_seconds_count", []string{"method", "POST", "route", "/v1/clusters", "code", "201"}},
		{"kdu_http_request_duration_seconds_bucket", []string{"method", "POST", "route", "/v1/clusters", "code", "201", "le", "+Inf"}},
	} {
		if v := value(ms, c.name, c.labels...); v < 1 {
			t.Errorf("%s%v = %v, want ≥ 1", c.name, c.labels, v)
		}
	}
	if !has(ms, "kdu_operations_in_flight", "cluster", "dev") {
		t.Error("no kdu_operations_in_flight{cluster=\"dev\"}")
	} else if v := value(ms, "kdu_operations_in_flight", "cluster", "dev"); v != 0 {
		t.Errorf("kdu_operations_in_flight{cluster=dev} = %v after the install ended, want 0", v)
	}
	// Routes are templates, never raw paths (whose ids would make series without bound).
	for _, m := range ms {
		if r, ok := m.labels["route"]; ok && (strings.Contains(r, op.ID) || strings.Contains(r, "obs-metrics") || strings.Contains(r, "/dev")) {
			t.Errorf("route label %q holds a concrete path", r)
		}
	}

	s.callJSON(http.StatusAccepted, "DELETE", "/v1/clusters/dev/kdus/obs-metrics?namespace="+ns, "", nil, &op)
	if op = s.waitOp("", op.ID); op.State != api.Succeeded {
		t.Fatalf("uninstall: %+v", op)
	}
	waitFor(t, 10*time.Second, "the uninstall in the metrics", func() bool {
		return value(scrape(t, s), "kdu_operations_total", "kind", "uninstall", "state", "succeeded") >= 1
	})
}

// TestRequestIDs checks X-Request-Id and that log lines carry request and operation ids.
func TestRequestIDs(t *testing.T) {
	logger, logs := captureLogs(t)
	s := startService(t, serve.Options{Logger: logger})
	s.registerDev("", "dev", "")
	generated := regexp.MustCompile(`^req-[0-9a-f]{24}$`)

	for _, c := range []struct {
		name, sent string
		echoed     bool
	}{
		{"none", "", false},
		{"valid", "client-req-4711", true},
		{"printable ASCII", "a!~Z.0_/:=", true},
		{"with a space", "bad id", false},
		{"too long", strings.Repeat("r", 129), false},
		{"longest", strings.Repeat("q", 128), true},
		{"non-ASCII", "réq", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var hdr []string
			if c.sent != "" {
				hdr = []string{"X-Request-Id", c.sent}
			}
			resp, body := rawCall(t, validating, "GET", s.url+"/v1/clusters", "", nil, hdr...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			id := resp.Header.Get("X-Request-Id")
			if c.echoed && id != c.sent {
				t.Fatalf("X-Request-Id %q, sent %q", id, c.sent)
			}
			if !c.echoed && !generated.MatchString(id) {
				t.Fatalf("X-Request-Id %q, want a generated one (sent %q)", id, c.sent)
			}
			waitFor(t, 10*time.Second, "the request's log line", func() bool {
				return findLog(logs, "request", "request_id", id, "route", "/v1/clusters", "method", "GET") != nil
			})
		})
	}
	checkValidation(t)

	// An operation: the request's lines carry the request id, the runner's the operation id.
	resp, body := rawCall(t, validating, "DELETE", s.url+"/v1/clusters/dev/kdus/obs-ghost", "", nil, "X-Request-Id", "client-op-0815")
	checkValidation(t)
	var op api.Operation
	if err := json.Unmarshal(body, &op); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("uninstall: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Request-Id") != "client-op-0815" {
		t.Fatalf("X-Request-Id %q", resp.Header.Get("X-Request-Id"))
	}
	s.waitOp("", op.ID)
	if findLog(logs, "operation submitted", "request_id", "client-op-0815", "operation_id", op.ID) == nil {
		t.Errorf("no \"operation submitted\" line with the request and operation ids")
	}
	waitFor(t, 10*time.Second, "the operation's log lines", func() bool {
		return findLog(logs, "operation finished", "operation_id", op.ID, "state", "succeeded") != nil
	})
	for _, msg := range []string{"operation queued", "operation started"} {
		if findLog(logs, msg, "operation_id", op.ID) == nil {
			t.Errorf("no %q line with operation_id %s", msg, op.ID)
		}
	}
	// Every line that mentions the operation names it as operation_id (not under another key only).
	for _, l := range logLines(logs) {
		if raw, _ := json.Marshal(l); strings.Contains(string(raw), op.ID) && l["operation_id"] != op.ID && l["msg"] != "request" {
			t.Errorf("a log line mentions the operation without operation_id: %s", raw)
		}
	}
}

// TestTracing exports spans over OTLP/HTTP to a receiver on the loopback.
func TestTracing(t *testing.T) {
	var mu sync.Mutex
	var exports []*coltrace.ExportTraceServiceRequest
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rd = zr
		}
		data, err := io.ReadAll(rd)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := &coltrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(data, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		exports = append(exports, req)
		mu.Unlock()
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	defer recv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", recv.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")

	s := startService(t, serve.Options{})
	s.registerDev("", "dev", "")
	s.callJSON(http.StatusOK, "GET", "/healthz", "", nil, nil)
	var op api.Operation
	s.callJSON(http.StatusOK, "DELETE", "/v1/clusters/dev/kdus/obs-trace-ghost?wait=true", "", nil, &op)
	// A client's trace context is continued.
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	s.callJSON(http.StatusOK, "GET", "/v1/clusters", "", nil, nil, "traceparent", parent)
	s.stop() // flushes the spans

	mu.Lock()
	defer mu.Unlock()
	names := map[string]bool{}
	spans, continued := 0, false
	for _, e := range exports {
		for _, rs := range e.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					spans++
					names[sp.GetName()] = true
					if service != "kdu" {
						t.Errorf("span %q of service %q", sp.GetName(), service)
					}
					if sp.GetName() == "GET /v1/clusters" && bytes.Equal(sp.GetTraceId(), mustHex(t, "4bf92f3577b34da6a3ce929d0e0e4736")) {
						continued = true
					}
				}
			}
		}
	}
	if len(exports) == 0 || spans == 0 {
		t.Fatalf("the receiver got %d exports with %d spans", len(exports), spans)
	}
	for _, want := range []string{"GET /healthz", "POST /v1/clusters", "kdu uninstall"} {
		if !names[want] {
			t.Errorf("no span %q among %v", want, sortedNames(names))
		}
	}
	if !continued {
		t.Errorf("the request with a traceparent did not continue its trace; spans %v", sortedNames(names))
	}
}

// TestOpenAPIDocument checks the document: OpenAPI 3.1, one operation per route of the table, each with an id,
// responses and (unless public) the bearer scheme and its 401.
func TestOpenAPIDocument(t *testing.T) {
	s := startService(t, serve.Options{})
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Version string `json:"version"`
		} `json:"info"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			SecuritySchemes map[string]map[string]any `json:"securitySchemes"`
			Schemas         map[string]any            `json:"schemas"`
		} `json:"components"`
	}
	s.callJSON(http.StatusOK, "GET", "/v1/openapi.json", "", nil, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	if doc.Info.Version != "test" {
		t.Errorf("info.version %q", doc.Info.Version)
	}
	if sch := doc.Components.SecuritySchemes["bearer"]; sch["type"] != "http" || sch["scheme"] != "bearer" {
		t.Errorf("bearer security scheme: %v", sch)
	}
	// The route table (internal/httpapi/routes.go), by operationId.
	want := map[string]string{
		"healthz": "GET /healthz", "readyz": "GET /readyz", "metrics": "GET /metrics", "openapi": "GET /v1/openapi.json",
		"listClusters": "GET /v1/clusters", "registerCluster": "POST /v1/clusters", "getCluster": "GET /v1/clusters/{cluster}",
		"deleteCluster": "DELETE /v1/clusters/{cluster}", "checkCluster": "POST /v1/clusters/{cluster}:check",
		"listRepos": "GET /v1/clusters/{cluster}/repos", "addRepo": "POST /v1/clusters/{cluster}/repos",
		"removeRepo": "DELETE /v1/clusters/{cluster}/repos/{repo}", "updateRepos": "POST /v1/clusters/{cluster}/repos:update",
		"syncRepos": "POST /v1/clusters/{cluster}/repos:sync", "listProjectRepos": "GET /v1/projects/{project}/repos",
		"addProjectRepo": "POST /v1/projects/{project}/repos", "removeProjectRepo": "DELETE /v1/projects/{project}/repos/{repo}",
		"updateProjectRepos": "POST /v1/projects/{project}/repos:update",
		"listKdus":           "GET /v1/clusters/{cluster}/kdus", "installKdu": "POST /v1/clusters/{cluster}/kdus",
		"kduStatus": "GET /v1/clusters/{cluster}/kdus/{name}", "uninstallKdu": "DELETE /v1/clusters/{cluster}/kdus/{name}",
		"upgradeKdu": "POST /v1/clusters/{cluster}/kdus/{name}:upgrade", "scaleKdu": "POST /v1/clusters/{cluster}/kdus/{name}:scale",
		"migrateKdu":      "POST /v1/clusters/{cluster}/kdus/{name}:migrate",
		"generateKduName": "POST /v1/clusters/{cluster}/kdus:generateName",
		"getService":      "GET /v1/clusters/{cluster}/services/{namespace}/{name}",
		"execPrimitive":   "POST /v1/clusters/{cluster}/kdus/{name}:execPrimitive",
		"upgradeCharm":    "POST /v1/clusters/{cluster}/kdus/{name}:upgradeCharm",
		"rollbackKdu":     "POST /v1/clusters/{cluster}/kdus/{name}:rollback", "kduScaleCount": "GET /v1/clusters/{cluster}/kdus/{name}/scale",
		"kduHistory": "GET /v1/clusters/{cluster}/kdus/{name}/history", "kduValues": "GET /v1/clusters/{cluster}/kdus/{name}/values",
		"kduServices": "GET /v1/clusters/{cluster}/kdus/{name}/services", "showChart": "POST /v1/charts:show",
		"putNamespace":      "PUT /v1/clusters/{cluster}/namespaces/{name}",
		"deleteNamespace":   "DELETE /v1/clusters/{cluster}/namespaces/{name}",
		"putCertificate":    "PUT /v1/clusters/{cluster}/namespaces/{namespace}/certificates/{name}",
		"deleteCertificate": "DELETE /v1/clusters/{cluster}/namespaces/{namespace}/certificates/{name}",
		"copySecret":        "POST /v1/clusters/{cluster}/secrets:copy",
		"putRBAC":           "PUT /v1/clusters/{cluster}/namespaces/{namespace}/rbac/{name}",
		"listOperations":    "GET /v1/operations", "getOperation": "GET /v1/operations/{id}",
		"cancelOperation": "POST /v1/operations/{id}:cancel", "operationEvents": "GET /v1/operations/{id}/events",
		"events": "GET /v1/events",
	}
	got := map[string]string{}
	for path, item := range doc.Paths {
		for method, op := range item {
			id, _ := op["operationId"].(string)
			key := strings.ToUpper(method) + " " + path
			if prev, dup := got[id]; dup {
				t.Errorf("operationId %q used by %s and %s", id, prev, key)
			}
			got[id] = key
			resps, _ := op["responses"].(map[string]any)
			if len(resps) == 0 {
				t.Errorf("%s: no responses", key)
			}
			if _, ok := resps["500"]; !ok {
				t.Errorf("%s: 500 not documented", key)
			}
			_, secured := op["security"]
			_, has401 := resps["401"]
			if secured != has401 {
				t.Errorf("%s: security %v but 401 documented %v", key, secured, has401)
			}
			for _, p := range pathParams(path) {
				if !hasParam(op, p, "path") {
					t.Errorf("%s: path parameter %s is not declared", key, p)
				}
			}
		}
	}
	for id, key := range want {
		if got[id] != key {
			t.Errorf("operation %s: %q, want %q", id, got[id], key)
		}
	}
	for id, key := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("undocumented by this test: operation %s (%s): add it to the table here", id, key)
		}
	}
	// The error schema is what every error response uses.
	var er api.ErrorResponse
	s.callJSON(http.StatusNotFound, "GET", "/v1/operations/op-none", "", nil, &er)
}

func pathParams(path string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
		out = append(out, m[1])
	}
	return out
}

func hasParam(op map[string]any, name, in string) bool {
	ps, _ := op["parameters"].([]any)
	for _, p := range ps {
		m, _ := p.(map[string]any)
		if m["name"] == name && m["in"] == in && m["required"] == true {
			return true
		}
	}
	return false
}

// ---- helpers shared by this package's newer tests ----

// rawCall makes one request through rt and returns the response (body already read) and its body. body is
// JSON-encoded unless it is nil, a string or []byte; hdr are header name/value pairs.
func rawCall(t *testing.T, rt http.RoundTripper, method, url, token string, body any, hdr ...string) (*http.Response, []byte) {
	t.Helper()
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
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
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
	resp, err := (&http.Client{Transport: rt, Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// captureLogs returns a logger like the harness's (to allLogs and the verbose test log) that also keeps this
// service's lines apart.
func captureLogs(t *testing.T) (*slog.Logger, *lockedBuffer) {
	buf := &lockedBuffer{}
	h := slog.NewJSONHandler(io.MultiWriter(&allLogs, buf, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h), buf
}

// logLines parses JSON log lines.
func logLines(b *lockedBuffer) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// findLog returns the first line with message msg and the given key/value pairs (compared as text).
func findLog(b *lockedBuffer, msg string, kv ...string) map[string]any {
	for _, l := range logLines(b) {
		if l["msg"] != msg {
			continue
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			v, found := l[kv[i]]
			ok = ok && found && toText(v) == kv[i+1]
		}
		if ok {
			return l
		}
	}
	return nil
}

func toText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape reads /metrics (through the validating transport).
func scrape(t *testing.T, s *svc) []sample {
	t.Helper()
	status, body := s.call("GET", "/metrics", "", nil)
	if status != http.StatusOK {
		t.Fatalf("metrics: %d %.200s", status, body)
	}
	var out []sample
	for _, line := range strings.Split(string(body), "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sm := sample{name: m[1], labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			val, err := strconv.Unquote(`"` + p[2] + `"`)
			if err != nil {
				val = p[2]
			}
			sm.labels[p[1]] = val
		}
		out = append(out, sm)
	}
	return out
}

func match(m sample, name string, labels []string) bool {
	if m.name != name {
		return false
	}
	for i := 0; i+1 < len(labels); i += 2 {
		if m.labels[labels[i]] != labels[i+1] {
			return false
		}
	}
	return true
}

// value sums the samples of a metric whose labels include the given pairs (-1 if there is none).
func value(ms []sample, name string, labels ...string) float64 {
	total, found := 0.0, false
	for _, m := range ms {
		if match(m, name, labels) {
			total += m.value
			found = true
		}
	}
	if !found {
		return -1
	}
	return total
}

func has(ms []sample, name string, labels ...string) bool { return value(ms, name, labels...) >= 0 }

func sortedNames(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	out := make([]byte, len(s)/2)
	for i := range out {
		n, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = byte(n)
	}
	return out
}
