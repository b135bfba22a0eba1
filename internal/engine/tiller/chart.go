package tiller

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/types/known/anypb"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/charts"
	"github.com/kdu-io/kdu/internal/engine/values"
	hapichart "github.com/kdu-io/kdu/internal/helm2/hapi/chart"
)

// Charts are loaded with the Helm v4 SDK (internal/engine/charts) and converted here to Tiller's chart message.

// chartFor converts a chart for an install or upgrade with the given values: like the helm2 client, kdu
// applies the dependencies' conditions and tags and their import-values before it sends the chart, since Tiller
// does neither. The loaded chart is not changed.
func chartFor(ch engine.Chart, vals map[string]any) (*hapichart.Chart, error) {
	c, err := charts.ForOperation(ch)
	if err != nil {
		return nil, err
	}
	imports := hasImportValues(c)
	if err := chartutil.ProcessDependencies(c, values.Copy(vals)); err != nil {
		return nil, fmt.Errorf("%w: %s: dependencies: %w", engine.ErrInvalidChart, c.Name(), err)
	}
	out, err := tillerChart(c)
	if err != nil {
		return nil, err
	}
	if imports {
		// Imported values exist only in the processed values, not in values.yaml.
		data, err := yaml.Marshal(c.Values)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: values: %w", engine.ErrInvalidChart, c.Name(), err)
		}
		out.Values.Raw = string(data)
	}
	return out, nil
}

func hasImportValues(c *chart.Chart) bool {
	for _, d := range c.Metadata.Dependencies {
		if d != nil && len(d.ImportValues) > 0 {
			return true
		}
	}
	return false
}

// tillerChartOf converts a chart loaded by internal/engine/charts to Tiller's chart message, as helm2's chartutil builds it:
// metadata field by field (apiVersion v1, engine gotpl), the raw values.yaml as the chart's values, templates,
// every other file (requirements.yaml included) as an Any whose type URL is its path, and subcharts as
// dependencies, recursively. A Helm 3 chart's Chart.yaml dependencies become a requirements.yaml, so that Tiller
// applies their conditions and tags.
func tillerChartOf(ch engine.Chart) (*hapichart.Chart, error) {
	c, err := charts.ForOperation(ch)
	if err != nil {
		return nil, err
	}
	return tillerChart(c)
}

func tillerChart(c *chart.Chart) (*hapichart.Chart, error) {
	md := c.Metadata
	if md == nil {
		return nil, fmt.Errorf("%w: chart has no metadata", engine.ErrInvalidChart)
	}
	out := &hapichart.Chart{
		Metadata: &hapichart.Metadata{
			Name: md.Name, Home: md.Home, Sources: md.Sources, Version: md.Version, Description: md.Description,
			Keywords: md.Keywords, Icon: md.Icon, ApiVersion: chart.APIVersionV1, Condition: md.Condition,
			Tags: md.Tags, AppVersion: md.AppVersion, Deprecated: md.Deprecated, Annotations: md.Annotations,
			KubeVersion: md.KubeVersion, Engine: "gotpl",
		},
		Values: &hapichart.Config{},
	}
	for _, m := range md.Maintainers {
		if m != nil {
			out.Metadata.Maintainers = append(out.Metadata.Maintainers, &hapichart.Maintainer{Name: m.Name, Email: m.Email, Url: m.URL})
		}
	}
	for _, f := range c.Raw {
		if f.Name == "values.yaml" {
			out.Values.Raw = string(f.Data)
		}
	}
	for _, t := range c.Templates {
		out.Templates = append(out.Templates, &hapichart.Template{Name: t.Name, Data: t.Data})
	}
	hasRequirements := false
	for _, f := range c.Files {
		if f.Name == "requirements.yaml" {
			hasRequirements = true
		}
		out.Files = append(out.Files, &anypb.Any{TypeUrl: f.Name, Value: f.Data})
	}
	if !hasRequirements && len(md.Dependencies) > 0 {
		req := map[string]any{"dependencies": md.Dependencies}
		data, err := yaml.Marshal(req)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: dependencies: %w", engine.ErrInvalidChart, md.Name, err)
		}
		out.Files = append(out.Files, &anypb.Any{TypeUrl: "requirements.yaml", Value: data})
	}
	sort.Slice(out.Files, func(i, j int) bool { return out.Files[i].TypeUrl < out.Files[j].TypeUrl })
	for _, d := range c.Dependencies() {
		dc, err := tillerChart(d)
		if err != nil {
			return nil, err
		}
		out.Dependencies = append(out.Dependencies, dc)
	}
	return out, nil
}
