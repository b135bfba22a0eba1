package serve_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/mongotest"
)

// hookSecret is the webhook header secret of TestStatusTargets: the secrets test checks it was never logged.
const hookSecret = "hook-secret-xyz"

// TestStatusTargets installs with an OSM-style MongoDB target and a webhook, and checks what each receives:
// the final status field by field, intermediate progress, and failures that do not fail the operation.
func TestStatusTargets(t *testing.T) {
	uri := mongotest.New(t)
	ctx := context.Background()
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	nsrs := mc.Database("osm").Collection("nsrs")
	nsrID := newUUID(t)
	if _, err := nsrs.InsertOne(ctx, bson.D{{Key: "_id", Value: nsrID}, {Key: "_admin", Value: bson.D{{Key: "deployed", Value: bson.D{
		{Key: "K8s", Value: bson.A{bson.D{{Key: "kdu-instance", Value: "a"}}, bson.D{{Key: "kdu-instance", Value: "b"}}}},
	}}}}}); err != nil {
		t.Fatal(err)
	}

	logger, logs := captureLogs(t)
	s := startService(t, serve.Options{MongoURI: uri, Logger: logger})
	s.registerDev("", "dev", "")
	ns := tc.Namespace(t)
	hook := newHookReceiver(t)
	chart := chartrepotest.Package(t, webappDir(t), "0.1.0")
	uninstall := func(name string) {
		var op api.Operation
		s.callJSON(http.StatusAccepted, "DELETE", "/v1/clusters/dev/kdus/"+name+"?namespace="+ns, "", nil, &op)
		if op = s.waitOp("", op.ID); op.State != api.Succeeded {
			t.Errorf("uninstall %s: %+v", name, op)
		}
	}

	t.Run("install", func(t *testing.T) {
		var op api.Operation
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/kdus?wait=true", "", api.InstallRequest{
			Name: "st-web", Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chart},
			Common: api.Common{StatusTargets: []api.StatusTarget{
				{Mongo: &api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": nsrID}, Path: "_admin.deployed.K8s.1"}},
				{Webhook: &api.WebhookTarget{URL: hook.url("/st-web"), Headers: map[string]string{"Authorization": "Bearer " + hookSecret}}},
			}},
		}, &op)
		defer uninstall("st-web")
		if op.State != api.Succeeded || op.Release == nil {
			t.Fatalf("install: %+v", op)
		}
		// The end is reported only once both targets have it: read them right away.
		k8s := readK8s(t, nsrs, nsrID)
		if e, _ := k8s[1].(map[string]any); e["status"] != op.Release.Description {
			t.Errorf("right after ?wait=true returned, MongoDB has status %q, want %q", e["status"], op.Release.Description)
		}
		if ps := hook.posts("/st-web"); len(ps) == 0 || !ps[len(ps)-1].op.State.Terminal() {
			t.Errorf("right after ?wait=true returned, the webhook has not received the end: %s", summary(ps))
		}
		if len(op.StatusTargets) != 2 || !op.StatusTargets[0].Delivered || op.StatusTargets[0].Kind != "mongo" ||
			!op.StatusTargets[1].Delivered || op.StatusTargets[1].Kind != "webhook" {
			t.Errorf("statusTargets = %+v, want mongo and webhook delivered", op.StatusTargets)
		}

		entry := k8s[1].(map[string]any)
		if entry["kdu-instance"] != "b" || entry["operation"] != "install" || entry["status"] != "Install complete" {
			t.Errorf("K8s.1: %v", entry)
		}
		if k0, _ := k8s[0].(map[string]any); len(k0) != 1 || k0["kdu-instance"] != "a" {
			t.Errorf("K8s.0 was touched: %v", k8s[0])
		}
		ds, ok := entry["detailed-status"].(string)
		if !ok {
			t.Fatalf("detailed-status is %T, want a JSON string", entry["detailed-status"])
		}
		var detailed struct {
			Operation api.Operation `json:"operation"`
			Status    kdu.Status    `json:"status"`
		}
		if err := json.Unmarshal([]byte(ds), &detailed); err != nil {
			t.Fatalf("detailed-status %q: %v", ds, err)
		}
		if detailed.Operation.ID != op.ID || detailed.Operation.Target.Name != "st-web" || detailed.Operation.State != api.Succeeded ||
			detailed.Status.Name != "st-web" || detailed.Status.State != "deployed" || len(detailed.Status.Resources) == 0 {
			t.Errorf("detailed-status: %s", ds)
		}
		st, _ := entry["status-time"].(string)
		when, err := strconv.ParseFloat(st, 64)
		if err != nil || math.Abs(float64(time.Now().UnixMicro())/1e6-when) > 600 {
			t.Errorf("status-time %q (%v): not epoch seconds of about now", entry["status-time"], err)
		}

		ps := hook.posts("/st-web")
		t.Logf("webhook: %s", summary(ps))
		states := map[api.OperationState]bool{}
		for i, p := range ps {
			states[p.op.State] = true
			if p.auth != "Bearer "+hookSecret || p.opHeader != op.ID || p.op.ID != op.ID || p.contentType != "application/json" {
				t.Errorf("POST %d: Authorization ok %v, X-Kdu-Operation %q, operation %s, Content-Type %q", i,
					p.auth == "Bearer "+hookSecret, p.opHeader, p.op.ID, p.contentType)
			}
			if p.versionHeader != strconv.FormatInt(p.op.Version, 10) {
				t.Errorf("POST %d: X-Kdu-Version %q, body version %d", i, p.versionHeader, p.op.Version)
			}
			if i > 0 && p.op.Version <= ps[i-1].op.Version {
				t.Errorf("POST %d: version %d after %d", i, p.op.Version, ps[i-1].op.Version)
			}
		}
		if len(ps) < 2 || !states[api.Running] || ps[len(ps)-1].op.State != api.Succeeded {
			t.Errorf("webhook got %d POSTs with states %v, the last %s; want running, then succeeded last", len(ps), states, ps[len(ps)-1].op.State)
		}
		if last := ps[len(ps)-1].op; last.Release == nil || last.Release.Revision != 1 || last.Version != op.Version {
			t.Errorf("last POST: %+v (the operation: version %d)", last, op.Version)
		}
	})

	t.Run("no document", func(t *testing.T) {
		before := value(scrape(t, s), "kdu_status_target_errors_total", "type", "mongo")
		var op api.Operation
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/kdus?wait=true", "", api.InstallRequest{
			Name: "st-nomatch", Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chart},
			Common: api.Common{StatusTargets: []api.StatusTarget{
				{Mongo: &api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": "no-such-nsr"}, Path: "_admin.deployed.K8s.0"}},
			}},
		}, &op)
		defer uninstall("st-nomatch")
		if op.State != api.Succeeded {
			t.Fatalf("install with a target matching nothing: %+v", op)
		}
		if len(op.StatusTargets) != 1 || op.StatusTargets[0].Delivered || !strings.Contains(op.StatusTargets[0].Error, "no document") {
			t.Errorf("statusTargets = %+v, want the mongo write not delivered, saying it matched no document", op.StatusTargets)
		}
		waitFor(t, 30*time.Second, "kdu_status_target_errors_total{type=mongo} to grow", func() bool {
			return value(scrape(t, s), "kdu_status_target_errors_total", "type", "mongo") >= max(before, 0)+1
		})
		waitFor(t, 30*time.Second, "the log line of the failed write", func() bool {
			return findLog(logs, "status target write matched no document", "operation_id", op.ID, "type", "mongo") != nil
		})
		// The document of the other test was not written by this operation.
		for _, e := range readK8s(t, nsrs, nsrID) {
			if m, _ := e.(map[string]any); strings.Contains(fmt.Sprint(m["detailed-status"]), op.ID) {
				t.Errorf("the operation wrote to a document its filter does not match: %v", m)
			}
		}
	})

	t.Run("every kind lands before its end", func(t *testing.T) {
		target := func(path string) api.Common {
			return api.Common{StatusTargets: []api.StatusTarget{
				{Mongo: &api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": nsrID}, Path: path}},
			}}
		}
		yes, dur := true, api.Duration(2*time.Minute)
		name := "st-kinds"
		steps := []struct {
			kind, method, path string
			body               any
		}{
			{"install", "POST", "/v1/clusters/dev/kdus?wait=true", api.InstallRequest{Name: name, Namespace: ns,
				ChartSource: api.ChartSource{ChartArchive: chart}, Common: target("_admin.deployed.K8s.1")}},
			{"upgrade", "POST", "/v1/clusters/dev/kdus/" + name + ":upgrade?wait=true", api.UpgradeRequest{Namespace: ns,
				Values: api.Values{Set: []string{"message=second"}}, Common: target("_admin.deployed.K8s.1")}},
			{"scale", "POST", "/v1/clusters/dev/kdus/" + name + ":scale?wait=true", api.ScaleRequest{Namespace: ns,
				Replicas: ptr(2), Common: target("_admin.deployed.K8s.1")}},
			{"rollback", "POST", "/v1/clusters/dev/kdus/" + name + ":rollback?wait=true", api.RollbackRequest{Namespace: ns,
				Wait: &yes, Timeout: &dur, Common: target("_admin.deployed.K8s.1")}},
			{"uninstall", "DELETE", "/v1/clusters/dev/kdus/" + name + "?wait=true", api.UninstallRequest{Namespace: ns,
				Common: target("_admin.deployed.K8s.1")}},
		}
		for _, st := range steps {
			before := time.Now()
			var op api.Operation
			s.callJSON(http.StatusOK, st.method, st.path, "", st.body, &op)
			if !op.State.Terminal() || op.Kind != st.kind {
				t.Fatalf("%s: %+v", st.kind, op)
			}
			want := string(op.State)
			switch {
			case op.Error != nil:
				want = op.Error.Message
			case op.Release != nil:
				want = op.Release.Description
			}
			// Read at once: the answer comes after the write.
			e, _ := readK8s(t, nsrs, nsrID)[1].(map[string]any)
			when, err := strconv.ParseFloat(fmt.Sprint(e["status-time"]), 64)
			if e["operation"] != st.kind || e["status"] != want || err != nil || when < float64(before.UnixMicro())/1e6-1 {
				t.Errorf("%s: right after ?wait=true the document holds operation %v, status %q, status-time %v; want %s, %q, after %s",
					st.kind, e["operation"], e["status"], e["status-time"], st.kind, want, before.Format(time.RFC3339Nano))
			}
			if len(op.StatusTargets) != 1 || !op.StatusTargets[0].Delivered {
				t.Errorf("%s: statusTargets = %+v", st.kind, op.StatusTargets)
			}
		}
	})

	t.Run("progress", func(t *testing.T) {
		no, timeout := false, api.Duration(8*time.Second)
		var op api.Operation
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/kdus?wait=true", "", api.InstallRequest{
			Name: "st-stuck", Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chart},
			Values: api.Values{SetString: []string{`podLabels.kdu\.test/never-ready=true`}},
			Wait:   api.Wait{Atomic: &no, Timeout: &timeout},
			Common: api.Common{StatusTargets: []api.StatusTarget{
				{Webhook: &api.WebhookTarget{URL: hook.url("/st-stuck"), Headers: map[string]string{"Authorization": "Bearer " + hookSecret}}},
				{Mongo: &api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": nsrID}, Path: "_admin.deployed.K8s.0."}},
			}},
		}, &op)
		defer uninstall("st-stuck")
		if op.State != api.Failed || op.Error == nil || op.Error.Code != "timeout" {
			t.Fatalf("install of never-ready pods: %+v (error %+v)", op, op.Error)
		}
		waitFor(t, 30*time.Second, "the final webhook POST", func() bool {
			ps := hook.posts("/st-stuck")
			return len(ps) > 0 && ps[len(ps)-1].op.State.Terminal()
		})
		ps := hook.posts("/st-stuck")
		t.Logf("webhook: %s", summary(ps))
		waiting := -1
		for i, p := range ps[:len(ps)-1] {
			if pr := p.op.Progress; pr != nil && p.op.State == api.Running && pr.Total > 0 && pr.Ready < pr.Total && len(pr.NotReady) > 0 {
				waiting = i
				break
			}
		}
		if waiting < 0 {
			t.Errorf("no POST before the final one reported progress with ready < total: %d POSTs", len(ps))
			for _, p := range ps {
				t.Logf("  v%d %s progress %+v", p.op.Version, p.op.State, p.op.Progress)
			}
		}
		if last := ps[len(ps)-1].op; last.State != api.Failed || last.Error == nil || last.Error.Code != "timeout" {
			t.Errorf("last POST: state %s error %+v", last.State, last.Error)
		}
		// MongoDB ends with the failure: its message as status.
		waitFor(t, 30*time.Second, "the final status in MongoDB", func() bool {
			e, _ := readK8s(t, nsrs, nsrID)[0].(map[string]any)
			return e["status"] == op.Error.Message
		})
		e := readK8s(t, nsrs, nsrID)[0].(map[string]any)
		if e["kdu-instance"] != "a" || e["operation"] != "install" {
			t.Errorf("K8s.0 after the failed install: %v", e)
		}
	})
	if t.Failed() {
		for _, l := range logLines(logs) {
			if l["level"] == "WARN" || l["level"] == "ERROR" {
				t.Logf("service log: %v", l)
			}
		}
	}
}

// readK8s returns _admin.deployed.K8s of an nsrs document, as JSON values.
func readK8s(t *testing.T, c *mongo.Collection, id string) []any {
	t.Helper()
	raw, err := c.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	ext, err := bson.MarshalExtJSON(raw, false, false)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&allResponses, "\nMongoDB nsrs %s\n%s\n", id, ext)
	var doc struct {
		Admin struct {
			Deployed struct {
				K8s []any `json:"K8s"`
			} `json:"deployed"`
		} `json:"_admin"`
	}
	if err := json.Unmarshal(ext, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Admin.Deployed.K8s) != 2 {
		t.Fatalf("K8s has %d entries: %s", len(doc.Admin.Deployed.K8s), ext)
	}
	return doc.Admin.Deployed.K8s
}

// summary renders webhook POSTs as "v3 running 0/3, v5 succeeded" for the test log.
func summary(ps []hookPost) string {
	var parts []string
	for _, p := range ps {
		s := fmt.Sprintf("v%d %s", p.op.Version, p.op.State)
		if pr := p.op.Progress; pr != nil {
			s += fmt.Sprintf(" %s %d/%d", pr.Phase, pr.Ready, pr.Total)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func newUUID(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// hookReceiver is a webhook endpoint on the loopback that records every POST, by path.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]hookPost
}

type hookPost struct {
	auth, opHeader, versionHeader, contentType string
	op                                         api.Operation
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{got: map[string][]hookPost{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(&allResponses, "\nwebhook POST %s\n%s\n", r.URL.Path, data) // status outputs must not leak secrets either
		p := hookPost{auth: r.Header.Get("Authorization"), opHeader: r.Header.Get("X-Kdu-Operation"),
			versionHeader: r.Header.Get("X-Kdu-Version"), contentType: r.Header.Get("Content-Type")}
		if err := json.Unmarshal(data, &p.op); err != nil {
			http.Error(w, "not an operation", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got[r.URL.Path] = append(h.got[r.URL.Path], p)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) url(path string) string { return h.srv.URL + path }

func (h *hookReceiver) posts(path string) []hookPost {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookPost(nil), h.got[path]...)
}

func ptr[T any](v T) *T { return &v }
