// Package postrender is kdu's in-process Helm post-renderer: it adds pod labels to, and merges a node selector
// into, every workload of a rendered manifest (hooks included, with Helm v4's combined strategy), as N2VC's
// external post-renderer did for OSM. Other objects pass through unchanged.
//
// The settings belong to the release: Encode and Decode carry them in an annotation of the chart stored with
// the release (AnnotationKey), so another kdu replica, or kdu after a restart, knows them.
package postrender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// AnnotationKey is the chart annotation that records a release's post-render settings.
const AnnotationKey = "kdu.io/post-render"

// Settings are a release's post-render settings. Empty settings change nothing.
type Settings struct {
	// PodLabels are added to the pod template (and the workload's own metadata) of every workload; they win over
	// the chart's labels with the same key.
	PodLabels map[string]string `json:"podLabels,omitempty"`
	// NodeSelector is merged into the pod spec of every workload; its entries win over the chart's.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
}

// Empty reports whether s changes nothing.
func (s Settings) Empty() bool { return len(s.PodLabels) == 0 && len(s.NodeSelector) == 0 }

// Merge returns the settings an operation leaves a release with: a nil map keeps the current one, a non-nil
// map (empty included) replaces it.
func Merge(current Settings, podLabels, nodeSelector map[string]string) Settings {
	out := current
	if podLabels != nil {
		out.PodLabels = maps.Clone(podLabels)
	}
	if nodeSelector != nil {
		out.NodeSelector = maps.Clone(nodeSelector)
	}
	if len(out.PodLabels) == 0 {
		out.PodLabels = nil
	}
	if len(out.NodeSelector) == 0 {
		out.NodeSelector = nil
	}
	return out
}

// FieldError names the setting that is not valid, as the API names it: podLabels["key"].
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Validate checks every key as a Kubernetes label key and every value as a label value. Errors are
// *FieldError, the first in key order.
func Validate(podLabels, nodeSelector map[string]string) error {
	for _, set := range []struct {
		name string
		m    map[string]string
	}{{"podLabels", podLabels}, {"nodeSelector", nodeSelector}} {
		for _, k := range slices.Sorted(maps.Keys(set.m)) {
			field := fmt.Sprintf("%s[%q]", set.name, k)
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				return &FieldError{Field: field, Reason: "not a valid label key: " + strings.Join(errs, "; ")}
			}
			if errs := validation.IsValidLabelValue(set.m[k]); len(errs) > 0 {
				return &FieldError{Field: field, Reason: fmt.Sprintf("value %q is not a valid label value: %s", set.m[k], strings.Join(errs, "; "))}
			}
		}
	}
	return nil
}

// Encode renders settings for AnnotationKey; "" for empty settings.
func Encode(s Settings) string {
	if s.Empty() {
		return ""
	}
	b, _ := json.Marshal(s) // maps of strings always marshal
	return string(b)
}

// Decode reads settings written by Encode. An empty string is empty settings.
func Decode(v string) (Settings, error) {
	var s Settings
	if strings.TrimSpace(v) == "" {
		return s, nil
	}
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return Settings{}, fmt.Errorf("annotation %s: %w", AnnotationKey, err)
	}
	return s, nil
}

// Renderer is a Helm post-renderer (it implements helm.sh/helm/v4/pkg/postrenderer.PostRenderer) for settings.
type Renderer struct{ Settings Settings }

// Run implements the post-renderer: it returns the manifest with the settings applied.
func (r Renderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	out, err := Apply(rendered.Bytes(), r.Settings)
	if err != nil {
		return nil, err
	}
	return bytes.NewBuffer(out), nil
}

// podSpecPaths gives, per workload kind, where its pod templates are: the metadata to label and the pod spec
// to select nodes in, as paths from the object. A Pod is its own template.
var podSpecPaths = map[string][][]string{
	"Pod":                   {{}},
	"Deployment":            {{"spec", "template"}},
	"StatefulSet":           {{"spec", "template"}},
	"DaemonSet":             {{"spec", "template"}},
	"ReplicaSet":            {{"spec", "template"}},
	"ReplicationController": {{"spec", "template"}},
	"Job":                   {{"spec", "template"}},
	"CronJob":               {{"spec", "jobTemplate", "spec", "template"}},
}

// Apply applies settings to every object of a multi-document manifest. Documents that are not workloads are
// copied byte for byte; workloads are re-serialised. A document that is not YAML is an error.
func Apply(manifest []byte, s Settings) ([]byte, error) {
	if s.Empty() {
		return manifest, nil
	}
	docs := splitDocuments(manifest)
	var out bytes.Buffer
	for i, doc := range docs {
		changed, err := applyDoc(doc, s)
		if err != nil {
			return nil, fmt.Errorf("post-render: document %d: %w", i+1, err)
		}
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteByte('\n')
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(changed)
	}
	return out.Bytes(), nil
}

// applyDoc applies settings to one document.
func applyDoc(doc []byte, s Settings) ([]byte, error) {
	var probe struct {
		Kind string `json:"kind"`
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return doc, nil
	}
	// Only the kind is needed to decide; most objects are not workloads and stay as they are.
	if err := yaml.Unmarshal(doc, &probe); err != nil {
		return nil, err
	}
	paths, ok := podSpecPaths[probe.Kind]
	if !ok {
		return doc, nil
	}
	var obj map[string]any
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return doc, nil
	}
	if probe.Kind != "Pod" {
		addLabels(obj, s.PodLabels)
	}
	for _, p := range paths {
		tmpl := child(obj, p...)
		if tmpl == nil {
			continue
		}
		addLabels(tmpl, s.PodLabels)
		if len(s.NodeSelector) > 0 {
			spec := ensure(tmpl, "spec")
			sel := ensure(spec, "nodeSelector")
			for k, v := range s.NodeSelector {
				sel[k] = v
			}
		}
	}
	return yaml.Marshal(obj)
}

// addLabels adds labels to obj's metadata.labels, creating them if needed.
func addLabels(obj map[string]any, labels map[string]string) {
	if len(labels) == 0 {
		return
	}
	l := ensure(ensure(obj, "metadata"), "labels")
	for k, v := range labels {
		l[k] = v
	}
}

// child returns the map at path below m (m itself for an empty path), or nil if a step is missing or not a map.
func child(m map[string]any, path ...string) map[string]any {
	cur := m
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

// ensure returns m[key] as a map, replacing a missing or null value with a new one.
func ensure(m map[string]any, key string) map[string]any {
	if v, ok := m[key].(map[string]any); ok {
		return v
	}
	v := map[string]any{}
	m[key] = v
	return v
}

// splitDocuments splits a YAML stream at its "---" document markers, as Helm joins rendered templates.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	start := 0
	for i := 0; i < len(data); {
		nl := bytes.IndexByte(data[i:], '\n')
		line := data[i:]
		if nl >= 0 {
			line = data[i : i+nl]
		}
		if isMarker(line) {
			if i > start || len(docs) > 0 {
				docs = append(docs, data[start:i])
			}
			if nl < 0 {
				start = len(data)
				break
			}
			start = i + nl + 1
		}
		if nl < 0 {
			break
		}
		i += nl + 1
	}
	return append(docs, data[start:])
}

func isMarker(line []byte) bool {
	line = bytes.TrimRight(line, "\r")
	if !bytes.HasPrefix(line, []byte("---")) {
		return false
	}
	rest := line[3:]
	return len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t'
}
