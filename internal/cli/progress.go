package cli

import (
	"fmt"
	"strings"
	"sync"

	"github.com/kdu-io/kdu"
)

// progress renders an operation's readiness on stderr while it waits: in place on a terminal, not at all
// otherwise (scripts get the result only).
type progress struct {
	a    *app
	mu   sync.Mutex
	line int // width of the last line drawn
	// lines prints each update on its own line (logs, CI) instead of redrawing one line.
	lines bool
	last  string
}

func (a *app) progressFunc() (kdu.ProgressFunc, func()) {
	switch {
	case a.progress == "lines":
		p := &progress{a: a, lines: true}
		return p.update, p.done
	case a.progress == "off" || !a.isTTY || a.output != "table":
		return nil, func() {}
	}
	p := &progress{a: a}
	return p.update, p.done
}

func (p *progress) update(pr kdu.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf("%s: revision %d %s, resources ready %d/%d", pr.Phase, pr.Revision, pr.State, pr.Ready, pr.Total)
	if len(pr.NotReady) > 0 {
		names := make([]string, 0, 3)
		for i, r := range pr.NotReady {
			if i == 3 {
				names = append(names, fmt.Sprintf("+%d more", len(pr.NotReady)-3))
				break
			}
			names = append(names, r.Kind+"/"+r.Name)
		}
		msg += "; waiting for " + strings.Join(names, ", ")
	}
	if p.lines {
		if msg != p.last {
			fmt.Fprintln(p.a.stderr, msg)
			p.last = msg
		}
		return
	}
	pad := ""
	if n := p.line - len(msg); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.a.stderr, "\r%s%s", msg, pad)
	p.line = len(msg)
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line > 0 {
		fmt.Fprintf(p.a.stderr, "\r%s\r", strings.Repeat(" ", p.line))
		p.line = 0
	}
}
