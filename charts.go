package kdu

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/kdu-io/kdu/internal/chartref"
	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/helm"
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

// loadChart turns a parsed reference into a loaded chart, resolving repository names against the cluster's
// registered repositories.
func (m *Manager) loadChart(ctx context.Context, clusterID string, ref chartref.Ref, repoURL string) (engine.Chart, error) {
	src, err := m.chartSource(ctx, clusterID, ref, repoURL)
	if err != nil {
		return nil, err
	}
	ch, err := m.loader.Load(ctx, src)
	if err != nil {
		return nil, translate(err)
	}
	return ch, nil
}

func (m *Manager) chartSource(ctx context.Context, clusterID string, ref chartref.Ref, repoURL string) (helm.ChartSource, error) {
	if repoURL != "" {
		if err := checkRepoURL(repoURL); err != nil {
			return helm.ChartSource{}, invalid("repoURL", err)
		}
	}
	switch ref.Kind {
	case chartref.KindDir:
		return helm.ChartSource{Kind: helm.SourceDir, Path: ref.Path}, nil
	case chartref.KindArchive:
		return helm.ChartSource{Kind: helm.SourceArchive, Path: ref.Path}, nil
	case chartref.KindURL:
		return helm.ChartSource{Kind: helm.SourceURL, URL: ref.URL}, nil
	case chartref.KindOCI:
		return helm.ChartSource{Kind: helm.SourceOCI, URL: ref.URL, Version: ref.Version}, nil
	case chartref.KindName:
		if repoURL == "" {
			return helm.ChartSource{}, invalidf("chart", "%q names no repository: use <repo>/%s with a registered repository, a path, or a repository URL",
				ref.Chart, ref.Chart)
		}
		return helm.ChartSource{Kind: helm.SourceRepo, RepoURL: repoURL, Chart: ref.Chart, Version: ref.Version}, nil
	case chartref.KindRepo:
		if clusterID == "" {
			return helm.ChartSource{}, invalidf("cluster", "chart %q names repository %q: give the cluster it is registered on", ref.String(), ref.Repo)
		}
		r, err := m.store.GetRepo(ctx, clusterID, ref.Repo)
		if errors.Is(err, store.ErrNotFound) {
			return helm.ChartSource{}, invalidf("chart", "repository %q is not registered on cluster %q (kdu repo add %s URL)", ref.Repo, clusterID, ref.Repo)
		}
		if err != nil {
			return helm.ChartSource{}, err
		}
		return helm.ChartSource{Kind: helm.SourceRepo, RepoURL: r.URL, Chart: ref.Chart, Version: ref.Version,
			Username: r.Username, Password: string(r.Password)}, nil
	}
	return helm.ChartSource{}, invalidf("chart", "unsupported chart reference %q", ref.String())
}

// ShowOptions select a chart to describe.
type ShowOptions struct {
	// Cluster resolves repo/chart references against that cluster's repositories.
	Cluster string
	Chart   string
	Version string
	RepoURL string
}

// ShowChart loads a chart and describes it: metadata, default values and README (spec §4.12).
func (m *Manager) ShowChart(ctx context.Context, opts ShowOptions) (*ChartInfo, error) {
	ref, err := parseChart(opts.Chart, opts.Version)
	if err != nil {
		return nil, err
	}
	id := ""
	if opts.Cluster != "" {
		if _, id, err = naming.ParseClusterID(opts.Cluster); err != nil {
			return nil, invalid("cluster", err)
		}
		if _, err := m.store.GetCluster(ctx, id); errors.Is(err, store.ErrNotFound) {
			return nil, notFound("cluster", "cluster %q", id)
		}
	}
	ch, err := m.loadChart(ctx, id, ref, opts.RepoURL)
	if err != nil {
		return nil, err
	}
	info := helm.Show(ch.(*helm.Chart))
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
