package serve_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/pgtest"
)

// TestReplicasOnPostgreSQL runs two replicas on one PostgreSQL database and submits operations on one release
// to both: each runs exactly once, on one replica, and no two ever overlap.
func TestReplicasOnPostgreSQL(t *testing.T) {
	db := pgtest.Database(t)
	t.Setenv("KDU_SECRET_KEY", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	a := startService(t, serve.Options{Database: db, ReplicaID: "replica-a"})
	b := startService(t, serve.Options{Database: db, ReplicaID: "replica-b"})
	ns := tc.Namespace(t)
	a.registerDev("", "dev", "")
	// The other replica sees the registration: the store is shared.
	var cl map[string]any
	b.callJSON(http.StatusOK, "GET", "/v1/clusters/dev", "", nil, &cl)

	var op api.Operation
	a.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/kdus?wait=true", "", api.InstallRequest{
		Name: "rp-web", Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.1.0")},
	}, &op)
	if op.State != api.Succeeded {
		t.Fatalf("install: %+v", op)
	}
	const n = 8
	var ids []string
	for i := 1; i <= n; i++ {
		s := a
		if i%2 == 0 {
			s = b
		}
		replicas := i
		s.callJSON(http.StatusAccepted, "POST", "/v1/clusters/dev/kdus/rp-web:scale", "", api.ScaleRequest{Replicas: &replicas}, &op)
		ids = append(ids, op.ID)
	}
	var done []api.Operation
	for i, id := range ids {
		s := a
		if i%2 == 1 {
			s = b // ask the other replica than the one that ran it, sometimes: both see every operation
		}
		done = append(done, s.waitOp("", id))
	}
	sort.Slice(done, func(i, j int) bool { return done[i].StartedAt.Before(*done[j].StartedAt) })
	for i, op := range done {
		if op.State != api.Succeeded || op.Attempts != 1 {
			t.Fatalf("operation %s: %s after %d attempts: %+v", op.ID, op.State, op.Attempts, op.Error)
		}
		if i > 0 && op.StartedAt.Before(*done[i-1].FinishedAt) {
			t.Fatalf("operations %s and %s overlapped: %s started at %s, before %s finished at %s",
				done[i-1].ID, op.ID, op.ID, op.StartedAt, done[i-1].ID, done[i-1].FinishedAt)
		}
	}
	// Operations on one release run in submission order: the last scale wins.
	var sc api.ScaleCount
	b.callJSON(http.StatusOK, "GET", "/v1/clusters/dev/kdus/rp-web/scale", "", nil, &sc)
	if sc.Replicas != n {
		t.Fatalf("replicas %d, want %d (the last submitted scale)", sc.Replicas, n)
	}
	// The Go client sees the same through the other replica.
	st, err := b.client("").Status(t.Context(), kdu.Target{Cluster: "dev", Name: "rp-web"})
	if err != nil || st.Revision != n+1 || st.Namespace != ns {
		t.Fatalf("status through the client: %+v, %v", st, err)
	}
	// Which replica ran what, from the logs.
	ran := map[string]string{}
	for _, line := range strings.Split(allLogs.String(), "\n") {
		var rec struct {
			Msg, Replica string
			OperationID  string `json:"operation_id"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "operation started" {
			ran[rec.OperationID] = rec.Replica
		}
	}
	count := map[string]int{}
	for _, id := range ids {
		count[ran[id]]++
	}
	t.Logf("operations run per replica: %v", count)

	b.callJSON(http.StatusOK, "DELETE", "/v1/clusters/dev/kdus/rp-web?wait=true", "", nil, &op)
	if op.State != api.Succeeded {
		t.Fatalf("uninstall: %+v", op)
	}
}
