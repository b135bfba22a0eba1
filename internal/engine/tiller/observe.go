package tiller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/kdu-io/kdu/internal/engine"
)

// observeBase reports the release's newest revision (0: none) to o as the operation's Base, and returns it.
// Tiller's storage cannot be wrapped from outside, so the Tiller engine reports what it asks Tiller to write.
func (e *Engine) observeBase(ctx context.Context, name string, o engine.Observer) (int, error) {
	if o == nil {
		return 0, nil
	}
	ev := engine.Observation{Event: engine.Base}
	cur, err := e.content(ctx, name, 0)
	switch {
	case errors.Is(err, engine.ErrReleaseNotFound):
	case err != nil:
		return 0, err
	default:
		ev.Revision, ev.State = int(cur.GetVersion()), stateOf(cur)
	}
	if err := o(ev); err != nil {
		return 0, fmt.Errorf("recording the revision %s starts from: %w", name, err)
	}
	return ev.Revision, nil
}

// notifyWrite reports a revision Tiller is about to write.
func notifyWrite(o engine.Observer, revision int, state engine.State, log *slog.Logger) {
	if err := o.Notify(engine.Observation{Event: engine.Write, Revision: revision, State: state}); err != nil {
		log.Warn("recording a revision Tiller writes", "revision", revision, "err", err)
	}
}

// followOn passes an operation's observer to the action it runs on failure (an atomic upgrade's rollback): the
// follow-on's Base is the operation's own revision, so only its writes are passed on.
func followOn(o engine.Observer) engine.Observer {
	if o == nil {
		return nil
	}
	return func(ev engine.Observation) error {
		if ev.Event == engine.Base {
			return nil
		}
		return o(ev)
	}
}
