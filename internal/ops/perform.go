package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/apiconv"
	"github.com/kdu-io/kdu/internal/apierr"
	"github.com/kdu-io/kdu/internal/store"
)

// decode reads an operation's stored request into v.
func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("reading the stored request: %w", err)
	}
	return nil
}

// perform runs an operation through the library.
func (r *Runner) perform(ctx context.Context, op store.Operation, progress kdu.ProgressFunc) outcome {
	m := r.cfg.Manager
	t := kdu.Target{Cluster: op.Cluster, Namespace: op.Namespace, Name: op.Release}
	switch op.Kind {
	case api.KindInstall:
		var req api.InstallRequest
		if err := decode(op.Request, &req); err != nil {
			return outcome{err: err}
		}
		o, err := apiconv.Install(req)
		if err != nil {
			return outcome{err: err}
		}
		o.Name, o.Namespace, o.Progress = op.Release, op.Namespace, progress
		rel, err := m.Install(ctx, op.Cluster, o)
		return outcome{rel, err}
	case api.KindUpgrade:
		var req api.UpgradeRequest
		if err := decode(op.Request, &req); err != nil {
			return outcome{err: err}
		}
		o, err := apiconv.Upgrade(req)
		if err != nil {
			return outcome{err: err}
		}
		o.Progress = progress
		rel, err := m.Upgrade(ctx, t, o)
		return outcome{rel, err}
	case api.KindScale:
		var req api.ScaleRequest
		if err := decode(op.Request, &req); err != nil {
			return outcome{err: err}
		}
		o, err := apiconv.Scale(req)
		if err != nil {
			return outcome{err: err}
		}
		o.Progress = progress
		rel, err := m.Scale(ctx, t, o)
		return outcome{rel, err}
	case api.KindRollback:
		var req api.RollbackRequest
		if err := decode(op.Request, &req); err != nil {
			return outcome{err: err}
		}
		o, err := apiconv.Rollback(req)
		if err != nil {
			return outcome{err: err}
		}
		o.Progress = progress
		rel, err := m.Rollback(ctx, t, o)
		return outcome{rel, err}
	case api.KindUninstall:
		var req api.UninstallRequest
		if err := decode(op.Request, &req); err != nil {
			return outcome{err: err}
		}
		o, err := apiconv.Uninstall(req)
		if err != nil {
			return outcome{err: err}
		}
		rel, err := m.Uninstall(ctx, t, o)
		return outcome{rel, err}
	}
	return outcome{err: fmt.Errorf("unknown operation kind %q", op.Kind)}
}

// atomic reports whether an operation's request asked for rollback on failure.
func atomic(op store.Operation) bool {
	var w api.Wait
	if json.Unmarshal(op.Request, &w) != nil {
		return false
	}
	switch op.Kind {
	case api.KindInstall, api.KindUpgrade, api.KindScale:
		return w.IsAtomic()
	}
	return false
}

// recover resolves an operation whose previous owner stopped while running it. The policy (README,
// "Restart safety"):
//   - the release is pending-*: the dead process was inside the Helm action. The revision is marked failed
//     so the release is usable again; if the operation was atomic, its rollback is done now (an install is
//     uninstalled, an upgrade or scale returns to the previous revision). The operation fails "interrupted".
//   - the release changed after the operation started and is not pending: the action completed; the
//     operation takes the outcome the release shows (deployed: succeeded; failed: failed).
//   - nothing changed: the action never reached the cluster, so it runs now.
func (r *Runner) recover(ctx context.Context, op store.Operation, progress kdu.ProgressFunc, log *slog.Logger) outcome {
	m := r.cfg.Manager
	t := kdu.Target{Cluster: op.Cluster, Namespace: op.Namespace, Name: op.Release}
	cur, err := m.Find(ctx, t)
	var nf *kdu.NotFoundError
	missing := errors.As(err, &nf) && nf.Kind == "release"
	if err != nil && !missing {
		return outcome{err: fmt.Errorf("%w: its process stopped, and the release's state cannot be read: %w", apierr.ErrInterrupted, err)}
	}
	if cur != nil && cur.State.IsPending() {
		state := cur.State
		if _, _, err := m.Unlock(ctx, t, fmt.Sprintf("kdu: %s interrupted: its process stopped (operation %s)", op.Kind, op.ID)); err != nil {
			return outcome{rel: cur, err: fmt.Errorf("%w: the release was left %s and could not be marked failed: %w", apierr.ErrInterrupted, state, err)}
		}
		msg := fmt.Sprintf("its process stopped during the Helm action; the release was left %s and is now marked failed", state)
		var rel *kdu.Release
		if atomic(op) {
			switch op.Kind {
			case api.KindInstall:
				if _, err = m.Uninstall(ctx, t, kdu.UninstallOptions{}); err == nil {
					msg += "; as the operation was atomic, the release was uninstalled"
				}
			default:
				if rel, err = m.Rollback(ctx, t, kdu.RollbackOptions{Wait: kdu.Wait{Progress: progress}}); err == nil {
					msg += fmt.Sprintf("; as the operation was atomic, it was rolled back (revision %d)", rel.Revision)
				}
			}
			if err != nil {
				msg += fmt.Sprintf("; the atomic rollback failed: %v", err)
			}
		}
		if rel == nil {
			rel, _ = m.Find(ctx, t)
		}
		log.Warn("release left pending by a stopped process resolved", "detail", msg)
		return outcome{rel: rel, err: fmt.Errorf("%w: %s", apierr.ErrInterrupted, msg)}
	}
	if op.Kind == api.KindUninstall && missing {
		return outcome{}
	}
	if cur != nil && !op.StartedAt.IsZero() && !cur.Updated.Before(op.StartedAt) && op.Kind != api.KindUninstall {
		if cur.State == kdu.ReleaseState("deployed") {
			log.Info("the interrupted operation had completed; recording its outcome", "revision", cur.Revision)
			return outcome{rel: cur}
		}
		return outcome{rel: cur, err: fmt.Errorf("%w: its process stopped; the release ended %s: %s", apierr.ErrInterrupted, cur.State, cur.Description)}
	}
	log.Info("the interrupted operation had not reached the cluster; running it now")
	return r.perform(ctx, op, progress)
}
