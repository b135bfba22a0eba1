package kdu

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/kdu-io/kdu/internal/chartref"
	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/charts"
	"github.com/kdu-io/kdu/internal/naming"
	"github.com/kdu-io/kdu/internal/store"
)

// parseChart validates a chart reference and an optional separate version.
func parseChart(s, version string) (chartref.Ref, error) {
	if s == "" {
		return chartref.Ref{}, invalidf("chart", "a chart reference is required")
	}
	ref, err := chartref.Parse(s)
	if err != nil {
		return ref, invalid("chart", err)
	}
	if version != "" {
		if ref, err = ref.WithVersion(version); err != nil {
			return ref, invalid("version", err)
		}
	}
	return ref, nil
}

// chartInput is a validated chart reference, or a chart archive given in memory.
type chartInput struct {
	ref     chartref.Ref
	repoURL string
	data    []byte
	// verify refuses a chart that does not verify (provenance for repository and URL charts, a pinned digest
	// for OCI charts).
	verify bool
}

// given reports whether a chart was given at all.
func (in chartInput) given() bool { return len(in.data) > 0 || in.ref.Kind != 0 }

// String names the chart for logs.
func (in chartInput) String() string {
	if len(in.data) > 0 {
		return fmt.Sprintf("(uploaded archive, %d bytes)", len(in.data))
	}
	return in.ref.String()
}

// parseChartInput validates the chart fields of a request: a reference (with an optional version and
// repository URL) or an archive, not both.
func (m *Manager) parseChartInput(chart, version, repoURL string, archive []byte, required bool) (chartInput, error) {
	if len(archive) > 0 {
		switch {
		case chart != "":
			return chartInput{}, invalidf("chartArchive", "give a chart reference or a chart archive, not both")
		case version != "":
			return chartInput{}, invalidf("version", "a chart archive has its own version")
		case repoURL != "":
			return chartInput{}, invalidf("repoURL", "a chart archive needs no repository")
		case len(archive) > charts.MaxChartArchiveSize:
			return chartInput{}, invalidf("chartArchive", "larger than %d bytes", charts.MaxChartArchiveSize)
		}
		return chartInput{data: archive}, nil
	}
	if chart == "" && !required {
		return chartInput{}, nil
	}
	ref, err := parseChart(chart, version)
	if err != nil {
		return chartInput{}, err
	}
	if m.opts.RemoteChartsOnly && (ref.Kind == chartref.KindDir || ref.Kind == chartref.KindArchive) {
		return chartInput{}, invalidf("chart", "%q is a local path, which this server does not read; upload the chart archive instead", chart)
	}
	if repoURL != "" {
		if err := checkRepoURL(repoURL); err != nil {
			return chartInput{}, invalid("repoURL", err)
		}
	}
	return chartInput{ref: ref, repoURL: repoURL}, nil
}

// loadChart loads a chart, resolving repository names against the cluster's registered repositories.
func (m *Manager) loadChart(ctx context.Context, clusterID string, in chartInput) (engine.Chart, error) {
	var src charts.Source
	if len(in.data) > 0 {
		src = charts.Source{Kind: charts.SourceData, Data: in.data, Verify: in.verify}
	} else {
		var err error
		if src, err = m.chartSource(ctx, clusterID, in.ref, in.repoURL); err != nil {
			return nil, err
		}
		src.Verify = in.verify
	}
	ch, err := m.loader.Load(ctx, src)
	if err != nil {
		err = translate(err)
		var fe *FieldError
		if len(in.data) > 0 && errors.As(err, &fe) && fe.Field == "chart" {
			return nil, &FieldError{Field: "chartArchive", Reason: fe.Reason, Err: fe.Err}
		}
		return nil, err
	}
	return ch, nil
}

func (m *Manager) chartSource(ctx context.Context, clusterID string, ref chartref.Ref, repoURL string) (charts.Source, error) {
	if repoURL != "" {
		if err := checkRepoURL(repoURL); err != nil {
			return charts.Source{}, invalid("repoURL", err)
		}
	}
	switch ref.Kind {
	case chartref.KindDir:
		return charts.Source{Kind: charts.SourceDir, Path: ref.Path}, nil
	case chartref.KindArchive:
		return charts.Source{Kind: charts.SourceArchive, Path: ref.Path}, nil
	case chartref.KindURL:
		return charts.Source{Kind: charts.SourceURL, URL: ref.URL}, nil
	case chartref.KindOCI:
		reg, err := m.registryFor(ctx, clusterID, ref.URL)
		if err != nil {
			return charts.Source{}, err
		}
		return charts.Source{Kind: charts.SourceOCI, URL: ref.URL, Version: ref.Version, Digest: ref.Digest, Repo: reg}, nil
	case chartref.KindName:
		if repoURL == "" {
			return charts.Source{}, invalidf("chart", "%q names no repository: use <repo>/%s with a registered repository, a path, or a repository URL",
				ref.Chart, ref.Chart)
		}
		return charts.Source{Kind: charts.SourceRepo, Repo: charts.Repository{URL: repoURL}, Chart: ref.Chart, Version: ref.Version}, nil
	case chartref.KindRepo:
		if clusterID == "" {
			return charts.Source{}, invalidf("cluster", "chart %q names repository %q: give the cluster it is registered on", ref.String(), ref.Repo)
		}
		r, err := m.resolveRepo(ctx, clusterID, ref.Repo)
		if errors.Is(err, store.ErrNotFound) {
			return charts.Source{}, invalidf("chart", "repository %q is not registered on cluster %q or its project (kdu repo add %s URL)", ref.Repo, clusterID, ref.Repo)
		}
		if err != nil {
			return charts.Source{}, err
		}
		if r.Type == RepoTypeOCI {
			// "name/chart:1.2.3" in an OCI registry is oci://<registry URL>/chart, tagged with the version.
			return charts.Source{Kind: charts.SourceOCI, URL: r.URL + "/" + ref.Chart, Version: ref.Version, Repo: helmRepo(r)}, nil
		}
		return charts.Source{Kind: charts.SourceRepo, Repo: helmRepo(r), Chart: ref.Chart, Version: ref.Version}, nil
	}
	return charts.Source{}, invalidf("chart", "unsupported chart reference %q", ref.String())
}

// ShowOptions select a chart to describe.
type ShowOptions struct {
	// Cluster resolves repo/chart references against that cluster's repositories.
	Cluster string
	Chart   string
	Version string
	RepoURL string
	// ChartArchive is a chart .tgz given in memory instead of Chart.
	ChartArchive []byte
	// Verify refuses a chart that does not verify (see InstallOptions.Verify).
	Verify bool
}

// ShowChart loads a chart and describes it: metadata, default values, values schema, README, dependencies and
// digest (docs/n2vc.md#inspect_kdu).
func (m *Manager) ShowChart(ctx context.Context, opts ShowOptions) (*ChartInfo, error) {
	in, err := m.parseChartInput(opts.Chart, opts.Version, opts.RepoURL, opts.ChartArchive, true)
	if err != nil {
		return nil, err
	}
	in.verify = opts.Verify
	id := ""
	if opts.Cluster != "" {
		if _, id, err = naming.ParseClusterID(opts.Cluster); err != nil {
			return nil, invalid("cluster", err)
		}
		if _, err := m.store.GetCluster(ctx, id); errors.Is(err, store.ErrNotFound) {
			return nil, notFound("cluster", "cluster %q", id)
		}
	}
	ch, err := m.loadChart(ctx, id, in)
	if err != nil {
		return nil, err
	}
	info := charts.Show(ch.(*charts.Chart))
	return &info, nil
}

func checkRepoURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q must be an http or https URL", redactUserinfo(s))
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", redactUserinfo(s))
	}
	if u.User != nil {
		return fmt.Errorf("credentials in the URL are not accepted; give them separately")
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%q contains whitespace", redactUserinfo(s))
	}
	return nil
}

func redactUserinfo(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return s
}

// LocalChart reads a chart on this machine, for sending it to a kdu server (which never reads the caller's
// files): chart is a reference; for a directory it returns the directory packaged as `helm package` would
// (Helm's loader: .helmignore honoured, the chart checked), for a .tgz its content. For any other reference it
// returns (nil, nil): the server resolves it.
func LocalChart(chart string) ([]byte, error) {
	if chart == "" {
		return nil, nil
	}
	ref, err := chartref.Parse(chart)
	if err != nil {
		return nil, invalid("chart", err)
	}
	var data []byte
	switch ref.Kind {
	case chartref.KindDir:
		data, err = charts.PackageDir(ref.Path)
	case chartref.KindArchive:
		data, err = charts.ReadArchive(ref.Path)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, invalid("chart", err)
	}
	return data, nil
}
