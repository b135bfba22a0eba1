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
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/client"
	"github.com/kdu-io/kdu/internal/testkit/servetest"
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
		logf("building kdu")
		bin, err := servetest.Build(".", work)
		if err != nil {
			return nil, err
		}
		c.kdu = bin
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
	p                    *servetest.Proc
	c                    *client.Client
	starts               int
}

func (s *server) start(ctx context.Context, replica string) error {
	s.starts++
	logPath := filepath.Join(s.logDir, fmt.Sprintf("serve-%03d-%s.log", s.starts, replica))
	p, err := servetest.Start(ctx, s.bin, logPath, nil, "--data-dir", s.dataDir, "--replica-id", replica, "--lease", "3s")
	if err != nil {
		return err
	}
	c, err := client.New(p.URL, "")
	if err != nil {
		p.Kill()
		return err
	}
	s.p, s.c = p, c
	return nil
}

// kill ends the process with SIGKILL, as a crash would.
func (s *server) kill() { s.p.Kill() }

// stop ends the process with SIGTERM.
func (s *server) stop() { s.p.Stop(time.Minute) }
