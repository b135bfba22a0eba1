package tiller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/helm"
	"github.com/kdu-io/kdu/internal/engine/values"
	hapichart "github.com/kdu-io/kdu/internal/helm2/hapi/chart"
	"github.com/kdu-io/kdu/internal/helm2/hapi/release"
	"github.com/kdu-io/kdu/internal/helm2/hapi/services"
)

// DefaultNamespace is where Tiller runs unless told otherwise (helm2's default).
const DefaultNamespace = "kube-system"

// Options configure an Engine.
type Options struct {
	// Namespace is Tiller's namespace (default kube-system).
	Namespace string
	// Address is Tiller's gRPC address (host:port); "" port-forwards to the Tiller pod in Namespace.
	Address string
	// DefaultTimeout bounds waits when a request gives none (default 5 minutes).
	DefaultTimeout time.Duration
	// ProgressInterval is how often readiness is sampled while an operation waits (default 1 s).
	ProgressInterval time.Duration
	Logger           *slog.Logger
}

// Engine performs KDU operations through Tiller. It implements engine.Engine.
type Engine struct {
	conn *cluster.Conn
	opts Options
	c    *client
	log  *slog.Logger
}

var _ engine.Engine = (*Engine)(nil)

// New returns a Tiller engine for one cluster. It connects on first use.
func New(conn *cluster.Conn, opts Options) *Engine {
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = 5 * time.Minute
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{conn: conn, opts: opts, log: log, c: &client{conn: conn, namespace: opts.Namespace, address: opts.Address}}
}

// Close closes the connection to Tiller and its tunnel.
func (e *Engine) Close() { e.c.close() }

// Version returns Tiller's version (such as "v2.17.0").
func (e *Engine) Version(ctx context.Context) (string, error) { return e.c.Version(ctx) }

func (e *Engine) timeoutSeconds(t time.Duration) int64 {
	if t <= 0 {
		t = e.opts.DefaultTimeout
	}
	s := int64(t / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// classify maps Tiller's error texts (every error is codes.Unknown with a message) to engine sentinels.
func (e *Engine) classify(err error, name string) error {
	if err == nil {
		return nil
	}
	e.c.reset(err)
	msg := unwrap(err).Error()
	switch {
	case errors.Is(err, engine.ErrUnreachable), errors.Is(err, engine.ErrTillerUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case strings.Contains(msg, "not found") && strings.Contains(msg, name):
		return fmt.Errorf("%w: %s (Tiller: %s)", engine.ErrReleaseNotFound, name, msg)
	case strings.Contains(msg, "cannot re-use a name that is still in use"), strings.Contains(msg, "already exists"):
		return fmt.Errorf("%w: %s (Tiller: %s)", engine.ErrReleaseExists, name, msg)
	case strings.Contains(msg, "timed out waiting"):
		return fmt.Errorf("%w: %s (Tiller: %s)", engine.ErrTimeout, name, msg)
	case strings.Contains(msg, "incompatible versions"):
		return fmt.Errorf("%w: Tiller refused kdu's version header: %s", engine.ErrTillerUnavailable, msg)
	case strings.Contains(msg, "another operation") && strings.Contains(msg, "in progress"):
		return fmt.Errorf("%w: %s (Tiller: %s)", engine.ErrPending, name, msg)
	case strings.Contains(msg, "connection refused"), strings.Contains(msg, "Unavailable"):
		return fmt.Errorf("%w: %s", engine.ErrTillerUnavailable, msg)
	}
	return fmt.Errorf("tiller: %s: %s", name, msg)
}

// values renders values as the YAML document Tiller takes.
func valuesConfig(v map[string]any) (*hapichart.Config, error) {
	if len(v) == 0 {
		return &hapichart.Config{Raw: "{}\n"}, nil
	}
	data, err := yaml.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding values: %w", err)
	}
	return &hapichart.Config{Raw: string(data)}, nil
}

// Install installs a release. Tiller creates the namespace itself, so without CreateNamespace kdu checks that
// it exists first. Atomic installs that fail are purged, as helm2's --atomic does.
func (e *Engine) Install(ctx context.Context, req engine.InstallRequest) (*engine.Release, error) {
	if !req.CreateNamespace {
		if _, err := e.conn.Clientset.CoreV1().Namespaces().Get(ctx, req.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s", engine.ErrNamespaceNotFound, req.Namespace)
		} else if err != nil {
			return nil, fmt.Errorf("%w: %w", engine.ErrUnreachable, err)
		}
	}
	ch, err := chartFor(req.Chart, req.Values)
	if err != nil {
		return nil, err
	}
	cfg, err := valuesConfig(req.Values)
	if err != nil {
		return nil, err
	}
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	base, err := e.observeBase(ctx, req.Name, req.Observe)
	if err != nil {
		return nil, err
	}
	notifyWrite(req.Observe, base+1, engine.StatePendingInstall, e.log)
	wait := req.Wait || req.Atomic
	key := engine.Key{Namespace: req.Namespace, Name: req.Name}
	stop := e.watchProgress(ctx, key, "waiting", req.Progress)
	resp, err := rc.InstallRelease(cctx, &services.InstallReleaseRequest{
		Chart: ch, Values: cfg, Name: req.Name, Namespace: req.Namespace, Wait: wait,
		Timeout: e.timeoutSeconds(req.Timeout), Description: req.Description,
	})
	stop()
	if err != nil {
		err = e.classify(err, req.Name)
		if req.Atomic && !errors.Is(err, engine.ErrReleaseExists) {
			e.log.Warn("atomic install failed: purging the release", "release", req.Name, "error", err.Error())
			if _, uerr := e.uninstall(context.WithoutCancel(ctx), req.Name, req.Timeout, req.Observe); uerr != nil && !errors.Is(uerr, engine.ErrReleaseNotFound) {
				return nil, fmt.Errorf("%w (and purging it failed: %w)", err, uerr)
			}
			return nil, fmt.Errorf("%w; the release was purged (atomic)", err)
		}
		return nil, err
	}
	return toRelease(resp.GetRelease()), nil
}

// Upgrade upgrades a release. A nil chart reuses the release's current chart. Atomic upgrades that fail roll back
// to the previous revision, as helm2's --atomic does.
func (e *Engine) Upgrade(ctx context.Context, req engine.UpgradeRequest) (*engine.Release, error) {
	cur, err := e.content(ctx, req.Name, 0)
	if err != nil {
		return nil, err
	}
	if req.Namespace != "" && cur.GetNamespace() != req.Namespace {
		return nil, fmt.Errorf("%w: %s in namespace %s", engine.ErrReleaseNotFound, req.Name, req.Namespace)
	}
	vals := req.Values
	effective := req.Values // the values the dependencies' conditions are evaluated with
	reuse, reset := false, false
	old, err := values.ParseYAML("current values", []byte(cur.GetConfig().GetRaw()))
	if err != nil {
		return nil, fmt.Errorf("decoding the release's values: %w", err)
	}
	switch req.ValuesMode {
	case engine.ReuseValues:
		reuse, effective = true, values.Merge(old, req.Values)
	case engine.ResetValues:
		reset = true
	case engine.ResetThenReuseValues:
		// Tiller has no such mode: merge the current user values and the new ones here, and reset.
		vals, reset = values.Merge(old, req.Values), true
		effective = vals
	}
	ch := cur.GetChart()
	if req.Chart != nil {
		if ch, err = chartFor(req.Chart, effective); err != nil {
			return nil, err
		}
	}
	cfg, err := valuesConfig(vals)
	if err != nil {
		return nil, err
	}
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	if err := req.Observe.Notify(engine.Observation{Event: engine.Base, Revision: int(cur.GetVersion()), State: stateOf(cur)}); err != nil {
		return nil, err
	}
	notifyWrite(req.Observe, int(cur.GetVersion())+1, engine.StatePendingUpgrade, e.log)
	wait := req.Wait || req.Atomic
	stop := e.watchProgress(ctx, req.Key, "waiting", req.Progress)
	resp, err := rc.UpdateRelease(cctx, &services.UpdateReleaseRequest{
		Name: req.Name, Chart: ch, Values: cfg, ReuseValues: reuse, ResetValues: reset, Wait: wait,
		Timeout: e.timeoutSeconds(req.Timeout), Description: req.Description, Force: req.ForceConflicts,
	})
	stop()
	if err != nil {
		err = e.classify(err, req.Name)
		if req.Atomic && !errors.Is(err, engine.ErrReleaseNotFound) {
			e.log.Warn("atomic upgrade failed: rolling back", "release", req.Name, "to", cur.GetVersion(), "error", err.Error())
			_, rerr := e.Rollback(context.WithoutCancel(ctx), engine.RollbackRequest{Key: engine.Key{Name: req.Name},
				Revision: int(cur.GetVersion()), WaitOptions: engine.WaitOptions{Wait: true, Timeout: req.Timeout, Observe: followOn(req.Observe)}})
			if rerr != nil {
				return nil, fmt.Errorf("%w (and rolling back failed: %w)", err, rerr)
			}
			return nil, fmt.Errorf("%w; rolled back to revision %d (atomic)", err, cur.GetVersion())
		}
		return nil, err
	}
	return toRelease(resp.GetRelease()), nil
}

// Rollback rolls a release back to a revision (0: the previous one).
func (e *Engine) Rollback(ctx context.Context, req engine.RollbackRequest) (*engine.Release, error) {
	rev := req.Revision
	if rev == 0 {
		cur, err := e.content(ctx, req.Name, 0)
		if err != nil {
			return nil, err
		}
		if cur.GetVersion() <= 1 {
			return nil, fmt.Errorf("%w: %s has no previous revision", engine.ErrReleaseNotFound, req.Name)
		}
		rev = int(cur.GetVersion()) - 1
	}
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	base, err := e.observeBase(ctx, req.Name, req.Observe)
	if err != nil {
		return nil, err
	}
	notifyWrite(req.Observe, base+1, engine.StatePendingRollback, e.log)
	stop := e.watchProgress(ctx, req.Key, "rolling back", req.Progress)
	resp, err := rc.RollbackRelease(cctx, &services.RollbackReleaseRequest{
		Name: req.Name, Version: int32(rev), Wait: req.Wait || req.Atomic, Timeout: e.timeoutSeconds(req.Timeout),
		Description: fmt.Sprintf("Rollback to %d", rev),
	})
	stop()
	if err != nil {
		return nil, e.classify(err, req.Name)
	}
	return toRelease(resp.GetRelease()), nil
}

// Uninstall deletes and purges a release (spec §4.9; N2VC's helm2 `delete --purge`).
func (e *Engine) Uninstall(ctx context.Context, req engine.UninstallRequest) (*engine.Release, error) {
	if req.Namespace != "" {
		if _, err := e.Find(ctx, req.Namespace, req.Name); err != nil {
			return nil, err
		}
	}
	return e.uninstall(ctx, req.Name, req.Timeout, req.Observe)
}

func (e *Engine) uninstall(ctx context.Context, name string, timeout time.Duration, o engine.Observer) (*engine.Release, error) {
	rc, cctx, err := e.c.rpc(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := e.observeBase(ctx, name, o); err != nil {
		return nil, err
	}
	resp, err := rc.UninstallRelease(cctx, &services.UninstallReleaseRequest{Name: name, Purge: true, Timeout: e.timeoutSeconds(timeout)})
	if err != nil {
		return nil, e.classify(err, name)
	}
	if r := resp.GetRelease(); r != nil {
		_ = o.Notify(engine.Observation{Event: engine.Delete, Revision: int(r.GetVersion()), State: engine.StateUninstalled})
	}
	rel := toRelease(resp.GetRelease())
	rel.State = engine.StateUninstalled
	return rel, nil
}

// Unlock cannot clear a pending state: Tiller offers no call for it. It reports the release unchanged, or
// ErrUnsupported when the release is pending (purge it, or roll it back when Tiller allows).
func (e *Engine) Unlock(ctx context.Context, key engine.Key, _ string) (*engine.Release, bool, error) {
	rel, err := e.Find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, false, err
	}
	if rel.State.IsPending() {
		return rel, false, fmt.Errorf("%w: %s is %s in Tiller, which offers no way to mark it failed", engine.ErrUnsupported, key.Name, rel.State)
	}
	return rel, false, nil
}

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
