package charts

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// DefaultBlobCacheSize bounds the chart archives (and OCI manifests) kept in memory.
const DefaultBlobCacheSize = 128 << 20

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// blobCache holds content-addressed blobs (chart archives, OCI manifests and provenance files) by their sha256
// digest: in memory (least recently used first out) and, when dir is set, on disk under the digest's hex, so
// the same chart version is downloaded once per kdu data directory. A blob is only ever stored after its digest
// was checked, and it is checked again when read back from disk.
type blobCache struct {
	dir string // "" keeps blobs in memory only
	max int64

	mu    sync.Mutex
	size  int64
	order *list.List // of *blobEntry, most recent first
	byKey map[string]*list.Element
}

type blobEntry struct {
	digest string
	data   []byte
}

// normalizeDigest returns "sha256:<lower hex>" for "sha256:<hex>" or a bare hex digest, or "" if s is neither.
func normalizeDigest(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.HasPrefix(s, "sha256:") {
		s = "sha256:" + s
	}
	if !digestRE.MatchString(s) {
		return ""
	}
	return s
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (c *blobCache) path(digest string) string {
	return filepath.Join(c.dir, strings.TrimPrefix(digest, "sha256:"))
}

// get returns the blob of a digest, or nil.
func (c *blobCache) get(digest string) []byte {
	if digest = normalizeDigest(digest); digest == "" {
		return nil
	}
	c.mu.Lock()
	if el, ok := c.byKey[digest]; ok {
		c.order.MoveToFront(el)
		data := el.Value.(*blobEntry).data
		c.mu.Unlock()
		return data
	}
	c.mu.Unlock()
	if c.dir == "" {
		return nil
	}
	data, err := os.ReadFile(c.path(digest))
	if err != nil || digestOf(data) != digest {
		return nil
	}
	c.remember(digest, data)
	return data
}

// put stores a blob under its digest, which the caller has verified.
func (c *blobCache) put(digest string, data []byte) {
	if digest = normalizeDigest(digest); digest == "" || digestOf(data) != digest {
		return
	}
	c.remember(digest, data)
	if c.dir != "" {
		if _, err := os.Stat(c.path(digest)); err != nil {
			_ = writeFileAtomic(c.path(digest), data)
		}
	}
}

func (c *blobCache) remember(digest string, data []byte) {
	limit := c.max
	if limit <= 0 {
		limit = DefaultBlobCacheSize
	}
	if int64(len(data)) > limit {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[string]*list.Element{}
		c.order = list.New()
	}
	if el, ok := c.byKey[digest]; ok {
		c.order.MoveToFront(el)
		return
	}
	c.byKey[digest] = c.order.PushFront(&blobEntry{digest: digest, data: data})
	c.size += int64(len(data))
	for c.size > limit {
		el := c.order.Back()
		e := el.Value.(*blobEntry)
		c.order.Remove(el)
		delete(c.byKey, e.digest)
		c.size -= int64(len(e.data))
	}
}
