package ocitest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/registry"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/ocitest"
	"github.com/kdu-io/kdu/internal/testkit/pkitest"
)

func webapp(t *testing.T, version string) []byte {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "examples", "charts", "webapp"))
	if err != nil {
		t.Fatal(err)
	}
	return chartrepotest.Package(t, dir, version)
}

// helmClient returns helm's registry client for r, with credentials in memory and an empty credentials file.
func helmClient(t *testing.T, r *ocitest.Registry, user, pass string, httpClient *http.Client) *registry.Client {
	t.Helper()
	opts := []registry.ClientOption{registry.ClientOptCredentialsFile(filepath.Join(t.TempDir(), "c.json"))}
	if user != "" {
		opts = append(opts, registry.ClientOptBasicAuth(user, pass))
	}
	if httpClient != nil {
		opts = append(opts, registry.ClientOptHTTPClient(httpClient))
	} else {
		opts = append(opts, registry.ClientOptPlainHTTP())
	}
	c, err := registry.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func TestPushPull(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{})
	archive := webapp(t, "0.1.0")
	signer := chartrepotest.NewSigner(t)
	prov := signer.Sign(t, archive, "webapp-0.1.0.tgz")

	ref, digest := reg.Push(t, "charts", archive, prov)
	if want := "oci://" + reg.Host() + "/charts/webapp:0.1.0"; ref != want {
		t.Errorf("ref = %q, want %q", ref, want)
	}
	if !strings.HasPrefix(reg.Host(), "127.0.0.1:") || reg.URL() != "http://"+reg.Host() {
		t.Errorf("Host = %q, URL = %q", reg.Host(), reg.URL())
	}
	if !digestRE.MatchString(digest) {
		t.Errorf("digest = %q", digest)
	}
	if reg.BlobGets() != 0 || reg.ManifestGets() != 0 || reg.Requests() == 0 {
		t.Errorf("after push: BlobGets %d, ManifestGets %d, Requests %d", reg.BlobGets(), reg.ManifestGets(), reg.Requests())
	}
	if _, again := reg.Push(t, "charts", archive, prov); again != digest {
		t.Errorf("pushing the same chart again gave digest %s, want %s", again, digest)
	}

	t.Run("oras", func(t *testing.T) {
		ctx := context.Background()
		store := memory.New()
		desc, err := oras.Copy(ctx, reg.Repository(t, "charts/webapp"), "0.1.0", store, "0.1.0", oras.DefaultCopyOptions)
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		if desc.Digest.String() != digest || desc.MediaType != ocispec.MediaTypeImageManifest {
			t.Errorf("manifest descriptor = %+v, want digest %s", desc, digest)
		}
		var m ocispec.Manifest
		fetchJSON(t, store, desc, &m)
		if m.Config.MediaType != ocitest.ConfigMediaType {
			t.Errorf("config media type = %q", m.Config.MediaType)
		}
		var meta chart.Metadata
		fetchJSON(t, store, m.Config, &meta)
		if meta.Name != "webapp" || meta.Version != "0.1.0" || meta.APIVersion != "v2" {
			t.Errorf("config = %+v", meta)
		}
		if m.Annotations[ocispec.AnnotationTitle] != "webapp" || m.Annotations[ocispec.AnnotationVersion] != "0.1.0" {
			t.Errorf("annotations = %v", m.Annotations)
		}
		got := map[string][]byte{}
		for _, l := range m.Layers {
			b, err := content.FetchAll(ctx, store, l)
			if err != nil {
				t.Fatal(err)
			}
			got[l.MediaType] = b
		}
		if len(m.Layers) != 2 || !bytes.Equal(got[ocitest.ChartLayerMediaType], archive) || !bytes.Equal(got[ocitest.ProvLayerMediaType], prov) {
			t.Errorf("layers = %v, want the archive and the provenance file", m.Layers)
		}
	})

	t.Run("helm", func(t *testing.T) {
		blobs, manifests := reg.BlobGets(), reg.ManifestGets()
		res, err := helmClient(t, reg, "", "", nil).Pull(ref, registry.PullOptWithProv(true))
		if err != nil {
			t.Fatalf("helm pull: %v", err)
		}
		if !bytes.Equal(res.Chart.Data, archive) || !bytes.Equal(res.Prov.Data, prov) || res.Manifest.Digest != digest {
			t.Errorf("helm pulled different content (manifest %s)", res.Manifest.Digest)
		}
		if res.Chart.Meta == nil || res.Chart.Meta.Name != "webapp" {
			t.Errorf("chart meta = %+v", res.Chart.Meta)
		}
		// Config, chart and provenance are each fetched once.
		if got := reg.BlobGets() - blobs; got != 3 {
			t.Errorf("blob GETs = %d, want 3", got)
		}
		if got := reg.ManifestGets() - manifests; got < 1 {
			t.Errorf("manifest GETs = %d, want at least 1", got)
		}
	})
}

func TestPushWithoutProvenance(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{})
	archive := webapp(t, "0.2.0+build.1")
	ref, digest := reg.Push(t, "", archive, nil)
	if want := "oci://" + reg.Host() + "/webapp:0.2.0+build.1"; ref != want {
		t.Errorf("ref = %q, want %q", ref, want)
	}
	store := memory.New()
	desc, err := oras.Copy(context.Background(), reg.Repository(t, "webapp"), "0.2.0_build.1", store, "x", oras.DefaultCopyOptions)
	if err != nil {
		t.Fatalf("pull by underscored tag: %v", err)
	}
	var m ocispec.Manifest
	fetchJSON(t, store, desc, &m)
	if desc.Digest.String() != digest || len(m.Layers) != 1 || m.Layers[0].MediaType != ocitest.ChartLayerMediaType {
		t.Errorf("manifest %s = %+v", desc.Digest, m)
	}
	res, err := helmClient(t, reg, "", "", nil).Pull(ref)
	if err != nil || !bytes.Equal(res.Chart.Data, archive) {
		t.Fatalf("helm pull: %v", err)
	}
}

func TestBasicAuth(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{User: "kdu", Pass: "s3cret"})
	archive := webapp(t, "0.1.0")
	ref, _ := reg.Push(t, "charts", archive, nil)

	rawTests := []struct {
		name, user, pass string
		want             int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", "kdu", "wrong", http.StatusUnauthorized},
		{"right credentials", "kdu", "s3cret", http.StatusOK},
	}
	for _, tt := range rawTests {
		t.Run("raw "+tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, reg.URL()+"/v2/charts/webapp/manifests/0.1.0", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if got := resp.Header.Get("WWW-Authenticate"); (tt.want == http.StatusUnauthorized) != (got == `Basic realm="ocitest"`) {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}

	helmTests := []struct {
		name, user, pass, wantErr string
	}{
		{"helm no credentials", "", "", "basic credential not found"},
		{"helm wrong password", "kdu", "wrong", "401"},
		{"helm right credentials", "kdu", "s3cret", ""},
	}
	for _, tt := range helmTests {
		t.Run(tt.name, func(t *testing.T) {
			blobs := reg.BlobGets()
			res, err := helmClient(t, reg, tt.user, tt.pass, nil).Pull(ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if reg.BlobGets() != blobs {
					t.Errorf("rejected requests counted as blob GETs")
				}
				return
			}
			if err != nil || !bytes.Equal(res.Chart.Data, archive) {
				t.Fatalf("pull: %v", err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	pki := pkitest.New(t)
	archive := webapp(t, "0.1.0")
	tests := []struct {
		name    string
		mutual  bool
		client  *http.Client
		wantErr string
	}{
		{name: "trusted CA", client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(t, pki.CAPEM()), MinVersion: tls.VersionTLS12}}}},
		{name: "unrelated CA", client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool(t, pki.OtherCAPEM()), MinVersion: tls.VersionTLS12}}}, wantErr: "certificate signed by unknown authority"},
		{name: "system roots", client: &http.Client{}, wantErr: "certificate signed by unknown authority"},
		{name: "mutual with client cert", mutual: true, client: &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(true)}}},
		{name: "mutual without client cert", mutual: true, client: &http.Client{Transport: &http.Transport{TLSClientConfig: pki.ClientTLS(false)}}, wantErr: "certificate required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := ocitest.New(t, ocitest.Options{TLS: pki, MutualTLS: tt.mutual, User: "kdu", Pass: "s3cret"})
			if reg.URL() != "https://"+reg.Host() {
				t.Fatalf("URL = %s", reg.URL())
			}
			ref, digest := reg.Push(t, "charts", archive, nil)
			res, err := helmClient(t, reg, "kdu", "s3cret", tt.client).Pull(ref)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("helm pull: %v", err)
			}
			if !bytes.Equal(res.Chart.Data, archive) || res.Manifest.Digest != digest {
				t.Errorf("pulled different content")
			}
		})
	}
}

func TestRequestCounters(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{})
	_, digest := reg.Push(t, "charts", webapp(t, "0.1.0"), nil)
	c := reg.HTTPClient()
	before := reg.Requests()
	for _, path := range []string{
		"/v2/charts/webapp/manifests/0.1.0",
		"/v2/charts/webapp/manifests/" + digest,
		"/v2/charts/webapp/blobs/" + digest, // not a blob: 404, still counted
		"/v2/",
		"/v2/charts/webapp/tags/list",
	} {
		resp, err := c.Get(reg.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if reg.ManifestGets() != 2 || reg.BlobGets() != 1 || reg.Requests()-before != 5 {
		t.Errorf("ManifestGets %d, BlobGets %d, Requests %d; want 2, 1, 5", reg.ManifestGets(), reg.BlobGets(), reg.Requests()-before)
	}
}

func pool(t *testing.T, pemData []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificate in PEM")
	}
	return p
}

func fetchJSON(t *testing.T, store content.Fetcher, desc ocispec.Descriptor, v any) {
	t.Helper()
	b, err := content.FetchAll(context.Background(), store, desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", desc.MediaType, err)
	}
}
