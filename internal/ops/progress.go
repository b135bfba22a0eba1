package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/store"
)

// progressWriter records progress reports without ever blocking the engine: it keeps only the newest one.
type progressWriter struct {
	r       *Runner
	op      store.Operation
	targets []api.StatusTarget
	log     *slog.Logger
	latest  chan kdu.Progress
	done    chan struct{}
	wg      sync.WaitGroup
}

func newProgressWriter(r *Runner, op store.Operation, targets []api.StatusTarget, log *slog.Logger) *progressWriter {
	p := &progressWriter{r: r, op: op, targets: targets, log: log, latest: make(chan kdu.Progress, 1), done: make(chan struct{})}
	p.wg.Add(1)
	go p.loop()
	return p
}

func (p *progressWriter) fn(pr kdu.Progress) {
	for {
		select {
		case p.latest <- pr:
			return
		default:
		}
		select { // replace the unwritten report with the newer one
		case <-p.latest:
		default:
		}
	}
}

func (p *progressWriter) loop() {
	defer p.wg.Done()
	for {
		select {
		case pr := <-p.latest:
			p.write(pr)
		case <-p.done:
			select {
			case pr := <-p.latest:
				p.write(pr)
			default:
			}
			return
		}
	}
}

func (p *progressWriter) write(pr kdu.Progress) {
	b, err := json.Marshal(pr)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	op, err := p.r.cfg.Store.UpdateProgress(ctx, p.op.ID, p.r.cfg.Owner, b)
	if err != nil {
		p.log.Warn("recording progress", "err", err)
		return
	}
	v := View(op)
	p.r.cfg.Hub.Publish(v)
	p.r.publishTargets(v, p.targets, progressText(op.Kind, pr), nil)
}

func (p *progressWriter) close() {
	close(p.done)
	p.wg.Wait()
}

func progressText(kind string, pr kdu.Progress) string {
	phase := pr.Phase
	if phase == "" {
		phase = kind
	}
	if pr.Total > 0 {
		return fmt.Sprintf("%s: %d/%d resources ready", phase, pr.Ready, pr.Total)
	}
	return phase
}
