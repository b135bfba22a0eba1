package helm

import (
	"context"
	"fmt"

	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"

	"github.com/kdu-io/kdu/internal/engine"
)

// Unlock marks a release's newest revision failed if it is pending. The caller holds the release's lock and
// knows that no operation is running on it (kdu's recovery of operations whose process died).
func (e *Engine) Unlock(ctx context.Context, key engine.Key, reason string) (*engine.Release, bool, error) {
	cur, err := e.reader.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, false, err
	}
	if !cur.rel.Info.Status.IsPending() {
		out := toRelease(cur.rel)
		return &out, false, nil
	}
	cfg, err := e.configuration(cur.rel.Namespace)
	if err != nil {
		return nil, false, err
	}
	last, err := cfg.Releases.Get(key.Name, cur.rel.Version)
	if err != nil {
		return nil, false, fmt.Errorf("unlock %s/%s: reading revision %d: %w", cur.rel.Namespace, key.Name, cur.rel.Version, classify(err))
	}
	rel, ok := last.(*rspb.Release)
	if !ok {
		return nil, false, fmt.Errorf("unlock %s/%s: unexpected release type %T", cur.rel.Namespace, key.Name, last)
	}
	if !rel.Info.Status.IsPending() { // changed since the read
		out := toRelease(rel)
		return &out, false, nil
	}
	rel.SetStatus(common.StatusFailed, reason)
	if err := cfg.Releases.Update(rel); err != nil {
		return nil, false, fmt.Errorf("unlock %s/%s: %w", cur.rel.Namespace, key.Name, classify(err))
	}
	e.reader.awaitRevision(ctx, engine.Key{Namespace: rel.Namespace, Name: key.Name}, rel.Version, false)
	out := toRelease(rel)
	return &out, true, nil
}
