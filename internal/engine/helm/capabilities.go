package helm

import (
	"fmt"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/client-go/discovery"
)

// capabilitiesTTL is how long a cluster's capabilities (its version and API versions) are reused by
// operations before discovery is asked again.
const capabilitiesTTL = 30 * time.Second

// capabilities caches what Helm's Configuration would otherwise rediscover for every operation: Helm
// invalidates the (shared) discovery cache and fetches the server's groups again each time its capabilities are
// first needed, two requests and a large decode per install or upgrade.
type capabilities struct {
	mu   sync.Mutex
	caps *common.Capabilities
	at   time.Time
}

// set gives cfg the cluster's capabilities, unless the chart brings CRDs: Helm installs those first and then
// needs discovery to see them, so such charts get Helm's own lookup (and the cache is dropped).
func (e *Engine) setCapabilities(cfg *action.Configuration, ch *chart.Chart) error {
	if len(ch.CRDObjects()) > 0 {
		e.caps.forget()
		return nil
	}
	caps, err := e.caps.get(e.conn)
	if err != nil {
		return err
	}
	c := *caps // Helm may adjust its copy (KubeVersion); APIVersions is only read
	cfg.Capabilities = &c
	return nil
}

func (c *capabilities) forget() {
	c.mu.Lock()
	c.caps = nil
	c.mu.Unlock()
}

func (c *capabilities) get(getter interface {
	ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error)
}) (*common.Capabilities, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.caps != nil && time.Since(c.at) < capabilitiesTTL {
		return c.caps, nil
	}
	dc, err := getter.ToDiscoveryClient()
	if err != nil {
		return nil, fmt.Errorf("could not get Kubernetes discovery client: %w", err)
	}
	dc.Invalidate()
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("could not get server version from Kubernetes: %w", err)
	}
	versions, err := action.GetVersionSet(dc)
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("could not get apiVersions from Kubernetes: %w", err)
	}
	c.caps = &common.Capabilities{
		APIVersions: versions,
		KubeVersion: common.KubeVersion{Version: v.GitVersion, Major: v.Major, Minor: v.Minor},
		HelmVersion: common.DefaultCapabilities.HelmVersion,
	}
	c.at = time.Now()
	return c.caps, nil
}
