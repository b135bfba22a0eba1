package serve_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/kdu-io/kdu/internal/serve"
)

// TestDebugListen: --debug-listen serves Go's profiles on a loopback address, apart from the API, and refuses
// any other address before anything listens.
func TestDebugListen(t *testing.T) {
	err := serve.Run(t.Context(), serve.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), DebugListen: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("a debug endpoint on 0.0.0.0: %v", err)
	}

	err = serve.Run(t.Context(), serve.Options{Listen: "127.0.0.1:0", DataDir: t.TempDir(), KubeQPS: -1})
	if err == nil || !strings.Contains(err.Error(), "kube-qps") {
		t.Fatalf("a negative --kube-qps: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := startService(t, serve.Options{DebugListen: addr})
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("http://" + addr + "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("debug endpoint: %d %.200s", code, body)
	}
	if code, _ := get("http://" + addr + "/debug/pprof/heap?debug=1"); code != http.StatusOK {
		t.Fatalf("heap profile: %d", code)
	}
	// The API does not serve the profiles.
	if code, _ := get(s.url + "/debug/pprof/"); code == http.StatusOK {
		t.Fatal("the API port serves /debug/pprof/")
	}
}
