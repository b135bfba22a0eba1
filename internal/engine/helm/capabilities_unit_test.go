package helm

import (
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	fakediscovery "k8s.io/client-go/discovery/fake"
	k8stesting "k8s.io/client-go/testing"
)

type fakeGetter struct {
	dc discovery.CachedDiscoveryInterface
}

func (g fakeGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) { return g.dc, nil }

// TestCapabilitiesCached: operations within capabilitiesTTL share one discovery of the server's version and API
// versions (Helm would invalidate and refetch for each); a chart with CRDs gets Helm's own lookup and drops the
// cache, so the next chart sees the new API versions.
func TestCapabilitiesCached(t *testing.T) {
	fake := &k8stesting.Fake{}
	fd := &fakediscovery.FakeDiscovery{Fake: fake, FakedServerVersion: &version.Info{GitVersion: "v1.37.2", Major: "1", Minor: "37"}}
	fake.Resources = []*metav1.APIResourceList{{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "deployments", Kind: "Deployment", Namespaced: true}}}}
	getter := fakeGetter{memory.NewMemCacheClient(fd)}
	calls := func() int { return len(fake.Actions()) }

	var c capabilities
	first, err := c.get(getter)
	if err != nil {
		t.Fatal(err)
	}
	if first.KubeVersion.Version != "v1.37.2" || !first.APIVersions.Has("apps/v1") {
		t.Fatalf("capabilities = %+v", first)
	}
	n := calls()
	if n == 0 {
		t.Fatal("no discovery calls for the first lookup")
	}
	again, err := c.get(getter)
	if err != nil || again != first || calls() != n {
		t.Fatalf("second lookup within the TTL: %p %p, %d calls (was %d), %v", again, first, calls(), n, err)
	}

	// Through the engine: a copy per configuration, and charts with CRDs left to Helm.
	e := &Engine{}
	e.caps.caps, e.caps.at = first, c.at
	cfg := action.NewConfiguration()
	if err := e.setCapabilities(cfg, &chart.Chart{Metadata: &chart.Metadata{Name: "plain"}}); err != nil {
		t.Fatal(err)
	}
	if cfg.Capabilities == nil || cfg.Capabilities == first || cfg.Capabilities.KubeVersion != first.KubeVersion {
		t.Fatalf("configuration capabilities = %+v, want a copy of %+v", cfg.Capabilities, first)
	}
	cfg.Capabilities.KubeVersion = common.KubeVersion{Version: "v9.9.9"}
	if first.KubeVersion.Version != "v1.37.2" {
		t.Fatal("a configuration's change reached the shared capabilities")
	}
	withCRD := &chart.Chart{Metadata: &chart.Metadata{Name: "crds"}, Files: []*common.File{{Name: "crds/x.yaml", Data: []byte("kind: CustomResourceDefinition")}}}
	cfg = action.NewConfiguration()
	if err := e.setCapabilities(cfg, withCRD); err != nil {
		t.Fatal(err)
	}
	if cfg.Capabilities != nil || e.caps.caps != nil {
		t.Fatalf("a chart with CRDs: capabilities %+v, cache %+v; want Helm's own lookup and the cache dropped", cfg.Capabilities, e.caps.caps)
	}
}
