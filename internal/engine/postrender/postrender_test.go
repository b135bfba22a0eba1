package postrender

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var settings = Settings{
	PodLabels:    map[string]string{"osm.etsi.org/ns": "ns-1", "app": "from-kdu"},
	NodeSelector: map[string]string{"kubernetes.io/hostname": "edge-7"},
}

// objects decodes a manifest into its documents.
func objects(t *testing.T, manifest []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, doc := range splitDocuments(manifest) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		out = append(out, m)
	}
	return out
}

func at(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func TestApplyByKind(t *testing.T) {
	tmpl := func(kind string, extra string) string {
		return "apiVersion: apps/v1\nkind: " + kind + "\nmetadata:\n  name: w\n  labels:\n    app: chart\n" + extra
	}
	podTemplate := "spec:\n  template:\n    metadata:\n      labels:\n        app: chart\n        tier: web\n    spec:\n      nodeSelector:\n        disk: ssd\n      containers: [{name: c, image: x}]\n"
	tests := []struct {
		name     string
		doc      string
		template []string // path of the pod template; nil: not a workload
	}{
		{"Deployment", tmpl("Deployment", podTemplate), []string{"spec", "template"}},
		{"StatefulSet", tmpl("StatefulSet", podTemplate), []string{"spec", "template"}},
		{"DaemonSet", tmpl("DaemonSet", podTemplate), []string{"spec", "template"}},
		{"ReplicaSet", tmpl("ReplicaSet", podTemplate), []string{"spec", "template"}},
		{"Job", tmpl("Job", podTemplate), []string{"spec", "template"}},
		{"CronJob", tmpl("CronJob", "spec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        metadata:\n          labels:\n            app: chart\n        spec:\n          nodeSelector:\n            disk: ssd\n          containers: [{name: c, image: x}]\n"),
			[]string{"spec", "jobTemplate", "spec", "template"}},
		{"Pod", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    app: chart\nspec:\n  nodeSelector:\n    disk: ssd\n  containers: [{name: c, image: x}]\n", []string{}},
		{"Deployment without labels or template metadata", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: x}]\n", []string{"spec", "template"}},
		{"Service", "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  labels:\n    app: chart\nspec:\n  selector:\n    app: chart\n", nil},
		{"ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  spec: x\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Apply([]byte(tt.doc), settings)
			if err != nil {
				t.Fatal(err)
			}
			if tt.template == nil {
				if string(out) != tt.doc {
					t.Fatalf("a %s was changed:\n%s", tt.name, out)
				}
				return
			}
			obj := objects(t, out)[0]
			tmpl, _ := at(obj, tt.template...).(map[string]any)
			if tmpl == nil {
				t.Fatalf("no pod template in\n%s", out)
			}
			labels, _ := at(tmpl, "metadata", "labels").(map[string]any)
			for k, v := range settings.PodLabels {
				if labels[k] != v {
					t.Errorf("pod template label %s = %v, want %s (the post-render label wins)", k, labels[k], v)
				}
			}
			sel, _ := at(tmpl, "spec", "nodeSelector").(map[string]any)
			if sel["kubernetes.io/hostname"] != "edge-7" {
				t.Errorf("nodeSelector = %v", sel)
			}
			if strings.Contains(tt.doc, "disk: ssd") && sel["disk"] != "ssd" {
				t.Errorf("the chart's nodeSelector entry was lost: %v", sel)
			}
			if strings.Contains(tt.doc, "tier: web") && labels["tier"] != "web" {
				t.Errorf("the chart's own label was lost: %v", labels)
			}
			own, _ := at(obj, "metadata", "labels").(map[string]any)
			if own["osm.etsi.org/ns"] != "ns-1" {
				t.Errorf("the workload's own labels = %v", own)
			}
		})
	}
}

func TestApplyKeepsOtherDocumentsAndOrder(t *testing.T) {
	manifest := "---\n# Source: c/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n" +
		"---\n# Source: c/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\nspec:\n  template:\n    spec:\n      containers: []\n" +
		"---\n\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: c\n"
	out, err := Apply([]byte(manifest), settings)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, out)
	if len(objs) != 3 || at(objs[0], "metadata", "name") != "a" || at(objs[1], "metadata", "name") != "b" || at(objs[2], "metadata", "name") != "c" {
		t.Fatalf("documents: %v\n%s", objs, out)
	}
	if !strings.Contains(string(out), "# Source: c/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap") {
		t.Errorf("the ConfigMap was not passed through as it was:\n%s", out)
	}
	if same, _ := Apply([]byte(manifest), Settings{}); string(same) != manifest {
		t.Errorf("empty settings changed the manifest")
	}
}

func TestApplyRefusesBrokenYAML(t *testing.T) {
	if _, err := Apply([]byte("kind: Deployment\nspec: [\n"), settings); err == nil {
		t.Fatal("no error for a document that is not YAML")
	}
}

func TestMerge(t *testing.T) {
	cur := Settings{PodLabels: map[string]string{"a": "1"}, NodeSelector: map[string]string{"n": "x"}}
	if got := Merge(cur, nil, nil); Encode(got) != Encode(cur) {
		t.Errorf("nil maps must keep: %+v", got)
	}
	if got := Merge(cur, map[string]string{}, nil); got.PodLabels != nil || got.NodeSelector["n"] != "x" {
		t.Errorf("an empty map must clear only its own setting: %+v", got)
	}
	if got := Merge(cur, map[string]string{"b": "2"}, map[string]string{}); got.PodLabels["b"] != "2" || got.PodLabels["a"] != "" || got.NodeSelector != nil {
		t.Errorf("a map replaces: %+v", got)
	}
}

func TestEncodeDecode(t *testing.T) {
	for _, s := range []Settings{{}, settings, {PodLabels: map[string]string{"a": ""}}} {
		got, err := Decode(Encode(s))
		if err != nil || Encode(got) != Encode(s) {
			t.Errorf("round trip of %+v: %+v, %v", s, got, err)
		}
	}
	if _, err := Decode("{not json"); err == nil {
		t.Error("no error for a broken annotation")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		pod, node map[string]string
		field     string
	}{
		{map[string]string{"app": "web", "example.com/tier": "a.b-c_d"}, map[string]string{"kubernetes.io/hostname": "n1"}, ""},
		{map[string]string{"Bad Key": "x"}, nil, `podLabels["Bad Key"]`},
		{map[string]string{"app": "has space"}, nil, `podLabels["app"]`},
		{map[string]string{"app": strings.Repeat("a", 64)}, nil, `podLabels["app"]`},
		{nil, map[string]string{"-x": "y"}, `nodeSelector["-x"]`},
		{nil, map[string]string{"x": "-y"}, `nodeSelector["x"]`},
		{map[string]string{"a/b/c": "x"}, nil, `podLabels["a/b/c"]`},
	}
	for _, tt := range tests {
		err := Validate(tt.pod, tt.node)
		var fe *FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("Validate(%v, %v) = %v", tt.pod, tt.node, err)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
			t.Errorf("Validate(%v, %v) = %v, want a field error on %s", tt.pod, tt.node, err, tt.field)
		}
	}
}

// FuzzApply: any manifest either fails, or every document Apply rewrote is YAML (others pass through as they were).
func FuzzApply(f *testing.F) {
	f.Add("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w\nspec:\n  template:\n    spec: {}\n")
	f.Add("kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template: {}\n---\nkind: Pod\n")
	f.Add("---\n---\nkind: Service\n")
	f.Add("kind: Job\nspec:\n  template: 3\n")
	f.Fuzz(func(t *testing.T, manifest string) {
		out, err := Apply([]byte(manifest), settings)
		if err != nil {
			return
		}
		in := map[string]bool{}
		for _, doc := range splitDocuments([]byte(manifest)) {
			in[string(doc)] = true
		}
		for _, doc := range splitDocuments(out) {
			if in[string(doc)] {
				continue
			}
			var m map[string]any
			if yaml.Unmarshal(doc, &m) != nil {
				t.Fatalf("a rewritten document is not YAML:\n%q", doc)
			}
		}
	})
}
