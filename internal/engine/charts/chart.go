package charts

import (
	"fmt"

	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/values"
)

// Chart is a chart loaded by a Loader. It implements engine.Chart; the engines take the Helm chart inside it
// with ForOperation.
type Chart struct {
	c      *chart.Chart
	digest string // "sha256:<hex>" of the archive (or OCI manifest) it was loaded from; "" for a directory
}

// Digest returns the sha256 digest of the archive the chart was loaded from (of the manifest, for an OCI
// chart), or "" for a chart directory.
func (c *Chart) Digest() string { return c.digest }

var _ engine.Chart = (*Chart)(nil)

// Metadata returns the chart's metadata.
func (c *Chart) Metadata() engine.ChartMetadata {
	return metadataOf(c.c)
}

// DefaultValues returns a deep copy of the chart's default values.
func (c *Chart) DefaultValues() map[string]any {
	return values.Copy(c.c.Values)
}

func metadataOf(c *chart.Chart) engine.ChartMetadata {
	if c == nil || c.Metadata == nil {
		return engine.ChartMetadata{}
	}
	md := c.Metadata
	return engine.ChartMetadata{
		Name: md.Name, Version: md.Version, AppVersion: md.AppVersion, Description: md.Description,
		Type: md.Type, APIVersion: md.APIVersion, KubeVersion: md.KubeVersion, Home: md.Home,
		Sources: md.Sources, Keywords: md.Keywords, Deprecated: md.Deprecated,
	}
}

// ForOperation returns a copy of the chart that one operation may mutate: Helm's upgrade replaces the chart's
// Values when reusing values, and dependency processing rewrites its dependency list.
func ForOperation(ch engine.Chart) (*chart.Chart, error) {
	c, ok := ch.(*Chart)
	if !ok || c == nil || c.c == nil {
		return nil, fmt.Errorf("%w: chart was not loaded by kdu's chart loader", engine.ErrInvalidChart)
	}
	return Copy(c.c), nil
}

// Copy returns a copy of a Helm chart whose values and dependency list can be changed without touching c.
func Copy(c *chart.Chart) *chart.Chart {
	cp := *c
	cp.Values = values.Copy(c.Values)
	deps := c.Dependencies()
	if len(deps) > 0 {
		copies := make([]*chart.Chart, len(deps))
		for i, d := range deps {
			copies[i] = Copy(d)
		}
		cp.SetDependencies(copies...)
	}
	return &cp
}
