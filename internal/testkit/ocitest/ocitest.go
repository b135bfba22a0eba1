// Package ocitest runs an in-process OCI registry on 127.0.0.1 for tests, with optional basic auth and (mutual)
// TLS, and pushes Helm charts to it the way `helm push` lays them out.
package ocitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/kdu-io/kdu/internal/testkit/pkitest"
)

// Media types of a Helm chart in an OCI registry.
const (
	// ConfigMediaType is the media type of the manifest config: the chart's metadata as JSON.
	ConfigMediaType = "application/vnd.cncf.helm.config.v1+json"
	// ChartLayerMediaType is the media type of the layer holding the chart archive.
	ChartLayerMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	// ProvLayerMediaType is the media type of the optional layer holding the provenance file.
	ProvLayerMediaType = "application/vnd.cncf.helm.chart.provenance.v1.prov"
)

// created is the creation time annotation of pushed manifests, fixed so that pushing the same chart always yields
// the same manifest digest.
const created = "2026-11-01T00:00:00Z"

// Options configure New. The zero value serves plain HTTP without auth.
type Options struct {
	// User and Pass, if User is set, require HTTP basic auth on every request; others get 401 with
	// WWW-Authenticate: Basic realm="ocitest".
	User, Pass string
	// TLS, if set, serves HTTPS with the PKI's server certificate (valid for 127.0.0.1 and localhost).
	TLS *pkitest.PKI
	// MutualTLS, with TLS, requires a client certificate signed by the PKI's CA (pkitest.PKI.ClientCertPEM).
	MutualTLS bool
}

// Registry is an in-memory OCI distribution registry (go-containerregistry's) served on 127.0.0.1 until the test
// ends.
type Registry struct {
	srv  *httptest.Server
	host string
	opts Options

	requests, blobGets, manifestGets atomic.Int64
}

// New starts a registry configured by o.
func New(t testing.TB, o Options) *Registry {
	t.Helper()
	if o.MutualTLS && o.TLS == nil {
		t.Fatal("ocitest: MutualTLS needs TLS")
	}
	r := &Registry{opts: o}
	reg := ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		if o.User != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != o.User || p != o.Pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="ocitest"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if req.Method == http.MethodGet {
			switch kind(req.URL.Path) {
			case "blobs":
				r.blobGets.Add(1)
			case "manifests":
				r.manifestGets.Add(1)
			}
		}
		reg.ServeHTTP(w, req)
	}))
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected in TLS tests
	if o.TLS != nil {
		r.srv.TLS = o.TLS.ServerTLS(o.MutualTLS)
		r.srv.StartTLS()
	} else {
		r.srv.Start()
	}
	t.Cleanup(r.srv.Close)
	u, err := url.Parse(r.srv.URL)
	if err != nil {
		t.Fatalf("ocitest: %v", err)
	}
	r.host = u.Host
	return r
}

// kind returns "blobs" for /v2/<name>/blobs/<digest>, "manifests" for /v2/<name>/manifests/<reference>, and ""
// for anything else (including blob uploads).
func kind(path string) string {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 3 {
		return ""
	}
	switch k := parts[len(parts)-2]; k {
	case "blobs", "manifests":
		return k
	}
	return ""
}

// Host returns the registry's "127.0.0.1:port".
func (r *Registry) Host() string { return r.host }

// URL returns the registry's base URL, "http://127.0.0.1:port" or "https://127.0.0.1:port".
func (r *Registry) URL() string { return r.srv.URL }

// Requests returns how many requests the registry received, including rejected ones.
func (r *Registry) Requests() int { return int(r.requests.Load()) }

// BlobGets returns how many authenticated GET /v2/<name>/blobs/<digest> requests the registry received.
func (r *Registry) BlobGets() int { return int(r.blobGets.Load()) }

// ManifestGets returns how many authenticated GET /v2/<name>/manifests/<reference> requests the registry received.
func (r *Registry) ManifestGets() int { return int(r.manifestGets.Load()) }

// HTTPClient returns a client for the registry: for TLS it trusts the PKI's CA and, with MutualTLS, presents the
// PKI's client certificate. It sends no credentials.
func (r *Registry) HTTPClient() *http.Client {
	if r.opts.TLS == nil {
		return &http.Client{}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: r.opts.TLS.ClientTLS(r.opts.MutualTLS)}}
}

// Repository returns an oras-go client for the repository name (e.g. "charts/webapp") on this registry, using
// the registry's credentials (in memory) and plain HTTP when the registry does not serve TLS.
func (r *Registry) Repository(t testing.TB, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(r.host + "/" + name)
	if err != nil {
		t.Fatalf("ocitest: repository %q: %v", name, err)
	}
	repo.PlainHTTP = r.opts.TLS == nil
	repo.Client = &auth.Client{
		Client:     r.HTTPClient(),
		Credential: auth.StaticCredential(r.host, auth.Credential{Username: r.opts.User, Password: r.opts.Pass}),
		Cache:      auth.NewCache(),
	}
	return repo
}

// Push stores a packaged chart (and its provenance file, if prov is not nil) in repository repo/<chart name>,
// tagged with the chart version ("+" replaced by "_", as helm does), laid out as `helm push` does: a manifest whose
// config is the chart metadata as JSON, with the chart layer and optional provenance layer sorted by digest. It
// returns the chart reference "oci://HOST/REPO/NAME:VERSION" (without "REPO/" when repo is empty) and the manifest
// digest "sha256:…".
func (r *Registry) Push(t testing.TB, repo string, archive, prov []byte) (ref, digest string) {
	t.Helper()
	ctx := context.Background()
	ch, err := loader.LoadArchive(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("ocitest: loading chart: %v", err)
	}
	meta := ch.Metadata
	config, err := json.Marshal(meta)
	if err != nil {
		t.Fatalf("ocitest: marshalling chart metadata: %v", err)
	}

	store := memory.New()
	push := func(mediaType string, data []byte) ocispec.Descriptor {
		t.Helper()
		desc, err := oras.PushBytes(ctx, store, mediaType, data)
		if err != nil {
			t.Fatalf("ocitest: storing %s: %v", mediaType, err)
		}
		return desc
	}
	configDesc := push(ConfigMediaType, config)
	layers := []ocispec.Descriptor{push(ChartLayerMediaType, archive)}
	if prov != nil {
		layers = append(layers, push(ProvLayerMediaType, prov))
	}
	slices.SortFunc(layers, func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })

	annotations := map[string]string{}
	for k, v := range meta.Annotations {
		annotations[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			annotations[k] = v
		}
	}
	set(ocispec.AnnotationDescription, meta.Description)
	set(ocispec.AnnotationTitle, meta.Name)
	set(ocispec.AnnotationVersion, meta.Version)
	set(ocispec.AnnotationURL, meta.Home)
	set(ocispec.AnnotationCreated, created)
	if len(meta.Sources) > 0 {
		set(ocispec.AnnotationSource, meta.Sources[0])
	}
	var authors []string
	for _, m := range meta.Maintainers {
		a := m.Name
		if m.Email != "" {
			a += " (" + m.Email + ")"
		}
		authors = append(authors, a)
	}
	set(ocispec.AnnotationAuthors, strings.Join(authors, ", "))

	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		Config:      configDesc,
		Layers:      layers,
		Annotations: annotations,
	})
	if err != nil {
		t.Fatalf("ocitest: marshalling manifest: %v", err)
	}
	tag := strings.ReplaceAll(meta.Version, "+", "_")
	manifestDesc, err := oras.TagBytes(ctx, store, ocispec.MediaTypeImageManifest, manifest, tag)
	if err != nil {
		t.Fatalf("ocitest: storing manifest: %v", err)
	}

	name := meta.Name
	if repo != "" {
		name = strings.Trim(repo, "/") + "/" + name
	}
	if _, err := oras.Copy(ctx, store, tag, r.Repository(t, name), tag, oras.DefaultCopyOptions); err != nil {
		t.Fatalf("ocitest: pushing %s:%s: %v", name, tag, err)
	}
	return "oci://" + r.host + "/" + name + ":" + meta.Version, manifestDesc.Digest.String()
}
