package helm

import (
	"bytes"
	"compress/gzip"
	"container/list"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"

	rspb "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/kdu-io/kdu/internal/engine"
)

// Helm stores each revision of a release as a Secret labelled owner=helm, name=<release>, version=<n>,
// status=<state>, holding the release as base64(gzip(JSON)) under data.release.
const (
	labelOwner   = "owner"
	labelName    = "name"
	labelVersion = "version"
	labelStatus  = "status"
	ownerHelm    = "helm"
	// maxReleaseJSON bounds a decompressed release record (Kubernetes caps a Secret at 1 MiB compressed).
	maxReleaseJSON = 64 << 20
)

// record is one decoded release revision plus its parsed manifest, cached by the Secret's UID and
// resourceVersion (an updated Secret gets a new entry; the stale one ages out).
type record struct {
	rel *rspb.Release

	once    sync.Once
	objects []objectRef
	objErr  error
}

func decodeRelease(s *corev1.Secret) (*rspb.Release, error) {
	raw, ok := s.Data["release"]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s has no release data", s.Namespace, s.Name)
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := base64.StdEncoding.Decode(b, raw)
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: release data is not base64: %w", s.Namespace, s.Name, err)
	}
	b = b[:n]
	if len(b) > 3 && b[0] == 0x1f && b[1] == 0x8b && b[2] == 0x08 {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		defer zr.Close()
		if b, err = io.ReadAll(io.LimitReader(zr, maxReleaseJSON+1)); err != nil {
			return nil, fmt.Errorf("secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		if len(b) > maxReleaseJSON {
			return nil, fmt.Errorf("secret %s/%s: release record larger than %d bytes", s.Namespace, s.Name, maxReleaseJSON)
		}
	}
	var rel rspb.Release
	if err := json.Unmarshal(b, &rel); err != nil {
		return nil, fmt.Errorf("secret %s/%s: release record is not valid JSON: %w", s.Namespace, s.Name, err)
	}
	if rel.Info == nil {
		rel.Info = &rspb.Info{}
	}
	return &rel, nil
}

// secretVersion reads the revision from the Secret's label (no decoding); a malformed label counts as 0.
func secretVersion(s *corev1.Secret) int {
	v, err := strconv.Atoi(s.Labels[labelVersion])
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// latestPerNamespace keeps the highest revision of each namespace's Secrets of one release.
func latestPerNamespace(secrets []*corev1.Secret) map[string]*corev1.Secret {
	out := map[string]*corev1.Secret{}
	for _, s := range secrets {
		if cur, ok := out[s.Namespace]; !ok || secretVersion(s) > secretVersion(cur) {
			out[s.Namespace] = s
		}
	}
	return out
}

// latestPerRelease keeps the highest revision of each (namespace, name).
func latestPerRelease(secrets []*corev1.Secret) []*corev1.Secret {
	type key struct{ ns, name string }
	m := map[key]*corev1.Secret{}
	for _, s := range secrets {
		k := key{s.Namespace, s.Labels[labelName]}
		if cur, ok := m[k]; !ok || secretVersion(s) > secretVersion(cur) {
			m[k] = s
		}
	}
	out := make([]*corev1.Secret, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Labels[labelName] < out[j].Labels[labelName]
	})
	return out
}

// toRelease converts Helm's record to kdu's view.
func toRelease(rel *rspb.Release) engine.Release {
	r := engine.Release{
		Name:      rel.Name,
		Namespace: rel.Namespace,
		Revision:  rel.Version,
		State:     engine.State(rel.Info.Status),
	}
	r.Description = rel.Info.Description
	r.FirstDeployed = rel.Info.FirstDeployed
	r.Updated = rel.Info.LastDeployed
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		md := rel.Chart.Metadata
		r.ChartName, r.ChartVersion, r.AppVersion = md.Name, md.Version, md.AppVersion
		r.Chart = md.Name + "-" + md.Version
	}
	if r.State == "" {
		r.State = engine.StateUnknown
	}
	pr := postRenderOf(rel.Chart)
	r.PodLabels, r.NodeSelector = pr.PodLabels, pr.NodeSelector
	return r
}

// recordCache is a small LRU of decoded records keyed by Secret UID and resourceVersion.
type recordCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	key string
	rec *record
}

func newRecordCache(max int) *recordCache {
	return &recordCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *recordCache) get(s *corev1.Secret) (*record, error) {
	key := string(s.UID) + "/" + s.ResourceVersion
	if s.UID == "" || s.ResourceVersion == "" {
		rel, err := decodeRelease(s)
		if err != nil {
			return nil, err
		}
		return &record{rel: rel}, nil
	}
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*cacheEntry).rec, nil
	}
	c.mu.Unlock()

	rel, err := decodeRelease(s)
	if err != nil {
		return nil, err
	}
	rec := &record{rel: rel}

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok { // decoded concurrently
		return el.Value.(*cacheEntry).rec, nil
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, rec: rec})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
	return rec, nil
}
