package serve_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/servetest"
)

// rsNeverReady is the --set-string that keeps the webapp's Pods from ever becoming ready (a kwok stage), so
// that a waiting operation hangs until its timeout, a cancel or the end of its process.
var rsNeverReady = []string{`podLabels.kdu\.test/never-ready=true`}

func rsBool(b bool) *bool { return &b }

func rsTimeout(d time.Duration) *api.Duration {
	v := api.Duration(d)
	return &v
}

// rsOp reads an operation.
func rsOp(s *svc, id string) api.Operation {
	s.t.Helper()
	var op api.Operation
	s.callJSON(http.StatusOK, "GET", "/v1/operations/"+id, "", nil, &op)
	return op
}

// rsPoll calls cond until it returns true; after within it fails the test with what and the last detail cond
// gave.
func rsPoll(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, within, detail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// rsWaitEnd follows an operation until it ends, failing the test if it does not within d.
func rsWaitEnd(s *svc, id string, within time.Duration) api.Operation {
	s.t.Helper()
	var op api.Operation
	rsPoll(s.t, within, "operation "+id+" ends", func() (bool, string) {
		op = rsOp(s, id)
		return op.State.Terminal(), string(op.State)
	})
	return op
}

// rsReleaseState returns the state of the release name in ns on cluster "dev", or "" if it does not exist.
func rsReleaseState(s *svc, name, ns string) string {
	s.t.Helper()
	status, body := s.call("GET", "/v1/clusters/dev/kdus/"+name+"?namespace="+ns, "", nil)
	switch status {
	case http.StatusOK:
		var st kdu.Status
		if err := json.Unmarshal(body, &st); err != nil {
			s.t.Fatalf("release %s: %v: %s", name, err, body)
		}
		return string(st.State)
	case http.StatusNotFound:
		var er api.ErrorResponse
		if err := json.Unmarshal(body, &er); err != nil || er.Error.Code != "not_found" || er.Error.Field == "cluster" {
			s.t.Fatalf("release %s: unexpected 404: %s", name, body)
		}
		return ""
	}
	s.t.Fatalf("release %s: status %d: %s", name, status, body)
	return ""
}

// rsWaitRunningAndPending waits until the operation runs and its release shows the pending state: the
// process is inside the Helm action, waiting for Pods that never become ready.
func rsWaitRunningAndPending(s *svc, id, name, ns, pending string) {
	s.t.Helper()
	rsPoll(s.t, 90*time.Second, "operation "+id+" running with its release "+pending, func() (bool, string) {
		op := rsOp(s, id)
		if op.State.Terminal() {
			s.t.Fatalf("operation %s ended before it could be interrupted: %+v %+v", id, op, op.Error)
		}
		st := rsReleaseState(s, name, ns)
		return op.State == api.Running && st == pending, "operation " + string(op.State) + ", release " + st
	})
}

// rsBuildKdu builds the kdu command into a temporary directory and returns its path.
func rsBuildKdu(t *testing.T) string {
	t.Helper()
	start := time.Now()
	bin, err := servetest.Build(repoRoot(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built kdu in %s", time.Since(start).Round(time.Second))
	return bin
}

// rsProc is a `kdu serve` running as a child process.
type rsProc struct {
	*svc
	*servetest.Proc
}

// rsServe starts `kdu serve` on a loopback port with dataDir and replica, and waits until it is ready. The
// process is stopped (SIGTERM, then SIGKILL) when the test ends; its log is shown if the test failed.
func rsServe(t *testing.T, bin, dataDir, replica string) *rsProc {
	t.Helper()
	// The child gets its configuration from its flags only (other tests set KDU_SECRET_KEY and such).
	proc, err := servetest.Start(t.Context(), bin, filepath.Join(t.TempDir(), "serve-"+replica+".log"), nil,
		"--data-dir", dataDir, "--replica-id", replica, "--lease", "3s", "--log-level", "debug")
	if err != nil {
		t.Fatalf("starting kdu serve (%s): %v", replica, err)
	}
	p := &rsProc{Proc: proc}
	t.Cleanup(func() {
		select {
		case <-p.Exited():
		default:
			if !p.Stop(time.Minute) {
				t.Errorf("kdu serve (%s) did not stop within a minute of SIGTERM; killed it", replica)
			}
		}
		if t.Failed() {
			data, _ := os.ReadFile(p.LogPath)
			t.Logf("log of kdu serve --replica-id %s (pid %d):\n%s", replica, p.Cmd.Process.Pid, data)
		}
	})
	addr := strings.TrimPrefix(proc.URL, "http://")
	p.svc = &svc{t: t, url: "http://" + addr, dir: dataDir}
	rsPoll(t, 30*time.Second, "kdu serve ("+replica+") ready", func() (bool, string) {
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *rsProc) kill() { p.Kill() }

// rsLogRecords reads the JSON log lines of a file.
func rsLogRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return rsParseLog(data)
}

// rsParseLog reads JSON log lines.
func rsParseLog(data []byte) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			out = append(out, rec)
		}
	}
	return out
}

// rsLogged returns the log records of path with message msg about operation id.
func rsLogged(t *testing.T, path, msg, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range rsLogRecords(t, path) {
		if rec["msg"] == msg && rec["operation_id"] == id {
			out = append(out, rec)
		}
	}
	return out
}

// rsKillDuringAtomicInstall starts kdu serve (replica r1), submits an atomic install of name whose Pods never
// become ready, and kills the server (SIGKILL) once the release is pending-install. It returns what a restart
// needs: the binary, the data directory, the namespace and the operation.
func rsKillDuringAtomicInstall(t *testing.T, name string) (bin, dataDir, ns string, op api.Operation) {
	t.Helper()
	bin = rsBuildKdu(t)
	dataDir = t.TempDir()
	ns = tc.Namespace(t)
	first := rsServe(t, bin, dataDir, "r1")
	first.registerDev("", "dev", "")
	first.callJSON(http.StatusAccepted, "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{
		Name: name, Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.1.0")},
		Values: api.Values{SetString: rsNeverReady},
		Wait:   api.Wait{Atomic: rsBool(true), Timeout: rsTimeout(5 * time.Minute)},
	}, &op)
	rsWaitRunningAndPending(first.svc, op.ID, name, ns, "pending-install")
	first.kill()
	return bin, dataDir, ns, op
}

// TestKillDuringInstall kills the server (SIGKILL) while an atomic install waits for its Pods, and restarts it
// with the same replica id: the new process adopts the operation at once, finds the release pending-install,
// marks it failed and, as the install was atomic, uninstalls it; the operation fails "interrupted".
func TestKillDuringInstall(t *testing.T) {
	const name = "rs-kill-install"
	bin, dataDir, ns, op := rsKillDuringAtomicInstall(t, name)

	restarted := time.Now()
	second := rsServe(t, bin, dataDir, "r1")
	done := rsWaitEnd(second.svc, op.ID, 90*time.Second)
	t.Logf("operation ended %s after the restart: %s, attempts %d, error %+v",
		time.Since(restarted).Round(100*time.Millisecond), done.State, done.Attempts, done.Error)
	if done.State != api.Failed || done.Error == nil || done.Error.Code != "interrupted" {
		t.Fatalf("operation after the restart: %s %+v, want failed with code interrupted", done.State, done.Error)
	}
	if !strings.Contains(done.Error.Message, "uninstalled") {
		t.Errorf("error message %q does not say the atomic install was uninstalled", done.Error.Message)
	}
	if done.Attempts < 2 {
		t.Errorf("attempts %d after the restarted process ran the operation again, want at least 2", done.Attempts)
	}
	if done.FinishedAt == nil {
		t.Errorf("no finishedAt: %+v", done)
	}
	if st := rsReleaseState(second.svc, name, ns); st != "" {
		t.Errorf("release is %s after the recovery of an atomic install, want it uninstalled", st)
	}
	// The restarted process adopted its own operation (same replica id), without waiting for the lease.
	if len(rsLogged(t, second.LogPath, "adopting an operation left running by a previous process of this replica", op.ID)) == 0 {
		t.Errorf("the restarted process did not log adopting operation %s", op.ID)
	}
	// The name is free again.
	var again api.Operation
	second.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/kdus?wait=true", "", api.InstallRequest{
		Name: name, Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.1.0")},
	}, &again)
	if again.State != api.Succeeded || again.Revision != 1 {
		t.Fatalf("install after the recovery: %s %+v", again.State, again.Error)
	}
	second.callJSON(http.StatusOK, "DELETE", "/v1/clusters/dev/kdus/"+name+"?wait=true&namespace="+ns, "", nil, &again)
}

// TestKillDuringUpgradeOtherReplica kills the server during a non-atomic upgrade and starts a replica with
// another id on the same store: it takes the operation over once the dead replica's lease expired, marks the
// pending-upgrade revision failed and fails the operation "interrupted"; the release accepts a new upgrade.
func TestKillDuringUpgradeOtherReplica(t *testing.T) {
	bin := rsBuildKdu(t)
	dataDir := t.TempDir()
	ns := tc.Namespace(t)
	first := rsServe(t, bin, dataDir, "r1")
	first.registerDev("", "dev", "")

	const name = "rs-kill-upgrade"
	var op api.Operation
	first.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/kdus?wait=true", "", api.InstallRequest{
		Name: name, Namespace: ns, ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.1.0")},
	}, &op)
	if op.State != api.Succeeded {
		t.Fatalf("install: %s %+v", op.State, op.Error)
	}
	first.callJSON(http.StatusAccepted, "POST", "/v1/clusters/dev/kdus/"+name+":upgrade", "", api.UpgradeRequest{
		Namespace: ns, Values: api.Values{SetString: rsNeverReady},
		Wait: api.Wait{Atomic: rsBool(false), Wait: rsBool(true), Timeout: rsTimeout(5 * time.Minute)},
	}, &op)
	rsWaitRunningAndPending(first.svc, op.ID, name, ns, "pending-upgrade")
	first.kill()

	restarted := time.Now()
	second := rsServe(t, bin, dataDir, "r2")
	done := rsWaitEnd(second.svc, op.ID, 90*time.Second)
	t.Logf("operation ended %s after the other replica started (lease 3s): %s, attempts %d, error %+v",
		time.Since(restarted).Round(100*time.Millisecond), done.State, done.Attempts, done.Error)
	if done.State != api.Failed || done.Error == nil || done.Error.Code != "interrupted" {
		t.Fatalf("operation after the takeover: %s %+v, want failed with code interrupted", done.State, done.Error)
	}
	if done.Attempts < 2 {
		t.Errorf("attempts %d after a takeover, want at least 2", done.Attempts)
	}
	if st := rsReleaseState(second.svc, name, ns); st != "failed" {
		t.Errorf("release is %q after the takeover of a non-atomic upgrade, want failed", st)
	}
	// r2 resolved it: it did not adopt it (not its own), it took it over after the lease.
	if len(rsLogged(t, second.LogPath, "adopting an operation left running by a previous process of this replica", op.ID)) != 0 {
		t.Errorf("replica r2 adopted r1's operation %s as its own", op.ID)
	}
	recs := rsLogged(t, second.LogPath, "resolving an operation whose previous owner stopped", op.ID)
	if len(recs) == 0 {
		t.Errorf("replica r2 did not log resolving operation %s", op.ID)
	} else if prev, ok := recs[0]["previous_owner"]; ok && prev != "r1" {
		t.Errorf("the takeover log names previous_owner %v, want r1 (the replica that died)", prev)
	}

	// The release is usable again: an upgrade to the chart's default values (ready Pods) succeeds.
	second.callJSON(http.StatusOK, "POST", "/v1/clusters/dev/kdus/"+name+":upgrade?wait=true", "", api.UpgradeRequest{
		Namespace: ns, ValuesMode: "reset", ChartSource: api.ChartSource{ChartArchive: chartrepotest.Package(t, webappDir(t), "0.1.0")},
	}, &op)
	if op.State != api.Succeeded || op.Release == nil || op.Release.State != "deployed" {
		t.Fatalf("upgrade after the takeover: %s %+v", op.State, op.Error)
	}
	if st := rsReleaseState(second.svc, name, ns); st != "deployed" {
		t.Errorf("release is %q after the new upgrade, want deployed", st)
	}
	second.callJSON(http.StatusOK, "DELETE", "/v1/clusters/dev/kdus/"+name+"?wait=true&namespace="+ns, "", nil, &op)
}

// rsSetReleaseState rewrites the state Helm recorded for revision rev of a release, as a process killed at that
// point would have left it: the release Secret holds base64 of the gzipped JSON release, and a "status" label.
func rsSetReleaseState(t *testing.T, ns, name string, rev int, state string) {
	t.Helper()
	ctx := context.Background()
	secrets := tc.Clientset.CoreV1().Secrets(ns)
	sec, err := secrets.Get(ctx, fmt.Sprintf("sh.helm.release.v1.%s.v%d", name, rev), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(sec.Data["release"]))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var rel map[string]any
	if err := json.NewDecoder(zr).Decode(&rel); err != nil {
		t.Fatal(err)
	}
	rel["info"].(map[string]any)["status"] = state
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(rel); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sec.Data["release"] = []byte(base64.StdEncoding.EncodeToString(buf.Bytes()))
	sec.Labels["status"] = state
	if _, err := secrets.Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestKillDuringAtomicInstallRollback kills the server while an atomic install waits, and leaves its release
// as a kill during the install's rollback (Helm's uninstall) would: "uninstalling". The restarted process
// decides from the revisions the operation recorded (it wrote revision 1 from none) that the install failed
// and its rollback was cut short, finishes the uninstall, and fails the operation "interrupted"; the release
// is gone, not left uninstalling for good.
func TestKillDuringAtomicInstallRollback(t *testing.T) {
	const name = "rs-kill-rollback"
	bin, dataDir, ns, op := rsKillDuringAtomicInstall(t, name)
	rsSetReleaseState(t, ns, name, 1, "uninstalling")

	second := rsServe(t, bin, dataDir, "r1")
	done := rsWaitEnd(second.svc, op.ID, 90*time.Second)
	if done.State != api.Failed || done.Error == nil || done.Error.Code != "interrupted" {
		t.Fatalf("operation after the restart: %s %+v, want failed with code interrupted", done.State, done.Error)
	}
	for _, part := range []string{"rollback was uninstalling", "uninstalled"} {
		if !strings.Contains(done.Error.Message, part) {
			t.Errorf("error message %q does not contain %q", done.Error.Message, part)
		}
	}
	if st := rsReleaseState(second.svc, name, ns); st != "" {
		t.Fatalf("release is %q after the recovery, want it gone", st)
	}
	recs := rsLogged(t, second.LogPath, "recovering an interrupted operation", op.ID)
	if len(recs) == 0 {
		t.Fatalf("no recovery decision logged for %s", op.ID)
	}
	if recs[0]["base_revision"] != float64(0) || recs[0]["written_revision"] != float64(1) {
		t.Errorf("recorded revisions: base %v written %v, want 0 and 1", recs[0]["base_revision"], recs[0]["written_revision"])
	}
}
