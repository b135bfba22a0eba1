package charts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/kdu-io/kdu/internal/chartsafe"
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

// Source is a resolved chart reference. Credentials are held in memory only.
type Source struct {
	Kind SourceKind
	Path string // SourceDir, SourceArchive
	// URL is the archive URL of a SourceURL and "oci://host/path/chart" (no tag, no digest) of a SourceOCI.
	URL string
	// Repo is the repository of a SourceRepo, and the registry settings (credentials, TLS, plain HTTP) of a
	// SourceOCI or SourceURL (zero: anonymous, system roots).
	Repo Repository
	// Chart is the chart's name in a SourceRepo index.
	Chart string
	// Version is an exact version or a semver constraint; "" is the latest stable version. For SourceOCI it is
	// the tag.
	Version string
	// Digest pins a SourceOCI manifest ("sha256:<hex>").
	Digest string
	// Data is the archive of a SourceData chart.
	Data []byte
	// Verify refuses a chart that cannot be verified: a repository or URL chart needs a provenance file signed by
	// a key of the keyring, an OCI chart needs a pinned digest (or a signed provenance layer).
	Verify bool
}

// Loader loads charts into memory. It caches repository indexes in parsed form (refreshed after
// IndexRefresh; concurrent refreshes of one repository coalesced) and chart archives by digest, in memory and
// (when CacheDir is set) on disk, so that the same chart version is downloaded once.
type Loader struct {
	// CacheDir holds downloaded indexes, and chart archives under CacheDir/blobs; "" keeps them in memory only.
	CacheDir string
	// HTTPClient fetches from repositories without TLS settings; nil means a client with a 60 s timeout.
	HTTPClient *http.Client
	// IndexRefresh is how long an index is used before it is downloaded again; 0 means DefaultIndexRefresh.
	IndexRefresh time.Duration
	// Keyring is the default PGP public keyring for verification, used for repositories without their own.
	Keyring []byte
	// Limits bounds what an untrusted chart archive may hold; zero fields take chartsafe's defaults.
	Limits chartsafe.Limits
	// Logger receives warnings (a stale index in use); nil discards them.
	Logger *slog.Logger

	mu             sync.Mutex
	indexes        map[string]cachedIndex // by indexKey
	transports     map[string]*http.Transport
	refreshes      singleflight.Group
	indexDownloads atomic.Int64
	blobOnce       sync.Once
	blobs          *blobCache
}

func (l *Loader) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (l *Loader) init() {
	l.blobOnce.Do(func() {
		l.blobs = &blobCache{}
		if l.CacheDir != "" {
			l.blobs.dir = filepath.Join(l.CacheDir, "blobs")
		}
	})
}

// Load loads a chart from its source.
func (l *Loader) Load(ctx context.Context, src Source) (*Chart, error) {
	l.init()
	var (
		c      *chart.Chart
		digest string
		err    error
	)
	switch src.Kind {
	case SourceDir:
		if src.Verify {
			return nil, fmt.Errorf("%w: the chart directory %s has no provenance; package and sign it, or do not ask to verify", engine.ErrVerification, src.Path)
		}
		c, err = loadDir(src.Path)
	case SourceArchive:
		c, digest, err = l.loadArchiveFile(src.Path, src.Verify)
	case SourceURL:
		c, digest, err = l.loadFromURL(ctx, src)
	case SourceRepo:
		c, digest, err = l.loadFromRepo(ctx, src)
	case SourceData:
		if src.Verify {
			return nil, fmt.Errorf("%w: an uploaded chart archive carries no provenance; install it from a repository or registry to verify it", engine.ErrVerification)
		}
		if len(src.Data) > MaxChartArchiveSize {
			return nil, fmt.Errorf("%w: the chart archive is larger than %d bytes", engine.ErrInvalidChart, MaxChartArchiveSize)
		}
		digest = digestOf(src.Data)
		c, err = l.loadArchive("the chart archive", src.Data)
	case SourceOCI:
		c, digest, err = l.loadFromOCI(ctx, src)
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
	return &Chart{c: c, digest: digest}, nil
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

func (l *Loader) loadArchiveFile(path string, verify bool) (*chart.Chart, string, error) {
	data, err := readLocal(path, MaxChartArchiveSize)
	if err != nil {
		return nil, "", err
	}
	if verify {
		prov, err := readLocal(path+".prov", MaxChartArchiveSize)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %s has no readable provenance file %s.prov: %w", engine.ErrVerification, path, path, err)
		}
		if err := l.verifyProvenance(Repository{}, filepath.Base(path), data, prov); err != nil {
			return nil, "", err
		}
	}
	c, err := l.loadArchive(path, data)
	return c, digestOf(data), err
}

func readLocal(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", engine.ErrChartNotFound, path)
		}
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", engine.ErrInvalidChart, path, limit)
	}
	return data, nil
}

// loadArchive checks an untrusted archive against the hostile-chart limits, then loads it.
func (l *Loader) loadArchive(name string, data []byte) (*chart.Chart, error) {
	if err := chartsafe.CheckArchive(data, l.Limits); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, name, err)
	}
	c, err := loader.LoadArchive(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, name, err)
	}
	return c, nil
}

func (l *Loader) loadFromURL(ctx context.Context, src Source) (*chart.Chart, string, error) {
	r := src.Repo
	if r.URL == "" {
		r.URL = src.URL
	}
	data, err := l.fetch(ctx, src.URL, r, MaxChartArchiveSize)
	if err != nil {
		return nil, "", err
	}
	if src.Verify {
		prov, err := l.fetchProvenance(ctx, src.URL, r)
		if err != nil {
			return nil, "", err
		}
		if err := l.verifyProvenance(r, path.Base(urlPath(src.URL)), data, prov); err != nil {
			return nil, "", err
		}
	}
	c, err := l.loadArchive(redactURL(src.URL), data)
	return c, digestOf(data), err
}

func (l *Loader) loadFromRepo(ctx context.Context, src Source) (*chart.Chart, string, error) {
	r := src.Repo
	idx, err := l.index(ctx, r)
	if err != nil {
		return nil, "", err
	}
	cv, err := idx.Get(src.Chart, src.Version)
	if err != nil {
		// The cached index may predate the version asked for: refresh once.
		if idx, err = l.UpdateIndex(ctx, r); err != nil {
			return nil, "", err
		}
		if cv, err = idx.Get(src.Chart, src.Version); err != nil {
			v := src.Version
			if v == "" {
				v = "latest stable"
			}
			return nil, "", fmt.Errorf("%w: %s version %s in %s", engine.ErrChartNotFound, src.Chart, v, r.label())
		}
	}
	if len(cv.URLs) == 0 {
		return nil, "", fmt.Errorf("%w: %s-%s has no download URL in %s", engine.ErrChartNotFound, cv.Name, cv.Version, r.label())
	}
	u, err := repo.ResolveReferenceURL(r.URL, cv.URLs[0])
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s-%s: bad URL in the index of %s: %w", engine.ErrInvalidChart, cv.Name, cv.Version, r.label(), err)
	}
	want := normalizeDigest(cv.Digest)
	if want == "" && cv.Digest != "" {
		return nil, "", fmt.Errorf("%w: %s-%s: the index of %s gives digest %q, which is not a sha256 digest", engine.ErrInvalidChart, cv.Name, cv.Version, r.label(), cv.Digest)
	}
	data := l.blobs.get(want) // nil when the index has no digest or the archive is not cached
	if data == nil {
		if data, err = l.fetch(ctx, u, r, MaxChartArchiveSize); err != nil {
			return nil, "", err
		}
		if want != "" && digestOf(data) != want {
			return nil, "", fmt.Errorf("%w: %s-%s: the archive's digest does not match the index of %s", engine.ErrInvalidChart, cv.Name, cv.Version, r.label())
		}
	}
	if src.Verify {
		prov, err := l.fetchProvenance(ctx, u, r)
		if err != nil {
			return nil, "", err
		}
		if err := l.verifyProvenance(r, path.Base(urlPath(u)), data, prov); err != nil {
			return nil, "", err
		}
	}
	c, err := l.loadArchive(cv.Name+"-"+cv.Version, data)
	if err != nil {
		return nil, "", err
	}
	if want != "" {
		l.blobs.put(want, data) // only once it loaded: nothing hostile is kept
	}
	return c, digestOf(data), nil
}

func (l *Loader) loadFromOCI(ctx context.Context, src Source) (*chart.Chart, string, error) {
	p, err := l.pullOCI(ctx, src, src.Verify)
	if err != nil {
		return nil, "", err
	}
	if src.Verify && normalizeDigest(src.Digest) == "" {
		if p.prov == nil {
			return nil, "", fmt.Errorf("%w: %s is neither pinned by digest (@sha256:…) nor signed (no provenance layer)", engine.ErrVerification, src.URL)
		}
		if err := l.verifyProvenance(src.Repo, p.name, p.archive, p.prov); err != nil {
			return nil, "", err
		}
	}
	c, err := l.loadArchive(strings.TrimPrefix(src.URL, "oci://"), p.archive)
	return c, p.manifest, err
}

func urlPath(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Path
	}
	return raw
}

// fetch GETs a URL into memory, bounded in size, sending credentials only to the repository's own origin unless
// the repository passes them to every host.
func (l *Loader) fetch(ctx context.Context, rawURL string, r Repository, limit int64) ([]byte, error) {
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
		if ru, err := url.Parse(r.URL); err == nil && (r.PassCredentials || (ru.Scheme == u.Scheme && ru.Host == u.Host)) {
			req.SetBasicAuth(r.Username, r.Password)
		}
	}
	client, err := l.httpClient(r)
	if err != nil {
		return nil, err
	}
	if r.PassCredentials {
		client.CheckRedirect = nil // the operator chose to send credentials anywhere the repository leads
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s: fetching %s: %w", engine.ErrSourceUnreachable, r.label(), redactURL(rawURL), unwrapURLError(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s: %s: 404 Not Found", engine.ErrChartNotFound, r.label(), redactURL(rawURL))
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w: %s: %s: %s (check the repository credentials)", engine.ErrSourceAuth, r.label(), redactURL(rawURL), resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%w: %s: fetching %s: %s", engine.ErrSourceUnreachable, r.label(), redactURL(rawURL), resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: fetching %s: %w", engine.ErrSourceUnreachable, r.label(), redactURL(rawURL), err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s: %s is larger than %d bytes", engine.ErrInvalidChart, r.label(), redactURL(rawURL), limit)
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

// Show describes a chart: metadata, the default values file and values schema verbatim, the README and the
// declared dependencies.
func Show(c *Chart) engine.ChartInfo {
	info := engine.ChartInfo{Metadata: metadataOf(c.c), Digest: c.digest, Schema: string(c.c.Schema)}
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
	for _, d := range c.c.Metadata.Dependencies {
		if d == nil {
			continue
		}
		info.Dependencies = append(info.Dependencies, engine.ChartDependency{Name: d.Name, Version: d.Version,
			Repository: d.Repository, Condition: d.Condition, Alias: d.Alias})
	}
	return info
}
