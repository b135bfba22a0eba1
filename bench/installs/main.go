// Command installs measures install throughput with wait (issue 14): -n installs of one chart through kdu's
// REST API with -parallel clients at a time, each install waiting until its objects are ready, against the
// helm CLI (`helm install --wait`) with -helm-parallel processes at a time, on the same cluster in the same
// run. kdu serve runs as a child process, so the CPU it spends per install is read from /proc.
//
// It prints a table and
//
//	BENCH installs kdu_api_per_min=<first -parallel> kdu_api<P>_per_min=<each other> helm_per_min=… ratio=<kdu/helm> kdu_cpu_ms_per_install=…
//
// With -cpuprofile FILE it also saves a CPU profile of kdu serve taken during the first kdu phase (through
// `kdu serve --debug-listen`). A benchmark, not a test: it fails only if a step fails.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/client"
	"github.com/kdu-io/kdu/internal/testkit/servetest"
)

const (
	clusterID = "bench-installs"
	namespace = "kdu-bench-installs"
	repoName  = "bench"
	// clockTicks is Linux's USER_HZ, the unit of /proc/<pid>/stat CPU times.
	clockTicks = 100
	// installTimeout bounds each install's wait.
	installTimeout = 3 * time.Minute
)

type config struct {
	kubeconfig   string
	helm         string
	kdu          string
	chart        string
	n            int
	parallel     []int
	helmN        int
	helmParallel int
	cpuProfile   string
	profileSecs  int
	ready        int
}

func main() {
	var c config
	var parallel string
	flag.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (required)")
	flag.StringVar(&c.helm, "helm", "", "helm v4 CLI (required)")
	flag.StringVar(&c.kdu, "kdu", "", "kdu binary (required)")
	flag.StringVar(&c.chart, "chart", "", "chart directory (required)")
	flag.IntVar(&c.n, "n", 200, "installs per kdu phase")
	flag.StringVar(&parallel, "parallel", "8,32", "concurrent API clients of each kdu phase")
	flag.IntVar(&c.helmN, "helm-n", 200, "helm installs")
	flag.IntVar(&c.helmParallel, "helm-parallel", 8, "concurrent helm processes")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of kdu serve during the first kdu phase")
	flag.IntVar(&c.profileSecs, "profile-seconds", 10, "length of that profile")
	flag.IntVar(&c.ready, "ready", 1000, "releases submitted at once for the ready/list phase (0 skips it)")
	flag.Parse()
	for _, p := range strings.Split(parallel, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 1 {
			fail(fmt.Errorf("-parallel %q: want comma-separated positive numbers", parallel))
		}
		c.parallel = append(c.parallel, v)
	}
	if c.kubeconfig == "" || c.helm == "" || c.kdu == "" || c.chart == "" || c.n < 1 || c.helmN < 0 || c.helmParallel < 1 {
		fail(errors.New("give -kubeconfig, -helm, -kdu and -chart; -n ≥ 1, -helm-n ≥ 0, -helm-parallel ≥ 1"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "installs:", err)
	os.Exit(1)
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "installs: "+format+"\n", args...)
}

// phase is one measured run of installs.
type phase struct {
	name      string
	n         int
	parallel  int
	elapsed   time.Duration
	cpu       time.Duration // kdu serve's CPU during the phase (kdu phases only)
	queueP50  time.Duration // created → started
	runP50    time.Duration // started → finished
	failures  int
	firstErrs []string
}

func (p phase) perMin() float64 {
	return float64(p.n-p.failures) / p.elapsed.Minutes()
}

func run(ctx context.Context, c config) (err error) {
	kubeconfig, err := os.ReadFile(c.kubeconfig)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "kdu-installs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	archive, err := kdu.LocalChart(c.chart)
	if err != nil {
		return err
	}
	chartName, chartVersion, err := chartMeta(c.chart)
	if err != nil {
		return err
	}
	repo := serveRepo(chartName, chartVersion, archive)
	defer repo.Close()
	archivePath := filepath.Join(work, chartName+"-"+chartVersion+".tgz")
	if err := os.WriteFile(archivePath, archive, 0o600); err != nil {
		return err
	}

	srv, err := startServe(ctx, c.kdu, work)
	if err != nil {
		return err
	}
	defer srv.stop()
	cl, err := client.New(srv.url, "")
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.AddCluster(ctx, api.ClusterRequest{ID: clusterID, Kubeconfig: string(kubeconfig), Replace: true}); err != nil {
		return fmt.Errorf("registering the cluster: %w", err)
	}
	if _, err := cl.AddRepo(ctx, clusterID, api.RepoRequest{Name: repoName, URL: repo.URL}); err != nil {
		return fmt.Errorf("adding the chart repository: %w", err)
	}
	if _, err := cl.CreateNamespace(ctx, clusterID, namespace, api.NamespaceRequest{}); err != nil {
		return fmt.Errorf("creating the namespace: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if derr := cl.DeleteNamespace(dctx, clusterID, namespace); derr != nil && err == nil {
			err = derr
		}
	}()
	if err := cleanKdu(ctx, cl, 16); err != nil {
		return fmt.Errorf("removing leftovers: %w", err)
	}

	var phases []phase
	for i, p := range c.parallel {
		var profile chan error
		if i == 0 && c.cpuProfile != "" {
			profile = make(chan error, 1)
			go func() { profile <- srv.cpuProfile(ctx, c.cpuProfile, c.profileSecs) }()
		}
		progress("kdu API: %d installs with wait, %d at a time", c.n, p)
		ph, err := kduPhase(ctx, cl, srv, p, c.n, fmt.Sprintf("p%d-", p))
		if err != nil {
			return err
		}
		if profile != nil {
			if err := <-profile; err != nil {
				return fmt.Errorf("cpu profile: %w", err)
			}
			progress("CPU profile of kdu serve written to %s", c.cpuProfile)
		}
		phases = append(phases, ph)
		progress("  %.0f/min, %.1f ms CPU per install; removing them", ph.perMin(), ms(ph.cpu)/float64(c.n))
		if err := cleanKdu(ctx, cl, p); err != nil {
			return err
		}
	}

	if c.ready > 0 {
		if err := readyPhase(ctx, c, cl, srv, work); err != nil {
			return err
		}
	}

	if c.helmN > 0 {
		progress("helm CLI: %d installs with --wait, %d at a time", c.helmN, c.helmParallel)
		ph, err := helmPhase(ctx, c, work, archivePath)
		if err != nil {
			return err
		}
		phases = append(phases, ph)
		progress("  %.0f/min; removing them", ph.perMin())
	}
	report(phases, c)
	for _, ph := range phases {
		if ph.failures > 0 {
			return fmt.Errorf("%s: %d of %d installs failed: %s", ph.name, ph.failures, ph.n, strings.Join(ph.firstErrs, "; "))
		}
	}
	return nil
}

func kduPhase(ctx context.Context, cl *client.Client, srv *serveProc, parallel, n int, prefix string) (phase, error) {
	ph := phase{name: fmt.Sprintf("kdu API, %d clients", parallel), n: n, parallel: parallel}
	cpu0, err := srv.cpu()
	if err != nil {
		return ph, err
	}
	var mu sync.Mutex
	var queue, runs []time.Duration
	wait := true
	timeout := api.Duration(installTimeout)
	start := time.Now()
	forEach(ctx, n, parallel, func(i int) {
		req := api.InstallRequest{Name: fmt.Sprintf("%s%03d", prefix, i), Namespace: namespace,
			ChartSource: api.ChartSource{Chart: repoName + "/webapp"},
			Wait:        api.Wait{Atomic: new(bool), Wait: &wait, Timeout: &timeout}}
		op, err := cl.Submit(ctx, http.MethodPost, clusterID, "", req, client.SubmitOptions{})
		if err == nil {
			op, err = cl.Watch(ctx, op.ID, nil)
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			ph.fail(err.Error())
		case op.State != api.Succeeded:
			ph.fail(fmt.Sprintf("%s: %s %+v", op.ID, op.State, op.Error))
		default:
			if op.StartedAt != nil && op.FinishedAt != nil {
				queue = append(queue, op.StartedAt.Sub(op.CreatedAt))
				runs = append(runs, op.FinishedAt.Sub(*op.StartedAt))
			}
		}
	})
	ph.elapsed = time.Since(start)
	cpu1, err := srv.cpu()
	if err != nil {
		return ph, err
	}
	ph.cpu = cpu1 - cpu0
	ph.queueP50, ph.runP50 = median(queue), median(runs)
	return ph, ctx.Err()
}

func (p *phase) fail(msg string) {
	p.failures++
	if len(p.firstErrs) < 3 {
		p.firstErrs = append(p.firstErrs, msg)
	}
}

// readyPhase is Flux's method: c.ready installs submitted at once, timed until every one has ended (each waits
// for readiness); then kdu serve's peak RSS, and the time to list them through the API and with helm, the counts
// checked against each other.
func readyPhase(ctx context.Context, c config, cl *client.Client, srv *serveProc, work string) error {
	progress("ready-%d: %d installs submitted at once", c.ready, c.ready)
	wait := true
	timeout := api.Duration(10 * time.Minute)
	start := time.Now()
	ids := make([]string, c.ready)
	var failed atomic.Int32
	forEach(ctx, c.ready, 64, func(i int) {
		req := api.InstallRequest{Name: fmt.Sprintf("r%04d", i), Namespace: namespace,
			ChartSource: api.ChartSource{Chart: repoName + "/webapp"},
			Wait:        api.Wait{Atomic: new(bool), Wait: &wait, Timeout: &timeout}}
		op, err := cl.Submit(ctx, http.MethodPost, clusterID, "", req, client.SubmitOptions{})
		if err != nil {
			failed.Add(1)
			return
		}
		ids[i] = op.ID
	})
	forEach(ctx, c.ready, 64, func(i int) {
		if ids[i] == "" {
			return
		}
		if op, err := cl.Watch(ctx, ids[i], nil); err != nil || op.State != api.Succeeded {
			failed.Add(1)
		}
	})
	elapsed := time.Since(start)
	if failed.Load() > 0 {
		return fmt.Errorf("ready-%d: %d installs failed", c.ready, failed.Load())
	}
	rss, err := srv.peakRSS()
	if err != nil {
		return err
	}
	progress("  all ready in %.1f s; peak RSS %.0f MiB; listing", elapsed.Seconds(), rss)

	var apiTimes []time.Duration
	for range 20 {
		t := time.Now()
		rels, err := cl.List(ctx, clusterID, client.ListOptions{Namespace: namespace})
		if err != nil {
			return err
		}
		apiTimes = append(apiTimes, time.Since(t))
		if len(rels) != c.ready {
			return fmt.Errorf("the API lists %d releases, want %d", len(rels), c.ready)
		}
	}
	env := helmEnv(filepath.Join(work, "helm-home"))
	var helmTimes []time.Duration
	for range 5 {
		cmd := exec.CommandContext(ctx, c.helm, "list", "-n", namespace, "--max", "0", "-q", "--kubeconfig", c.kubeconfig)
		cmd.Env = env
		t := time.Now()
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("helm list: %w", err)
		}
		helmTimes = append(helmTimes, time.Since(t))
		if n := len(strings.Fields(string(out))); n != c.ready {
			return fmt.Errorf("helm lists %d releases, want %d", n, c.ready)
		}
	}
	fmt.Printf("BENCH ready-%d kdu_s=%.1f rss_mib=%.0f\n", c.ready, elapsed.Seconds(), rss)
	fmt.Printf("BENCH list-%d kdu_api_ms=%.1f helm_ms=%.0f\n", c.ready, ms(median(apiTimes)), ms(median(helmTimes)))
	progress("  removing them")
	return cleanKdu(ctx, cl, 32)
}

// cleanKdu uninstalls every release of the cluster, parallel at a time, and waits until none is left.
func cleanKdu(ctx context.Context, cl *client.Client, parallel int) error {
	rels, err := cl.List(ctx, clusterID, client.ListOptions{})
	if err != nil {
		return err
	}
	var failed atomic.Int32
	forEach(ctx, len(rels), parallel, func(i int) {
		if _, err := cl.Uninstall(ctx, api.Target{Cluster: clusterID, Namespace: rels[i].Namespace, Name: rels[i].Name},
			api.UninstallRequest{}, nil); err != nil {
			failed.Add(1)
		}
	})
	if failed.Load() > 0 {
		return fmt.Errorf("%d uninstalls failed", failed.Load())
	}
	return ctx.Err()
}

func helmPhase(ctx context.Context, c config, work, archivePath string) (phase, error) {
	ph := phase{name: fmt.Sprintf("helm CLI, %d processes", c.helmParallel), n: c.helmN, parallel: c.helmParallel}
	env := helmEnv(filepath.Join(work, "helm-home"))
	var mu sync.Mutex
	var runs []time.Duration
	helm := func(args ...string) error {
		cmd := exec.CommandContext(ctx, c.helm, append(args, "--kubeconfig", c.kubeconfig)...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("helm %s: %w: %s", args[0], err, strings.TrimSpace(out.String()))
		}
		return nil
	}
	names := make([]string, c.helmN)
	for i := range names {
		names[i] = fmt.Sprintf("helm-%03d", i)
	}
	start := time.Now()
	forEach(ctx, c.helmN, c.helmParallel, func(i int) {
		t := time.Now()
		err := helm("install", names[i], archivePath, "-n", namespace, "--wait", "--timeout", installTimeout.String())
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			ph.fail(err.Error())
			return
		}
		runs = append(runs, time.Since(t))
	})
	ph.elapsed = time.Since(start)
	ph.runP50 = median(runs)
	forEach(ctx, c.helmN, c.helmParallel, func(i int) { _ = helm("uninstall", names[i], "-n", namespace) })
	return ph, ctx.Err()
}

// forEach calls fn(0..n-1) from parallel goroutines.
func forEach(ctx context.Context, n, parallel int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(parallel, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
}

func report(phases []phase, c config) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "installs with wait\tn\tparallel\telapsed s\tper min\tCPU ms/install\tqueue p50 ms\trun p50 ms\t")
	for _, p := range phases {
		cpu := "-"
		if p.cpu > 0 {
			cpu = fmt.Sprintf("%.1f", ms(p.cpu)/float64(p.n))
		}
		queue := "-"
		if strings.HasPrefix(p.name, "kdu") {
			queue = fmt.Sprintf("%.0f", ms(p.queueP50))
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%.1f\t%.0f\t%s\t%s\t%.0f\t\n", p.name, p.n, p.parallel, p.elapsed.Seconds(),
			p.perMin(), cpu, queue, ms(p.runP50))
	}
	w.Flush()
	var b strings.Builder
	kdu0 := phases[0]
	fmt.Fprintf(&b, "BENCH installs kdu_api_per_min=%.0f", kdu0.perMin())
	for _, p := range phases[1:len(c.parallel)] {
		fmt.Fprintf(&b, " kdu_api%d_per_min=%.0f", p.parallel, p.perMin())
	}
	if c.helmN > 0 {
		h := phases[len(phases)-1]
		fmt.Fprintf(&b, " helm_per_min=%.0f ratio=%.2f", h.perMin(), kdu0.perMin()/h.perMin())
	}
	fmt.Fprintf(&b, " kdu_cpu_ms_per_install=%.1f", ms(kdu0.cpu)/float64(kdu0.n))
	fmt.Println(b.String())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// chartMeta reads name and version from the chart's Chart.yaml (two top-level keys; enough for the bench).
func chartMeta(dir string) (name, version string, err error) {
	data, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(k, " ") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch k {
		case "name":
			name = v
		case "version":
			version = v
		}
	}
	if name == "" || version == "" {
		return "", "", fmt.Errorf("%s/Chart.yaml: no name or version", dir)
	}
	return name, version, nil
}

// serveRepo serves a chart repository on loopback with one chart version.
func serveRepo(name, version string, archive []byte) *httptest.Server {
	sum := sha256.Sum256(archive)
	file := name + "-" + version + ".tgz"
	index := fmt.Sprintf("apiVersion: v1\nentries:\n  %s:\n  - apiVersion: v2\n    name: %s\n    version: %s\n    urls: [%s]\n    digest: %s\n    created: \"2026-11-01T00:00:00Z\"\n",
		name, name, version, file, hex.EncodeToString(sum[:]))
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/index.yaml":
			_, _ = io.WriteString(w, index)
		case "/" + file:
			_, _ = w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
}

// serveProc is `kdu serve` running as a child process, with its profiling endpoint.
type serveProc struct {
	*servetest.Proc
	url   string
	debug string
}

func startServe(ctx context.Context, bin, work string) (*serveProc, error) {
	debug, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := servetest.Start(ctx, bin, filepath.Join(work, "serve.log"), nil,
		"--data-dir", filepath.Join(work, "data"), "--debug-listen", debug)
	if err != nil {
		return nil, err
	}
	return &serveProc{Proc: p, url: p.URL, debug: debug}, nil
}

func (p *serveProc) stop() { p.Stop(time.Minute) }

// cpu is the process's user+system CPU time so far.
func (p *serveProc) cpu() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which is in parentheses and may hold spaces): state is field 3, utime 14,
	// stime 15.
	rest := string(data[bytes.LastIndexByte(data, ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", p.Cmd.Process.Pid, data)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// peakRSS is the process's peak resident set size (VmHWM) in MiB.
func (p *serveProc) peakRSS() (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

func (p *serveProc) cpuProfile(ctx context.Context, path string, seconds int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.debug, seconds), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// helmEnv is this process's environment without HELM_*/KUBECONFIG, with helm's directories under home.
func helmEnv(home string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "HELM_") || strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "KUBECACHEDIR=")
	})
	return append(env, "HELM_CACHE_HOME="+filepath.Join(home, "cache"), "HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"), "KUBECACHEDIR="+filepath.Join(home, "kube-cache"),
		"HELM_DRIVER=secret")
}
