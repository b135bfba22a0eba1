package helm

import (
	"fmt"

	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/kdu-io/kdu/internal/engine"
)

// Chart is a chart loaded by this engine. It implements engine.Chart.
type Chart struct {
	c *chart.Chart
}

var _ engine.Chart = (*Chart)(nil)

// Metadata returns the chart's metadata.
func (c *Chart) Metadata() engine.ChartMetadata {
	return metadataOf(c.c)
}

// DefaultValues returns a deep copy of the chart's default values.
func (c *Chart) DefaultValues() map[string]any {
	return deepCopyMap(c.c.Values)
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

// forOperation returns a copy of the chart that one operation may mutate: Helm's upgrade replaces the chart's
// Values when reusing values, and dependency processing rewrites its dependency list.
func forOperation(ch engine.Chart) (*chart.Chart, error) {
	c, ok := ch.(*Chart)
	if !ok || c == nil || c.c == nil {
		return nil, fmt.Errorf("%w: chart was not loaded by the helm engine", engine.ErrInvalidChart)
	}
	return copyChart(c.c), nil
}

func copyChart(c *chart.Chart) *chart.Chart {
	cp := *c
	cp.Values = deepCopyMap(c.Values)
	deps := c.Dependencies()
	if len(deps) > 0 {
		copies := make([]*chart.Chart, len(deps))
		for i, d := range deps {
			copies[i] = copyChart(d)
		}
		cp.SetDependencies(copies...)
	}
	return &cp
}

// deepCopyMap copies nested maps and slices of values (YAML/JSON shaped data).
func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopyMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = deepCopyValue(e)
		}
		return out
	default:
		return v
	}
}
