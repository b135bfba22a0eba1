package cli

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu"
)

// valueFlags are the value sources shared by install and upgrade.
type valueFlags struct {
	files     []string
	params    string
	set       []string
	setString []string
}

func (v *valueFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVarP(&v.files, "values", "f", nil, "values file (- for stdin); repeatable, later files win")
	f.StringVar(&v.params, "params", "", "OSM-style params file: a YAML/JSON map, keys literal, \"!!yaml <doc>\" strings parsed")
	f.StringArrayVar(&v.set, "set", nil, "set a value: key=value[,key=value] (repeatable)")
	f.StringArrayVar(&v.setString, "set-string", nil, "set a string value: key=value[,key=value] (repeatable)")
}

func (v *valueFlags) build(a *app) (kdu.Values, error) {
	out := kdu.Values{Set: v.set, SetString: v.setString}
	for _, f := range v.files {
		data, err := readInput(a, f)
		if err != nil {
			return out, &kdu.FieldError{Field: "values", Reason: err.Error(), Err: err}
		}
		out.Files = append(out.Files, kdu.ValuesFile{Name: f, Data: data})
	}
	if v.params != "" {
		data, err := readInput(a, v.params)
		if err != nil {
			return out, &kdu.FieldError{Field: "params", Reason: err.Error(), Err: err}
		}
		if err := yaml.Unmarshal(data, &out.Params); err != nil {
			return out, &kdu.FieldError{Field: "params", Reason: fmt.Sprintf("%s is not a YAML or JSON map: %s", v.params, err), Err: err}
		}
	}
	return out, nil
}

type waitFlags struct {
	wait    bool
	atomic  bool
	timeout time.Duration
}

func (w *waitFlags) register(cmd *cobra.Command, wait, atomic bool, timeout time.Duration) {
	cmd.Flags().BoolVar(&w.wait, "wait", wait, "wait until every resource is ready")
	cmd.Flags().BoolVar(&w.atomic, "atomic", atomic, "roll back on failure (implies --wait)")
	cmd.Flags().DurationVar(&w.timeout, "timeout", timeout, "how long to wait for readiness")
}

func (w *waitFlags) opts(fn kdu.ProgressFunc) kdu.Wait {
	return kdu.Wait{Wait: w.wait, Atomic: w.atomic, Timeout: w.timeout, Progress: fn}
}

// postRenderFlags are --pod-label and --node-selector (and, on upgrade and scale, the flags that clear them).
type postRenderFlags struct {
	podLabels, nodeSelector           []string
	clearPodLabels, clearNodeSelector bool
}

func (p *postRenderFlags) register(cmd *cobra.Command, clearable bool) {
	f := cmd.Flags()
	f.StringArrayVar(&p.podLabels, "pod-label", nil, "label added to the pod template of every workload, key=value (repeatable; wins over the chart's)")
	f.StringArrayVar(&p.nodeSelector, "node-selector", nil, "node selector entry merged into every pod spec, key=value (repeatable)")
	if clearable {
		f.BoolVar(&p.clearPodLabels, "clear-pod-labels", false, "remove the release's pod labels (without --pod-label they are kept)")
		f.BoolVar(&p.clearNodeSelector, "clear-node-selector", false, "remove the release's node selector (without --node-selector it is kept)")
	}
}

func (p *postRenderFlags) build() (kdu.PostRender, error) {
	var out kdu.PostRender
	var err error
	if out.PodLabels, err = pairs("--pod-label", p.podLabels, "--clear-pod-labels", p.clearPodLabels); err != nil {
		return out, err
	}
	out.NodeSelector, err = pairs("--node-selector", p.nodeSelector, "--clear-node-selector", p.clearNodeSelector)
	return out, err
}

// pairs parses key=value flags into a map: nil when none is given (keep), empty with clear (clearFlag).
func pairs(flag string, kvs []string, clearFlag string, clear bool) (map[string]string, error) {
	if clear && len(kvs) > 0 {
		return nil, usagef("%s and %s exclude each other", flag, clearFlag)
	}
	if clear {
		return map[string]string{}, nil
	}
	if len(kvs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("%s %q: want key=value", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// verifyUsage describes --verify.
const verifyUsage = "refuse a chart that does not verify: a provenance file signed by a key of the repository's keyring, or for OCI a digest (@sha256:…) or signed provenance"

// chartArg makes an existing local path absolute (so ../charts/x works) and leaves references alone.
func chartArg(s string) string {
	if strings.Contains(s, "://") {
		return s
	}
	if _, err := os.Stat(s); err == nil {
		if abs, err := filepath.Abs(s); err == nil {
			return abs
		}
	}
	return s
}

func (a *app) installCmd() *cobra.Command {
	var vf valueFlags
	var wf waitFlags
	var pf postRenderFlags
	var version, repoURL, description string
	var createNS, verify bool
	cmd := &cobra.Command{
		Use:   "install [NAME] CHART",
		Short: "Install a chart as a new release",
		Long: `Install a chart. CHART is repo/chart[:version] (a repository registered on the cluster or
its project), oci://host/path/chart[:version|@sha256:digest], a chart directory, a .tgz file or
an https URL of one. --verify refuses a chart that does not verify. Without NAME, a name is
generated from the chart reference and checked unique on the cluster.`,
		Args: rangeArgs(1, 2, "[NAME] CHART"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, chart := "", args[0]
			if len(args) == 2 {
				name, chart = args[0], args[1]
			}
			vals, err := vf.build(a)
			if err != nil {
				return err
			}
			pr, err := pf.build()
			if err != nil {
				return err
			}
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			fn, done := a.progressFunc()
			rel, err := b.Install(cmd.Context(), c, kdu.InstallOptions{
				Name: name, Chart: chartArg(chart), Version: version, RepoURL: repoURL, Verify: verify, Namespace: a.namespace,
				CreateNamespace: createNS, Values: vals, Description: description, PostRender: pr, Wait: wf.opts(fn),
			})
			done()
			if err != nil {
				return err
			}
			return a.printRelease(rel)
		},
	}
	vf.register(cmd)
	wf.register(cmd, false, false, kdu.DefaultTimeout)
	pf.register(cmd, false)
	cmd.Flags().StringVar(&version, "version", "", "chart version or constraint (default: latest stable)")
	cmd.Flags().StringVar(&repoURL, "repo", "", "chart repository URL to find a bare chart name in")
	cmd.Flags().StringVar(&description, "description", "", "description recorded with the revision")
	cmd.Flags().BoolVar(&createNS, "create-namespace", true, "create the namespace if it does not exist")
	cmd.Flags().BoolVar(&verify, "verify", false, verifyUsage)
	return cmd
}

func (a *app) upgradeCmd() *cobra.Command {
	var vf valueFlags
	var wf waitFlags
	var pf postRenderFlags
	var version, repoURL, description string
	var reset, resetThenReuse, reuse, forceConflicts, forceReplace, verify bool
	cmd := &cobra.Command{
		Use:   "upgrade NAME [CHART]",
		Short: "Upgrade a release (to a new chart, or its current chart with new values)",
		Args:  rangeArgs(1, 2, "NAME [CHART]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode := kdu.ReuseValues
			n := 0
			for _, f := range []bool{reset, resetThenReuse, reuse} {
				if f {
					n++
				}
			}
			if n > 1 {
				return usagef("--reuse-values, --reset-values and --reset-then-reuse-values exclude each other")
			}
			switch {
			case reset:
				mode = kdu.ResetValues
			case resetThenReuse:
				mode = kdu.ResetThenReuseValues
			}
			chart := ""
			if len(args) == 2 {
				chart = chartArg(args[1])
			}
			vals, err := vf.build(a)
			if err != nil {
				return err
			}
			pr, err := pf.build()
			if err != nil {
				return err
			}
			b, t, err := a.target(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fn, done := a.progressFunc()
			rel, err := b.Upgrade(cmd.Context(), t, kdu.UpgradeOptions{
				Chart: chart, Version: version, RepoURL: repoURL, Verify: verify, Values: vals, ValuesMode: mode,
				ForceConflicts: forceConflicts, ForceReplace: forceReplace, Description: description, PostRender: pr,
				Wait: wf.opts(fn),
			})
			done()
			if err != nil {
				if rel != nil {
					fmt.Fprintf(a.stderr, "release %s is now at revision %d (%s)\n", rel.Name, rel.Revision, rel.State)
				}
				return err
			}
			return a.printRelease(rel)
		},
	}
	vf.register(cmd)
	wf.register(cmd, false, false, kdu.DefaultTimeout)
	f := cmd.Flags()
	f.StringVar(&version, "version", "", "chart version or constraint")
	f.StringVar(&repoURL, "repo", "", "chart repository URL to find a bare chart name in")
	f.StringVar(&description, "description", "", "description recorded with the revision")
	f.BoolVar(&reuse, "reuse-values", false, "merge new values over the release's current ones (the default)")
	f.BoolVar(&reset, "reset-values", false, "use only the chart's defaults and the new values")
	f.BoolVar(&resetThenReuse, "reset-then-reuse-values", false, "use the new chart's defaults, then the current values, then the new ones")
	f.BoolVar(&forceConflicts, "force-conflicts", false, "take over fields owned by other field managers (server-side apply conflicts)")
	f.BoolVar(&forceReplace, "force-replace", false, forceReplaceUsage)
	f.BoolVar(&verify, "verify", false, verifyUsage+" (needs CHART)")
	pf.register(cmd, true)
	return cmd
}

func (a *app) scaleCmd() *cobra.Command {
	var wf waitFlags
	var pf postRenderFlags
	var resource string
	var forceReplace bool
	cmd := &cobra.Command{
		Use:   "scale NAME [REPLICAS]",
		Short: "Set a release's replica count, or print it when REPLICAS is omitted",
		Long: `Scale a release. kdu finds the replica key (replicaCount or replicas) in the default values of
the chart the release runs, at the top level or under --resource, and upgrades the release
reusing its values with that key set. Without REPLICAS it prints the current count.`,
		Args: rangeArgs(1, 2, "NAME [REPLICAS]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, t, err := a.target(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if len(args) == 1 {
				n, err := b.ScaleCount(cmd.Context(), t, resource)
				if err != nil {
					return err
				}
				return a.print(map[string]any{"name": t.Name, "resource": resource, "replicas": n}, func(w io.Writer) {
					fmt.Fprintln(w, n)
				})
			}
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return &kdu.FieldError{Field: "replicas", Reason: fmt.Sprintf("%q is not a whole number", args[1])}
			}
			pr, err := pf.build()
			if err != nil {
				return err
			}
			fn, done := a.progressFunc()
			rel, err := b.Scale(cmd.Context(), t, kdu.ScaleOptions{Replicas: n, Resource: resource, ForceReplace: forceReplace,
				PostRender: pr, Wait: wf.opts(fn)})
			done()
			if err != nil {
				return err
			}
			return a.printRelease(rel)
		},
	}
	wf.register(cmd, false, true, kdu.DefaultScaleTime)
	cmd.Flags().StringVar(&resource, "resource", "", "values key of the resource to scale (default: top level)")
	cmd.Flags().BoolVar(&forceReplace, "force-replace", false, forceReplaceUsage)
	pf.register(cmd, true)
	return cmd
}

// kvList renders a map as k=v,k2=v2 in key order.
func kvList(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

// forceReplaceUsage describes --force-replace.
const forceReplaceUsage = "replace changed objects instead of patching them: what a patch may not change is recreated"

func (a *app) migrateCmd() *cobra.Command {
	var timeout time.Duration
	var nodeSelector []string
	cmd := &cobra.Command{
		Use:   "migrate NAME --node-selector key=value...",
		Short: "Move a release to other nodes (an atomic upgrade with a new node selector and --force-replace)",
		Long: `Migrate a release, as N2VC's migrate: kdu upgrades it with its current chart and values, the
given node selector merged into every pod spec (replacing the release's node selector; its pod
labels are kept), and --force-replace. It always waits and is atomic: if the workloads do not
become ready on the selected nodes within --timeout, the release returns to its revision.`,
		Args: rangeArgs(1, 1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := pairs("--node-selector", nodeSelector, "", false)
			if err != nil {
				return err
			}
			b, t, err := a.target(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fn, done := a.progressFunc()
			rel, err := b.Migrate(cmd.Context(), t, kdu.MigrateOptions{NodeSelector: sel,
				Wait: kdu.Wait{Wait: true, Atomic: true, Timeout: timeout, Progress: fn}})
			done()
			if err != nil {
				if rel != nil {
					fmt.Fprintf(a.stderr, "release %s is now at revision %d (%s)\n", rel.Name, rel.Revision, rel.State)
				}
				return err
			}
			return a.printRelease(rel)
		},
	}
	cmd.Flags().StringArrayVar(&nodeSelector, "node-selector", nil, "node selector entry, key=value (repeatable; at least one)")
	cmd.Flags().DurationVar(&timeout, "timeout", kdu.DefaultTimeout, "how long to wait for readiness before rolling back")
	return cmd
}

func (a *app) rollbackCmd() *cobra.Command {
	var wf waitFlags
	cmd := &cobra.Command{
		Use:   "rollback NAME [REVISION]",
		Short: "Roll a release back to a revision (default: the previous one)",
		Args:  rangeArgs(1, 2, "NAME [REVISION]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev := 0
			if len(args) == 2 {
				n, err := strconv.Atoi(args[1])
				if err != nil {
					return &kdu.FieldError{Field: "revision", Reason: fmt.Sprintf("%q is not a whole number", args[1])}
				}
				rev = n
			}
			b, t, err := a.target(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fn, done := a.progressFunc()
			rel, err := b.Rollback(cmd.Context(), t, kdu.RollbackOptions{Revision: rev, Wait: wf.opts(fn)})
			done()
			if err != nil {
				return err
			}
			return a.printRelease(rel)
		},
	}
	cmd.Flags().BoolVar(&wf.wait, "wait", true, "wait until every resource is ready")
	cmd.Flags().DurationVar(&wf.timeout, "timeout", kdu.DefaultTimeout, "how long to wait for readiness")
	return cmd
}

func (a *app) uninstallCmd() *cobra.Command {
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use: "uninstall NAME", Aliases: []string{"delete"}, Short: "Uninstall a release (idempotent)",
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, t, err := a.target(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			rel, err := b.Uninstall(cmd.Context(), t, kdu.UninstallOptions{Wait: wait, Timeout: timeout})
			if err != nil {
				return err
			}
			out := map[string]any{"name": t.Name, "uninstalled": rel != nil}
			return a.print(out, func(w io.Writer) {
				if rel == nil {
					fmt.Fprintf(w, "release %s not found: nothing to uninstall\n", t.Name)
					return
				}
				fmt.Fprintf(w, "release %s uninstalled from namespace %s\n", rel.Name, rel.Namespace)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the release's objects are deleted")
	cmd.Flags().DurationVar(&timeout, "timeout", kdu.DefaultTimeout, "how long to wait")
	return cmd
}

func (a *app) statusCmd() *cobra.Command {
	var manifest bool
	cmd := &cobra.Command{
		Use: "status NAME", Short: "Show a release's status and the readiness of its resources",
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, t, err := a.target(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			st, err := b.Status(cmd.Context(), t)
			if err != nil {
				return err
			}
			if manifest {
				if st.Manifest, err = b.Manifest(cmd.Context(), t, false); err != nil {
					return err
				}
			}
			return a.print(st, func(w io.Writer) {
				ready, total := st.ReadyCount()
				row(w, "NAME:", st.Name)
				row(w, "NAMESPACE:", st.Namespace)
				row(w, "STATUS:", st.State)
				row(w, "REVISION:", st.Revision)
				row(w, "CHART:", st.Chart)
				row(w, "APP VERSION:", orDash(st.AppVersion))
				row(w, "UPDATED:", timestamp(st.Updated))
				row(w, "DESCRIPTION:", st.Description)
				if len(st.PodLabels) > 0 {
					row(w, "POD LABELS:", kvList(st.PodLabels))
				}
				if len(st.NodeSelector) > 0 {
					row(w, "NODE SELECTOR:", kvList(st.NodeSelector))
				}
				row(w, "RESOURCES:", fmt.Sprintf("%d/%d ready", ready, total))
				row(w, "")
				row(w, "KIND", "NAME", "READY", "STATUS", "MESSAGE")
				for _, r := range st.Resources {
					row(w, r.Kind, r.Name, r.Ready, r.Status, orDash(r.Message))
				}
				if manifest {
					row(w, "")
					row(w, "MANIFEST:")
					for _, o := range st.Manifest {
						fmt.Fprintf(w, "---\n%s", yamlOf(o))
					}
				}
			})
		},
	}
	cmd.Flags().BoolVar(&manifest, "manifest", false, "also print the release's objects as Helm recorded them (through a server, Secrets' data is masked unless the token is an admin's)")
	return cmd
}

func (a *app) listCmd() *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List releases (every namespace and state unless filtered)",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			opts := kdu.ListOptions{Namespace: a.namespace}
			for _, s := range states {
				opts.States = append(opts.States, kdu.ReleaseState(s))
			}
			rels, err := b.List(cmd.Context(), c, opts)
			if err != nil {
				return err
			}
			return a.print(rels, func(w io.Writer) { releaseTable(w, rels) })
		},
	}
	cmd.Flags().StringArrayVar(&states, "state", nil, "only releases in this state (deployed, failed, pending-install, ...); repeatable")
	return cmd
}

func (a *app) historyCmd() *cobra.Command {
	return &cobra.Command{
		Use: "history NAME", Short: "Show a release's revisions", Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, t, err := a.target(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			h, err := b.History(cmd.Context(), t)
			if err != nil {
				return err
			}
			return a.print(h, func(w io.Writer) {
				row(w, "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION")
				for _, r := range h {
					row(w, r.Revision, timestamp(r.Updated), r.State, r.Chart, orDash(r.AppVersion), r.Description)
				}
			})
		},
	}
}

func (a *app) valuesCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use: "values NAME", Short: "Show a release's user-supplied values (--all: every computed value)",
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, t, err := a.target(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			v, err := b.GetValues(cmd.Context(), t, all)
			if err != nil {
				return err
			}
			if a.output == "table" {
				a.output = "yaml" // values are a document, not a table
			}
			return a.print(v, nil)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "show every computed value, chart defaults included")
	return cmd
}

func (a *app) servicesCmd() *cobra.Command {
	return &cobra.Command{
		Use: "services NAME", Short: "Show a release's Services (type, cluster IP, ports, load balancer addresses)",
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, t, err := a.target(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ss, err := b.Services(cmd.Context(), t)
			if err != nil {
				return err
			}
			return a.print(ss, func(w io.Writer) {
				row(w, "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL", "PORTS")
				for _, s := range ss {
					ext := append(append([]string{}, s.ExternalIPs...), s.Hostnames...)
					external := strings.Join(ext, ",")
					if external == "" && s.Type == "LoadBalancer" {
						external = "<pending>"
					}
					ports := make([]string, len(s.Ports))
					for i, p := range s.Ports {
						ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
						if p.NodePort != 0 {
							ports[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
						}
					}
					row(w, s.Name, s.Type, orDash(s.ClusterIP), orDash(external), orDash(strings.Join(ports, ",")))
				}
			})
		},
	}
}

func (a *app) printRelease(rel *kdu.Release) error {
	return a.print(rel, func(w io.Writer) { releaseTable(w, []kdu.Release{*rel}) })
}

func releaseTable(w io.Writer, rels []kdu.Release) {
	row(w, "NAME", "NAMESPACE", "REVISION", "STATUS", "CHART", "APP VERSION", "UPDATED")
	for _, r := range rels {
		row(w, r.Name, r.Namespace, r.Revision, r.State, r.Chart, orDash(r.AppVersion), timestamp(r.Updated))
	}
}
