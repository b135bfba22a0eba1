package helm

import (
	"maps"

	"helm.sh/helm/v4/pkg/action"
	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/engine/postrender"
)

// postRenderOf returns the post-render settings recorded with a release's chart (none when unreadable: a
// hand-edited annotation does not make the release unusable).
func postRenderOf(c *chart.Chart) postrender.Settings {
	if c == nil || c.Metadata == nil {
		return postrender.Settings{}
	}
	s, err := postrender.Decode(c.Metadata.Annotations[postrender.AnnotationKey])
	if err != nil {
		return postrender.Settings{}
	}
	return s
}

// withPostRender records s in the chart an operation installs (a copy: the metadata is copied before it is
// changed, since the loaded chart's metadata is shared), and returns the post-renderer that applies it, or nil.
func withPostRender(c *chart.Chart, s postrender.Settings) (*chart.Chart, *postrender.Renderer) {
	if c.Metadata == nil {
		return c, nil
	}
	md := *c.Metadata
	md.Annotations = maps.Clone(md.Annotations)
	if s.Empty() {
		delete(md.Annotations, postrender.AnnotationKey)
	} else {
		if md.Annotations == nil {
			md.Annotations = map[string]string{}
		}
		md.Annotations[postrender.AnnotationKey] = postrender.Encode(s)
	}
	c.Metadata = &md
	if s.Empty() {
		return c, nil
	}
	return c, &postrender.Renderer{Settings: s}
}

// settingsFor is what an operation leaves a release with: the request's settings over the current ones.
func settingsFor(current postrender.Settings, req engine.PostRender) postrender.Settings {
	return postrender.Merge(current, req.PodLabels, req.NodeSelector)
}

// postRenderStrategy is Helm v4's combined strategy: hooks get the settings too.
const postRenderStrategy = action.PostRenderStrategyCombined
