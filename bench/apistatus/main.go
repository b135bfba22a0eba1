// Command apistatus measures the status of one release under concurrent load, in one run, on a live cluster:
// N clients asking kdu's REST API (GET /v1/clusters/{cluster}/kdus/{name}) in a loop, against N workers each
// running `helm status -o json` as a process in a loop (what OSM N2VC does), for the same duration. It starts
// the kdu service in process on 127.0.0.1, registers the cluster and installs one release of the webapp chart
// through the API, runs both loads one after the other, uninstalls the release and prints counts, throughput
// and percentiles; its last line is
//
//	BENCH api-status kdu_p99_ms=<p99> helm_p99_ms=<p99> ratio=<helm/kdu>
//
// It is a benchmark, not a test: it checks every answer (HTTP 200 with the release deployed; helm exits 0 and
// reports it deployed) and exits non-zero if more than 1% of either side fail, but it asserts no timings.
// bench/run.sh runs it after bench/statusbench.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/client"
	"github.com/kdu-io/kdu/internal/apiconv"
	"github.com/kdu-io/kdu/internal/serve"
)

const (
	clusterID = "bench-api"
	// maxFailRate is the share of failed calls on either side above which the run fails.
	maxFailRate = 0.01
	// maxErrSamples bounds the distinct error messages kept per side.
	maxErrSamples = 5
)

// errTooManyFailures is returned when more than maxFailRate of the calls of either side failed.
var errTooManyFailures = errors.New("too many failed calls")

// config holds the command line.
type config struct {
	kubeconfig string
	helm       string
	chart      string
	namespace  string
	release    string
	duration   time.Duration
	clients    int
	warmup     int
	cpuProfile string
}

func main() {
	var c config
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "admin kubeconfig of the cluster (required)")
	flag.StringVar(&c.helm, "helm", "", "helm v4 CLI binary to compare against (required)")
	flag.StringVar(&c.chart, "chart", "examples/charts/webapp", "chart directory to install")
	flag.StringVar(&c.namespace, "namespace", "kdu-bench-api", "namespace of the release (created if missing)")
	flag.StringVar(&c.release, "release", "bench-api", "release name")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "how long each side is loaded")
	flag.IntVar(&c.clients, "clients", 50, "concurrent API clients, and concurrent helm processes")
	flag.IntVar(&c.warmup, "warmup", 200, "untimed API status calls before the kdu load")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the kdu load (server and clients) to this file")
	flag.Parse()

	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "apistatus: error:", err)
		os.Exit(1)
	}
}

func (c *config) validate() error {
	if c.kubeconfig == "" {
		return errors.New("-kubeconfig is required")
	}
	if c.helm == "" {
		return errors.New("-helm is required")
	}
	if c.clients < 1 {
		return fmt.Errorf("-clients must be at least 1, got %d", c.clients)
	}
	if c.duration <= 0 {
		return fmt.Errorf("-duration must be positive, got %s", c.duration)
	}
	if c.warmup < 0 {
		return fmt.Errorf("-warmup must not be negative, got %d", c.warmup)
	}
	chart, err := filepath.Abs(c.chart)
	if err != nil {
		return fmt.Errorf("-chart %q: %w", c.chart, err)
	}
	c.chart = chart
	return nil
}

func run(c config) (err error) {
	if err := c.validate(); err != nil {
		return err
	}
	kubeconfig, err := os.ReadFile(c.kubeconfig)
	if err != nil {
		return fmt.Errorf("reading -kubeconfig: %w", err)
	}
	work, err := os.MkdirTemp("", "kdu-apistatus-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	base, shutdown, err := startService(ctx, filepath.Join(work, "data"))
	if err != nil {
		return err
	}
	defer func() {
		if serr := shutdown(); serr != nil && err == nil {
			err = serr
		}
	}()

	cl, err := client.New(base, "")
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.AddCluster(ctx, api.ClusterRequest{ID: clusterID, Kubeconfig: string(kubeconfig)}); err != nil {
		return fmt.Errorf("registering the cluster: %w", err)
	}
	target := kdu.Target{Cluster: clusterID, Namespace: c.namespace, Name: c.release}
	uninstall := func() error {
		// Cleanup runs even after an interrupt, so it gets its own context.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rel, err := cl.Uninstall(ctx, target, apiconv.UninstallRequest("", kdu.UninstallOptions{Wait: true, Timeout: time.Minute}), nil)
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

	progress("installing %s into %s/%s through the API", c.chart, c.namespace, c.release)
	start := time.Now()
	archive, err := kdu.LocalChart(c.chart)
	if err != nil {
		return err
	}
	chart := c.chart
	if archive != nil {
		chart = ""
	}
	if _, err := cl.Install(ctx, clusterID, apiconv.InstallRequest(kdu.InstallOptions{
		Name:            c.release,
		Chart:           chart,
		ChartArchive:    archive,
		Namespace:       c.namespace,
		CreateNamespace: true,
		Wait:            kdu.Wait{Wait: true, Timeout: time.Minute},
	}), nil); err != nil {
		return fmt.Errorf("installing %s: %w", c.release, err)
	}
	defer func() {
		if uerr := uninstall(); uerr != nil && err == nil {
			err = uerr
		}
	}()
	progress("installed in %s", time.Since(start).Round(time.Millisecond))

	statusURL := base + "/v1/clusters/" + clusterID + "/kdus/" + url.PathEscape(c.release) +
		"?namespace=" + url.QueryEscape(c.namespace)
	hc := &http.Client{Transport: transport(c.clients), Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()

	summary, err := checkAPIStatus(ctx, hc, statusURL)
	if err != nil {
		return fmt.Errorf("kdu status through the API: %w", err)
	}
	progress("release %s", summary)
	for i := range c.warmup {
		if _, err := apiStatus(ctx, hc, statusURL, nil); err != nil {
			return fmt.Errorf("warm-up call %d: %w", i+1, err)
		}
	}

	progress("loading the API: %d clients for %s", c.clients, c.duration)
	kduRes, err := loadAPI(ctx, c, hc, statusURL)
	if err != nil {
		return err
	}

	helmHome := filepath.Join(work, "helm-home")
	if err := checkHelm(ctx, c, helmHome); err != nil {
		return err
	}
	progress("loading helm: %d concurrent `helm status` processes for %s", c.clients, c.duration)
	helmRes := loadHelm(ctx, c, helmHome)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}

	report(c, summary, kduRes, helmRes)
	var failed []string
	for _, r := range []*result{kduRes, helmRes} {
		if r.failRate() > maxFailRate {
			failed = append(failed, fmt.Sprintf("%s: %d of %d calls failed (%.2f%%)", r.name, r.failures,
				r.calls(), 100*r.failRate()))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %s", errTooManyFailures, strings.Join(failed, "; "))
	}
	return nil
}

// startService runs the kdu service in process on a free loopback port and returns its base URL and a function
// that stops it and waits for it to end.
func startService(ctx context.Context, dataDir string) (string, func() error, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve.Run(sctx, serve.Options{
			Listen:          "127.0.0.1:0",
			DataDir:         dataDir,
			ShutdownTimeout: 30 * time.Second,
			Version:         "bench",
			Logger:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			OnListen:        func(a string) { addr <- a },
		})
	}()
	select {
	case a := <-addr:
		return "http://" + a, func() error {
			cancel()
			if err := <-done; err != nil {
				return fmt.Errorf("kdu service: %w", err)
			}
			return nil
		}, nil
	case err := <-done:
		cancel()
		return "", nil, fmt.Errorf("starting the kdu service: %w", err)
	case <-ctx.Done():
		cancel()
		<-done
		return "", nil, ctx.Err()
	}
}

// transport is a keep-alive transport that holds one idle connection per client.
func transport(clients int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns = max(64, clients)
	t.MaxIdleConnsPerHost = max(64, clients)
	return t
}

// deployedJSON is how a status answer says its release is deployed.
var deployedJSON = []byte(`"status":"deployed"`)

// apiStatus makes one status call and reads the whole answer into buf (if not nil, else a new buffer). It
// fails unless the answer is a 200 that reports the release deployed.
func apiStatus(ctx context.Context, hc *http.Client, statusURL string, buf *bytes.Buffer) (*bytes.Buffer, error) {
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, statusURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, firstLine(buf.String()))
	}
	if !bytes.Contains(buf.Bytes(), deployedJSON) {
		return nil, fmt.Errorf("the answer does not report the release deployed: %s", firstLine(buf.String()))
	}
	return buf, nil
}

// checkAPIStatus fails unless the release is deployed with every resource ready (the webapp chart has three).
func checkAPIStatus(ctx context.Context, hc *http.Client, statusURL string) (string, error) {
	buf, err := apiStatus(ctx, hc, statusURL, nil)
	if err != nil {
		return "", err
	}
	var st kdu.Status
	if err := json.Unmarshal(buf.Bytes(), &st); err != nil {
		return "", fmt.Errorf("decoding the status: %w", err)
	}
	ready, total := st.ReadyCount()
	summary := fmt.Sprintf("%s/%s: %s revision %d, chart %s, %d/%d resources ready", st.Namespace, st.Name, st.State,
		st.Revision, st.Chart, ready, total)
	if st.State != "deployed" || total != 3 || ready != total {
		return "", fmt.Errorf("want deployed with 3/3 resources ready, got %s", summary)
	}
	return summary, nil
}

// result collects the latencies and failures of one side's load.
type result struct {
	name     string
	times    []time.Duration // successful calls only
	failures int
	errs     []string // a few distinct error messages
	elapsed  time.Duration
	gcs      uint32        // garbage collections during the load (kdu side only)
	gcPause  time.Duration // their total stop-the-world pause
}

func (r *result) calls() int { return len(r.times) + r.failures }

func (r *result) failRate() float64 {
	if r.calls() == 0 {
		return 1
	}
	return float64(r.failures) / float64(r.calls())
}

// add merges one worker's calls into r.
func (r *result) add(times []time.Duration, failures int, errs []string) {
	r.times = append(r.times, times...)
	r.failures += failures
	for _, e := range errs {
		if len(r.errs) < maxErrSamples && !slices.Contains(r.errs, e) {
			r.errs = append(r.errs, e)
		}
	}
}

// worker is one client's record of its calls.
type worker struct {
	times    []time.Duration
	failures int
	errs     []string
}

func (w *worker) fail(err error) {
	w.failures++
	if msg := err.Error(); len(w.errs) < maxErrSamples && !slices.Contains(w.errs, msg) {
		w.errs = append(w.errs, msg)
	}
}

// loadAPI runs c.clients goroutines that each ask the status in a loop until c.duration has passed, over one
// shared keep-alive HTTP client; each call is timed from sending the request to having read the whole answer.
func loadAPI(ctx context.Context, c config, hc *http.Client, statusURL string) (*result, error) {
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res := load(ctx, "kdu API (GET status)", c.clients, c.duration, func(ctx context.Context) func(*worker) {
		var buf bytes.Buffer
		return func(w *worker) {
			start := time.Now()
			_, err := apiStatus(ctx, hc, statusURL, &buf)
			d := time.Since(start)
			if err != nil {
				if ctx.Err() == nil {
					w.fail(err)
				}
				return
			}
			w.times = append(w.times, d)
		}
	})
	runtime.ReadMemStats(&after)
	res.gcs = after.NumGC - before.NumGC
	res.gcPause = time.Duration(after.PauseTotalNs - before.PauseTotalNs)
	return res, nil
}

// load runs clients workers, each calling the function newCall returns in a loop until d has passed or ctx
// ends. A call in flight at the deadline completes and counts.
func load(ctx context.Context, name string, clients int, d time.Duration, newCall func(context.Context) func(*worker)) *result {
	workers := make([]worker, clients)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range workers {
		w := &workers[i]
		call := newCall(ctx)
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				call(w)
			}
		})
	}
	wg.Wait()
	res := &result{name: name, elapsed: time.Since(start)}
	for _, w := range workers {
		res.add(w.times, w.failures, w.errs)
	}
	return res
}

// helmCommand is `helm status -o json` of the release, with helm's directories under home.
func helmCommand(ctx context.Context, c config, env []string, stdout, stderr io.Writer) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.helm, "status", c.release, "-n", c.namespace, "--kubeconfig", c.kubeconfig, "-o", "json")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd
}

// checkHelm prepares helm's directories under home and runs `helm status` once, untimed: it must exit 0 and
// report the release deployed. This also fills the discovery cache the timed runs share.
func checkHelm(ctx context.Context, c config, home string) error {
	for _, d := range []string{"cache", "config", "data", "kube-cache"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			return err
		}
	}
	var out, errOut bytes.Buffer
	if err := helmCommand(ctx, c, helmEnv(home), &out, &errOut).Run(); err != nil {
		return fmt.Errorf("helm status (first run): %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	var st struct {
		Info struct {
			Status string `json:"status"`
		} `json:"info"`
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		return fmt.Errorf("helm status (first run): decoding its JSON output: %w", err)
	}
	if st.Info.Status != "deployed" {
		return fmt.Errorf("helm status (first run): status is %q, want deployed", st.Info.Status)
	}
	return nil
}

// loadHelm runs c.clients workers that each run `helm status` as a process in a loop until c.duration has
// passed; each run is timed from process start to exit, and must exit 0 and report the release deployed.
func loadHelm(ctx context.Context, c config, home string) *result {
	env := helmEnv(home)
	return load(ctx, "helm status (exec)", c.clients, c.duration, func(ctx context.Context) func(*worker) {
		var out, errOut bytes.Buffer
		return func(w *worker) {
			out.Reset()
			errOut.Reset()
			cmd := helmCommand(ctx, c, env, &out, &errOut)
			start := time.Now()
			err := cmd.Run()
			d := time.Since(start)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				w.fail(fmt.Errorf("helm status: %w: %s", err, firstLine(strings.TrimSpace(errOut.String()))))
			case !bytes.Contains(out.Bytes(), deployedJSON):
				w.fail(fmt.Errorf("helm status: the output does not report the release deployed: %s", firstLine(out.String())))
			default:
				w.times = append(w.times, d)
			}
		}
	})
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
	n                          int
	perSec                     float64
	p50, p90, p99, p999, maxMS float64
}

func summarize(r *result) stats {
	ms := make([]float64, len(r.times))
	for i, d := range r.times {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	slices.Sort(ms)
	s := stats{n: len(ms), perSec: float64(len(ms)) / r.elapsed.Seconds()}
	if len(ms) > 0 {
		s.p50, s.p90, s.p99, s.p999 = quantile(ms, 0.5), quantile(ms, 0.9), quantile(ms, 0.99), quantile(ms, 0.999)
		s.maxMS = ms[len(ms)-1]
	}
	return s
}

// quantile interpolates linearly between the closest ranks of sorted (non-empty) values.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}

// report prints the table, the failures and the BENCH line (last on stdout).
func report(c config, summary string, kduRes, helmRes *result) {
	k, h := summarize(kduRes), summarize(helmRes)
	fmt.Printf("release %s; %d concurrent clients per side, %s each, GOMAXPROCS %d\n\n", summary, c.clients,
		c.duration, runtime.GOMAXPROCS(0))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "status of one release\tok\tfailed\tper s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	for _, row := range []struct {
		r *result
		s stats
	}{{kduRes, k}, {helmRes, h}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", row.r.name, row.s.n, row.r.failures,
			row.s.perSec, row.s.p50, row.s.p90, row.s.p99, row.s.p999, row.s.maxMS)
	}
	_ = tw.Flush()
	fmt.Printf("\nkdu side: %d garbage collections, %s stop-the-world pause in total\n", kduRes.gcs,
		kduRes.gcPause.Round(time.Microsecond))
	for _, r := range []*result{kduRes, helmRes} {
		for _, e := range r.errs {
			fmt.Printf("%s error: %s\n", r.name, e)
		}
	}
	fmt.Println()
	fmt.Printf("BENCH api-status-p50 kdu_p50_ms=%.3f helm_p50_ms=%.1f ratio=%.1f\n", k.p50, h.p50, h.p50/k.p50)
	fmt.Printf("BENCH api-status kdu_p99_ms=%.3f helm_p99_ms=%.1f ratio=%.1f\n", k.p99, h.p99, h.p99/k.p99)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	const limit = 300
	if len(s) > limit {
		s = s[:limit] + "…"
	}
	return s
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "apistatus: "+format+"\n", args...)
}
