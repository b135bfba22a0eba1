package clustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// The dev cluster's port-forward to loopback. kwok, which plays the kubelet of the fake node, serves the kubelet's
// port-forward API: the API server's pods/portforward requests for port TillerPort of any Pod in
// TillerForwardNamespace reach 127.0.0.1:<port base + 10> (DefaultTillerForwardPort for the default port base).
// A test runs a real Tiller there, so that a client port-forwarding to an in-cluster Tiller Pod (as the helm v2
// CLI and kdu do without a Tiller address) talks to it. See Cluster.TillerForward.
const (
	// TillerForwardNamespace is the namespace whose Pods' port TillerPort is forwarded. It is shared by the tests
	// that use the forward: they clean up what they create in it and leave the namespace.
	TillerForwardNamespace = "kdu-tiller-pf"
	// TillerPort is the forwarded Pod port: Tiller's gRPC port.
	TillerPort = 44134
	// DefaultTillerForwardPort is the loopback port the forward targets when the cluster runs on the default
	// port base (KDU_DEVCLUSTER_PORT=21000). Use Cluster.TillerForward for the port of the running cluster.
	DefaultTillerForwardPort = 21010
	// tillerForwardFile, beside the kubeconfig, says "<namespace> <address>" (written by scripts/devcluster).
	tillerForwardFile = "tiller-forward"
	// tillerForwardLock, beside the kubeconfig, serialises the tests that use the forward's address.
	tillerForwardLock = ".tiller-forward.lock"
)

// ErrNoTillerForward is returned when the cluster has no port-forward to loopback (a cluster of
// KDU_TEST_KUBECONFIG not started by scripts/devcluster).
var ErrNoTillerForward = errors.New("the test cluster does not forward Tiller's port to loopback")

// TillerForward returns the loopback address ("127.0.0.1:<port>") to which the cluster forwards port TillerPort of
// the Pods in TillerForwardNamespace, once that namespace exists (it is created if absent) and has its default
// ServiceAccount. Nothing listens there until the test starts a server (a Tiller) on it.
//
// It holds an exclusive lock on the address (shared with other test binaries) until tb's cleanups run, so that
// only one test at a time serves it; a second call before then, even from the same process, waits for that
// lock. It fails tb when the cluster has no such forward.
func (c *Cluster) TillerForward(tb testing.TB) string {
	tb.Helper()
	dir := filepath.Dir(c.KubeconfigPath)
	addr, err := readTillerForward(filepath.Join(dir, tillerForwardFile))
	if err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	unlock, err := lockFile(filepath.Join(dir, tillerForwardLock))
	if err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	tb.Cleanup(unlock)
	ctx, cancel := context.WithTimeout(context.Background(), nsTimeout)
	defer cancel()
	if err := c.ensureNamespace(ctx, TillerForwardNamespace); err != nil {
		tb.Fatalf("testcluster: %v", err)
	}
	return addr
}

// readTillerForward parses the forward file that scripts/devcluster writes: "<namespace> <host:port>".
func readTillerForward(path string) (string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: no %s beside the kubeconfig (restart the cluster with a current scripts/devcluster up)",
			ErrNoTillerForward, tillerForwardFile)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoTillerForward, err)
	}
	return parseTillerForward(string(data))
}

// parseTillerForward checks the content of the forward file and returns its address.
func parseTillerForward(s string) (string, error) {
	fields := strings.Fields(s)
	if len(fields) != 2 || fields[0] != TillerForwardNamespace {
		return "", fmt.Errorf("%w: %s says %q, want %q and an address", ErrNoTillerForward, tillerForwardFile,
			strings.TrimSpace(s), TillerForwardNamespace)
	}
	host, port, err := net.SplitHostPort(fields[1])
	if n, perr := strconv.Atoi(port); err != nil || host != "127.0.0.1" || perr != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%w: %s names %q, not a port of 127.0.0.1", ErrNoTillerForward, tillerForwardFile, fields[1])
	}
	return fields[1], nil
}

// ensureNamespace creates namespace name unless it exists (waiting out a previous deletion of it) and waits for
// its default ServiceAccount, without which Pods are refused.
func (c *Cluster) ensureNamespace(ctx context.Context, name string) error {
	nss := c.Clientset.CoreV1().Namespaces()
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ns, err := nss.Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			return ns.DeletionTimestamp == nil, nil
		case !apierrors.IsNotFound(err):
			return false, err
		}
		_, err = nss.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err == nil, ignoreExists(err)
	})
	if err != nil {
		return fmt.Errorf("namespace %q: %w", name, err)
	}
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := c.Clientset.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("the default ServiceAccount of namespace %q: %w", name, err)
	}
	return nil
}

func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
