package client

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependsOnlyOnAPI keeps the client light: a Go program that talks to a kdu server must not pull in Helm,
// client-go, the SQLite driver or gRPC. The client may import the api package and the standard library only.
func TestDependsOnlyOnAPI(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case pkg == "github.com/kdu-io/kdu/api", pkg == "github.com/kdu-io/kdu/client":
		case strings.HasPrefix(pkg, "helm.sh/"), strings.HasPrefix(pkg, "k8s.io/"), strings.HasPrefix(pkg, "sigs.k8s.io/"),
			strings.HasPrefix(pkg, "modernc.org/"), strings.HasPrefix(pkg, "google.golang.org/grpc"):
			t.Errorf("the client depends on %s", pkg)
		case strings.Contains(strings.SplitN(pkg, "/", 2)[0], "."):
			t.Errorf("the client depends on %s: only the api package and the standard library are allowed", pkg)
		}
	}
}
