package helm

import (
	"context"

	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
)

// The Helm 2 (Tiller) engine reads the readiness and Services of a release's rendered manifest with the same
// code as Helm 3 releases, so both engines report status in one shape.

// ManifestResources reads the readiness (kstatus) of every object of a rendered manifest, as Status does for
// Helm 3 releases.
func ManifestResources(ctx context.Context, conn *cluster.Conn, manifest, namespace string) ([]engine.Resource, error) {
	refs, err := parseManifest(manifest, namespace, conn.Mapper())
	if err != nil {
		return nil, err
	}
	r := &reader{conn: conn}
	return resourceStatuses(ctx, refs, r.object), nil
}

// ManifestServices returns the Services of a rendered manifest as they are on the cluster.
func ManifestServices(ctx context.Context, conn *cluster.Conn, manifest, namespace string) ([]engine.Service, error) {
	refs, err := parseManifest(manifest, namespace, conn.Mapper())
	if err != nil {
		return nil, err
	}
	return services(ctx, refs, (&reader{conn: conn}).object)
}
