package charts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/kdu-io/kdu/internal/engine"
)

// MaxManifestSize bounds an OCI manifest kdu reads.
const MaxManifestSize = 4 << 20

// ociPull is a chart pulled from an OCI registry.
type ociPull struct {
	archive  []byte
	prov     []byte
	manifest string // the manifest digest
	name     string // "chart-version.tgz", the file name provenance refers to
}

// pullOCI resolves an OCI chart reference to a manifest and returns its chart layer, reading every blob from the
// digest-keyed cache when it holds it. The manifest is fetched by digest when the reference is pinned, so a
// pinned chart never depends on a tag.
func (l *Loader) pullOCI(ctx context.Context, src Source, withProv bool) (*ociPull, error) {
	u, err := url.Parse(src.URL)
	if err != nil || u.Scheme != "oci" || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("%w: %q is not an oci://host/path/chart reference", engine.ErrInvalidChart, src.URL)
	}
	r := src.Repo
	if r.URL == "" {
		r.URL = src.URL
	}
	repository, err := remote.NewRepository(u.Host + u.Path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, src.URL, err)
	}
	repository.PlainHTTP = r.PlainHTTP
	if repository.Client, err = l.ociClient(r, u.Host); err != nil {
		return nil, err
	}
	what := strings.TrimPrefix(src.URL, "oci://")

	var manifestDesc ocispec.Descriptor
	switch pinned := normalizeDigest(src.Digest); {
	case src.Digest != "" && pinned == "":
		return nil, fmt.Errorf("%w: %q is not a sha256 digest", engine.ErrInvalidChart, src.Digest)
	case pinned != "":
		manifestDesc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(pinned)}
	default:
		tag, err := l.ociTag(ctx, repository, r, what, src.Version)
		if err != nil {
			return nil, err
		}
		if manifestDesc, err = repository.Resolve(ctx, tag); err != nil {
			return nil, ociError(r, what+":"+tag, err)
		}
		what += ":" + tag
	}

	manifest := l.blobs.get(manifestDesc.Digest.String())
	if manifest == nil {
		desc, rc, err := repository.FetchReference(ctx, manifestDesc.Digest.String())
		if err != nil {
			return nil, ociError(r, what, err)
		}
		if desc.Size > MaxManifestSize {
			rc.Close()
			return nil, fmt.Errorf("%w: %s: manifest larger than %d bytes", engine.ErrInvalidChart, what, MaxManifestSize)
		}
		manifest, err = content.ReadAll(rc, desc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: reading the manifest: %w", engine.ErrSourceUnreachable, what, err)
		}
		if digestOf(manifest) != manifestDesc.Digest.String() {
			return nil, fmt.Errorf("%w: %s: the registry returned a manifest that does not match digest %s", engine.ErrVerification, what, manifestDesc.Digest)
		}
		l.blobs.put(manifestDesc.Digest.String(), manifest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: the manifest is not an OCI image manifest: %w", engine.ErrInvalidChart, what, err)
	}
	if m.Config.MediaType != registry.ConfigMediaType {
		return nil, fmt.Errorf("%w: %s is not a Helm chart (config media type %q)", engine.ErrInvalidChart, what, m.Config.MediaType)
	}
	var chartLayer, provLayer *ocispec.Descriptor
	for i := range m.Layers {
		switch m.Layers[i].MediaType {
		case registry.ChartLayerMediaType, registry.LegacyChartLayerMediaType:
			chartLayer = &m.Layers[i]
		case registry.ProvLayerMediaType:
			provLayer = &m.Layers[i]
		}
	}
	if chartLayer == nil {
		return nil, fmt.Errorf("%w: %s has no chart layer", engine.ErrInvalidChart, what)
	}
	if chartLayer.Size > MaxChartArchiveSize {
		return nil, fmt.Errorf("%w: %s: the chart archive is %d bytes, more than the %d allowed", engine.ErrInvalidChart, what, chartLayer.Size, MaxChartArchiveSize)
	}
	out := &ociPull{manifest: manifestDesc.Digest.String()}
	if out.archive, err = l.ociBlob(ctx, repository, r, what, *chartLayer); err != nil {
		return nil, err
	}
	if withProv && provLayer != nil && provLayer.Size <= MaxChartArchiveSize {
		if out.prov, err = l.ociBlob(ctx, repository, r, what, *provLayer); err != nil {
			return nil, err
		}
	}
	// Provenance files name the archive "<name>-<version>.tgz"; the manifest config holds both.
	var md chart.Metadata
	if cfg := m.Annotations; cfg != nil {
		md.Name, md.Version = cfg[ocispec.AnnotationTitle], cfg[ocispec.AnnotationVersion]
	}
	if md.Name == "" || md.Version == "" {
		md.Name = lastSegment(u.Path)
		md.Version = src.Version
	}
	out.name = md.Name + "-" + md.Version + ".tgz"
	return out, nil
}

func (l *Loader) ociBlob(ctx context.Context, repository *remote.Repository, r Repository, what string, desc ocispec.Descriptor) ([]byte, error) {
	if data := l.blobs.get(desc.Digest.String()); data != nil {
		return data, nil
	}
	rc, err := repository.Blobs().Fetch(ctx, desc)
	if err != nil {
		return nil, ociError(r, what, err)
	}
	defer rc.Close()
	data, err := content.ReadAll(rc, desc) // checks size and digest
	if err != nil {
		return nil, fmt.Errorf("%w: %s: blob %s: %w", engine.ErrSourceUnreachable, what, desc.Digest, err)
	}
	l.blobs.put(desc.Digest.String(), data)
	return data, nil
}

// ociTag picks the tag to pull: the version if it is one, else the highest tag matching the constraint (the
// highest stable version when none is given), as Helm does. Helm stores "+" of semver as "_" in tags.
func (l *Loader) ociTag(ctx context.Context, repository *remote.Repository, r Repository, what, version string) (string, error) {
	if version != "" {
		if _, err := semver.StrictNewVersion(version); err == nil {
			return strings.ReplaceAll(version, "+", "_"), nil
		}
	}
	var constraint *semver.Constraints
	if version != "" {
		c, err := semver.NewConstraint(version)
		if err != nil {
			return "", fmt.Errorf("%w: %q is neither a version nor a version constraint", engine.ErrInvalidChart, version)
		}
		constraint = c
	}
	var versions []*semver.Version
	err := repository.Tags(ctx, "", func(tags []string) error {
		for _, t := range tags {
			v, err := semver.NewVersion(strings.ReplaceAll(t, "_", "+"))
			if err != nil {
				continue
			}
			if constraint == nil && v.Prerelease() != "" {
				continue
			}
			if constraint != nil && !constraint.Check(v) {
				continue
			}
			versions = append(versions, v)
		}
		return nil
	})
	if err != nil {
		return "", ociError(r, what, err)
	}
	if len(versions) == 0 {
		want := version
		if want == "" {
			want = "latest stable"
		}
		return "", fmt.Errorf("%w: %s: no tag matches version %s", engine.ErrChartNotFound, what, want)
	}
	sort.Sort(semver.Collection(versions))
	return strings.ReplaceAll(versions[len(versions)-1].Original(), "+", "_"), nil
}

// ociError turns a registry error into kdu's sentinels with a message naming the repository.
func ociError(r Repository, what string, err error) error {
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		switch er.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %s: %s: %d %s (check the repository credentials)", engine.ErrSourceAuth, r.label(), what,
				er.StatusCode, http.StatusText(er.StatusCode))
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s in %s", engine.ErrChartNotFound, what, r.label())
		}
		return fmt.Errorf("%w: %s: %s: %d %s", engine.ErrSourceUnreachable, r.label(), what, er.StatusCode, http.StatusText(er.StatusCode))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if strings.Contains(err.Error(), "not found") {
		return fmt.Errorf("%w: %s in %s", engine.ErrChartNotFound, what, r.label())
	}
	return fmt.Errorf("%w: %s: %s: %w", engine.ErrSourceUnreachable, r.label(), what, unwrapURLError(err))
}

func lastSegment(p string) string {
	p = strings.TrimSuffix(p, "/")
	return p[strings.LastIndex(p, "/")+1:]
}

// PingRegistry checks that an OCI registry answers with a repository's settings (TLS, plain HTTP, credentials):
// kdu's equivalent of `helm registry login`, without storing anything.
func (l *Loader) PingRegistry(ctx context.Context, r Repository) error {
	u, err := url.Parse(r.URL)
	if err != nil || u.Scheme != "oci" || u.Host == "" {
		return fmt.Errorf("%w: %q is not an oci:// URL", engine.ErrInvalidChart, r.URL)
	}
	reg, err := remote.NewRegistry(u.Host)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, r.label(), err)
	}
	client, err := l.ociClient(r, u.Host)
	if err != nil {
		return err
	}
	reg.PlainHTTP, reg.Client = r.PlainHTTP, client
	if err := reg.Ping(ctx); err != nil {
		return ociError(r, u.Host, err)
	}
	return nil
}

// ociClient is the registry client of a repository: its TLS settings and, if any, its credentials (in memory).
func (l *Loader) ociClient(r Repository, host string) (*auth.Client, error) {
	hc, err := l.httpClient(r)
	if err != nil {
		return nil, err
	}
	client := &auth.Client{Client: hc, Cache: auth.NewCache(), Header: http.Header{"User-Agent": {"kdu"}}}
	if r.Username != "" || r.Password != "" {
		client.Credential = auth.StaticCredential(host, auth.Credential{Username: r.Username, Password: r.Password})
	}
	return client, nil
}
