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
	observe := r.recorder(op, r.log.With("operation_id", op.ID)).observer()
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
		o.Name, o.Namespace, o.Progress, o.Observe = op.Release, op.Namespace, progress, observe
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
		o.Progress, o.Observe = progress, observe
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
		o.Progress, o.Observe = progress, observe
		rel, err := m.Scale(ctx, t, o)
		return outcome{rel, err}
	case api.KindMigrate:
		var req api.MigrateRequest
		if err := decode(op.Request, &req); err != nil {
			return outcome{err: err}
		}
		o, err := apiconv.Migrate(req)
		if err != nil {
			return outcome{err: err}
		}
		o.Progress, o.Observe = progress, observe
		rel, err := m.Migrate(ctx, t, o)
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
		o.Progress, o.Observe = progress, observe
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
		o.Observe = observe
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
	case api.KindMigrate:
		return true
	}
	return false
}

// recover resolves an operation whose previous owner stopped while running it, by the table in decide.go
// (README, "Restart safety"): from the revisions the operation recorded and the release's state now.
func (r *Runner) recover(ctx context.Context, op store.Operation, progress kdu.ProgressFunc, log *slog.Logger) outcome {
	m := r.cfg.Manager
	t := kdu.Target{Cluster: op.Cluster, Namespace: op.Namespace, Name: op.Release}
	rel, err := m.Find(ctx, t)
	var nf *kdu.NotFoundError
	missing := errors.As(err, &nf) && nf.Kind == "release"
	if err != nil && !missing {
		return outcome{err: fmt.Errorf("%w: its process stopped, and the release's state cannot be read: %w", apierr.ErrInterrupted, err)}
	}
	var cur *current
	if rel != nil && !missing {
		cur = &current{Revision: rel.Revision, State: rel.State}
	}
	d := decide(op.Kind, atomic(op), op.BaseRevision, op.WrittenRevision, cur)
	log.Info("recovering an interrupted operation", "base_revision", op.BaseRevision, "written_revision", op.WrittenRevision,
		"decision", d.String())
	switch d.verdict {
	case rerun:
		return r.perform(ctx, op, progress)
	case succeed:
		return outcome{rel: rel}
	}
	msg := d.why
	writes := r.recorder(op, log).writesOnly()
	if d.unlock {
		if _, _, err := m.Unlock(ctx, t, fmt.Sprintf("kdu: %s interrupted: its process stopped (operation %s)", op.Kind, op.ID)); err != nil {
			return outcome{rel: rel, err: fmt.Errorf("%w: %s, but it could not be marked failed: %w", apierr.ErrInterrupted, msg, err)}
		}
	}
	switch d.repair {
	case uninstallRelease:
		if _, err := m.Uninstall(ctx, t, kdu.UninstallOptions{Observe: writes}); err != nil {
			msg += fmt.Sprintf("; uninstalling the release failed: %v", err)
		} else {
			msg += "; the release was uninstalled (atomic)"
		}
	case rollbackToBase:
		base := *op.BaseRevision
		if back, err := m.Rollback(ctx, t, kdu.RollbackOptions{Revision: base, Wait: kdu.Wait{Progress: progress, Observe: writes}}); err != nil {
			msg += fmt.Sprintf("; rolling back to revision %d failed: %v", base, err)
		} else {
			msg += fmt.Sprintf("; it was rolled back to revision %d (atomic), now revision %d", base, back.Revision)
		}
	}
	if after, err := m.Find(ctx, t); err == nil {
		rel = after
	} else if errors.As(err, &nf) {
		rel = nil
	}
	log.Warn("interrupted operation resolved", "detail", msg)
	return outcome{rel: rel, err: fmt.Errorf("%w: %s", apierr.ErrInterrupted, msg)}
}
