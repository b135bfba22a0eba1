package serve_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
)

// TestCancel cancels a running atomic install (it rolls back), a queued operation (it never runs) and an
// unknown operation.
func TestCancel(t *testing.T) {
	s := startService(t, serve.Options{})
	s.registerDev("", "dev", "")
	chart := chartrepotest.Package(t, webappDir(t), "0.1.0")
	// The subtests make s fail them, not the parent test.
	parent := s.t
	use := func(t *testing.T) (restore func()) {
		s.t = t
		return func() { s.t = parent }
	}

	t.Run("RunningAtomicInstall", func(t *testing.T) {
		defer use(t)()
		ns := tc.Namespace(t)
		const name = "rs-cancel-run"
		var op api.Operation
		s.callJSON(http.StatusAccepted, "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{
			Name: name, Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chart},
			Values: api.Values{SetString: rsNeverReady},
			Wait:   api.Wait{Atomic: rsBool(true), Timeout: rsTimeout(10 * time.Minute)},
		}, &op)
		rsWaitRunningAndPending(s, op.ID, name, ns, "pending-install")

		var c api.Operation
		s.callJSON(http.StatusAccepted, "POST", "/v1/operations/"+op.ID+":cancel", "", nil, &c)
		if c.ID != op.ID || !(c.CancelRequested || c.State == api.Cancelled) {
			t.Fatalf("cancel answer: %+v, want cancelRequested or cancelled", c)
		}
		done := rsWaitEnd(s, op.ID, 2*time.Minute)
		if done.State != api.Cancelled || done.Error == nil || done.Error.Code != "cancelled" {
			t.Fatalf("cancelled install: %s %+v, want cancelled with code cancelled", done.State, done.Error)
		}
		if done.Attempts != 1 || done.StartedAt == nil || done.FinishedAt == nil {
			t.Errorf("cancelled install: attempts %d, started %v, finished %v", done.Attempts, done.StartedAt, done.FinishedAt)
		}
		if st := rsReleaseState(s, name, ns); st != "" {
			t.Errorf("release is %s after a cancelled atomic install, want it uninstalled", st)
		}
		// An ended operation cannot be cancelled again.
		s.wantError(http.StatusConflict, "conflict", "", "POST", "/v1/operations/"+op.ID+":cancel", "", nil)
	})

	t.Run("Queued", func(t *testing.T) {
		defer use(t)()
		ns := tc.Namespace(t)
		const name = "rs-cancel-queue"
		// Pods that never become ready, installed without waiting: every later wait on them hangs.
		var op api.Operation
		s.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/kdus?wait=true", "", api.InstallRequest{
			Name: name, Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chart},
			Values: api.Values{SetString: rsNeverReady},
			Wait:   api.Wait{Atomic: rsBool(false), Wait: rsBool(false)},
		}, &op)
		if op.State != api.Succeeded {
			t.Fatalf("install: %s %+v", op.State, op.Error)
		}
		two, three := 2, 3
		var first, second api.Operation
		s.callJSON(http.StatusAccepted, "POST", "/v1/clusters/dev/kdus/"+name+":scale", "", api.ScaleRequest{
			Namespace: ns, Replicas: &two, Wait: api.Wait{Atomic: rsBool(true), Timeout: rsTimeout(10 * time.Minute)},
		}, &first)
		rsWaitRunningAndPending(s, first.ID, name, ns, "pending-upgrade")
		s.callJSON(http.StatusAccepted, "POST", "/v1/clusters/dev/kdus/"+name+":scale", "", api.ScaleRequest{
			Namespace: ns, Replicas: &three,
		}, &second)
		if second.State != api.Queued {
			t.Fatalf("second scale: %s, want queued behind the running one", second.State)
		}

		// Cancelling the queued one ends it at once.
		var c api.Operation
		s.callJSON(http.StatusAccepted, "POST", "/v1/operations/"+second.ID+":cancel", "", nil, &c)
		if c.State != api.Cancelled || c.Attempts != 0 || c.StartedAt != nil || c.FinishedAt == nil {
			t.Fatalf("cancelled queued scale: state %s, attempts %d, started %v, finished %v; want cancelled, never started",
				c.State, c.Attempts, c.StartedAt, c.FinishedAt)
		}
		if got := rsOp(s, second.ID); got.State != api.Cancelled {
			t.Fatalf("queued scale after its cancel: %s", got.State)
		}
		s.wantError(http.StatusConflict, "conflict", "", "POST", "/v1/operations/"+second.ID+":cancel", "", nil)
		if got := rsOp(s, first.ID); got.State != api.Running {
			t.Fatalf("cancelling the queued scale changed the running one: %s", got.State)
		}

		// Then the running one.
		s.callJSON(http.StatusAccepted, "POST", "/v1/operations/"+first.ID+":cancel", "", nil, &c)
		if !(c.CancelRequested || c.State == api.Cancelled) {
			t.Fatalf("cancel answer: %+v", c)
		}
		// Asking again while it stops is accepted too.
		s.callJSON(http.StatusAccepted, "POST", "/v1/operations/"+first.ID+":cancel", "", nil, &c)
		done := rsWaitEnd(s, first.ID, 2*time.Minute)
		if done.State != api.Cancelled || done.Error == nil || done.Error.Code != "cancelled" {
			t.Fatalf("cancelled scale: %s %+v, want cancelled with code cancelled", done.State, done.Error)
		}
		if st := rsReleaseState(s, name, ns); st == "" || st == "pending-upgrade" || st == "pending-rollback" {
			t.Errorf("release is %q after the cancelled atomic scale", st)
		}
		// The cancelled queued scale never ran, also now that its release is free.
		var sc api.ScaleCount
		s.callJSON(http.StatusOK, "GET", "/v1/clusters/dev/kdus/"+name+"/scale?namespace="+ns, "", nil, &sc)
		if sc.Replicas != 1 {
			t.Errorf("replicas %d after the cancelled scales, want 1 (the atomic scale rolled back, the queued one never ran)", sc.Replicas)
		}
		if got := rsOp(s, second.ID); got.State != api.Cancelled || got.Attempts != 0 || got.StartedAt != nil {
			t.Fatalf("cancelled queued scale later: state %s, attempts %d, started %v", got.State, got.Attempts, got.StartedAt)
		}
		if len(rsLoggedMem("operation started", second.ID)) != 0 {
			t.Errorf("the cancelled queued scale %s was started", second.ID)
		}
		s.callJSON(http.StatusOK, "DELETE", "/v1/clusters/dev/kdus/"+name+"?wait=true&namespace="+ns, "", nil, &op)
	})

	t.Run("Unknown", func(t *testing.T) {
		defer use(t)()
		s.wantError(http.StatusNotFound, "not_found", "id", "POST", "/v1/operations/op-rs-nope:cancel", "", nil)
	})
}
