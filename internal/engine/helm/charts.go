package helm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu/internal/engine"
)

// Size limits for what kdu downloads.
const (
	MaxChartArchiveSize = 20 << 20  // a chart .tgz
	MaxIndexSize        = 100 << 20 // a repository index.yaml (large public indexes are tens of MiB)
)

// SourceKind says where a chart comes from.
type SourceKind int

// Chart source kinds.
const (
	SourceDir     SourceKind = iota + 1 // a chart directory on the kdu host
	SourceArchive                       // a .tgz on the kdu host
	SourceURL                           // an http(s) URL of a .tgz
	SourceRepo                          // a chart in an HTTP index repository
	SourceOCI                           // an OCI registry reference
	SourceData                          // a .tgz held in memory (uploaded through the API)
)

// ChartSource is a resolved chart reference. Credentials are held in memory only.
type ChartSource struct {
	Kind    SourceKind
	Path    string // SourceDir, SourceArchive
	URL     string // SourceURL, SourceOCI
	RepoURL string // SourceRepo: the repository's base URL
	Chart   string // SourceRepo: the chart's name in the index
	// Version is an exact version or a semver constraint; "" is the latest stable version.
	Version  string
	Username string
	Password string
	// Data is the archive of a SourceData chart.
	Data []byte
}

// Repository is what a chart loader needs to know of an HTTP index repository.
type Repository struct {
	URL      string
	Username string
	Password string
}

// ChartLoader loads charts into memory and caches repository indexes in parsed form, in memory and (when
// CacheDir is set) on disk so that short-lived processes do not download an index for every command.
type ChartLoader struct {
	// CacheDir holds downloaded indexes; "" keeps them in memory only.
	CacheDir string
	// HTTPClient fetches indexes and archives; nil means a client with a 60 s timeout.
	HTTPClient *http.Client

	mu      sync.Mutex
	indexes map[string]*repo.IndexFile // by cache key
}

func (l *ChartLoader) client() *http.Client {
	c := &http.Client{Timeout: 60 * time.Second}
	if l.HTTPClient != nil {
		cp := *l.HTTPClient
		c = &cp
	}
	c.CheckRedirect = sameOriginCredentials
	return c
}

// sameOriginCredentials follows at most 10 redirects and drops the Authorization header whenever a redirect
// leaves the origin (scheme, host and port) of the first request. Go's client only compares host names, so
// credentials would otherwise follow a redirect to another port, or from https to http.
func sameOriginCredentials(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

// Load loads a chart from its source.
func (l *ChartLoader) Load(ctx context.Context, src ChartSource) (*Chart, error) {
	var (
		c   *chart.Chart
		err error
	)
	switch src.Kind {
	case SourceDir:
		c, err = loadDir(src.Path)
	case SourceArchive:
		c, err = loadArchiveFile(src.Path)
	case SourceURL:
		var data []byte
		if data, err = l.fetch(ctx, src.URL, Repository{}, MaxChartArchiveSize); err == nil {
			c, err = loadArchive(src.URL, data)
		}
	case SourceRepo:
		c, err = l.loadFromRepo(ctx, src)
	case SourceData:
		if len(src.Data) > MaxChartArchiveSize {
			return nil, fmt.Errorf("%w: the chart archive is larger than %d bytes", engine.ErrInvalidChart, MaxChartArchiveSize)
		}
		c, err = loadArchive("the chart archive", src.Data)
	case SourceOCI:
		return nil, fmt.Errorf("%w: %s: OCI registries are not supported by this version of kdu", engine.ErrChartNotFound, src.URL)
	default:
		return nil, fmt.Errorf("%w: unknown chart source", engine.ErrInvalidChart)
	}
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, c.Name(), err)
	}
	if c.Metadata.Type == "library" {
		return nil, fmt.Errorf("%w: %s is a library chart and cannot be installed", engine.ErrInvalidChart, c.Name())
	}
	return &Chart{c: c}, nil
}

func loadDir(path string) (*chart.Chart, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: directory %s does not exist", engine.ErrChartNotFound, path)
		}
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, path, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", engine.ErrInvalidChart, path)
	}
	c, err := loader.LoadDir(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, path, err)
	}
	return c, nil
}

func loadArchiveFile(path string) (*chart.Chart, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", engine.ErrChartNotFound, path)
		}
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxChartArchiveSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, path, err)
	}
	if len(data) > MaxChartArchiveSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", engine.ErrInvalidChart, path, MaxChartArchiveSize)
	}
	return loadArchive(path, data)
}

func loadArchive(name string, data []byte) (*chart.Chart, error) {
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, name, err)
	}
	return c, nil
}

func (l *ChartLoader) loadFromRepo(ctx context.Context, src ChartSource) (*chart.Chart, error) {
	r := Repository{URL: src.RepoURL, Username: src.Username, Password: src.Password}
	idx, err := l.index(ctx, r)
	if err != nil {
		return nil, err
	}
	cv, err := idx.Get(src.Chart, src.Version)
	if err != nil {
		// The cached index may predate the version asked for: refresh once.
		if idx, err = l.UpdateIndex(ctx, r); err != nil {
			return nil, err
		}
		if cv, err = idx.Get(src.Chart, src.Version); err != nil {
			v := src.Version
			if v == "" {
				v = "latest stable"
			}
			return nil, fmt.Errorf("%w: %s version %s in repository %s", engine.ErrChartNotFound, src.Chart, v, redactURL(src.RepoURL))
		}
	}
	if len(cv.URLs) == 0 {
		return nil, fmt.Errorf("%w: %s-%s has no download URL in repository %s", engine.ErrChartNotFound, cv.Name, cv.Version, redactURL(src.RepoURL))
	}
	u, err := repo.ResolveReferenceURL(src.RepoURL, cv.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s-%s: bad URL in index: %w", engine.ErrInvalidChart, cv.Name, cv.Version, err)
	}
	data, err := l.fetch(ctx, u, r, MaxChartArchiveSize)
	if err != nil {
		return nil, err
	}
	if cv.Digest != "" {
		sum := sha256.Sum256(data)
		if !strings.EqualFold(hex.EncodeToString(sum[:]), cv.Digest) {
			return nil, fmt.Errorf("%w: %s-%s: archive digest does not match the repository index", engine.ErrInvalidChart, cv.Name, cv.Version)
		}
	}
	return loadArchive(cv.Name+"-"+cv.Version, data)
}

// UpdateIndex downloads a repository's index, replacing the cached one.
func (l *ChartLoader) UpdateIndex(ctx context.Context, r Repository) (*repo.IndexFile, error) {
	base := strings.TrimSuffix(r.URL, "/")
	data, err := l.fetch(ctx, base+"/index.yaml", r, MaxIndexSize)
	if err != nil {
		return nil, err
	}
	idx, err := parseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", redactURL(r.URL), err)
	}
	key := indexKey(r)
	l.mu.Lock()
	if l.indexes == nil {
		l.indexes = map[string]*repo.IndexFile{}
	}
	l.indexes[key] = idx
	l.mu.Unlock()
	if l.CacheDir != "" {
		if err := writeFileAtomic(filepath.Join(l.CacheDir, key+".yaml"), data); err != nil {
			return nil, fmt.Errorf("caching index of %s: %w", redactURL(r.URL), err)
		}
	}
	return idx, nil
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
func (l *ChartLoader) ForgetIndex(r Repository) {
	key := indexKey(r)
	l.mu.Lock()
	delete(l.indexes, key)
	l.mu.Unlock()
	if l.CacheDir != "" {
		_ = os.Remove(filepath.Join(l.CacheDir, key+".yaml"))
	}
}

func (l *ChartLoader) index(ctx context.Context, r Repository) (*repo.IndexFile, error) {
	key := indexKey(r)
	l.mu.Lock()
	idx := l.indexes[key]
	l.mu.Unlock()
	if idx != nil {
		return idx, nil
	}
	if l.CacheDir != "" {
		if data, err := os.ReadFile(filepath.Join(l.CacheDir, key+".yaml")); err == nil {
			if idx, err := parseIndex(data); err == nil {
				l.mu.Lock()
				if l.indexes == nil {
					l.indexes = map[string]*repo.IndexFile{}
				}
				l.indexes[key] = idx
				l.mu.Unlock()
				return idx, nil
			}
		}
	}
	return l.UpdateIndex(ctx, r)
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

// fetch GETs a URL into memory, bounded in size, sending credentials only to the repository's own host.
func (l *ChartLoader) fetch(ctx context.Context, rawURL string, r Repository, limit int64) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q is not an http(s) URL", engine.ErrInvalidChart, redactURL(rawURL))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, http.NoBody)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "kdu")
	if r.Username != "" || r.Password != "" {
		if ru, err := url.Parse(r.URL); err == nil && ru.Scheme == u.Scheme && ru.Host == u.Host {
			req.SetBasicAuth(r.Username, r.Password)
		}
	}
	resp, err := l.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", redactURL(rawURL), unwrapURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s: 404 Not Found", engine.ErrChartNotFound, redactURL(rawURL))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("fetching %s: %s (check the repository credentials)", redactURL(rawURL), resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetching %s: %s", redactURL(rawURL), resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", redactURL(rawURL), err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("fetching %s: larger than %d bytes", redactURL(rawURL), limit)
	}
	return data, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redactURL drops userinfo and query from a URL before it appears in an error or a log line.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Show describes a chart: metadata, the default values file verbatim and the README.
func Show(c *Chart) engine.ChartInfo {
	info := engine.ChartInfo{Metadata: metadataOf(c.c)}
	for _, f := range c.c.Raw {
		if f.Name == "values.yaml" {
			info.Values = string(f.Data)
		}
	}
	for _, f := range c.c.Files {
		base := strings.ToLower(filepath.Base(f.Name))
		if filepath.Dir(f.Name) == "." && (base == "readme.md" || base == "readme.txt" || base == "readme") {
			info.Readme = string(f.Data)
			break
		}
	}
	return info
}
