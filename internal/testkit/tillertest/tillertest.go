// Package tillertest runs a real Tiller v2.17.0 for tests, outside the cluster, against the API server of a
// kubeconfig (normally the dev cluster of internal/testkit/clustertest), and gives tests the helm v2 CLI as an oracle.
//
// The binaries are built by `scripts/helm2 build` (from the tools module in tools/helm2) into a cache directory;
// Start finds them through $KDU_HELM2_BIN or `scripts/helm2 path`. They are for tests only: kdu itself never
// executes them. When they are missing, Start fails the test with the command that builds them.
//
//	tl := tillertest.Start(t, cluster.KubeconfigPath, ns)
//	out, err := tl.Helm(t, "ls", "--all")
//
// Tiller stores its releases as Secrets in its namespace (--storage=secret), like N2VC's set-up. A namespace's
// default ServiceAccount must exist before charts with Pods are installed into it.
package tillertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// EnvBin names the environment variable that points at the directory holding the tiller and helm v2
	// binaries, instead of asking scripts/helm2 for it.
	EnvBin = "KDU_HELM2_BIN"
	// BuildCommand builds the binaries (run it from the repository root).
	BuildCommand = "scripts/helm2 build"
	// StartTimeout bounds Tiller's start, up to its first answer to `helm version`.
	StartTimeout = 60 * time.Second
	// HelmTimeout bounds one run of the helm v2 CLI.
	HelmTimeout = 10 * time.Minute
	// HistoryMax is the --history-max Tiller runs with.
	HistoryMax = 20
	// helm2Script is the path of the build script relative to the repository root.
	helm2Script = "scripts/helm2"
	// stopGrace is how long Stop waits after SIGTERM before it kills Tiller.
	stopGrace = 5 * time.Second
	// startAttempts is how often Start tries fresh ports when Tiller exits early (a free port can be taken by
	// someone else before Tiller binds it).
	startAttempts = 3
	// logTail is how much of Tiller's log a failure message quotes.
	logTail = 4000
)

var (
	// ErrNoBinaries means the tiller or helm v2 binary was not found.
	ErrNoBinaries = errors.New("no tiller/helm v2 binaries")
	// ErrNoRepoRoot means no directory above the working directory holds go.mod and scripts/helm2.
	ErrNoRepoRoot = errors.New("repository root not found")
	// ErrStart means Tiller did not start or did not become ready.
	ErrStart = errors.New("tiller did not start")
	// ErrHelm means a run of the helm v2 CLI failed.
	ErrHelm = errors.New("helm v2 failed")
	// errExited means Tiller exited before it was ready (for example because someone took its port first).
	errExited = errors.New("tiller exited")
)

// Tiller is a Tiller process running on 127.0.0.1 for one test.
type Tiller struct {
	addr      string
	probeAddr string
	version   string
	binDir    string
	env       []string // the environment of both tiller and helm
	helmHome  string
	logPath   string
	cmd       *exec.Cmd
	exited    chan struct{} // closed when the process has exited
	waitErr   error         // the process's exit status, set before exited is closed
	stopping  bool          // set (under mu) before Stop signals the process
	mu        sync.Mutex
	stopOnce  sync.Once
	startedAt time.Time
}

// Start runs Tiller for test t, with TILLER_NAMESPACE=tillerNamespace (where it stores its releases as
// Secrets) and KUBECONFIG=kubeconfigPath, on free ports of 127.0.0.1 (gRPC and probes), waits until it is ready
// and answers `helm version`, and stops it when t's cleanups run. It fails t when the binaries are missing
// (saying how to build them) or when Tiller does not start. If Tiller exits on its own before the cleanup, the
// cleanup fails t.
func Start(t testing.TB, kubeconfigPath, tillerNamespace string) *Tiller {
	t.Helper()
	return startTiller(t, kubeconfigPath, tillerNamespace, "", "tiller")
}

// OtherVersionBinary is a Tiller that scripts/helm2 builds stamped as another minor release (v2.16.12), to test
// Tiller's client-version rule.
const OtherVersionBinary = "tiller-v2.16"

// StartBinary is Start with another Tiller binary of the binaries directory, such as OtherVersionBinary.
func StartBinary(t testing.TB, kubeconfigPath, tillerNamespace, binary string) *Tiller {
	t.Helper()
	return startTiller(t, kubeconfigPath, tillerNamespace, "", binary)
}

// StartAt is Start with Tiller's gRPC server on the fixed address addr ("127.0.0.1:<port>"), for a test that must
// find Tiller at a known place (the dev cluster's port-forward to loopback, for example); its probe server still
// takes a free port. Unlike Start it does not retry: it fails t when addr is taken.
func StartAt(t testing.TB, kubeconfigPath, tillerNamespace, addr string) *Tiller {
	t.Helper()
	if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" || port == "0" {
		t.Fatalf("tillertest: StartAt needs an address host:port, not %q", addr)
	}
	return startTiller(t, kubeconfigPath, tillerNamespace, addr, "tiller")
}

// startTiller implements Start (addr "": free ports, retried) and StartAt.
func startTiller(t testing.TB, kubeconfigPath, tillerNamespace, addr, binary string) *Tiller {
	t.Helper()
	dir, err := BinDir()
	if err != nil {
		t.Fatalf("tillertest: %v", err)
	}
	kubeconfigPath, err = filepath.Abs(kubeconfigPath)
	if err != nil {
		t.Fatalf("tillertest: kubeconfig path: %v", err)
	}
	if tillerNamespace == "" {
		t.Fatalf("tillertest: Start needs a Tiller namespace")
	}
	work := t.TempDir()
	helmHome := filepath.Join(work, "helm-home")
	env := append(cleanEnv(os.Environ()),
		"KUBECONFIG="+kubeconfigPath,
		"TILLER_NAMESPACE="+tillerNamespace,
		"HELM_HOME="+helmHome,
	)
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		tl, err := start(dir, binary, env, helmHome, filepath.Join(work, fmt.Sprintf("tiller-%d.log", attempt)), addr)
		if err == nil {
			t.Cleanup(func() { tl.cleanup(t) })
			if err := tl.init(); err != nil {
				t.Fatalf("tillertest: %v", err)
			}
			t.Logf("tillertest: Tiller %s on %s (namespace %s) ready in %s", tl.version, tl.addr, tillerNamespace,
				time.Since(tl.startedAt).Round(time.Millisecond))
			return tl
		}
		lastErr = err
		if addr != "" || !errors.Is(err, errExited) {
			break
		}
	}
	t.Fatalf("tillertest: %v", lastErr)
	return nil
}

// BinDir returns the directory holding the tiller and helm v2 binaries: $KDU_HELM2_BIN if set, else what
// `scripts/helm2 path` prints (from the repository root found above the working directory). The error wraps
// ErrNoBinaries when a binary is missing there, and says how to build them.
func BinDir() (string, error) {
	dir := os.Getenv(EnvBin)
	from := EnvBin + "=" + dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("find the helm v2 binaries: %w", err)
		}
		root, err := RepoRoot(wd)
		if err != nil {
			return "", err
		}
		out, err := exec.Command(filepath.Join(root, helm2Script), "path").Output()
		if err != nil {
			return "", fmt.Errorf("%w: %s path: %w", ErrNoBinaries, helm2Script, err)
		}
		dir = strings.TrimSpace(string(out))
		from = "`" + helm2Script + " path`, in " + root
	}
	for _, b := range []string{"tiller", "helm"} {
		fi, err := os.Stat(filepath.Join(dir, b))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%w: no executable %s in %s (from %s); build them with `%s` in the repository root",
				ErrNoBinaries, b, dir, from, BuildCommand)
		}
	}
	return dir, nil
}

// RepoRoot walks up from dir to the first directory that holds go.mod and scripts/helm2.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find repository root from %q: %w", dir, err)
	}
	for d := dir; ; {
		if isFile(filepath.Join(d, "go.mod")) && isFile(filepath.Join(d, helm2Script)) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("%w: no directory above %q holds go.mod and %s", ErrNoRepoRoot, dir, helm2Script)
		}
		d = parent
	}
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// cleanEnv drops the variables that would point tiller or helm elsewhere than Start says (KUBECONFIG,
// HELM_*, TILLER_*).
func cleanEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == "KUBECONFIG" || strings.HasPrefix(name, "HELM_") || strings.HasPrefix(name, "TILLER_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs tiller with its gRPC server on addr (a free port if "") and its probe server on a free port, and
// waits until the probe server reports it ready.
func start(dir, binary string, env []string, helmHome, logPath, addr string) (*Tiller, error) {
	if addr == "" {
		port, err := freePort()
		if err != nil {
			return nil, fmt.Errorf("%w: find a free port: %w", ErrStart, err)
		}
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	probePort, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%w: find a free port: %w", ErrStart, err)
	}
	if _, port, _ := net.SplitHostPort(addr); port == strconv.Itoa(probePort) {
		return nil, fmt.Errorf("%w: got port %d twice", ErrStart, probePort)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer logFile.Close()
	tl := &Tiller{
		addr:      addr,
		probeAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(probePort)),
		binDir:    dir,
		env:       env,
		helmHome:  helmHome,
		logPath:   logPath,
		exited:    make(chan struct{}),
	}
	tl.cmd = exec.Command(filepath.Join(dir, binary),
		"--storage=secret",
		"--listen="+tl.addr,
		"--probe-listen="+tl.probeAddr,
		"--history-max="+strconv.Itoa(HistoryMax),
	)
	tl.cmd.Env = env
	tl.cmd.Dir = filepath.Dir(logPath)
	tl.cmd.Stdout, tl.cmd.Stderr = logFile, logFile
	// Tiller dies with the test process, even if that is killed before its cleanups run.
	tl.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	tl.startedAt = time.Now()
	if err := tl.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	go func() {
		tl.waitErr = tl.cmd.Wait()
		close(tl.exited)
	}()
	if err := tl.waitReady(); err != nil {
		tl.Stop()
		return nil, err
	}
	return tl, nil
}

// waitReady polls Tiller's /readiness until it answers 200, Tiller exits or StartTimeout passes.
func (tl *Tiller) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://" + tl.probeAddr + "/readiness"
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrStart, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		select {
		case <-tl.exited:
			return fmt.Errorf("%w: %w (%v); its log:\n%s", ErrStart, errExited, tl.waitErr, tl.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%w: not ready after %s (last: %v); its log:\n%s", ErrStart, StartTimeout, err, tl.logTail())
		case <-tick.C:
		}
	}
}

// init prepares HELM_HOME (`helm init --client-only --skip-repos`, offline) and asks Tiller its version
// through the gRPC port, which also proves that the gRPC server is Tiller's.
func (tl *Tiller) init() error {
	if err := os.MkdirAll(tl.helmHome, 0o700); err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if _, err := tl.run(ctx, "init", "--client-only", "--skip-repos"); err != nil {
		return fmt.Errorf("%w: prepare HELM_HOME: %w", ErrStart, err)
	}
	out, err := tl.run(ctx, "version", "--server", "--template", "{{ .Server.SemVer }}", "--host="+tl.addr)
	if err != nil {
		return fmt.Errorf("%w: %w; Tiller's log:\n%s", ErrStart, err, tl.logTail())
	}
	tl.version = strings.TrimSpace(out)
	return nil
}

// Addr returns Tiller's gRPC address, "127.0.0.1:<port>", for the helm v2 CLI's --host or a gRPC client.
func (tl *Tiller) Addr() string { return tl.addr }

// Version returns the version Tiller reports, such as "v2.17.0".
func (tl *Tiller) Version() string { return tl.version }

// Helm runs the helm v2 CLI with args plus --host=Addr() (so args must not end in "--"), with a HELM_HOME of
// its own and the KUBECONFIG given to Start, and returns its standard output. The error wraps ErrHelm and
// quotes the CLI's standard error. It logs the command to t. Use it as a test oracle only.
func (tl *Tiller) Helm(t testing.TB, args ...string) (stdout string, err error) {
	t.Helper()
	// Not t.Context(): that is cancelled before the cleanups run, which may well call Helm.
	ctx, cancel := context.WithTimeout(context.Background(), HelmTimeout)
	defer cancel()
	began := time.Now()
	out, err := tl.run(ctx, slices.Concat(args, []string{"--host=" + tl.addr})...)
	t.Logf("tillertest: helm %s (%s)", strings.Join(args, " "), time.Since(began).Round(time.Millisecond))
	return out, err
}

// run runs the helm v2 CLI with exactly args.
func (tl *Tiller) run(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(tl.binDir, "helm"), args...)
	cmd.Env = tl.env
	cmd.Dir = tl.helmHome
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: helm %s: %w: %s", ErrHelm, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Stop stops Tiller: SIGTERM, then SIGKILL after a grace period. Start's cleanup calls it; it may be called
// more than once.
func (tl *Tiller) Stop() {
	tl.stopOnce.Do(func() {
		tl.mu.Lock()
		tl.stopping = true
		tl.mu.Unlock()
		_ = tl.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-tl.exited:
		case <-time.After(stopGrace):
			_ = tl.cmd.Process.Kill()
			<-tl.exited
		}
	})
}

// cleanup stops Tiller at the end of test t, failing t if Tiller had exited on its own, and quotes Tiller's
// log when t failed.
func (tl *Tiller) cleanup(t testing.TB) {
	select {
	case <-tl.exited:
		tl.mu.Lock()
		stopping := tl.stopping
		tl.mu.Unlock()
		if !stopping {
			t.Errorf("tillertest: Tiller on %s exited during the test (%v)", tl.addr, tl.waitErr)
		}
	default:
	}
	tl.Stop()
	if t.Failed() {
		t.Logf("tillertest: Tiller's log (%s):\n%s", tl.logPath, tl.logTail())
	}
}

// logTail returns the end of Tiller's log, for messages.
func (tl *Tiller) logTail() string {
	b, err := os.ReadFile(tl.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > logTail {
		b = b[len(b)-logTail:]
	}
	return strings.TrimSpace(string(b))
}
