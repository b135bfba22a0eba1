package cli

import (
	"strings"
	"testing"
	"time"
)

// Every serve flag has its KDU_ variable; a flag given wins over it, and a malformed value is an error that
// names the variable instead of being ignored.
func TestServeFlagsFromEnvironment(t *testing.T) {
	parse := func(args ...string) (map[string]string, error) {
		cmd := (&app{}).serveCmd()
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		if err := cmd.PreRunE(cmd, nil); err != nil {
			return nil, err
		}
		got := map[string]string{}
		for _, n := range []string{"lease", "max-running", "listen", "log-level"} {
			got[n] = cmd.Flags().Lookup(n).Value.String()
		}
		if !strings.Contains(cmd.Flags().Lookup("max-running").Usage, "[KDU_MAX_RUNNING]") {
			t.Errorf("the help of --max-running does not name its variable: %q", cmd.Flags().Lookup("max-running").Usage)
		}
		return got, nil
	}

	t.Setenv("KDU_LEASE", "45s")
	t.Setenv("KDU_MAX_RUNNING", "3")
	t.Setenv("KDU_LISTEN", "127.0.0.1:9999")
	got, err := parse("--listen", "127.0.0.1:7777")
	if err != nil {
		t.Fatal(err)
	}
	if got["lease"] != (45*time.Second).String() || got["max-running"] != "3" || got["listen"] != "127.0.0.1:7777" || got["log-level"] != "info" {
		t.Fatalf("flags from the environment: %v", got)
	}

	for name, bad := range map[string]string{"KDU_LEASE": "soon", "KDU_MAX_RUNNING": "many", "KDU_INDEX_REFRESH": "10"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, bad)
			_, err := parse()
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), bad) {
				t.Fatalf("%s=%q: err %v, want an error naming the variable and its value", name, bad, err)
			}
		})
	}
}
