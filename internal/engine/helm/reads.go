package helm

import (
	"context"
	"fmt"
	"slices"

	chartutil "helm.sh/helm/v4/pkg/chart/common/util"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/charts"
	"github.com/kdu-io/kdu/internal/engine/values"
)

// Find locates the newest revision of a release by name, in one namespace or (namespace "") in all.
func (e *Engine) Find(ctx context.Context, namespace, name string) (*engine.Release, error) {
	rec, err := e.reader.find(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	out := toRelease(rec.rel)
	return &out, nil
}

// Status returns the newest revision of a release and the readiness of every object in its manifest. A release
// left pending-* by an interrupted operation is reported as such.
func (e *Engine) Status(ctx context.Context, key engine.Key) (*engine.Status, error) {
	rec, err := e.reader.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, err
	}
	return e.reader.status(ctx, rec)
}

// List returns the newest revision of every release, in every state (pending and failed included), sorted by
// namespace and name. It has no page limit.
func (e *Engine) List(ctx context.Context, opts engine.ListOptions) ([]engine.Release, error) {
	secrets, err := e.reader.allReleaseSecrets(ctx, opts.Namespace)
	if err != nil {
		return nil, err
	}
	latest := latestPerRelease(secrets)
	out := make([]engine.Release, 0, len(latest))
	for _, s := range latest {
		if len(opts.States) > 0 && !slices.Contains(opts.States, engine.State(s.Labels[labelStatus])) {
			continue
		}
		rec, err := e.reader.records.get(s)
		if err != nil {
			e.log.Warn("skipping an unreadable release record", "namespace", s.Namespace, "secret", s.Name, "error", err)
			continue
		}
		out = append(out, toRelease(rec.rel))
	}
	return out, nil
}

// History returns every stored revision of a release, oldest first.
func (e *Engine) History(ctx context.Context, key engine.Key) ([]engine.Release, error) {
	if key.Namespace == "" {
		cur, err := e.reader.find(ctx, "", key.Name)
		if err != nil {
			return nil, err
		}
		key.Namespace = cur.rel.Namespace
	}
	recs, err := e.reader.history(ctx, key)
	if err != nil {
		return nil, err
	}
	out := make([]engine.Release, len(recs))
	for i, r := range recs {
		out[i] = toRelease(r.rel)
	}
	return out, nil
}

// Manifest returns the manifest Helm recorded with the newest revision.
func (e *Engine) Manifest(ctx context.Context, key engine.Key) (string, error) {
	rec, err := e.reader.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return "", err
	}
	return rec.rel.Manifest, nil
}

// Values returns the user-supplied values of the newest revision or, with all, the values the chart was
// rendered with (chart defaults coalesced with the user's).
func (e *Engine) Values(ctx context.Context, key engine.Key, all bool) (map[string]any, error) {
	rec, err := e.reader.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, err
	}
	if !all {
		return values.Copy(rec.rel.Config), nil
	}
	if rec.rel.Chart == nil {
		return values.Copy(rec.rel.Config), nil
	}
	vals, err := chartutil.CoalesceValues(charts.Copy(rec.rel.Chart), values.Copy(rec.rel.Config))
	if err != nil {
		return nil, fmt.Errorf("computing values of %s: %w", key, err)
	}
	return vals, nil
}

// ChartDefaults returns the default values of the chart the newest revision was deployed with — the exact chart
// in the cluster, not whatever a repository serves today (bug 14 of docs/n2vc.md#n2vc-bugs-and-what-kdu-does).
// After an upgrade that reused values, Helm stores the chart with the values it was rendered with instead of its
// own defaults; those hold the same keys, which is what scale's replica-key discovery needs.
func (e *Engine) ChartDefaults(ctx context.Context, key engine.Key) (map[string]any, error) {
	rec, err := e.reader.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, err
	}
	if rec.rel.Chart == nil {
		return map[string]any{}, nil
	}
	return values.Copy(rec.rel.Chart.Values), nil
}
