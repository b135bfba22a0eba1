// Command soak checks kdu's restart safety the hard way: N rounds, each submitting one operation (install,
// upgrade, scale, rollback or uninstall, atomic or not, sometimes with Pods that never become ready) to a
// `kdu serve` process, killing that process with SIGKILL at a random point, starting it again (with the same
// replica id, or another one that must wait for the lease), and checking what the round left:
//
//   - the operation ended (a "stuck operation" otherwise) and was not lost (it exists) or run twice (no more
//     operations than were submitted, no more revisions than the operation could write);
//   - the release is not left pending-* or uninstalling (a "stuck release"): the next operation can run.
//
// Its last line is
//
//	SOAK rounds=<n> stuck_releases=<n> stuck_operations=<n> lost=<n> duplicated=<n> succeeded=<n> failed=<n> interrupted=<n> seconds=<s>
//
// and it exits non-zero if anything was stuck, lost or duplicated. It runs on the local control plane
// (scripts/devcluster); `make soak` runs it with 100 rounds.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/client"
)

const (
	clusterID = "dev"
	release   = "soak-web"
	namespace = "kdu-soak"
)

// neverReady keeps the webapp's Pods unready (a kwok stage of the local control plane), so a waiting operation
// hangs until its timeout, and a kill lands inside the Helm action.
var neverReady = []string{`podLabels.kdu\.test/never-ready=true`}

type config struct {
	rounds     int
	kdu        string
	kubeconfig string
	chart      string
	seed       uint64
	timeout    time.Duration
	maxDelay   time.Duration
	keep       bool
}

type tally struct {
	rounds, stuckReleases, stuckOps, lost, duplicated, succeeded, failed, interrupted int
}

func main() {
	var c config
	home, _ := os.UserHomeDir()
	flag.IntVar(&c.rounds, "rounds", 100, "rounds to run")
	flag.StringVar(&c.kdu, "kdu", "", "the kdu binary (default: built from this module into a temporary directory)")
	flag.StringVar(&c.kubeconfig, "kubeconfig", filepath.Join(home, ".cache/kdu/devcluster/kubeconfig"), "kubeconfig of the cluster (scripts/devcluster up)")
	flag.StringVar(&c.chart, "chart", "examples/charts/webapp", "the chart the rounds install")
	flag.Uint64Var(&c.seed, "seed", uint64(time.Now().UnixNano()), "random seed (printed, to replay a run)")
	flag.DurationVar(&c.timeout, "timeout", 6*time.Second, "wait timeout of each operation")
	flag.DurationVar(&c.maxDelay, "max-delay", 3*time.Second, "the kill comes at a random point up to this long after the submission")
	flag.BoolVar(&c.keep, "keep", false, "keep the data directory and the release at the end")
	flag.Parse()
	t, err := run(context.Background(), c)
	if t != nil {
		fmt.Printf("SOAK rounds=%d stuck_releases=%d stuck_operations=%d lost=%d duplicated=%d succeeded=%d failed=%d interrupted=%d seed=%d\n",
			t.rounds, t.stuckReleases, t.stuckOps, t.lost, t.duplicated, t.succeeded, t.failed, t.interrupted, c.seed)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if t.stuckReleases+t.stuckOps+t.lost+t.duplicated > 0 {
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "soak: "+format+"\n", args...)
}

func run(ctx context.Context, c config) (*tally, error) {
	rng := rand.New(rand.NewPCG(c.seed, 0x6b6475))
	kubeconfig, err := os.ReadFile(c.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("the cluster's kubeconfig (start it with scripts/devcluster up): %w", err)
	}
	archive, err := kdu.LocalChart(c.chart)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "kdu-soak-")
	if err != nil {
		return nil, err
	}
	if !c.keep {
		defer os.RemoveAll(work)
	}
	if c.kdu == "" {
		c.kdu = filepath.Join(work, "kdu")
		logf("building kdu")
		cmd := exec.Command("go", "build", "-o", c.kdu, "./cmd/kdu")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/kdu: %w\n%s", err, out)
		}
	}
	dataDir := filepath.Join(work, "data")
	s := &server{bin: c.kdu, dataDir: dataDir, logDir: work}
	if err := s.start(ctx, "soak-a"); err != nil {
		return nil, err
	}
	defer s.stop()
	if _, err := s.c.AddCluster(ctx, api.ClusterRequest{ID: clusterID, Kubeconfig: string(kubeconfig), Replace: true}); err != nil {
		return nil, fmt.Errorf("registering the cluster: %w", err)
	}
	target := api.Target{Cluster: clusterID, Namespace: namespace, Name: release}
	// A previous run's release.
	_, _ = s.c.Uninstall(ctx, target, api.UninstallRequest{}, nil)

	t := &tally{}
	start := time.Now()
	ops, err := s.c.ListOperations(ctx, client.OperationFilter{Cluster: clusterID, Release: release, Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("listing operations: %w", err)
	}
	submitted := len(ops.Items) // the clean-up above
	for round := 1; round <= c.rounds; round++ {
		t.rounds = round
		before, err := s.c.Status(ctx, target)
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			return t, fmt.Errorf("round %d: reading the release: %w", round, err)
		}
		kind, method, path, body := pick(rng, round, before, archive, c.timeout)
		key := fmt.Sprintf("soak-%d-%d", c.seed, round)
		op, err := s.c.Submit(ctx, method, clusterID, path, body, client.SubmitOptions{IdempotencyKey: key})
		if err != nil {
			return t, fmt.Errorf("round %d: submitting the %s: %w", round, kind, err)
		}
		submitted++
		delay := time.Duration(rng.Int64N(int64(c.maxDelay)))
		time.Sleep(delay)
		s.kill()
		replica := "soak-a"
		if rng.IntN(4) == 0 {
			replica = "soak-b" // another replica: it takes the operation over once the lease expired
		}
		if err := s.start(ctx, replica); err != nil {
			return t, fmt.Errorf("round %d: restarting: %w", round, err)
		}
		end, err := awaitEnd(ctx, s.c, op.ID, 3*time.Minute)
		switch {
		case errors.Is(err, api.ErrNotFound):
			t.lost++
			logf("round %d: LOST operation %s (%s)", round, op.ID, kind)
			continue
		case err != nil:
			t.stuckOps++
			logf("round %d: STUCK operation %s (%s): %v", round, op.ID, kind, err)
			continue
		}
		after, err := s.c.Status(ctx, target)
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			return t, fmt.Errorf("round %d: reading the release: %w", round, err)
		}
		detail := string(end.State)
		if end.Error != nil {
			detail += " " + end.Error.Code + ": " + end.Error.Message
		}
		switch {
		case end.State == api.Succeeded:
			t.succeeded++
		case end.Error != nil && end.Error.Code == "interrupted":
			t.interrupted++
		default:
			t.failed++
		}
		state, rev := "none", 0
		if after != nil {
			state, rev = string(after.State), after.Revision
		}
		logf("round %d: %s killed after %s, restarted as %s: %s; release %s at revision %d", round, kind,
			delay.Round(10*time.Millisecond), replica, detail, state, rev)
		if after != nil && (after.State.IsPending() || after.State == api.ReleaseUninstalling) {
			t.stuckReleases++
			logf("round %d: STUCK release: %s at revision %d; clearing it for the next round", round, after.State, after.Revision)
			_, _ = s.c.Uninstall(ctx, target, api.UninstallRequest{}, nil)
		}
		if dup := duplicated(kind, before, after, end); dup != "" {
			t.duplicated++
			logf("round %d: DUPLICATED: %s", round, dup)
		}
		ops, err := s.c.ListOperations(ctx, client.OperationFilter{Cluster: clusterID, Release: release, Limit: 1000})
		if err != nil {
			return t, fmt.Errorf("round %d: listing operations: %w", round, err)
		}
		if n := len(ops.Items); n > submitted {
			t.duplicated++
			logf("round %d: DUPLICATED: %d operations stored for %d submitted", round, n, submitted)
			submitted = n
		} else if n < submitted {
			t.lost++
			logf("round %d: LOST: %d operations stored for %d submitted", round, n, submitted)
			submitted = n
		}
	}
	logf("%d rounds in %s", t.rounds, time.Since(start).Round(time.Second))
	if !c.keep {
		_, _ = s.c.Uninstall(ctx, target, api.UninstallRequest{}, nil)
	}
	return t, nil
}

// pick chooses the round's operation from the release's state.
func pick(rng *rand.Rand, round int, cur *api.Status, archive []byte, timeout time.Duration) (kind, method, path string, body any) {
	d := api.Duration(timeout)
	atomic := rng.IntN(2) == 0
	wait := api.Wait{Atomic: &atomic, Wait: ptr(true), Timeout: &d}
	var vals api.Values
	if rng.IntN(3) == 0 {
		vals.SetString = neverReady
	}
	vals.Set = []string{fmt.Sprintf("message=round-%d", round)}
	if cur == nil {
		return "install", http.MethodPost, "", api.InstallRequest{Name: release, Namespace: namespace,
			CreateNamespace: ptr(true), ChartSource: api.ChartSource{ChartArchive: archive}, Values: vals, Wait: wait}
	}
	p := "/" + release
	switch n := rng.IntN(10); {
	case n == 0:
		return "uninstall", http.MethodDelete, p, api.UninstallRequest{Namespace: namespace, Wait: true, Timeout: &d}
	case n <= 4:
		// Back to ready Pods half of the time: reset to the chart's values plus the round's.
		mode := "reuse"
		if vals.SetString == nil && rng.IntN(2) == 0 {
			mode = "reset"
		}
		return "upgrade", http.MethodPost, p + ":upgrade", api.UpgradeRequest{Namespace: namespace, ValuesMode: mode,
			ChartSource: api.ChartSource{ChartArchive: archive}, Values: vals, Wait: wait}
	case n <= 6 || cur.Revision < 2:
		return "scale", http.MethodPost, p + ":scale", api.ScaleRequest{Namespace: namespace, Replicas: ptr(1 + rng.IntN(3)), Wait: wait}
	}
	return "rollback", http.MethodPost, p + ":rollback", api.RollbackRequest{Namespace: namespace, Wait: ptr(true), Timeout: &d}
}

// duplicated reports an operation whose revisions say it ran more than once: an install that succeeded must
// be revision 1; an upgrade, scale or rollback writes one revision, and with its rollback (Helm's, or kdu's
// repair after a kill) at most three.
func duplicated(kind string, before, after *api.Status, end *api.Operation) string {
	if after == nil || kind == "uninstall" {
		return ""
	}
	if kind == "install" {
		if end.State == api.Succeeded && after.Revision != 1 {
			return fmt.Sprintf("install succeeded at revision %d", after.Revision)
		}
		return ""
	}
	if before == nil {
		return ""
	}
	grew := after.Revision - before.Revision
	if end.State == api.Succeeded && grew != 1 {
		return fmt.Sprintf("%s succeeded and the release went from revision %d to %d", kind, before.Revision, after.Revision)
	}
	if grew > 3 {
		return fmt.Sprintf("%s ended %s and the release went from revision %d to %d", kind, end.State, before.Revision, after.Revision)
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

// awaitEnd polls an operation until it is terminal.
func awaitEnd(ctx context.Context, c *client.Client, id string, within time.Duration) (*api.Operation, error) {
	deadline := time.Now().Add(within)
	for {
		op, err := c.GetOperation(ctx, id)
		if err != nil {
			return nil, err
		}
		if op.State.Terminal() {
			return op, nil
		}
		if time.Now().After(deadline) {
			return op, fmt.Errorf("still %s after %s", op.State, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// server is the `kdu serve` process under test.
type server struct {
	bin, dataDir, logDir string
	cmd                  *exec.Cmd
	exited               chan struct{}
	c                    *client.Client
	starts               int
}

func (s *server) start(ctx context.Context, replica string) error {
	s.starts++
	logPath := filepath.Join(s.logDir, fmt.Sprintf("serve-%03d-%s.log", s.starts, replica))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", s.dataDir, "--replica-id", replica,
		"--lease", "3s", "--log-format", "json")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KDU_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); logFile.Close(); close(done) }(s.exited)
	deadline := time.Now().Add(time.Minute)
	for {
		if addr := servingAddress(logPath); addr != "" {
			c, err := client.New("http://"+addr, "")
			if err != nil {
				return err
			}
			s.c = c
			return nil
		}
		select {
		case <-s.exited:
			data, _ := os.ReadFile(logPath)
			return fmt.Errorf("kdu serve exited: %s", data)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("kdu serve did not start within a minute")
		}
	}
}

// servingAddress reads the address from the "kdu serving" log line, once it is there.
func servingAddress(logPath string) string {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg     string `json:"msg"`
			Address string `json:"address"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "kdu serving" {
			return rec.Address
		}
	}
	return ""
}

// kill ends the process with SIGKILL, as a crash would.
func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop ends the process with SIGTERM.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(time.Minute):
		s.kill()
	}
}
