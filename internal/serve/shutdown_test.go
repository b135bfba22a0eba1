package serve_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
)

// TestGracefulShutdown stops the service while an atomic install waits for Pods that never become ready and
// an uninstall of the same release is queued behind it. Once the shutdown timeout passed, the install is
// interrupted: its Helm wait ends, it rolls back (uninstall) and is recorded failed "interrupted" before Run
// returns. The queued operation stays queued, and the next start runs it.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	const replica = "rs-graceful"
	s := startService(t, serve.Options{DataDir: dir, ReplicaID: replica, ShutdownTimeout: 2 * time.Second})
	ns := tc.Namespace(t)
	s.registerDev("", "dev", "")

	const name = "rs-graceful"
	var op, queued api.Operation
	s.callJSON(http.StatusAccepted, "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{
		Name: name, Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.1.0")},
		Values: api.Values{SetString: rsNeverReady},
		Wait:   api.Wait{Atomic: rsBool(true), Timeout: rsTimeout(10 * time.Minute)},
	}, &op)
	rsWaitRunningAndPending(s, op.ID, name, ns, "pending-install")
	// An operation on the same release waits behind the running one.
	s.callJSON(http.StatusAccepted, "DELETE", "/v1/clusters/dev/kdus/"+name+"?namespace="+ns, "", nil, &queued)
	if queued.State != api.Queued {
		t.Fatalf("uninstall behind a running install: %s, want queued", queued.State)
	}

	// Graceful stop: Run's context ends.
	stopping := time.Now()
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		s.done <- nil // for the harness's own stop at cleanup
	case <-time.After(45 * time.Second):
		t.Fatal("Run did not return within 45 s of the end of its context (shutdown timeout 2 s)")
	}
	stopped := time.Now()
	t.Logf("Run returned %s after its context ended", stopped.Sub(stopping).Round(100*time.Millisecond))

	// The next start finds the interrupted install recorded, not running.
	s2 := startService(t, serve.Options{DataDir: dir, ReplicaID: replica})
	got := rsOp(s2, op.ID)
	if got.State != api.Failed || got.Error == nil || got.Error.Code != "interrupted" {
		t.Fatalf("install after a graceful shutdown: %s %+v, want failed with code interrupted", got.State, got.Error)
	}
	if got.Attempts != 1 || got.FinishedAt == nil || got.FinishedAt.After(stopped) {
		t.Errorf("install: attempts %d, finished at %v (Run returned at %s): want one attempt recorded before Run returned",
			got.Attempts, got.FinishedAt, stopped)
	}
	if len(rsLoggedMem("interrupting operation at shutdown", op.ID)) == 0 {
		t.Errorf("no log of interrupting operation %s at shutdown", op.ID)
	}
	if st := rsReleaseState(s2, name, ns); st != "" {
		t.Errorf("release is %s after the interrupted atomic install, want it uninstalled", st)
	}

	// The queued uninstall was left for the next start, which ran it (the release is already gone: it
	// succeeds).
	q := rsWaitEnd(s2, queued.ID, time.Minute)
	if q.State != api.Succeeded || q.Attempts != 1 || q.StartedAt == nil || !q.StartedAt.After(stopped) {
		t.Fatalf("queued uninstall after the restart: %s, attempts %d, started at %v (first service stopped at %s), error %+v; "+
			"want succeeded, run once by the second service", q.State, q.Attempts, q.StartedAt, stopped, q.Error)
	}
}

// rsLoggedMem returns the records of every in-process service's log (allLogs) with message msg about
// operation id.
func rsLoggedMem(msg, id string) []map[string]any {
	var out []map[string]any
	for _, rec := range rsParseLog([]byte(allLogs.String())) {
		if rec["msg"] == msg && rec["operation_id"] == id {
			out = append(out, rec)
		}
	}
	return out
}
