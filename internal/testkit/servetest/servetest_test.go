package servetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeServe writes a script that behaves like `kdu serve` as far as Start can tell: it logs its arguments, a
// "kdu serving" JSON line after a short delay, then waits (trapping SIGTERM unless told to ignore it).
func fakeServe(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kdu")
	script := "#!/bin/sh\necho \"args: $*\"\necho 'not json'\n" + body
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStartStopKill(t *testing.T) {
	bin := fakeServe(t, `sleep 0.2
echo '{"msg":"kdu serving","address":"127.0.0.1:4242"}'
trap 'exit 0' TERM
while :; do sleep 0.05; done
`)
	logPath := filepath.Join(t.TempDir(), "serve.log")
	p, err := Start(t.Context(), bin, logPath, []string{"PATH=" + os.Getenv("PATH"), "KDU_X=1"}, "--data-dir", "/d")
	if err != nil {
		t.Fatal(err)
	}
	if p.URL != "http://127.0.0.1:4242" {
		t.Fatalf("URL = %q", p.URL)
	}
	data, _ := os.ReadFile(logPath)
	if !strings.Contains(string(data), "args: serve --listen 127.0.0.1:0 --log-format json --data-dir /d") {
		t.Fatalf("arguments: %s", data)
	}
	if !p.Stop(10 * time.Second) {
		t.Fatal("a process that exits on SIGTERM was killed")
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited not closed after Stop")
	}

	// A process that ignores SIGTERM is killed after the grace period.
	stubborn := fakeServe(t, `echo '{"msg":"kdu serving","address":"127.0.0.1:1"}'
trap '' TERM
while :; do sleep 0.05; done
`)
	p, err = Start(t.Context(), stubborn, filepath.Join(t.TempDir(), "s.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stop(300 * time.Millisecond) {
		t.Fatal("a process ignoring SIGTERM stopped within the grace period")
	}
	p2, err := Start(t.Context(), stubborn, filepath.Join(t.TempDir(), "k.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p2.Kill()
	select {
	case <-p2.Exited():
	default:
		t.Fatal("Exited not closed after Kill")
	}
}

func TestStartFailures(t *testing.T) {
	exits := fakeServe(t, "echo boom >&2\nexit 3\n")
	_, err := Start(t.Context(), exits, filepath.Join(t.TempDir(), "e.log"), nil)
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("a process that exits at once: %v", err)
	}
	if _, err := Start(t.Context(), filepath.Join(t.TempDir(), "missing"), filepath.Join(t.TempDir(), "m.log"), nil); err == nil {
		t.Fatal("a missing binary started")
	}
}

func TestCleanEnv(t *testing.T) {
	t.Setenv("KDU_SECRET_KEY", "x")
	for _, kv := range CleanEnv() {
		if strings.HasPrefix(kv, "KDU_") {
			t.Fatalf("CleanEnv kept %s", kv)
		}
	}
}

func TestServingAddress(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if got := ServingAddress(path); got != "" {
		t.Fatalf("missing file: %q", got)
	}
	os.WriteFile(path, []byte("{\"msg\":\"other\",\"address\":\"x\"}\ngarbage\n{\"msg\":\"kdu serving\",\"address\":\"127.0.0.1:9\"}\n"), 0o600)
	if got := ServingAddress(path); got != "127.0.0.1:9" {
		t.Fatalf("ServingAddress = %q", got)
	}
}
