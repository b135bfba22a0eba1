// Command statusbench measures the status of one release three ways, in one run, on a live cluster: kdu's
// library path served from its watch cache (warm), kdu's library path reading the API directly, and
// `helm status` exec'd as a process per call (what OSM N2VC does). It installs one release of the webapp
// chart with kdu, times the three, uninstalls the release and prints medians; its last line is
//
//	BENCH status kdu_ms=<median> helm_ms=<median> ratio=<helm/kdu>
//
// It is a benchmark, not a test: it asserts correctness (the release is deployed and ready, helm agrees) but
// no timings. bench/run.sh builds the helm CLI and runs it against the local dev cluster.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kdu-io/kdu"
)

const clusterID = "bench"

// config holds the command line.
type config struct {
	kubeconfig string
	helm       string
	chart      string
	namespace  string
	release    string
	dataDir    string
	warmN      int
	directN    int
	helmN      int
	warmup     int
	directGap  time.Duration
	cpuProfile string
}

func main() {
	var c config
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "admin kubeconfig of the cluster (required)")
	flag.StringVar(&c.helm, "helm", "", "helm v4 CLI binary to compare against (required)")
	flag.StringVar(&c.chart, "chart", "examples/charts/webapp", "chart directory to install")
	flag.StringVar(&c.namespace, "namespace", "kdu-bench", "namespace of the release (created if missing)")
	flag.StringVar(&c.release, "release", "bench-web", "release name")
	flag.StringVar(&c.dataDir, "data-dir", "", "kdu data directory (default: a temporary directory, removed at exit)")
	flag.IntVar(&c.warmN, "n", 2000, "timed kdu status calls with the watch cache")
	flag.IntVar(&c.directN, "direct-n", 300, "timed kdu status calls without the watch cache")
	flag.IntVar(&c.helmN, "helm-n", 30, "timed helm status processes")
	flag.IntVar(&c.warmup, "warmup", 20, "untimed kdu status calls before each kdu measurement")
	flag.DurationVar(&c.directGap, "direct-gap", 70*time.Millisecond,
		"pause between direct kdu calls, so that kdu's client-side rate limit (50 requests/s per cluster) does not "+
			"throttle them; 0 times them back to back")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the warm kdu loop to this file")
	flag.Parse()

	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "statusbench: error:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if err := c.validate(); err != nil {
		return err
	}
	kubeconfig, err := os.ReadFile(c.kubeconfig)
	if err != nil {
		return fmt.Errorf("reading -kubeconfig: %w", err)
	}
	if c.dataDir == "" {
		if c.dataDir, err = os.MkdirTemp("", "kdu-statusbench-"); err != nil {
			return err
		}
		defer os.RemoveAll(c.dataDir)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	target := kdu.Target{Cluster: clusterID, Namespace: c.namespace, Name: c.release}

	// The direct Manager (no watch cache) removes a leftover of an earlier run, and uninstalls at the end.
	direct, err := openManager(ctx, filepath.Join(c.dataDir, "direct"), false, kubeconfig, log)
	if err != nil {
		return err
	}
	defer direct.Close()
	uninstall := func() error {
		// Cleanup runs even after an interrupt, so it gets its own context.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rel, err := direct.Uninstall(ctx, target, kdu.UninstallOptions{Wait: true, Timeout: time.Minute})
		if err != nil {
			return fmt.Errorf("uninstalling %s/%s: %w", c.namespace, c.release, err)
		}
		if rel != nil {
			progress("uninstalled %s/%s", c.namespace, c.release)
		}
		return nil
	}
	if err := uninstall(); err != nil {
		return fmt.Errorf("removing a leftover of an earlier run: %w", err)
	}

	// The warm Manager installs the release (as a long-lived kdu service would), then serves status from its
	// watch cache.
	warm, err := openManager(ctx, filepath.Join(c.dataDir, "warm"), true, kubeconfig, log)
	if err != nil {
		return err
	}
	defer warm.Close() // Close is idempotent: the warm Manager is closed early below
	progress("installing %s into %s/%s", c.chart, c.namespace, c.release)
	start := time.Now()
	if _, err := warm.Install(ctx, clusterID, kdu.InstallOptions{
		Name:            c.release,
		Chart:           c.chart,
		Namespace:       c.namespace,
		CreateNamespace: true,
		Wait:            kdu.Wait{Wait: true, Timeout: time.Minute},
	}); err != nil {
		return fmt.Errorf("installing %s: %w", c.release, err)
	}
	installed := true
	defer func() {
		if installed {
			if err := uninstall(); err != nil {
				fmt.Fprintln(os.Stderr, "statusbench: error:", err)
			}
		}
	}()
	progress("installed in %s", time.Since(start).Round(time.Millisecond))

	summary, err := checkStatus(ctx, warm, target)
	if err != nil {
		return fmt.Errorf("kdu status (watch cache): %w", err)
	}
	progress("measuring kdu status with the watch cache: %d warm-up + %d calls", c.warmup, c.warmN)
	warmTimes, err := timeKdu(ctx, warm, target, c.warmup, c.warmN, 0, c.cpuProfile)
	if err != nil {
		return fmt.Errorf("kdu status (watch cache): %w", err)
	}
	warm.Close() // stop its informers before the other measurements

	if _, err := checkStatus(ctx, direct, target); err != nil {
		return fmt.Errorf("kdu status (direct): %w", err)
	}
	progress("measuring kdu status without the watch cache: %d warm-up + %d calls, %s apart", c.warmup, c.directN, c.directGap)
	directTimes, err := timeKdu(ctx, direct, target, c.warmup, c.directN, c.directGap, "")
	if err != nil {
		return fmt.Errorf("kdu status (direct): %w", err)
	}

	progress("measuring helm status processes: 1 warm-up + %d runs", c.helmN)
	helmTimes, err := timeHelm(ctx, c, filepath.Join(c.dataDir, "helm-home"))
	if err != nil {
		return err
	}

	installed = false
	if err := uninstall(); err != nil {
		return err
	}

	k, d, h := summarize(warmTimes), summarize(directTimes), summarize(helmTimes)
	fmt.Printf("release %s/%s: %s\n\n", c.namespace, c.release, summary)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "status of one release\truns\tmedian ms\tp90 ms\tp99 ms\thelm/this (median)\t")
	for _, row := range []struct {
		name string
		s    stats
	}{
		{"kdu, watch cache (warm)", k},
		{"kdu, direct API", d},
		{"helm status (exec)", h},
	} {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.1f\t\n", row.name, row.s.n, row.s.median, row.s.p90, row.s.p99,
			h.median/row.s.median)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println()
	fmt.Printf("BENCH status-direct kdu_ms=%.3f helm_ms=%.1f ratio=%.1f\n", d.median, h.median, h.median/d.median)
	fmt.Printf("BENCH status kdu_ms=%.3f helm_ms=%.1f ratio=%.1f\n", k.median, h.median, h.median/k.median)
	return nil
}

func (c *config) validate() error {
	if c.kubeconfig == "" {
		return errors.New("-kubeconfig is required")
	}
	if c.helm == "" {
		return errors.New("-helm is required")
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"-n", c.warmN}, {"-direct-n", c.directN}, {"-helm-n", c.helmN}} {
		if n.v < 1 {
			return fmt.Errorf("%s must be at least 1, got %d", n.name, n.v)
		}
	}
	if c.warmup < 0 {
		return fmt.Errorf("-warmup must not be negative, got %d", c.warmup)
	}
	if c.directGap < 0 {
		return fmt.Errorf("-direct-gap must not be negative, got %s", c.directGap)
	}
	chart, err := filepath.Abs(c.chart)
	if err != nil {
		return fmt.Errorf("-chart %q: %w", c.chart, err)
	}
	c.chart = chart
	return nil
}

// openManager opens a Manager over its own data directory and registers the cluster in it.
func openManager(ctx context.Context, dir string, watchCache bool, kubeconfig []byte, log *slog.Logger) (*kdu.Manager, error) {
	m, err := kdu.Open(ctx, kdu.Options{DataDir: dir, WatchCache: watchCache, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening kdu in %s: %w", dir, err)
	}
	if _, err := m.AddCluster(ctx, kdu.ClusterSpec{ID: clusterID, Kubeconfig: kubeconfig}); err != nil {
		m.Close()
		return nil, fmt.Errorf("registering the cluster: %w", err)
	}
	return m, nil
}

// checkStatus fails unless the release is deployed with every resource ready (the webapp chart has three).
func checkStatus(ctx context.Context, m *kdu.Manager, t kdu.Target) (string, error) {
	st, err := m.Status(ctx, t)
	if err != nil {
		return "", err
	}
	ready, total := st.ReadyCount()
	summary := fmt.Sprintf("%s revision %d, chart %s, %d/%d resources ready", st.State, st.Revision, st.Chart, ready, total)
	if st.State != "deployed" || total != 3 || ready != total {
		return "", fmt.Errorf("want deployed with 3/3 resources ready, got %s", summary)
	}
	return summary, nil
}

// timeKdu makes warmup untimed calls, then n timed ones with gap between calls, optionally under the CPU
// profiler.
func timeKdu(ctx context.Context, m *kdu.Manager, t kdu.Target, warmup, n int, gap time.Duration, cpuProfile string) ([]time.Duration, error) {
	for range warmup {
		if _, err := m.Status(ctx, t); err != nil {
			return nil, err
		}
		time.Sleep(gap)
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	times := make([]time.Duration, n)
	for i := range times {
		if i > 0 {
			time.Sleep(gap)
		}
		start := time.Now()
		st, err := m.Status(ctx, t)
		times[i] = time.Since(start)
		if err != nil {
			return nil, err
		}
		if st.State != "deployed" {
			return nil, fmt.Errorf("call %d: release state is %s, want deployed", i+1, st.State)
		}
	}
	return times, nil
}

// timeHelm runs `helm status` once untimed (checking its output), then helmN times, each timed from process
// start to exit. Helm's own directories (and the kube discovery cache) live under home, never in the user's.
func timeHelm(ctx context.Context, c config, home string) ([]time.Duration, error) {
	env := helmEnv(home)
	for _, d := range []string{"cache", "config", "data", "kube-cache"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			return nil, err
		}
	}
	command := func(stdout io.Writer, stderr io.Writer) *exec.Cmd {
		cmd := exec.CommandContext(ctx, c.helm, "status", c.release, "--namespace", c.namespace, "--kubeconfig", c.kubeconfig)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = stdout, stderr
		return cmd
	}

	var out, errOut bytes.Buffer
	if err := command(&out, &errOut).Run(); err != nil {
		return nil, fmt.Errorf("helm status (first run): %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	if !strings.Contains(out.String(), "STATUS: deployed") {
		return nil, fmt.Errorf("helm status (first run): output does not say %q:\n%s", "STATUS: deployed", out.String())
	}

	times := make([]time.Duration, c.helmN)
	for i := range times {
		errOut.Reset()
		cmd := command(nil, &errOut) // stdout to /dev/null
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting helm: %w", err)
		}
		err := cmd.Wait()
		times[i] = time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("helm status (run %d): %w: %s", i+1, err, strings.TrimSpace(errOut.String()))
		}
	}
	return times, nil
}

// helmEnv is this process's environment without HELM_* and KUBECONFIG settings, with helm's directories and the
// discovery cache pointed under home.
func helmEnv(home string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HELM_") || strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "KUBECACHEDIR=")
	})
	return append(env,
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECACHEDIR="+filepath.Join(home, "kube-cache"),
		"HELM_DRIVER=secret",
	)
}

// stats summarises timings in milliseconds.
type stats struct {
	n                int
	median, p90, p99 float64
}

func summarize(ds []time.Duration) stats {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	slices.Sort(ms)
	return stats{n: len(ms), median: quantile(ms, 0.5), p90: quantile(ms, 0.9), p99: quantile(ms, 0.99)}
}

// quantile interpolates linearly between the closest ranks of sorted (non-empty) values.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "statusbench: "+format+"\n", args...)
}
