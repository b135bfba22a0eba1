// Package clustertest gives integration tests a real Kubernetes control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and kwok running on 127.0.0.1, started by scripts/devcluster.
//
// Pods on it are scheduled and become Ready (kwok simulates the node; no container runs), so Deployments
// become available and Helm's --wait works. Pods labelled kdu.test/never-ready=true become Running but
// never Ready, which makes a workload fail its wait (to test atomic rollback). Port-forwards through the API
// server to port TillerPort of Pods in TillerForwardNamespace reach a fixed loopback address (see
// Cluster.TillerForward), where a test can serve a real Tiller for clients of an in-cluster Tiller.
//
// The usual pattern shares one cluster per test binary (Shared is the lazy alternative for packages where
// only some tests need a cluster):
//
//	var cluster *clustertest.Cluster
//
//	func TestMain(m *testing.M) { os.Exit(clustertest.Main(m, &cluster)) }
//
//	func TestSomething(t *testing.T) {
//		ns := cluster.Namespace(t)
//		_, err := cluster.Clientset.CoreV1().ConfigMaps(ns).Create(...)
//	}
//
// The cluster is never stopped by this package: it is reused across packages and test runs
// (`scripts/devcluster down` stops it).
package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	// EnvKubeconfig names the environment variable that points Start at the kubeconfig of an already
	// running cluster instead of running scripts/devcluster.
	EnvKubeconfig = "KDU_TEST_KUBECONFIG"
	// EnvKeep names the environment variable that, when set to "1", keeps the namespaces of failed tests
	// for inspection.
	EnvKeep = "KDU_TEST_KEEP"
	// NeverReadyLabel is the Pod label that makes the dev cluster run a Pod without ever making it Ready
	// (its value must be "true").
	NeverReadyLabel = "kdu.test/never-ready"
	// NamespaceLabel marks the namespaces created by Cluster.Namespace.
	NamespaceLabel = "kdu.test/namespace"
	// StartTimeout bounds Main's call to Start; a cold build of the binaries takes about 7 minutes on
	// 2 cores.
	StartTimeout = 20 * time.Minute
	// devclusterScript is the path of the cluster script relative to the repository root.
	devclusterScript = "scripts/devcluster"
)

var (
	// ErrNoRepoRoot is returned when no directory above the working directory holds both go.mod and
	// scripts/devcluster.
	ErrNoRepoRoot = errors.New("repository root not found")
	// ErrDevcluster is returned when scripts/devcluster fails or prints no kubeconfig path.
	ErrDevcluster = errors.New("scripts/devcluster up failed")
	// ErrUnreachable is returned when the cluster's API server does not answer /readyz.
	ErrUnreachable = errors.New("test cluster API server unreachable")
)

// Cluster is a running test cluster with an admin client.
type Cluster struct {
	// KubeconfigPath is the path of the admin kubeconfig file.
	KubeconfigPath string
	// Kubeconfig is the content of that file.
	Kubeconfig []byte
	// Clientset is a typed client with cluster-admin rights.
	Clientset kubernetes.Interface
	// RESTConfig is the client configuration Clientset was built from.
	RESTConfig *rest.Config
}

// Start returns a usable cluster. If the environment variable KDU_TEST_KUBECONFIG is set, it connects to
// the cluster of that kubeconfig; otherwise it runs `<repository root>/scripts/devcluster up`, which
// builds the binaries on first use (minutes; progress goes to os.Stderr), starts the cluster unless it
// already runs, and prints the kubeconfig path as its last line of output.
func Start(ctx context.Context) (*Cluster, error) {
	if path := os.Getenv(EnvKubeconfig); path != "" {
		return Connect(ctx, path)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("find repository root: %w", err)
	}
	root, err := RepoRoot(wd)
	if err != nil {
		return nil, err
	}
	path, err := runDevcluster(ctx, filepath.Join(root, devclusterScript))
	if err != nil {
		return nil, err
	}
	return Connect(ctx, path)
}

// RepoRoot walks up from dir to the first directory that holds go.mod and scripts/devcluster.
func RepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find repository root from %q: %w", dir, err)
	}
	for d := dir; ; {
		if isFile(filepath.Join(d, "go.mod")) && isFile(filepath.Join(d, devclusterScript)) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("%w: no directory above %q holds go.mod and %s", ErrNoRepoRoot, dir, devclusterScript)
		}
		d = parent
	}
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// runDevcluster runs `script up` and returns the last non-empty line of its standard output.
func runDevcluster(ctx context.Context, script string) (string, error) {
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, script, "up")
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s: %w (its messages are above on stderr)", ErrDevcluster, script, err)
	}
	path := lastLine(stdout.String())
	if path == "" {
		return "", fmt.Errorf("%w: %s printed no kubeconfig path on stdout", ErrDevcluster, script)
	}
	return path, nil
}

// lastLine returns the last non-blank line of s, trimmed.
func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			last = line
		}
	}
	return last
}

// Connect builds a Cluster from the kubeconfig file at path and checks that its API server is ready.
func Connect(ctx context.Context, path string) (*Cluster, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read test kubeconfig: %w", err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("parse test kubeconfig %q: %w", path, err)
	}
	// Tests create many objects quickly; client-go's default of 5 QPS would throttle them.
	cfg.QPS, cfg.Burst = 100, 200
	cfg.UserAgent = "kdu-testcluster"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build client for test kubeconfig %q: %w", path, err)
	}
	c := &Cluster{KubeconfigPath: path, Kubeconfig: data, Clientset: cs, RESTConfig: cfg}
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// ready checks the API server's /readyz endpoint.
func (c *Cluster) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, err := c.Clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, c.RESTConfig.Host, err)
	}
	if s := strings.TrimSpace(string(body)); s != "ok" {
		return fmt.Errorf("%w: %s/readyz answered %q", ErrUnreachable, c.RESTConfig.Host, s)
	}
	return nil
}

// Main starts (or reuses) the cluster, stores it in *dst and runs the tests; it returns the exit code
// for os.Exit. When the cluster cannot start it prints why to os.Stderr and returns 1 without running
// any test: integration tests fail rather than skip when their cluster is missing. Main and Shared share
// one Start per test binary.
//
// Test binaries of different packages run in parallel under `go test ./...`; Main holds an exclusive lock
// on the cluster for the whole run, so packages whose tests act cluster-wide (listing every release,
// removing a cluster with force) never see each other's releases. Compilation is not serialised.
func Main(m *testing.M, dst **Cluster) int {
	c, err := startShared()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		return 1
	}
	unlock, err := lockCluster(c.KubeconfigPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		return 1
	}
	defer unlock()
	*dst = c
	return m.Run()
}

// lockCluster takes an exclusive advisory lock on a file beside the cluster's kubeconfig, waiting for other
// test binaries to finish with the cluster. (scripts/devcluster up takes it too before it restarts a running
// cluster whose configuration changed.)
func lockCluster(kubeconfigPath string) (func(), error) {
	return lockFile(filepath.Join(filepath.Dir(kubeconfigPath), ".tests.lock"))
}

// lockFile takes an exclusive advisory lock (flock) on the file at path, creating it if needed and waiting for
// whoever holds it; the returned function releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Shared returns the cluster of this test binary, starting it on first use (bounded by StartTimeout).
// It fails the test (it does not skip it) when the cluster cannot start. Use it instead of Main when
// only some tests of a package need a cluster.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := startShared()
	if err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	return c
}

var shared struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

func startShared() (*Cluster, error) {
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
		defer cancel()
		shared.cluster, shared.err = Start(ctx)
	})
	return shared.cluster, shared.err
}
