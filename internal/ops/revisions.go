package ops

import (
	"context"
	"log/slog"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/store"
)

// recorder records, with a running operation, the revisions its engine reports: the one it starts from and
// each one it is about to write. Recovery decides from them (decide.go).
type recorder struct {
	r   *Runner
	op  store.Operation
	log *slog.Logger
}

func (r *Runner) recorder(op store.Operation, log *slog.Logger) recorder {
	return recorder{r: r, op: op, log: log}
}

// record writes one observation to the store, synchronously: the engine waits for it, so that a process that
// dies right after has it recorded.
func (c recorder) record(ev kdu.Observation) error {
	var base *int
	written := 0
	switch ev.Event {
	case kdu.ObservedBase:
		rev := ev.Revision
		base = &rev
	case kdu.ObservedWrite:
		written = ev.Revision
	default:
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := c.r.cfg.Store.RecordRevisions(ctx, c.op.ID, c.r.cfg.Owner, base, written)
	return err
}

// observer records the base and the writes of the operation.
func (c recorder) observer() kdu.Observer { return c.record }

// writesOnly records the writes of a repair recovery makes, keeping the operation's base: a second recovery
// must still know the revision the operation started from.
func (c recorder) writesOnly() kdu.Observer {
	return func(ev kdu.Observation) error {
		if ev.Event == kdu.ObservedBase {
			return nil
		}
		return c.record(ev)
	}
}
