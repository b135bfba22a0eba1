package charts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu/internal/engine"
)

// DefaultIndexRefresh is how long a downloaded index is used before it is refreshed on next use.
const DefaultIndexRefresh = 10 * time.Minute

// indexFetchTimeout bounds one index download. Downloads are shared by concurrent callers, so they run under
// their own deadline rather than the first caller's context.
const indexFetchTimeout = 2 * time.Minute

type cachedIndex struct {
	idx     *repo.IndexFile
	fetched time.Time
}

func (l *Loader) refreshInterval() time.Duration {
	if l.IndexRefresh > 0 {
		return l.IndexRefresh
	}
	return DefaultIndexRefresh
}

// UpdateIndex downloads a repository's index, replacing the cached one. Concurrent refreshes of one repository
// are coalesced into one download whose result every caller shares.
func (l *Loader) UpdateIndex(ctx context.Context, r Repository) (*repo.IndexFile, error) {
	key := indexKey(r)
	ch := l.refreshes.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), indexFetchTimeout)
		defer cancel()
		return l.downloadIndex(fctx, r, key)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*repo.IndexFile), nil
	}
}

func (l *Loader) downloadIndex(ctx context.Context, r Repository, key string) (*repo.IndexFile, error) {
	l.indexDownloads.Add(1)
	base := strings.TrimSuffix(r.URL, "/")
	data, err := l.fetch(ctx, base+"/index.yaml", r, MaxIndexSize)
	if err != nil {
		return nil, err
	}
	idx, err := parseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, r.label(), err)
	}
	l.storeIndex(key, idx, time.Now())
	if l.CacheDir != "" {
		if err := writeFileAtomic(filepath.Join(l.CacheDir, key+".yaml"), data); err != nil {
			return nil, fmt.Errorf("caching index of %s: %w", r.label(), err)
		}
	}
	return idx, nil
}

// IndexDownloads reports how many index downloads this loader made (for tests and metrics).
func (l *Loader) IndexDownloads() int64 { return l.indexDownloads.Load() }

func (l *Loader) storeIndex(key string, idx *repo.IndexFile, fetched time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.indexes == nil {
		l.indexes = map[string]cachedIndex{}
	}
	l.indexes[key] = cachedIndex{idx: idx, fetched: fetched}
}

// IndexCharts returns how many charts and chart versions an index lists (for repo update reports).
func IndexCharts(idx *repo.IndexFile) (charts, versions int) {
	for _, vs := range idx.Entries {
		charts++
		versions += len(vs)
	}
	return charts, versions
}

// ForgetIndex drops a repository's cached index (on repo removal).
func (l *Loader) ForgetIndex(r Repository) {
	key := indexKey(r)
	l.mu.Lock()
	delete(l.indexes, key)
	l.mu.Unlock()
	if l.CacheDir != "" {
		_ = os.Remove(filepath.Join(l.CacheDir, key+".yaml"))
	}
}

// index returns a repository's index: the cached one while it is fresh, else a refreshed one. When a refresh
// fails but an older copy exists, the older copy is used (and the failure logged): a repository that is down
// for a moment does not stop installs of versions it already listed.
func (l *Loader) index(ctx context.Context, r Repository) (*repo.IndexFile, error) {
	key := indexKey(r)
	l.mu.Lock()
	c, ok := l.indexes[key]
	l.mu.Unlock()
	if !ok && l.CacheDir != "" {
		path := filepath.Join(l.CacheDir, key+".yaml")
		if fi, err := os.Stat(path); err == nil {
			if data, err := os.ReadFile(path); err == nil {
				if idx, err := parseIndex(data); err == nil {
					c, ok = cachedIndex{idx: idx, fetched: fi.ModTime()}, true
					l.storeIndex(key, idx, fi.ModTime())
				}
			}
		}
	}
	if ok && time.Since(c.fetched) < l.refreshInterval() {
		return c.idx, nil
	}
	idx, err := l.UpdateIndex(ctx, r)
	if err != nil && ok && ctx.Err() == nil && !errors.Is(err, engine.ErrSourceAuth) {
		l.logger().Warn("using the previous index of a repository that could not be refreshed",
			"repository", r.label(), "fetched", c.fetched, "error", err.Error())
		return c.idx, nil
	}
	return idx, err
}

// indexKey names a cached index by a hash of the repository URL and user, never by user-supplied names.
func indexKey(r Repository) string {
	sum := sha256.Sum256([]byte(strings.TrimSuffix(r.URL, "/") + "\x00" + r.Username))
	return hex.EncodeToString(sum[:16])
}

// parseIndex parses an index.yaml, skipping invalid entries as Helm does.
func parseIndex(data []byte) (*repo.IndexFile, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("index.yaml is empty")
	}
	idx := &repo.IndexFile{}
	if err := yaml.Unmarshal(data, idx); err != nil {
		return nil, fmt.Errorf("index.yaml is not a valid repository index: %w", err)
	}
	if idx.APIVersion == "" {
		return nil, errors.New("index.yaml has no apiVersion: not a chart repository index")
	}
	for name, cvs := range idx.Entries {
		kept := cvs[:0]
		for _, cv := range cvs {
			if cv == nil || cv.Metadata == nil {
				continue
			}
			if cv.APIVersion == "" {
				cv.APIVersion = chart.APIVersionV1
			}
			if err := cv.Validate(); err != nil {
				continue
			}
			kept = append(kept, cv)
		}
		idx.Entries[name] = kept
	}
	idx.SortEntries()
	return idx, nil
}
