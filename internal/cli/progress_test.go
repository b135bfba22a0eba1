package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kdu-io/kdu"
)

func TestProgressOnTerminal(t *testing.T) {
	var stderr bytes.Buffer
	a := &app{stderr: &stderr, output: "table", isTTY: true}
	fn, done := a.progressFunc()
	if fn == nil {
		t.Fatal("no progress function on a terminal")
	}
	fn(kdu.Progress{Phase: "installing", Revision: 1, State: "pending-install", Ready: 1, Total: 5, NotReady: []kdu.Resource{
		{Kind: "Deployment", Name: "a"}, {Kind: "Deployment", Name: "b"}, {Kind: "StatefulSet", Name: "c"}, {Kind: "Job", Name: "d"},
	}})
	fn(kdu.Progress{Phase: "installing", Revision: 1, State: "deployed", Ready: 5, Total: 5})
	done()
	out := stderr.String()
	for _, want := range []string{
		"installing: revision 1 pending-install, resources ready 1/5; waiting for Deployment/a, Deployment/b, StatefulSet/c, +1 more",
		"\rinstalling: revision 1 deployed, resources ready 5/5",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("progress output %q lacks %q", out, want)
		}
	}
	if !strings.HasSuffix(out, "\r") {
		t.Fatalf("progress line not cleared at the end: %q", out)
	}
}

func TestNoProgressWhenNotATerminalOrMachineOutput(t *testing.T) {
	for _, a := range []*app{{output: "table", isTTY: false}, {output: "json", isTTY: true}} {
		if fn, _ := a.progressFunc(); fn != nil {
			t.Fatalf("progress enabled for isTTY=%v output=%s", a.isTTY, a.output)
		}
	}
}
