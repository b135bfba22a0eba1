package kdu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/postrender"
	"github.com/kdu-io/kdu/internal/engine/values"
	"github.com/kdu-io/kdu/internal/naming"
	"github.com/kdu-io/kdu/internal/scale"
)

// Values are the value sources of an install or upgrade, merged in this order (later wins): Files, Params,
// Set, SetString.
type Values struct {
	// Files are values documents (YAML or JSON), as given with -f.
	Files []ValuesFile
	// Params are OSM-style parameters (docs/n2vc.md#params-and-values): literal top-level keys; a string value
	// starting with "!!yaml " is parsed as YAML.
	Params map[string]any
	// Set and SetString are Helm --set / --set-string expressions.
	Set, SetString []string
}

// ValuesFile is one values document: Name identifies it in errors (for example the file it came from).
type ValuesFile struct {
	Name string
	Data []byte
}

func (v Values) build() (map[string]any, error) {
	files := make([]values.File, len(v.Files))
	for i, f := range v.Files {
		files[i] = values.File{Name: f.Name, Data: f.Data}
	}
	vals, err := values.Options{Files: files, Params: v.Params, Set: v.Set, SetString: v.SetString}.Build()
	if err != nil {
		return nil, invalid("values", err)
	}
	return vals, nil
}

// Wait configures how a mutating operation waits for readiness.
type Wait struct {
	// Wait blocks until every object is ready or Timeout passes.
	Wait bool
	// Atomic rolls back on failure (an install is uninstalled, an upgrade returns to the previous revision).
	// It implies Wait.
	Atomic bool
	// Timeout bounds the wait; zero means the operation's default.
	Timeout time.Duration
	// Progress receives readiness updates while the operation runs.
	Progress ProgressFunc
	// Observe, if set, is told what the operation does to the release's history (see Observer).
	Observe Observer
}

// Observation is one thing an operation did to its release's recorded history.
type Observation struct {
	Event ObservedEvent
	// Revision is the revision concerned; with ObservedBase, 0 means there was no release.
	Revision int
	// State is the state recorded with the revision, or (ObservedDelete) the state it had.
	State ReleaseState
}

// ObservedEvent says what an Observation reports.
type ObservedEvent int

// Observed events.
const (
	// ObservedBase is the revision the operation starts from, reported once, before anything changes.
	ObservedBase = ObservedEvent(engine.Base)
	// ObservedWrite is a revision about to be created or updated.
	ObservedWrite = ObservedEvent(engine.Write)
	// ObservedDelete is a revision removed from the history.
	ObservedDelete = ObservedEvent(engine.Delete)
)

// Observer receives Observations synchronously, in order, from the goroutine running the operation: the Base
// once the release's lock is held and before anything changes (an error stops the operation before it acts),
// then each revision before it is written and after it is deleted (errors are logged: the engine's action
// cannot be stopped half-way). kdu's service records them with the operation, and decides from them, after a
// crash, what an interrupted operation did.
type Observer func(Observation) error

func (o Observer) engine() engine.Observer {
	if o == nil {
		return nil
	}
	return func(ev engine.Observation) error {
		return o(Observation{Event: ObservedEvent(ev.Event), Revision: ev.Revision, State: ev.State})
	}
}

func (w Wait) engine(def time.Duration) (engine.WaitOptions, error) {
	if w.Timeout < 0 {
		return engine.WaitOptions{}, invalidf("timeout", "must not be negative, got %s", w.Timeout)
	}
	t := w.Timeout
	if t == 0 {
		t = def
	}
	return engine.WaitOptions{Wait: w.Wait, Atomic: w.Atomic, Timeout: t, Progress: w.Progress, Observe: w.Observe.engine()}, nil
}

// InstallOptions describe an install (docs/n2vc.md#install).
type InstallOptions struct {
	// Name is the release name; "" generates one from the chart reference
	// (docs/n2vc.md#generate_kdu_instance_name) that is unused on the cluster.
	Name string
	// Chart is a chart reference: repo/chart[:version], ./dir, x.tgz, https://…/x.tgz (docs/n2vc.md#identifiers).
	Chart string
	// Version constrains the chart version (it must agree with a version written in Chart).
	Version string
	// RepoURL resolves a bare chart name from this repository URL (helm's --repo).
	RepoURL string
	// ChartArchive is a chart .tgz given in memory instead of Chart (a chart uploaded through the API).
	ChartArchive []byte
	// Verify refuses a chart that does not verify: a repository or URL chart needs a provenance file (.prov)
	// signed by a key of its repository's keyring (else Options.Keyring), an OCI chart needs a digest
	// (@sha256:…) or a signed provenance layer. Nothing is installed when verification fails.
	Verify bool
	// Namespace defaults to the cluster's default namespace.
	Namespace string
	// CreateNamespace creates the namespace if it does not exist.
	CreateNamespace bool
	Values          Values
	Description     string
	PostRender
	Wait
}

// PostRender are a release's post-render settings (docs/n2vc.md#post-render-labels-and-nodeselector), given
// with an install, upgrade or scale: PodLabels are added to the pod template (and the metadata) of every
// workload of the chart, hooks included, and NodeSelector is merged into every pod spec; on the same key they
// win over the chart's own. They belong to the release: an upgrade or scale with a nil map keeps the
// release's current setting, a non-nil one (an empty map included) replaces it. Helm 2 clusters refuse them
// (ErrUnsupported).
type PostRender struct {
	PodLabels    map[string]string
	NodeSelector map[string]string
}

func (p PostRender) validate() error {
	if err := postrender.Validate(p.PodLabels, p.NodeSelector); err != nil {
		var fe *postrender.FieldError
		if errors.As(err, &fe) {
			return invalidf(fe.Field, "%s", fe.Reason)
		}
		return err
	}
	return nil
}

func (p PostRender) engine() engine.PostRender {
	return engine.PostRender{PodLabels: p.PodLabels, NodeSelector: p.NodeSelector}
}

// Install installs a chart as a new release and returns it. Every input is validated and the chart loaded
// before anything changes on the cluster.
func (m *Manager) Install(ctx context.Context, clusterRef string, opts InstallOptions) (*Release, error) {
	p, err := m.planInstall(ctx, clusterRef, opts)
	if err != nil {
		return nil, err
	}
	ch := p.chart
	if ch == nil {
		if ch, err = m.loadChart(ctx, p.id, p.input); err != nil {
			return nil, err
		}
	}
	name := opts.Name
	if name == "" {
		name, err = naming.GenerateUnique(ctx, p.model(ch), nameTaken(p.cc, p.ns), 0)
		if err != nil {
			return nil, translate(err)
		}
	}
	unlock, err := m.lockRelease(ctx, p.id, name, "install")
	if err != nil {
		return nil, err
	}
	defer unlock()
	m.log.Info("install", "cluster", p.id, "namespace", p.ns, "release", name, "chart", p.input.String(), "atomic", p.wait.Atomic)
	rel, err := p.cc.engine.Install(ctx, engine.InstallRequest{
		Name: name, Namespace: p.ns, Chart: ch, Values: p.vals, CreateNamespace: opts.CreateNamespace,
		Description: opts.Description, PostRender: opts.PostRender.engine(), WaitOptions: p.wait,
	})
	return rel, translate(err)
}

// PlanInstall validates an install without performing it and returns the release it would create: the
// cluster id, the namespace and the name (generated if none was given, and checked to be unused). Services
// call it before queueing an install, so that bad input fails at once and the operation's target is known.
func (m *Manager) PlanInstall(ctx context.Context, clusterRef string, opts InstallOptions) (Target, error) {
	p, err := m.planInstall(ctx, clusterRef, opts)
	if err != nil {
		return Target{}, err
	}
	name := opts.Name
	if name == "" {
		if name, err = naming.GenerateUnique(ctx, p.model(p.chart), nameTaken(p.cc, p.ns), 0); err != nil {
			if errors.Is(err, naming.ErrInvalidModel) {
				return Target{}, invalid("chart", err)
			}
			return Target{}, translate(err)
		}
	} else {
		taken, err := nameTaken(p.cc, p.ns)(ctx, name)
		if err != nil {
			return Target{}, translate(err)
		}
		if taken {
			return Target{}, fmt.Errorf("release %q already exists on cluster %q: %w", name, p.id, ErrExists)
		}
	}
	return Target{Cluster: p.id, Namespace: p.ns, Name: name}, nil
}

// installPlan is a validated install.
type installPlan struct {
	id, ns string
	input  chartInput
	chart  engine.Chart // loaded already when it came in memory
	vals   map[string]any
	wait   engine.WaitOptions
	cc     *clusterConn
}

// model is what a generated name derives from: the chart reference, or the name of an uploaded chart.
func (p *installPlan) model(ch engine.Chart) string {
	if len(p.input.data) > 0 && ch != nil {
		return ch.Metadata().Name
	}
	return p.input.ref.String()
}

func (m *Manager) planInstall(ctx context.Context, clusterRef string, opts InstallOptions) (*installPlan, error) {
	nsPart, id, err := naming.ParseClusterID(clusterRef)
	if err != nil {
		return nil, invalid("cluster", err)
	}
	if opts.Name != "" {
		if err := naming.ValidateReleaseName(opts.Name); err != nil {
			return nil, invalid("name", err)
		}
	}
	if opts.Namespace != "" {
		if err := naming.ValidateNamespace(opts.Namespace); err != nil {
			return nil, invalid("namespace", err)
		}
	}
	in, err := m.parseChartInput(opts.Chart, opts.Version, opts.RepoURL, opts.ChartArchive, true)
	if err != nil {
		return nil, err
	}
	in.verify = opts.Verify
	if err := opts.PostRender.validate(); err != nil {
		return nil, err
	}
	vals, err := opts.Values.build()
	if err != nil {
		return nil, err
	}
	wait, err := opts.Wait.engine(DefaultTimeout)
	if err != nil {
		return nil, err
	}
	cc, rec, err := m.connection(ctx, id)
	if err != nil {
		return nil, err
	}
	p := &installPlan{id: id, ns: firstNonEmpty(opts.Namespace, nsPart, rec.Namespace, "default"), input: in, vals: vals, wait: wait, cc: cc}
	if len(in.data) > 0 {
		if p.chart, err = m.loadChart(ctx, id, in); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// GenerateName returns a release name derived from a chart reference (docs/n2vc.md#generate_kdu_instance_name)
// that no release on the cluster uses.
func (m *Manager) GenerateName(ctx context.Context, clusterRef, chart string) (string, error) {
	nsPart, id, err := naming.ParseClusterID(clusterRef)
	if err != nil {
		return "", invalid("cluster", err)
	}
	cc, rec, err := m.connection(ctx, id)
	if err != nil {
		return "", err
	}
	name, err := naming.GenerateUnique(ctx, chart, nameTaken(cc, firstNonEmpty(nsPart, rec.Namespace, "default")), 0)
	if errors.Is(err, naming.ErrInvalidModel) {
		return "", invalid("chart", err)
	}
	return name, translate(err)
}

// nameTaken reports whether a release name is used on the cluster. Credentials limited to some namespaces
// cannot search them all; the name is then checked in ns, where the release would go.
func nameTaken(cc *clusterConn, ns string) func(context.Context, string) (bool, error) {
	return func(ctx context.Context, n string) (bool, error) {
		_, err := cc.engine.Find(ctx, "", n)
		if errors.Is(err, engine.ErrForbidden) {
			_, err = cc.engine.Find(ctx, ns, n)
		}
		if errors.Is(err, engine.ErrReleaseNotFound) {
			return false, nil
		}
		return err == nil, err
	}
}

// ValuesMode says how an upgrade combines new values with the release's current ones.
type ValuesMode = engine.ValuesMode

// Values modes (docs/n2vc.md#upgrade).
const (
	ReuseValues          = engine.ReuseValues
	ResetValues          = engine.ResetValues
	ResetThenReuseValues = engine.ResetThenReuseValues
)

// UpgradeOptions describe an upgrade (docs/n2vc.md#upgrade).
type UpgradeOptions struct {
	// Chart is the chart to upgrade to; "" keeps the release's current chart (then only ReuseValues applies:
	// Helm does not keep a release's chart defaults once values were reused).
	Chart   string
	Version string
	RepoURL string
	// ChartArchive is a chart .tgz given in memory instead of Chart.
	ChartArchive []byte
	// Verify refuses a new chart that does not verify (see InstallOptions.Verify).
	Verify bool
	Values Values
	// ValuesMode defaults to ReuseValues, as N2VC's upgrade.
	ValuesMode ValuesMode
	// ForceConflicts takes over fields owned by other field managers (kubectl edits, operators).
	ForceConflicts bool
	// ForceReplace replaces changed objects instead of patching them (Helm's --force-replace, N2VC's force):
	// what a patch may not change (an immutable field) is recreated. It owns every field, so ForceConflicts is
	// moot with it.
	ForceReplace bool
	Description  string
	PostRender
	Wait
}

// Upgrade upgrades a release and returns the revision it ends at (with Atomic and a failure, the revision
// the rollback created, alongside the error).
func (m *Manager) Upgrade(ctx context.Context, t Target, opts UpgradeOptions) (*Release, error) {
	in, vals, wait, err := m.checkUpgrade(opts)
	if err != nil {
		return nil, err
	}
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	var ch engine.Chart
	if in.given() {
		if ch, err = m.loadChart(ctx, clusterID(t), in); err != nil {
			return nil, err
		}
	}
	unlock, err := m.lockRelease(ctx, clusterID(t), key.Name, "upgrade")
	if err != nil {
		return nil, err
	}
	defer unlock()
	m.log.Info("upgrade", "cluster", clusterID(t), "release", t.Name, "namespace", key.Namespace, "chart", in.String(), "atomic", wait.Atomic)
	rel, err := cc.engine.Upgrade(ctx, engine.UpgradeRequest{
		Key: key, Chart: ch, Values: vals, ValuesMode: opts.ValuesMode, ForceConflicts: opts.ForceConflicts,
		ForceReplace: opts.ForceReplace, Description: opts.Description, PostRender: opts.PostRender.engine(), WaitOptions: wait,
	})
	return rel, translate(err)
}

// Validate checks an upgrade's options without touching any cluster.
func (m *Manager) ValidateUpgrade(opts UpgradeOptions) error {
	_, _, _, err := m.checkUpgrade(opts)
	return err
}

func (m *Manager) checkUpgrade(opts UpgradeOptions) (chartInput, map[string]any, engine.WaitOptions, error) {
	var in chartInput
	var err error
	if opts.Chart != "" || len(opts.ChartArchive) > 0 {
		if in, err = m.parseChartInput(opts.Chart, opts.Version, opts.RepoURL, opts.ChartArchive, true); err != nil {
			return in, nil, engine.WaitOptions{}, err
		}
		in.verify = opts.Verify
	} else if opts.Version != "" {
		return in, nil, engine.WaitOptions{}, invalidf("version", "a version needs a chart to apply to")
	} else if opts.Verify {
		return in, nil, engine.WaitOptions{}, invalidf("verify", "verification needs a chart; an upgrade without one keeps the deployed chart")
	}
	if err := opts.PostRender.validate(); err != nil {
		return in, nil, engine.WaitOptions{}, err
	}
	vals, err := opts.Values.build()
	if err != nil {
		return in, nil, engine.WaitOptions{}, err
	}
	wait, err := opts.Wait.engine(DefaultTimeout)
	if err != nil {
		return in, nil, wait, err
	}
	if opts.ValuesMode < ReuseValues || opts.ValuesMode > ResetThenReuseValues {
		return in, nil, wait, invalidf("valuesMode", "unknown mode %d", opts.ValuesMode)
	}
	if opts.ValuesMode != ReuseValues && !in.given() {
		// Helm stores a release's chart with its values replaced by those it was last rendered with, so the
		// chart's own defaults cannot be recovered from the release.
		return in, nil, wait, invalidf("chart", "resetting values needs the chart to take the defaults from; give the chart reference")
	}
	return in, vals, wait, nil
}

// ScaleOptions describe a scale (docs/n2vc.md#scale).
type ScaleOptions struct {
	// Replicas is the new replica count.
	Replicas int
	// Resource names the values key of the resource to scale ("" = top level: replicaCount or replicas).
	Resource string
	// ForceReplace replaces changed objects instead of patching them (see UpgradeOptions.ForceReplace).
	ForceReplace bool
	PostRender
	// Wait's timeout defaults to 30 minutes (N2VC's total_timeout).
	Wait
}

// Scale sets a release's replica count: it finds the replica key (replicaCount or replicas, at the top level
// or under Resource) in the default values of the chart the release was deployed with, and upgrades the
// release reusing its values with that key set.
func (m *Manager) Scale(ctx context.Context, t Target, opts ScaleOptions) (*Release, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	wait, err := opts.Wait.engine(DefaultScaleTime)
	if err != nil {
		return nil, err
	}
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	unlock, err := m.lockRelease(ctx, clusterID(t), key.Name, "scale")
	if err != nil {
		return nil, err
	}
	defer unlock()
	defaults, err := cc.engine.ChartDefaults(ctx, key)
	if err != nil {
		return nil, translate(err)
	}
	path, err := scale.ReplicaKey(defaults, opts.Resource)
	if err != nil {
		return nil, invalid("resource", err)
	}
	m.log.Info("scale", "cluster", clusterID(t), "release", t.Name, "namespace", key.Namespace, "key", path, "replicas", opts.Replicas)
	rel, err := cc.engine.Upgrade(ctx, engine.UpgradeRequest{
		Key: key, Values: scale.SetCount(map[string]any{}, path, opts.Replicas), ValuesMode: engine.ReuseValues,
		Description: fmt.Sprintf("Scaled to %d replicas", opts.Replicas), ForceReplace: opts.ForceReplace, Phase: "scaling",
		PostRender: opts.PostRender.engine(), WaitOptions: wait,
	})
	return rel, translate(err)
}

// Validate checks the options without touching any cluster.
func (o ScaleOptions) Validate() error {
	if o.Replicas < 0 || o.Replicas > scale.MaxReplicas {
		return invalidf("replicas", "must be between 0 and %d, got %d", scale.MaxReplicas, o.Replicas)
	}
	if err := o.PostRender.validate(); err != nil {
		return err
	}
	_, err := o.Wait.engine(DefaultScaleTime)
	return err
}

// MigrateOptions describe a migrate (docs/n2vc.md#migrate): the release moves to the nodes NodeSelector selects.
type MigrateOptions struct {
	// NodeSelector replaces the release's post-render node selector; it is required.
	NodeSelector map[string]string
	// Wait: a migrate is always atomic (a failure returns to the previous revision); the timeout defaults to
	// DefaultTimeout.
	Wait
}

// Validate checks the options without touching any cluster.
func (o MigrateOptions) Validate() error {
	if len(o.NodeSelector) == 0 {
		return invalidf("nodeSelector", "is required: the labels of the nodes to move the release to")
	}
	if err := (PostRender{NodeSelector: o.NodeSelector}).validate(); err != nil {
		return err
	}
	_, err := o.Wait.engine(DefaultTimeout)
	return err
}

// Migrate moves a release to other nodes, as N2VC's migrate did: an atomic upgrade of its current chart and
// values with a new node selector and ForceReplace, so that what cannot be patched is recreated. Pod labels
// are kept. With a node selector that no node matches the upgrade times out and is rolled back.
func (m *Manager) Migrate(ctx context.Context, t Target, opts MigrateOptions) (*Release, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	w := opts.Wait
	w.Atomic = true
	wait, err := w.engine(DefaultTimeout)
	if err != nil {
		return nil, err
	}
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	unlock, err := m.lockRelease(ctx, clusterID(t), key.Name, "migrate")
	if err != nil {
		return nil, err
	}
	defer unlock()
	pairs := make([]string, 0, len(opts.NodeSelector))
	for _, k := range slices.Sorted(maps.Keys(opts.NodeSelector)) {
		pairs = append(pairs, k+"="+opts.NodeSelector[k])
	}
	m.log.Info("migrate", "cluster", clusterID(t), "release", t.Name, "namespace", key.Namespace, "node_selector", pairs)
	rel, err := cc.engine.Upgrade(ctx, engine.UpgradeRequest{
		Key: key, ValuesMode: engine.ReuseValues, ForceReplace: true, Phase: "migrating",
		Description: "Migrated to nodes " + strings.Join(pairs, ","),
		PostRender:  engine.PostRender{NodeSelector: opts.NodeSelector}, WaitOptions: wait,
	})
	return rel, translate(err)
}

// ScaleCount returns a release's replica count (docs/n2vc.md#get_scale_count): from the values the user gave,
// else from the defaults of the chart the release was deployed with.
func (m *Manager) ScaleCount(ctx context.Context, t Target, resource string) (int, error) {
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return 0, err
	}
	user, err := cc.engine.Values(ctx, key, false)
	if err != nil {
		return 0, translate(err)
	}
	n, found, err := scale.CountFromValues(user, resource)
	if err != nil {
		return 0, invalid("resource", err)
	}
	if found {
		return n, nil
	}
	defaults, err := cc.engine.ChartDefaults(ctx, key)
	if err != nil {
		return 0, translate(err)
	}
	if _, err := scale.ReplicaKey(defaults, resource); err != nil {
		return 0, invalid("resource", err)
	}
	n, found, err = scale.CountFromValues(defaults, resource)
	if err != nil {
		return 0, invalid("resource", err)
	}
	if !found {
		return 0, invalidf("resource", "replica count not found for %q in release %s: cannot be scaled", resource, t.Name)
	}
	return n, nil
}

// RollbackOptions describe a rollback (docs/n2vc.md#rollback).
type RollbackOptions struct {
	// Revision to return to; 0 means the previous one.
	Revision int
	Wait
}

// Rollback rolls a release back and returns the new revision it creates.
func (m *Manager) Rollback(ctx context.Context, t Target, opts RollbackOptions) (*Release, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	wait, err := opts.Wait.engine(DefaultTimeout)
	if err != nil {
		return nil, err
	}
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	unlock, err := m.lockRelease(ctx, clusterID(t), key.Name, "rollback")
	if err != nil {
		return nil, err
	}
	defer unlock()
	m.log.Info("rollback", "cluster", clusterID(t), "release", t.Name, "namespace", key.Namespace, "revision", opts.Revision)
	rel, err := cc.engine.Rollback(ctx, engine.RollbackRequest{Key: key, Revision: opts.Revision, WaitOptions: wait})
	return rel, translate(err)
}

// Validate checks the options without touching any cluster.
func (o RollbackOptions) Validate() error {
	if o.Revision < 0 {
		return invalidf("revision", "must be 0 (the previous revision) or a revision number, got %d", o.Revision)
	}
	_, err := o.Wait.engine(DefaultTimeout)
	return err
}

// UninstallOptions describe an uninstall (docs/n2vc.md#uninstall).
type UninstallOptions struct {
	// Wait blocks until the release's objects are gone.
	Wait    bool
	Timeout time.Duration
	// Observe, if set, is told what the uninstall does to the release's history (see Observer).
	Observe Observer
}

// Uninstall removes a release and its history. It is idempotent: uninstalling a release that does not exist
// returns (nil, nil).
func (m *Manager) Uninstall(ctx context.Context, t Target, opts UninstallOptions) (*Release, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	unlock, err := m.lockRelease(ctx, clusterID(t), key.Name, "uninstall")
	if err != nil {
		return nil, err
	}
	defer unlock()
	m.log.Info("uninstall", "cluster", clusterID(t), "release", t.Name, "namespace", key.Namespace)
	rel, err := cc.engine.Uninstall(ctx, engine.UninstallRequest{Key: key, Wait: opts.Wait, Timeout: opts.Timeout, Observe: opts.Observe.engine()})
	if errors.Is(err, engine.ErrReleaseNotFound) {
		return nil, nil
	}
	return rel, translate(err)
}

// Validate checks the options.
func (o UninstallOptions) Validate() error {
	if o.Timeout < 0 {
		return invalidf("timeout", "must not be negative, got %s", o.Timeout)
	}
	return nil
}

// Find returns the newest revision of a release, looked up by name across the cluster's namespaces when the
// target names no namespace. Services call it to check a target before queueing an operation on it.
func (m *Manager) Find(ctx context.Context, t Target) (*Release, error) {
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	rel, err := cc.engine.Find(ctx, key.Namespace, key.Name)
	return rel, translate(err)
}

// Unlock resolves a release left in a pending state (pending-install, pending-upgrade, pending-rollback) by
// a process that died during an operation: it marks that revision failed, with reason as its description, so
// that later operations are not refused. Only call it when no operation can be running on the release (kdu's
// service does, for operations whose owner's lease expired). It reports whether the release was pending.
func (m *Manager) Unlock(ctx context.Context, t Target, reason string) (*Release, bool, error) {
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, false, err
	}
	unlock, err := m.lockRelease(ctx, clusterID(t), key.Name, "unlock")
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	rel, changed, err := cc.engine.Unlock(ctx, key, reason)
	if changed {
		m.log.Warn("release left pending marked failed", "cluster", clusterID(t), "release", key.Name, "namespace", rel.Namespace,
			"revision", rel.Revision, "reason", reason)
	}
	return rel, changed, translate(err)
}

// Status returns a release's newest revision and the readiness of every object of its manifest.
func (m *Manager) Status(ctx context.Context, t Target) (*Status, error) {
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	st, err := cc.engine.Status(ctx, key)
	return st, translate(err)
}

// Manifest returns the objects of a release's newest revision as Helm recorded them (docs/n2vc.md#status_kdu),
// one map per object, in manifest order. With maskSecrets, the values of every Secret's data and stringData
// are replaced by "***" (the keys stay), so callers who may not read Secrets see what the release holds.
func (m *Manager) Manifest(ctx context.Context, t Target, maskSecrets bool) ([]map[string]any, error) {
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	text, err := cc.engine.Manifest(ctx, key)
	if err != nil {
		return nil, translate(err)
	}
	objs, err := manifestObjects(text)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", t.Name, err)
	}
	if maskSecrets {
		maskSecretData(objs)
	}
	return objs, nil
}

// maskSecretData replaces the values of every Secret's data and stringData with "***", keeping the keys.
func maskSecretData(objs []map[string]any) {
	for _, o := range objs {
		if o["kind"] != "Secret" {
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			if d, ok := o[field].(map[string]any); ok {
				for k := range d {
					d[k] = "***"
				}
			}
		}
	}
}

// manifestObjects splits a rendered manifest into its objects; empty documents are skipped.
func manifestObjects(text string) ([]map[string]any, error) {
	out := []map[string]any{}
	dec := yamlv3.NewDecoder(strings.NewReader(text))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(doc) > 0 {
			out = append(out, doc)
		}
	}
}

// ListOptions filter List.
type ListOptions struct {
	// Namespace restricts the list to one namespace; "" lists all.
	Namespace string
	// States restricts the list to releases in these states; empty lists every state.
	States []ReleaseState
}

// List returns the newest revision of every release on a cluster, in every state unless filtered.
func (m *Manager) List(ctx context.Context, clusterRef string, opts ListOptions) ([]Release, error) {
	nsPart, id, err := naming.ParseClusterID(clusterRef)
	if err != nil {
		return nil, invalid("cluster", err)
	}
	ns := firstNonEmpty(opts.Namespace, nsPart)
	if ns != "" {
		if err := naming.ValidateNamespace(ns); err != nil {
			return nil, invalid("namespace", err)
		}
	}
	for _, s := range opts.States {
		if !s.Valid() {
			return nil, invalidf("state", "unknown release state %q", s)
		}
	}
	cc, _, err := m.connection(ctx, id)
	if err != nil {
		return nil, err
	}
	rels, err := cc.engine.List(ctx, engine.ListOptions{Namespace: ns, States: opts.States})
	return rels, translate(err)
}

// History returns every stored revision of a release, oldest first.
func (m *Manager) History(ctx context.Context, t Target) ([]Release, error) {
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	h, err := cc.engine.History(ctx, key)
	return h, translate(err)
}

// GetValues returns the user-supplied values of a release (docs/n2vc.md#get_values_kdu), or all computed
// values.
func (m *Manager) GetValues(ctx context.Context, t Target, all bool) (map[string]any, error) {
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	v, err := cc.engine.Values(ctx, key, all)
	return v, translate(err)
}

// Services returns the Services of a release (docs/n2vc.md#get_services).
func (m *Manager) Services(ctx context.Context, t Target) ([]Service, error) {
	cc, key, err := m.resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	s, err := cc.engine.Services(ctx, key)
	return s, translate(err)
}

// ExecPrimitive is N2VC's exec_primitive: Helm KDUs support no primitives beyond the operations above.
func (m *Manager) ExecPrimitive(ctx context.Context, t Target, primitive string, params map[string]any) error {
	if _, _, err := m.resolve(ctx, t); err != nil {
		return err
	}
	return fmt.Errorf("%w: KDUs deployed with Helm don't support actions different from rollback, upgrade and status (asked for %q)",
		ErrUnsupported, primitive)
}

// UpgradeCharm is N2VC's upgrade_charm (docs/n2vc.md#upgrade_charm): Helm KDUs have no charm, so it always
// fails with ErrUnsupported and N2VC's text.
func (m *Manager) UpgradeCharm(ctx context.Context, t Target) error {
	if _, _, err := m.resolve(ctx, t); err != nil {
		return err
	}
	return fmt.Errorf("%w: KDUs deployed with Helm do not support charm upgrade", ErrUnsupported)
}

// resolve validates a target and returns its cluster's engine and the release key. The namespace may be
// empty: the engine then finds the release by name across namespaces (once, inside the operation).
func (m *Manager) resolve(ctx context.Context, t Target) (*clusterConn, engine.Key, error) {
	nsPart, id, err := naming.ParseClusterID(t.Cluster)
	if err != nil {
		return nil, engine.Key{}, invalid("cluster", err)
	}
	if err := naming.ValidateReleaseName(t.Name); err != nil {
		return nil, engine.Key{}, invalid("name", err)
	}
	ns := firstNonEmpty(t.Namespace, nsPart)
	if ns != "" {
		if err := naming.ValidateNamespace(ns); err != nil {
			return nil, engine.Key{}, invalid("namespace", err)
		}
	}
	cc, _, err := m.connection(ctx, id)
	if err != nil {
		return nil, engine.Key{}, err
	}
	return cc, engine.Key{Namespace: ns, Name: t.Name}, nil
}

// clusterID returns the id part of a validated cluster reference.
func clusterID(t Target) string {
	_, id, _ := naming.ParseClusterID(t.Cluster)
	return id
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
