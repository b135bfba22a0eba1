package tillertest_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kdu-io/kdu/internal/testkit/clustertest"
	"github.com/kdu-io/kdu/internal/testkit/tillertest"
)

var cluster *clustertest.Cluster

func TestMain(m *testing.M) { os.Exit(clustertest.Main(m, &cluster)) }

// wantVersion is what `scripts/helm2 build` stamps into both binaries.
const (
	wantVersion = "v2.17.0"
	wantShort   = "v2.17.0+ga690bad"
)

func TestStartVersionAndEmptyList(t *testing.T) {
	ns := cluster.Namespace(t)
	tl := tillertest.Start(t, cluster.KubeconfigPath, ns)

	if got := tl.Version(); got != wantVersion {
		t.Errorf("Version() = %q, want %q", got, wantVersion)
	}
	host, port, err := net.SplitHostPort(tl.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Errorf("Addr() = %q, want 127.0.0.1:<port>", tl.Addr())
	}

	out, err := tl.Helm(t, "version", "--short")
	if err != nil {
		t.Fatalf("helm version: %v", err)
	}
	for _, want := range []string{"Client: " + wantShort, "Server: " + wantShort} {
		if !strings.Contains(out, want) {
			t.Errorf("helm version --short printed %q, want a line %q", out, want)
		}
	}

	out, err = tl.Helm(t, "ls", "--all")
	if err != nil {
		t.Fatalf("helm ls: %v", err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("helm ls --all on a fresh Tiller printed %q, want nothing", out)
	}
}

func TestInstallListDelete(t *testing.T) {
	ctx := t.Context()
	ns := cluster.Namespace(t)
	waitDefaultServiceAccount(t, ns)
	tl := tillertest.Start(t, cluster.KubeconfigPath, ns)
	chart := writeChart(t)
	cms := cluster.Clientset.CoreV1().ConfigMaps(ns)
	secrets := cluster.Clientset.CoreV1().Secrets(ns)

	if _, err := tl.Helm(t, "install", "--name", "x", "--namespace", ns, "--set", "greeting=hi", chart); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	cm, err := cms.Get(ctx, "x-greeting", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the chart's ConfigMap after install: %v", err)
	}
	if got := cm.Data["greeting"]; got != "hi" {
		t.Errorf("ConfigMap data greeting = %q, want %q (from --set)", got, "hi")
	}
	// --storage=secret: the release is a Secret x.v1 owned by Tiller in the Tiller namespace.
	sec, err := secrets.Get(ctx, "x.v1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Tiller's release Secret: %v", err)
	}
	if sec.Labels["OWNER"] != "TILLER" || sec.Labels["STATUS"] != "DEPLOYED" {
		t.Errorf("release Secret labels = %v, want OWNER=TILLER STATUS=DEPLOYED", sec.Labels)
	}

	out, err := tl.Helm(t, "ls")
	if err != nil {
		t.Fatalf("helm ls: %v", err)
	}
	if !hasRelease(out, "x", "DEPLOYED", ns) {
		t.Errorf("helm ls printed %q, want release x DEPLOYED in %s", out, ns)
	}

	_, err = tl.Helm(t, "install", "--name", "x", "--namespace", ns, chart)
	if !errors.Is(err, tillertest.ErrHelm) || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second install of x: error %v, want ErrHelm quoting Tiller's %q", err, "already exists")
	}

	if _, err := tl.Helm(t, "delete", "--purge", "x"); err != nil {
		t.Fatalf("helm delete --purge: %v", err)
	}
	out, err = tl.Helm(t, "ls", "--all")
	if err != nil {
		t.Fatalf("helm ls --all: %v", err)
	}
	if strings.TrimSpace(out) != "" {
		t.Errorf("helm ls --all after the purge printed %q, want nothing", out)
	}
	if _, err := cms.Get(ctx, "x-greeting", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the chart's ConfigMap after the purge: err %v, want NotFound", err)
	}
	if _, err := secrets.Get(ctx, "x.v1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the release Secret after the purge: err %v, want NotFound", err)
	}
}

func TestHelmErrorQuotesStderr(t *testing.T) {
	ns := cluster.Namespace(t)
	tl := tillertest.Start(t, cluster.KubeconfigPath, ns)
	_, err := tl.Helm(t, "status", "no-such-release")
	if !errors.Is(err, tillertest.ErrHelm) {
		t.Fatalf("helm status of a missing release: error %v, want ErrHelm", err)
	}
	if !strings.Contains(err.Error(), "not found") {
		t.Errorf("error %q does not quote helm's stderr (want %q)", err, "not found")
	}
}

// TestCleanupStopsTiller checks that Tiller no longer listens once the test that started it has finished, and
// that two Tillers of one test run side by side.
func TestCleanupStopsTiller(t *testing.T) {
	ns := cluster.Namespace(t)
	var addrs []string
	t.Run("start", func(t *testing.T) {
		a := tillertest.Start(t, cluster.KubeconfigPath, ns)
		b := tillertest.Start(t, cluster.KubeconfigPath, ns)
		if a.Addr() == b.Addr() {
			t.Fatalf("two Tillers on one address %s", a.Addr())
		}
		for _, tl := range []*tillertest.Tiller{a, b} {
			if _, err := tl.Helm(t, "ls"); err != nil {
				t.Fatalf("helm ls on %s: %v", tl.Addr(), err)
			}
			addrs = append(addrs, tl.Addr())
		}
	})
	if len(addrs) != 2 {
		t.Fatalf("the subtest did not start two Tillers")
	}
	for _, addr := range addrs {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("Tiller still listens on %s after its test's cleanup", addr)
		}
	}
}

func TestBinDir(t *testing.T) {
	empty := t.TempDir()
	good := t.TempDir()
	for _, b := range []string{"tiller", "helm"} {
		if err := os.WriteFile(filepath.Join(good, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	onlyTiller := t.TempDir()
	if err := os.WriteFile(filepath.Join(onlyTiller, "tiller"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExec := t.TempDir()
	for _, b := range []string{"tiller", "helm"} {
		if err := os.WriteFile(filepath.Join(notExec, b), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, env string
		wantErr   bool
	}{
		{"both binaries", good, false},
		{"empty dir", empty, true},
		{"helm missing", onlyTiller, true},
		{"not executable", notExec, true},
		{"no such dir", filepath.Join(empty, "nope"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tillertest.EnvBin, tt.env)
			dir, err := tillertest.BinDir()
			if !tt.wantErr {
				if err != nil || dir != tt.env {
					t.Fatalf("BinDir() = %q, %v; want %q", dir, err, tt.env)
				}
				return
			}
			if !errors.Is(err, tillertest.ErrNoBinaries) {
				t.Fatalf("BinDir() error %v, want ErrNoBinaries", err)
			}
			if !strings.Contains(err.Error(), tillertest.BuildCommand) {
				t.Errorf("error %q does not say how to build the binaries (%q)", err, tillertest.BuildCommand)
			}
		})
	}
}

// TestBinDirFromScript checks that without KDU_HELM2_BIN the binaries are found where scripts/helm2 puts them
// (the Makefile's test target builds them first).
func TestBinDirFromScript(t *testing.T) {
	t.Setenv(tillertest.EnvBin, "")
	dir, err := tillertest.BinDir()
	if err != nil {
		t.Fatalf("BinDir() without %s: %v", tillertest.EnvBin, err)
	}
	if !strings.Contains(filepath.Base(dir), "helm2-v2.17.0-") {
		t.Errorf("BinDir() = %q, want the scripts/helm2 cache directory helm2-v2.17.0-<hash>", dir)
	}
}

func TestRepoRoot(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := tillertest.RepoRoot(wd)
	if err != nil {
		t.Fatalf("RepoRoot(%q): %v", wd, err)
	}
	if want := filepath.Clean(filepath.Join(wd, "..", "..", "..")); root != want {
		t.Errorf("RepoRoot(%q) = %q, want %q", wd, root, want)
	}
	if _, err := tillertest.RepoRoot(t.TempDir()); !errors.Is(err, tillertest.ErrNoRepoRoot) {
		t.Errorf("RepoRoot(a temp dir) error %v, want ErrNoRepoRoot", err)
	}
}

// waitDefaultServiceAccount waits until the controller manager has created the namespace's default
// ServiceAccount, which Tiller's installs need.
func waitDefaultServiceAccount(t *testing.T, ns string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 60*time.Second, true,
		func(ctx context.Context) (bool, error) {
			_, err := cluster.Clientset.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
	if err != nil {
		t.Fatalf("the default ServiceAccount of %s: %v", ns, err)
	}
}

// writeChart writes a chart with one ConfigMap, named <release>-greeting, whose data comes from the values.
func writeChart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "greeting")
	files := map[string]string{
		"Chart.yaml":  "apiVersion: v1\nname: greeting\nversion: 0.1.0\ndescription: a ConfigMap for tillertest\n",
		"values.yaml": "greeting: hello\n",
		"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-greeting
  labels:
    release: {{ .Release.Name | quote }}
data:
  greeting: {{ .Values.greeting | quote }}
`,
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// hasRelease reports whether `helm ls` output has a row for release name with status and namespace.
func hasRelease(out, name, status, ns string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == name && slices.Contains(f, status) && f[len(f)-1] == ns {
			return true
		}
	}
	return false
}

func TestStartAtFixedAddress(t *testing.T) {
	ns := cluster.Namespace(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	tl := tillertest.StartAt(t, cluster.KubeconfigPath, ns, addr)
	if tl.Addr() != addr {
		t.Fatalf("Addr() = %q, want the address given to StartAt, %q", tl.Addr(), addr)
	}
	// The CLI oracle talks to Tiller on that address.
	if _, err := tl.Helm(t, "ls", "--all"); err != nil {
		t.Fatalf("helm ls on %s: %v", addr, err)
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("nothing listens on %s: %v", addr, err)
	}
	c.Close()
}
