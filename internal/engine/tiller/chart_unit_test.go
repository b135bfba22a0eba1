package tiller

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdu-io/kdu/internal/engine/charts"
)

func TestTillerChart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "parent")
	for name, data := range map[string]string{
		"Chart.yaml":                       "apiVersion: v2\nname: parent\nversion: 1.2.3\nappVersion: \"9\"\nmaintainers: [{name: a, email: a@x}]\ndependencies:\n- name: sub\n  version: 0.1.0\n  condition: sub.enabled\n",
		"values.yaml":                      "# defaults\nsub:\n  enabled: true\n",
		"templates/cm.yaml":                "kind: ConfigMap\n",
		"files/data.txt":                   "hello",
		"charts/sub/Chart.yaml":            "apiVersion: v1\nname: sub\nversion: 0.1.0\n",
		"charts/sub/values.yaml":           "x: 1\n",
		"charts/sub/templates/sub-cm.yaml": "kind: ConfigMap\n",
		"charts/sub/requirements.yaml":     "dependencies: []\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var l charts.Loader
	c, err := l.Load(context.Background(), charts.Source{Kind: charts.SourceDir, Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := tillerChartOf(c)
	if err != nil {
		t.Fatal(err)
	}
	md := tc.GetMetadata()
	if md.GetName() != "parent" || md.GetVersion() != "1.2.3" || md.GetAppVersion() != "9" || md.GetApiVersion() != "v1" ||
		md.GetEngine() != "gotpl" || len(md.GetMaintainers()) != 1 || md.GetMaintainers()[0].GetEmail() != "a@x" {
		t.Fatalf("metadata: %+v", md)
	}
	if tc.GetValues().GetRaw() != "# defaults\nsub:\n  enabled: true\n" {
		t.Fatalf("values are not the raw values.yaml: %q", tc.GetValues().GetRaw())
	}
	if len(tc.GetTemplates()) != 1 || tc.GetTemplates()[0].GetName() != "templates/cm.yaml" {
		t.Fatalf("templates: %+v", tc.GetTemplates())
	}
	files := map[string]string{}
	for _, f := range tc.GetFiles() {
		files[f.GetTypeUrl()] = string(f.GetValue())
	}
	if files["files/data.txt"] != "hello" || !strings.Contains(files["requirements.yaml"], "condition: sub.enabled") {
		t.Fatalf("files: %v", files)
	}
	if _, ok := files["Chart.yaml"]; ok {
		t.Fatal("Chart.yaml must not be a file of Tiller's chart")
	}
	if len(tc.GetDependencies()) != 1 {
		t.Fatalf("dependencies: %d", len(tc.GetDependencies()))
	}
	sub := tc.GetDependencies()[0]
	if sub.GetMetadata().GetName() != "sub" || sub.GetValues().GetRaw() != "x: 1\n" || len(sub.GetTemplates()) != 1 {
		t.Fatalf("subchart: %+v", sub)
	}
	subFiles := 0
	for _, f := range sub.GetFiles() {
		if f.GetTypeUrl() == "requirements.yaml" {
			subFiles++
		}
	}
	if subFiles != 1 {
		t.Fatalf("a v1 chart's own requirements.yaml must be kept once, got %d", subFiles)
	}
}
