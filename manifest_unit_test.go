package kdu

import (
	"strings"
	"testing"
)

func TestManifestObjectsAndMasking(t *testing.T) {
	text := "---\n# Source: c/templates/s.yaml\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: c2VjcmV0\nstringData:\n  token: t0k\n" +
		"---\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  password: visible\n"
	objs, err := manifestObjects(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0]["kind"] != "Secret" || objs[1]["kind"] != "ConfigMap" {
		t.Fatalf("objects: %v", objs)
	}
	maskSecretData(objs)
	sec := objs[0]
	if d := sec["data"].(map[string]any); d["password"] != "***" {
		t.Errorf("Secret data not masked: %v", d)
	}
	if d := sec["stringData"].(map[string]any); d["token"] != "***" {
		t.Errorf("Secret stringData not masked: %v", d)
	}
	if d := objs[1]["data"].(map[string]any); d["password"] != "visible" {
		t.Errorf("a ConfigMap was masked: %v", d)
	}
	if _, err := manifestObjects("kind: [broken\n"); err == nil || !strings.Contains(err.Error(), "yaml") {
		t.Errorf("broken manifest: %v", err)
	}
}
