package serve_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
)

// TestAPI drives every KDU endpoint through one life cycle on the local control plane, with their errors.
func TestAPI(t *testing.T) {
	s := startService(t, serve.Options{})
	ns := tc.Namespace(t)
	s.registerDev("", "dev", "")

	// Service endpoints.
	s.callJSON(200, "GET", "/healthz", "", nil, nil)
	s.callJSON(200, "GET", "/readyz", "", nil, nil)
	if st, body := s.call("GET", "/metrics", "", nil); st != 200 || !strings.Contains(string(body), "kdu_http_request_duration_seconds") {
		t.Fatalf("metrics: %d %.200s", st, body)
	}

	// Clusters.
	var cl kdu.Cluster
	s.callJSON(200, "GET", "/v1/clusters/dev", "", nil, &cl)
	if cl.ID != "dev" || cl.Version == "" || cl.Server == "" {
		t.Fatalf("cluster: %+v", cl)
	}
	var cls api.List[kdu.Cluster]
	s.callJSON(200, "GET", "/v1/clusters", "", nil, &cls)
	if len(cls.Items) != 1 {
		t.Fatalf("clusters: %+v", cls)
	}
	s.callJSON(200, "POST", "/v1/clusters/dev:check", "", nil, &cl)
	s.wantError(409, "exists", "", "POST", "/v1/clusters", "", api.ClusterRequest{ID: "dev", Kubeconfig: string(tc.Kubeconfig)})
	s.wantError(422, "invalid", "id", "POST", "/v1/clusters", "", api.ClusterRequest{ID: "../etc", Kubeconfig: string(tc.Kubeconfig)})
	s.wantError(422, "invalid", "kubeconfig", "POST", "/v1/clusters", "", api.ClusterRequest{ID: "x", Kubeconfig: "not: [a kubeconfig"})
	s.wantError(422, "invalid", "kubeconfig", "POST", "/v1/clusters", "", api.ClusterRequest{ID: "x"})
	s.wantError(400, "malformed", "", "POST", "/v1/clusters", "", "{not json")
	s.wantError(400, "malformed", "bogus", "POST", "/v1/clusters", "", `{"id":"x","bogus":1}`)
	s.wantError(404, "not_found", "cluster", "GET", "/v1/clusters/nope", "", nil)
	s.wantError(404, "not_found", "", "GET", "/v1/nothing-here", "", nil)
	s.wantError(405, "malformed", "", "PUT", "/v1/clusters", "", nil)

	// Repositories.
	repo := chartrepotest.New(t, webappDir(t), "u", "repo-secret-pw")
	var r kdu.Repo
	s.callJSON(201, "POST", "/v1/clusters/dev/repos", "", api.RepoRequest{Name: "charts", URL: repo.URL, Username: "u", Password: "repo-secret-pw"}, &r)
	if r.Name != "charts" || strings.Contains(fmt.Sprint(r), "repo-secret-pw") {
		t.Fatalf("repo: %+v", r)
	}
	var rs api.List[kdu.Repo]
	s.callJSON(200, "GET", "/v1/clusters/dev/repos", "", nil, &rs)
	if len(rs.Items) != 1 {
		t.Fatalf("repos: %+v", rs)
	}
	var ups api.List[kdu.RepoUpdate]
	s.callJSON(200, "POST", "/v1/clusters/dev/repos:update", "", nil, &ups)
	if len(ups.Items) != 1 || ups.Items[0].Error != "" || ups.Items[0].Versions != 2 {
		t.Fatalf("update: %+v", ups)
	}
	s.wantError(409, "exists", "", "POST", "/v1/clusters/dev/repos", "", api.RepoRequest{Name: "charts", URL: repo.URL})
	s.wantError(404, "not_found", "", "POST", "/v1/clusters/dev/repos:update", "", api.RepoUpdateRequest{Names: []string{"none"}})

	// Charts.
	var info kdu.ChartInfo
	s.callJSON(200, "POST", "/v1/charts:show", "", api.ShowRequest{Cluster: "dev", ChartSource: api.ChartSource{Chart: "charts/webapp:0.2.0"}}, &info)
	if info.Metadata.Version != "0.2.0" || !strings.Contains(info.Values, "replicaCount") {
		t.Fatalf("show: %+v", info.Metadata)
	}
	s.callJSON(200, "POST", "/v1/charts:show", "", api.ShowRequest{ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.3.0")}}, &info)
	if info.Metadata.Version != "0.3.0" {
		t.Fatalf("show archive: %+v", info.Metadata)
	}
	s.wantError(422, "invalid", "chart", "POST", "/v1/charts:show", "", api.ShowRequest{ChartSource: api.ChartSource{Chart: webappDir(t)}})
	s.wantError(422, "invalid", "chartArchive", "POST", "/v1/charts:show", "", api.ShowRequest{ChartSource: api.ChartSource{ChartArchive: []byte("not a tgz")}})

	// Install, with ?wait=true.
	var op api.Operation
	s.callJSON(200, "POST", "/v1/clusters/dev/kdus?wait=true", "", api.InstallRequest{
		Name: "web", Namespace: ns, ChartSource: api.ChartSource{Chart: "charts/webapp:0.1.0"},
		Values: api.Values{Values: map[string]any{"replicaCount": 2}, Params: map[string]any{"message": "hi"}},
	}, &op)
	if op.State != api.Succeeded || op.Kind != "install" || op.Release == nil || op.Release.Revision != 1 || op.Revision != 1 ||
		op.Target.Namespace != ns || op.FinishedAt == nil || op.StartedAt == nil || op.Attempts != 1 {
		t.Fatalf("install: %+v", op)
	}
	// Reads.
	var st kdu.Status
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/web", "", nil, &st)
	if st.State != "deployed" || len(st.Resources) == 0 {
		t.Fatalf("status: %+v", st)
	}
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/web?namespace="+ns, "", nil, &st)
	var rels api.List[kdu.Release]
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus?namespace="+ns+"&state=deployed,failed", "", nil, &rels)
	if len(rels.Items) != 1 || rels.Items[0].Name != "web" {
		t.Fatalf("list: %+v", rels)
	}
	var vals map[string]any
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/web/values", "", nil, &vals)
	if vals["replicaCount"] != float64(2) || vals["message"] != "hi" {
		t.Fatalf("values: %v", vals)
	}
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/web/values?all=true", "", nil, &vals)
	var svcs api.List[kdu.Service]
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/web/services", "", nil, &svcs)
	if len(svcs.Items) != 1 {
		t.Fatalf("services: %+v", svcs)
	}
	var sc api.ScaleCount
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/web/scale", "", nil, &sc)
	if sc.Replicas != 2 {
		t.Fatalf("scale count: %+v", sc)
	}

	// Scale, asynchronously, followed with GET ?wait=true.
	three := 3
	s.callJSON(202, "POST", "/v1/clusters/dev/kdus/web:scale", "", api.ScaleRequest{Replicas: &three}, &op)
	if op.State.Terminal() || op.Kind != "scale" {
		t.Fatalf("scale accepted: %+v", op)
	}
	if op = s.waitOp("", op.ID); op.State != api.Succeeded || op.Revision != 2 {
		t.Fatalf("scale: %+v", op)
	}
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/web/scale", "", nil, &sc)
	if sc.Replicas != 3 {
		t.Fatalf("scale count after scale: %+v", sc)
	}
	// Upgrade to 0.2.0 with a values file, then roll back.
	s.callJSON(200, "POST", "/v1/clusters/dev/kdus/web:upgrade?wait=true", "", api.UpgradeRequest{
		ChartSource: api.ChartSource{Chart: "charts/webapp", Version: "0.2.0"},
		Values:      api.Values{Files: []api.ValuesFile{{Name: "extra.yaml", Content: "message: upgraded\n"}}},
	}, &op)
	if op.State != api.Succeeded || op.Release.ChartVersion != "0.2.0" || op.Revision != 3 {
		t.Fatalf("upgrade: %+v", op)
	}
	s.callJSON(200, "POST", "/v1/clusters/dev/kdus/web:rollback?wait=true", "", nil, &op)
	if op.State != api.Succeeded || op.Revision != 4 || op.Release.ChartVersion != "0.1.0" {
		t.Fatalf("rollback: %+v", op)
	}
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/web/history", "", nil, &rels)
	if len(rels.Items) != 4 {
		t.Fatalf("history: %+v", rels)
	}

	// Errors of KDU endpoints: nothing queued for any of them.
	before := countOps(s)
	s.wantError(422, "invalid", "name", "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{Name: "Bad_Name", ChartSource: api.ChartSource{Chart: "charts/webapp"}})
	s.wantError(422, "invalid", "chart", "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{Name: "x"})
	s.wantError(422, "invalid", "chart", "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{Name: "x", ChartSource: api.ChartSource{Chart: "/etc/passwd"}})
	s.wantError(422, "invalid", "values", "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{Name: "x", ChartSource: api.ChartSource{Chart: "charts/webapp"},
		Values: api.Values{Set: []string{"a[99999999]=1"}}})
	s.wantError(400, "malformed", "timeout", "POST", "/v1/clusters/dev/kdus", "", `{"name":"x","chart":"charts/webapp","timeout":"soon"}`)
	s.wantError(409, "exists", "", "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{Name: "web", Namespace: ns, ChartSource: api.ChartSource{Chart: "charts/webapp"}})
	s.wantError(404, "not_found", "cluster", "POST", "/v1/clusters/nope/kdus", "", api.InstallRequest{Name: "x", ChartSource: api.ChartSource{Chart: "charts/webapp"}})
	s.wantError(422, "invalid", "statusTargets[0].mongo", "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{Name: "x", ChartSource: api.ChartSource{Chart: "charts/webapp"},
		Common: api.Common{StatusTargets: []api.StatusTarget{{Mongo: &api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": "a"}, Path: "p"}}}}})
	s.wantError(404, "not_found", "", "POST", "/v1/clusters/dev/kdus/ghost:upgrade", "", api.UpgradeRequest{})
	s.wantError(422, "invalid", "valuesMode", "POST", "/v1/clusters/dev/kdus/web:upgrade", "", api.UpgradeRequest{ValuesMode: "sideways"})
	s.wantError(422, "invalid", "replicas", "POST", "/v1/clusters/dev/kdus/web:scale", "", api.ScaleRequest{})
	minus := -1
	s.wantError(422, "invalid", "replicas", "POST", "/v1/clusters/dev/kdus/web:scale", "", api.ScaleRequest{Replicas: &minus})
	s.wantError(422, "invalid", "revision", "POST", "/v1/clusters/dev/kdus/web:rollback", "", api.RollbackRequest{Revision: -2})
	s.wantError(404, "not_found", "", "GET", "/v1/clusters/dev/kdus/ghost", "", nil)
	s.wantError(404, "not_found", "", "GET", "/v1/clusters/dev/kdus/ghost/history", "", nil)
	s.wantError(404, "not_found", "", "GET", "/v1/clusters/dev/kdus/ghost/values", "", nil)
	s.wantError(404, "not_found", "", "GET", "/v1/clusters/dev/kdus/ghost/services", "", nil)
	s.wantError(422, "invalid", "resource", "GET", "/v1/clusters/dev/kdus/web/scale?resource=nothing", "", nil)
	s.wantError(422, "invalid", "namespace", "GET", "/v1/clusters/dev/kdus?namespace=Bad_NS", "", nil)
	s.wantError(400, "malformed", "Idempotency-Key", "POST", "/v1/clusters/dev/kdus/web:scale", "", api.ScaleRequest{Replicas: &three}, "Idempotency-Key", strings.Repeat("k", 201))
	if after := countOps(s); after != before {
		t.Fatalf("rejected requests queued operations: %d before, %d after", before, after)
	}

	// Operations: list, filters, get, cancel of a finished one.
	var ops api.List[api.Operation]
	s.callJSON(200, "GET", "/v1/operations?cluster=dev&kdu=web&state=succeeded", "", nil, &ops)
	if len(ops.Items) != 4 || ops.Items[0].Kind != "rollback" || ops.Items[3].Kind != "install" {
		t.Fatalf("operations: %+v", ops.Items)
	}
	s.callJSON(200, "GET", "/v1/operations?kind=scale&limit=1", "", nil, &ops)
	if len(ops.Items) != 1 || ops.Next == "" {
		t.Fatalf("page: %+v", ops)
	}
	s.callJSON(200, "GET", "/v1/operations?limit=1&before="+ops.Next, "", nil, &ops)
	s.wantError(400, "malformed", "state", "GET", "/v1/operations?state=bored", "", nil)
	s.wantError(400, "malformed", "limit", "GET", "/v1/operations?limit=0", "", nil)
	s.callJSON(200, "GET", "/v1/operations/"+op.ID, "", nil, &op)
	s.wantError(409, "conflict", "", "POST", "/v1/operations/"+op.ID+":cancel", "", nil)
	s.wantError(404, "not_found", "id", "GET", "/v1/operations/op-nope", "", nil)
	s.wantError(404, "not_found", "id", "POST", "/v1/operations/op-nope:cancel", "", nil)

	// Uninstall (twice: idempotent), then the cluster goes.
	s.callJSON(202, "DELETE", "/v1/clusters/dev/kdus/web", "", nil, &op)
	if op = s.waitOp("", op.ID); op.State != api.Succeeded {
		t.Fatalf("uninstall: %+v", op)
	}
	s.callJSON(202, "DELETE", "/v1/clusters/dev/kdus/web?namespace="+ns, "", nil, &op)
	if op = s.waitOp("", op.ID); op.State != api.Succeeded || op.Release != nil {
		t.Fatalf("second uninstall: %+v", op)
	}
	s.callJSON(204, "DELETE", "/v1/clusters/dev/repos/charts", "", nil, nil)
	s.wantError(404, "not_found", "", "DELETE", "/v1/clusters/dev/repos/charts", "", nil)
	s.callJSON(204, "DELETE", "/v1/clusters/dev", "", nil, nil)
	s.wantError(404, "not_found", "cluster", "DELETE", "/v1/clusters/dev", "", nil)
}

func countOps(s *svc) int {
	var ops api.List[api.Operation]
	s.callJSON(200, "GET", "/v1/operations?limit=1000", "", nil, &ops)
	return len(ops.Items)
}

// TestEventsAndIdempotency follows an install through both event streams and retries it with an
// Idempotency-Key.
func TestEventsAndIdempotency(t *testing.T) {
	s := startService(t, serve.Options{})
	ns := tc.Namespace(t)
	s.registerDev("", "dev", "")

	// The global stream, opened first.
	all, err := http.Get(s.url + "/v1/events?cluster=dev")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Body.Close()
	if ct := all.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	allEvents := make(chan api.Operation, 100)
	go readEvents(all.Body, allEvents)

	req := api.InstallRequest{Name: "evt", Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.1.0")}}
	var first, again api.Operation
	s.callJSON(202, "POST", "/v1/clusters/dev/kdus", "", req, &first, "Idempotency-Key", "install-evt-1")
	s.callJSON(202, "POST", "/v1/clusters/dev/kdus", "", req, &again, "Idempotency-Key", "install-evt-1")
	if again.ID != first.ID {
		t.Fatalf("retry with the same key gave operation %s, first %s", again.ID, first.ID)
	}
	req.Description = "different"
	s.wantError(422, "conflict", "Idempotency-Key", "POST", "/v1/clusters/dev/kdus", "", req, "Idempotency-Key", "install-evt-1")

	resp, err := http.Get(s.url + "/v1/operations/" + first.ID + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan api.Operation, 100)
	go readEvents(resp.Body, events)
	var seen []api.Operation
	for op := range events {
		seen = append(seen, op)
	}
	last := seen[len(seen)-1]
	if last.State != api.Succeeded || last.ID != first.ID {
		t.Fatalf("last event: %+v", last)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Version <= seen[i-1].Version {
			t.Fatalf("versions not increasing: %d then %d", seen[i-1].Version, seen[i].Version)
		}
	}
	// The global stream saw the same operation reach its end, through running.
	states := map[api.OperationState]bool{}
	deadline := time.After(30 * time.Second)
	for !states[api.Succeeded] {
		select {
		case op := <-allEvents:
			if op.ID == first.ID {
				states[op.State] = true
			}
		case <-deadline:
			t.Fatalf("global stream saw %v", states)
		}
	}
	if !states[api.Running] {
		t.Fatalf("global stream never saw running: %v", states)
	}
	var op api.Operation
	s.callJSON(202, "DELETE", "/v1/clusters/dev/kdus/evt", "", nil, &op)
	s.waitOp("", op.ID)
}

// readEvents parses a Server-Sent Events stream of operations into c, closing c at the end.
func readEvents(body interface{ Read([]byte) (int, error) }, c chan<- api.Operation) {
	defer close(c)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var op api.Operation
			if json.Unmarshal([]byte(data), &op) == nil {
				c <- op
			}
		}
	}
}
