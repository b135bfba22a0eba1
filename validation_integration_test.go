package kdu_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kdu-io/kdu"
)

// TestAPIServerValidatesManifests: kdu skips Helm's client-side OpenAPI "validation" (which only parses the
// server's OpenAPI document to ask whether the server validates), so the API server's strict field validation
// is what refuses a chart with a field its schema does not declare — on install and on upgrade.
func TestAPIServerValidatesManifests(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "Chart.yaml"), "apiVersion: v2\nname: typo\nversion: 0.1.0\n")
	writeTestFile(t, filepath.Join(dir, "values.yaml"), "typo: false\n")
	writeTestFile(t, filepath.Join(dir, "templates", "cm.yaml"), `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
{{- if .Values.typo }}
daata:
  a: b
{{- else }}
data:
  a: b
{{- end }}
`)
	_, err := e.m.Install(e.ctx, clusterID, kdu.InstallOptions{Name: "typo", Chart: dir, Namespace: e.ns,
		Values: kdu.Values{Set: []string{"typo=true"}}, Wait: kdu.Wait{Atomic: true}})
	if err == nil || !strings.Contains(err.Error(), "daata") {
		t.Fatalf("install of a ConfigMap with an undeclared field: %v, want the API server's strict-validation error", err)
	}
	e.releaseAbsent("typo")

	e.install("typo", kdu.InstallOptions{Chart: dir})
	_, err = e.m.Upgrade(e.ctx, e.target("typo"), kdu.UpgradeOptions{Values: kdu.Values{Set: []string{"typo=true"}}})
	if err == nil || !strings.Contains(err.Error(), "daata") {
		t.Fatalf("upgrade to a ConfigMap with an undeclared field: %v, want the API server's strict-validation error", err)
	}
	if got := e.configMapData("typo"); got != "b" {
		t.Errorf("after the refused upgrade data.a = %q, want b", got)
	}
}

func (e *env) configMapData(name string) string {
	e.t.Helper()
	cm, err := tc.Clientset.CoreV1().ConfigMaps(e.ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get configmap %s: %v", name, err)
	}
	return cm.Data["a"]
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
