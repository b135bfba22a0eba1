package tiller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/helm"
	"github.com/kdu-io/kdu/internal/engine/values"
	"github.com/kdu-io/kdu/internal/helm2/hapi/release"
	"github.com/kdu-io/kdu/internal/helm2/hapi/services"
)

// content returns a revision of a release (0: the newest).
func (e *Engine) content(ctx context.Context, name string, rev int32) (*release.Release, error) {
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := rc.GetReleaseContent(cctx, &services.GetReleaseContentRequest{Name: name, Version: rev})
	if err != nil {
		return nil, e.classify(err, name)
	}
	if resp.GetRelease() == nil {
		return nil, fmt.Errorf("%w: %s", engine.ErrReleaseNotFound, name)
	}
	return resp.GetRelease(), nil
}

// find returns a release's newest revision, checking its namespace when one is given. Release names are
// unique per Tiller, so a name is never ambiguous.
func (e *Engine) find(ctx context.Context, namespace, name string) (*release.Release, error) {
	r, err := e.content(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	if namespace != "" && r.GetNamespace() != namespace {
		return nil, fmt.Errorf("%w: %s in namespace %s (it is in %s)", engine.ErrReleaseNotFound, name, namespace, r.GetNamespace())
	}
	return r, nil
}

// Find locates a release by name.
func (e *Engine) Find(ctx context.Context, namespace, name string) (*engine.Release, error) {
	r, err := e.find(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return toRelease(r), nil
}

// Status returns the release with the readiness of every object of its manifest.
func (e *Engine) Status(ctx context.Context, key engine.Key) (*engine.Status, error) {
	r, err := e.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, err
	}
	res, err := helm.ManifestResources(ctx, e.conn, r.GetManifest(), r.GetNamespace())
	if err != nil {
		return nil, err
	}
	return &engine.Status{Release: *toRelease(r), Notes: r.GetInfo().GetStatus().GetNotes(), Resources: res}, nil
}

func (e *Engine) watchProgress(ctx context.Context, key engine.Key, phase string, fn engine.ProgressFunc) func() {
	return engine.WatchProgress(ctx, e.opts.ProgressInterval, func(ctx context.Context) (engine.Progress, bool) {
		st, err := e.Status(ctx, engine.Key{Name: key.Name})
		if err != nil || ctx.Err() != nil {
			return engine.Progress{}, false
		}
		return engine.ProgressOf(phase, st), true
	}, fn)
}

// allStatuses lists every status code of a current revision (as `helm ls --all`: superseded revisions are
// history, not releases), so List shows pending and failed releases too.
var allStatuses = []release.Status_Code{release.Status_UNKNOWN, release.Status_DEPLOYED, release.Status_DELETED,
	release.Status_FAILED, release.Status_DELETING, release.Status_PENDING_INSTALL,
	release.Status_PENDING_UPGRADE, release.Status_PENDING_ROLLBACK}

// List lists the newest revision of every release, paging through Tiller's stream.
func (e *Engine) List(ctx context.Context, opts engine.ListOptions) ([]engine.Release, error) {
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	want := map[engine.State]bool{}
	for _, s := range opts.States {
		want[s] = true
	}
	newest := map[string]engine.Release{} // Tiller may return several revisions of a release
	offset := ""
	for {
		stream, err := rc.ListReleases(cctx, &services.ListReleasesRequest{Limit: 256, Offset: offset, StatusCodes: allStatuses, Namespace: opts.Namespace})
		if err != nil {
			return nil, e.classify(err, "list")
		}
		next := ""
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, e.classify(err, "list")
			}
			for _, r := range resp.GetReleases() {
				rel := toRelease(r)
				if prev, ok := newest[rel.Name]; !ok || rel.Revision > prev.Revision {
					newest[rel.Name] = *rel
				}
			}
			next = resp.GetNext()
		}
		if next == "" || next == offset {
			break
		}
		offset = next
	}
	out := []engine.Release{}
	for _, rel := range newest {
		if rel.State == engine.StateUninstalled || (len(want) > 0 && !want[rel.State]) {
			continue
		}
		out = append(out, rel)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// History returns every revision of a release, oldest first.
func (e *Engine) History(ctx context.Context, key engine.Key) ([]engine.Release, error) {
	if _, err := e.find(ctx, key.Namespace, key.Name); err != nil {
		return nil, err
	}
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := rc.GetHistory(cctx, &services.GetHistoryRequest{Name: key.Name, Max: 256})
	if err != nil {
		return nil, e.classify(err, key.Name)
	}
	out := make([]engine.Release, 0, len(resp.GetReleases()))
	for _, r := range resp.GetReleases() {
		out = append(out, *toRelease(r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out, nil
}

// Manifest returns the manifest Tiller recorded with the newest revision.
func (e *Engine) Manifest(ctx context.Context, key engine.Key) (string, error) {
	r, err := e.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return "", err
	}
	return r.GetManifest(), nil
}

// Values returns the user values of the current revision, or those merged over the chart defaults.
func (e *Engine) Values(ctx context.Context, key engine.Key, all bool) (map[string]any, error) {
	r, err := e.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, err
	}
	user, err := values.ParseYAML("release values", []byte(r.GetConfig().GetRaw()))
	if err != nil {
		return nil, err
	}
	if !all {
		return user, nil
	}
	defaults, err := values.ParseYAML("chart values", []byte(r.GetChart().GetValues().GetRaw()))
	if err != nil {
		return nil, err
	}
	return values.Merge(defaults, user), nil
}

// ChartDefaults returns the default values of the chart of the current revision.
func (e *Engine) ChartDefaults(ctx context.Context, key engine.Key) (map[string]any, error) {
	r, err := e.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, err
	}
	return values.ParseYAML("chart values", []byte(r.GetChart().GetValues().GetRaw()))
}

// Services returns the Services of the release's manifest as they are on the cluster.
func (e *Engine) Services(ctx context.Context, key engine.Key) ([]engine.Service, error) {
	r, err := e.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, err
	}
	return helm.ManifestServices(ctx, e.conn, r.GetManifest(), r.GetNamespace())
}

var states = map[release.Status_Code]engine.State{
	release.Status_UNKNOWN: engine.StateUnknown, release.Status_DEPLOYED: engine.StateDeployed,
	release.Status_DELETED: engine.StateUninstalled, release.Status_SUPERSEDED: engine.StateSuperseded,
	release.Status_FAILED: engine.StateFailed, release.Status_DELETING: engine.StateUninstalling,
	release.Status_PENDING_INSTALL: engine.StatePendingInstall, release.Status_PENDING_UPGRADE: engine.StatePendingUpgrade,
	release.Status_PENDING_ROLLBACK: engine.StatePendingRollback,
}

// stateOf is the state of a Tiller release record.
func stateOf(r *release.Release) engine.State {
	if st, ok := states[r.GetInfo().GetStatus().GetCode()]; ok {
		return st
	}
	return engine.StateUnknown
}

func toRelease(r *release.Release) *engine.Release {
	md := r.GetChart().GetMetadata()
	info := r.GetInfo()
	out := &engine.Release{
		Name: r.GetName(), Namespace: r.GetNamespace(), Revision: int(r.GetVersion()),
		State: stateOf(r), Description: info.GetDescription(),
		ChartName: md.GetName(), ChartVersion: md.GetVersion(), AppVersion: md.GetAppVersion(),
	}
	if md != nil {
		out.Chart = md.GetName() + "-" + md.GetVersion()
	}
	if t := info.GetFirstDeployed(); t != nil {
		out.FirstDeployed = t.AsTime()
	}
	if t := info.GetLastDeployed(); t != nil {
		out.Updated = t.AsTime()
	}
	return out
}
