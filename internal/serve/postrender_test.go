package serve_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/serve"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
)

// TestPostRenderAndMigrate drives podLabels, nodeSelector, forceReplace and migrate through the API: bad input
// is a 422 naming the field with nothing queued, the settings show in the status, an upgrade that leaves them
// out keeps them, and migrate is an operation of its own kind.
func TestPostRenderAndMigrate(t *testing.T) {
	s := startService(t, serve.Options{})
	ns := tc.Namespace(t)
	s.registerDev("", "dev", "")
	chart := chartrepotest.Package(t, webappDir(t), "0.1.0")
	d := api.Duration(2 * time.Minute)
	wait := api.Wait{Timeout: &d}

	queued := func() int {
		var ops api.List[api.Operation]
		s.callJSON(200, "GET", "/v1/operations?cluster=dev&release=pr-api", "", nil, &ops)
		return len(ops.Items)
	}
	s.wantError(422, "invalid", `podLabels["Bad Key"]`, "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{Name: "pr-api", Namespace: ns,
		ChartSource: api.ChartSource{ChartArchive: chart}, PostRender: api.PostRender{PodLabels: map[string]string{"Bad Key": "x"}}})
	s.wantError(422, "invalid", `nodeSelector["type"]`, "POST", "/v1/clusters/dev/kdus", "", api.InstallRequest{Name: "pr-api", Namespace: ns,
		ChartSource: api.ChartSource{ChartArchive: chart}, PostRender: api.PostRender{NodeSelector: map[string]string{"type": "a b"}}})
	if n := queued(); n != 0 {
		t.Fatalf("%d operations queued by refused requests", n)
	}

	// Each answer is decoded into a fresh value: decoding into a used one would merge the maps.
	do := func(method, path string, body any) api.Operation {
		var op api.Operation
		s.callJSON(200, method, path, "", body, &op)
		return op
	}
	op := do("POST", "/v1/clusters/dev/kdus?wait=true", api.InstallRequest{Name: "pr-api", Namespace: ns,
		ChartSource: api.ChartSource{ChartArchive: chart}, Wait: wait,
		PostRender: api.PostRender{PodLabels: map[string]string{"osm.etsi.org/ns": "n1"}, NodeSelector: map[string]string{"type": "kwok"}}})
	if op.State != api.Succeeded || op.Release == nil || op.Release.PodLabels["osm.etsi.org/ns"] != "n1" {
		t.Fatalf("install: %+v", op)
	}
	op = do("POST", "/v1/clusters/dev/kdus/pr-api:upgrade?wait=true", api.UpgradeRequest{Namespace: ns,
		Values: api.Values{Set: []string{"replicaCount=2"}}, ForceReplace: true, Wait: wait})
	if op.State != api.Succeeded || op.Release.PodLabels["osm.etsi.org/ns"] != "n1" || op.Release.NodeSelector["type"] != "kwok" {
		t.Fatalf("upgrade without the settings (force-replace): %+v", op)
	}
	var st api.Status
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/pr-api?namespace="+ns, "", nil, &st)
	if st.PodLabels["osm.etsi.org/ns"] != "n1" || st.NodeSelector["type"] != "kwok" {
		t.Errorf("status shows %v / %v", st.PodLabels, st.NodeSelector)
	}

	before := queued()
	s.wantError(422, "invalid", "nodeSelector", "POST", "/v1/clusters/dev/kdus/pr-api:migrate", "", api.MigrateRequest{Namespace: ns})
	s.wantError(422, "invalid", `nodeSelector["-x"]`, "POST", "/v1/clusters/dev/kdus/pr-api:migrate", "", api.MigrateRequest{Namespace: ns,
		NodeSelector: map[string]string{"-x": "y"}})
	s.wantError(422, "invalid", `podLabels["a b"]`, "POST", "/v1/clusters/dev/kdus/pr-api:scale", "", api.ScaleRequest{Namespace: ns,
		Replicas: ptr(1), PostRender: api.PostRender{PodLabels: map[string]string{"a b": "c"}}})
	if n := queued(); n != before {
		t.Fatalf("refused requests queued %d operations", n-before)
	}
	op = do("POST", "/v1/clusters/dev/kdus/pr-api:migrate?wait=true", api.MigrateRequest{Namespace: ns,
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"}, Timeout: &d})
	if op.State != api.Succeeded || op.Kind != api.KindMigrate || op.Release.NodeSelector["kubernetes.io/os"] != "linux" ||
		op.Release.NodeSelector["type"] != "" || op.Release.PodLabels["osm.etsi.org/ns"] != "n1" {
		t.Fatalf("migrate: %+v (release %+v)", op, op.Release)
	}
	var ops api.List[api.Operation]
	s.callJSON(200, "GET", "/v1/operations?kind=migrate&release=pr-api", "", nil, &ops)
	if len(ops.Items) != 1 || ops.Items[0].ID != op.ID {
		t.Errorf("operations of kind migrate: %+v", ops.Items)
	}
	// N2VC's exec_primitive and upgrade_charm: never supported for Helm KDUs, with N2VC's text.
	e := s.wantError(422, "unsupported", "", "POST", "/v1/clusters/dev/kdus/pr-api:execPrimitive", "", api.PrimitiveRequest{Namespace: ns, Primitive: "reboot"})
	if !strings.Contains(e.Message, "don't support actions different from rollback, upgrade and status") {
		t.Errorf("execPrimitive: %q", e.Message)
	}
	e = s.wantError(422, "unsupported", "", "POST", "/v1/clusters/dev/kdus/pr-api:upgradeCharm?namespace="+ns, "", nil)
	if !strings.Contains(e.Message, "do not support charm upgrade") {
		t.Errorf("upgradeCharm: %q", e.Message)
	}
	s.wantError(404, "not_found", "cluster", "POST", "/v1/clusters/nope/kdus/pr-api:upgradeCharm", "", nil)

	// The manifest on request, Secrets masked for callers that are not admins (this one is: open loopback mode).
	var withManifest api.Status
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/pr-api?manifest=true&namespace="+ns, "", nil, &withManifest)
	kinds := map[string]bool{}
	for _, o := range withManifest.Manifest {
		kinds[fmt.Sprint(o["kind"])] = true
	}
	if !kinds["Deployment"] || !kinds["Service"] || !kinds["ConfigMap"] {
		t.Errorf("manifest kinds %v", kinds)
	}
	var plain api.Status
	s.callJSON(200, "GET", "/v1/clusters/dev/kdus/pr-api?namespace="+ns, "", nil, &plain)
	if plain.Manifest != nil {
		t.Errorf("a status without ?manifest=true carries the manifest")
	}
	s.wantError(400, "malformed", "manifest", "GET", "/v1/clusters/dev/kdus/pr-api?manifest=maybe&namespace="+ns, "", nil)

	// N2VC's generate_kdu_instance_name and get_service.
	var gen api.GeneratedName
	s.callJSON(200, "POST", "/v1/clusters/dev/kdus:generateName", "", api.GenerateNameRequest{Chart: "stable/openldap:1.2.4"}, &gen)
	if !strings.HasPrefix(gen.Name, "stable-openldap-1-2-4-") || len(gen.Name) != len("stable-openldap-1-2-4-")+10 {
		t.Errorf("generated name %q", gen.Name)
	}
	s.wantError(422, "invalid", "chart", "POST", "/v1/clusters/dev/kdus:generateName", "", api.GenerateNameRequest{})
	var svc api.Service
	s.callJSON(200, "GET", "/v1/clusters/dev/services/"+ns+"/pr-api-webapp", "", nil, &svc)
	if svc.Name != "pr-api-webapp" || svc.Namespace != ns || svc.Type != "ClusterIP" || len(svc.Ports) == 0 {
		t.Errorf("service: %+v", svc)
	}
	s.wantError(404, "not_found", "name", "GET", "/v1/clusters/dev/services/"+ns+"/no-such-svc", "", nil)
	s.wantError(422, "invalid", "name", "GET", "/v1/clusters/dev/services/"+ns+"/Bad_Name", "", nil)

	// An explicit empty object clears.
	op = do("POST", "/v1/clusters/dev/kdus/pr-api:scale?wait=true", api.ScaleRequest{Namespace: ns, Replicas: ptr(1),
		PostRender: api.PostRender{PodLabels: map[string]string{}}, Wait: wait})
	if op.State != api.Succeeded || len(op.Release.PodLabels) != 0 || op.Release.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Fatalf("scale clearing pod labels: %+v", op.Release)
	}
	do("DELETE", "/v1/clusters/dev/kdus/pr-api?wait=true&namespace="+ns, nil)
}
