package charts

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/ocitest"
	"github.com/kdu-io/kdu/internal/testkit/pkitest"
)

const indexYAML = "apiVersion: v1\nentries: {}\n"

// TestUpdateIndexCoalesces starts many refreshes of one repository while its server holds the first request:
// they share one download.
func TestUpdateIndexCoalesces(t *testing.T) {
	var hits atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
		_, _ = w.Write([]byte(indexYAML))
	}))
	t.Cleanup(srv.Close)
	var l Loader
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.UpdateIndex(context.Background(), Repository{URL: srv.URL})
			errs <- err
		}()
	}
	// Wait until the one download reached the server, give the others time to join it, then let it finish.
	deadline := time.Now().Add(10 * time.Second)
	for hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := hits.Load(); got != 1 {
		t.Fatalf("%d concurrent refreshes made %d downloads, want 1", n, got)
	}
	if l.IndexDownloads() != 1 {
		t.Fatalf("IndexDownloads = %d", l.IndexDownloads())
	}
}

// TestUpdateIndexCallerCancel checks that a caller that gives up does not cancel the download others share.
func TestUpdateIndexCallerCancel(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = w.Write([]byte(indexYAML))
	}))
	t.Cleanup(srv.Close)
	var l Loader
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := l.UpdateIndex(ctx, Repository{URL: srv.URL}); first <- err }()
	second := make(chan error, 1)
	time.Sleep(20 * time.Millisecond)
	go func() { _, err := l.UpdateIndex(context.Background(), Repository{URL: srv.URL}); second <- err }()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatalf("the other caller failed with the first one's cancellation: %v", err)
	}
}

// TestIndexRefreshInterval checks that an index older than IndexRefresh is downloaded again on use, and that a
// failed refresh falls back to the older copy unless the repository refused the credentials.
func TestIndexRefreshInterval(t *testing.T) {
	var hits atomic.Int32
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if s := int(status.Load()); s != http.StatusOK {
			w.WriteHeader(s)
			return
		}
		_, _ = w.Write([]byte(indexYAML))
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	r := Repository{Name: "r", URL: srv.URL}

	fresh := &Loader{IndexRefresh: time.Hour}
	for range 3 {
		if _, err := fresh.index(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("within the refresh interval: %d downloads, want 1", hits.Load())
	}

	stale := &Loader{IndexRefresh: time.Nanosecond}
	for range 3 {
		if _, err := stale.index(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if hits.Load() != 4 {
		t.Fatalf("past the refresh interval: %d downloads, want 4", hits.Load())
	}
	status.Store(http.StatusBadGateway)
	if idx, err := stale.index(ctx, r); err != nil || idx == nil {
		t.Fatalf("a failed refresh did not fall back to the previous index: %v", err)
	}
	status.Store(http.StatusUnauthorized)
	if _, err := stale.index(ctx, r); !errors.Is(err, engine.ErrSourceAuth) || !strings.Contains(err.Error(), `repository "r"`) {
		t.Fatalf("refused credentials: %v, want ErrSourceAuth naming the repository", err)
	}
}

func TestBlobCache(t *testing.T) {
	dir := t.TempDir()
	c := &blobCache{dir: dir, max: 10}
	data := []byte("chart bytes")
	d := digestOf(data)
	c.put(d, data)
	if got := c.get(d); string(got) != string(data) {
		t.Fatalf("get after put: %q", got)
	}
	// Larger than the memory bound: kept on disk only, and read back from there.
	if _, err := os.Stat(filepath.Join(dir, strings.TrimPrefix(d, "sha256:"))); err != nil {
		t.Fatalf("not on disk: %v", err)
	}
	// A wrong digest is never stored; corrupt files on disk are ignored.
	c.put(digestOf([]byte("other")), data)
	if c.get(digestOf([]byte("other"))) != nil {
		t.Fatal("stored under a digest that is not its own")
	}
	if err := os.WriteFile(filepath.Join(dir, strings.TrimPrefix(d, "sha256:")), []byte("corrupt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := (&blobCache{dir: dir}).get(d); got != nil {
		t.Fatalf("a corrupt cached file was returned: %q", got)
	}
	for _, bad := range []string{"", "sha256:../../etc/passwd", "md5:abcd", "sha256:" + strings.Repeat("g", 64)} {
		if normalizeDigest(bad) != "" {
			t.Errorf("normalizeDigest(%q) accepted it", bad)
		}
	}
}

func TestRepositoryTLSConfig(t *testing.T) {
	pki := pkitest.New(t)
	for _, tc := range []struct {
		name string
		r    Repository
		want string
	}{
		{"ca", Repository{CACert: pki.CAPEM()}, ""},
		{"ca and client pair", Repository{CACert: pki.CAPEM(), CertPEM: pki.ClientCertPEM(), KeyPEM: pki.ClientKeyPEM()}, ""},
		{"garbage ca", Repository{CACert: []byte("nope")}, "no PEM certificate"},
		{"cert without key", Repository{CertPEM: pki.ClientCertPEM()}, "needs its key"},
		{"key without cert", Repository{KeyPEM: pki.ClientKeyPEM()}, "needs its certificate"},
		{"mismatched pair", Repository{CertPEM: pki.ClientCertPEM(), KeyPEM: pki.OtherClientKeyPEM()}, "do not form a pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.TLSConfig()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("the error quotes the key: %v", err)
			}
		})
	}
}

func TestPassCredentials(t *testing.T) {
	var got atomic.Value
	got.Store("")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte("x"))
	}))
	t.Cleanup(other.Close)
	var l Loader
	repo := Repository{URL: "http://127.0.0.1:1/repo", Username: "u", Password: "p"}
	if _, err := l.fetch(context.Background(), other.URL+"/c.tgz", repo, 10); err != nil {
		t.Fatal(err)
	}
	if got.Load() != "" {
		t.Fatalf("credentials sent to another host without PassCredentials: %q", got.Load())
	}
	repo.PassCredentials = true
	if _, err := l.fetch(context.Background(), other.URL+"/c.tgz", repo, 10); err != nil {
		t.Fatal(err)
	}
	if got.Load() == "" {
		t.Fatal("PassCredentials did not send the credentials to the index's other host")
	}
}

func TestOCIPullCachesByDigest(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{User: "u", Pass: "p"})
	dir := webappDir(t)
	_, d1 := reg.Push(t, "charts", chartrepotest.Package(t, dir, "0.1.0"), nil)
	_, _ = reg.Push(t, "charts", chartrepotest.Package(t, dir, "0.2.0"), nil)
	_, _ = reg.Push(t, "charts", chartrepotest.Package(t, dir, "0.3.0-rc.1"), nil)
	ctx := context.Background()
	r := Repository{Name: "reg", URL: "oci://" + reg.Host() + "/charts", Username: "u", Password: "p", PlainHTTP: true}
	url := "oci://" + reg.Host() + "/charts/webapp"
	l := &Loader{CacheDir: t.TempDir()}

	for _, tc := range []struct{ version, digest, want string }{
		{"", "", "0.2.0"},     // the highest stable tag
		{"~0.1", "", "0.1.0"}, // a constraint
		{"0.3.0-rc.1", "", "0.3.0-rc.1"},
		{"", d1, "0.1.0"},      // pinned
		{"0.1.0", d1, "0.1.0"}, // tag and digest
	} {
		c, err := l.Load(ctx, Source{Kind: SourceOCI, URL: url, Version: tc.version, Digest: tc.digest, Repo: r})
		if err != nil || c.Metadata().Version != tc.want {
			t.Fatalf("pull %q@%q: %v, want %s", tc.version, tc.digest, err, tc.want)
		}
	}
	blobs, manifests := reg.BlobGets(), reg.ManifestGets()
	// Pinned again, through a new loader over the same cache directory: no request for the manifest or the blob.
	l2 := &Loader{CacheDir: l.CacheDir}
	c, err := l2.Load(ctx, Source{Kind: SourceOCI, URL: url, Digest: d1, Repo: r})
	if err != nil || c.Digest() != d1 {
		t.Fatalf("pinned pull from the cache: %v", err)
	}
	if reg.BlobGets() != blobs || reg.ManifestGets() != manifests {
		t.Fatalf("a cached pinned chart made requests: blobs %d->%d manifests %d->%d", blobs, reg.BlobGets(), manifests, reg.ManifestGets())
	}

	for _, tc := range []struct {
		name string
		src  Source
		want error
		text string
	}{
		{"wrong password", Source{Kind: SourceOCI, URL: url, Version: "0.1.0", Repo: Repository{Name: "reg", Username: "u", Password: "x", PlainHTTP: true}}, engine.ErrSourceAuth, `repository "reg"`},
		{"missing tag", Source{Kind: SourceOCI, URL: url, Version: "9.9.9", Repo: r}, engine.ErrChartNotFound, "9.9.9"},
		{"no matching tag", Source{Kind: SourceOCI, URL: url, Version: ">5", Repo: r}, engine.ErrChartNotFound, "no tag"},
		{"bad digest", Source{Kind: SourceOCI, URL: url, Digest: "sha256:12", Repo: r}, engine.ErrInvalidChart, "digest"},
		{"TLS to a plain registry", Source{Kind: SourceOCI, URL: url, Version: "0.1.0", Repo: Repository{Username: "u", Password: "p"}}, engine.ErrSourceUnreachable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Load(ctx, tc.src)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("got %v, want %v containing %q", err, tc.want, tc.text)
			}
			if strings.Contains(err.Error(), "Password") || strings.Contains(err.Error(), ":x@") {
				t.Fatalf("error leaks credentials: %v", err)
			}
		})
	}
	if err := l.PingRegistry(ctx, r); err != nil {
		t.Fatalf("ping: %v", err)
	}
	bad := r
	bad.Password = "x"
	if err := l.PingRegistry(ctx, bad); !errors.Is(err, engine.ErrSourceAuth) {
		t.Fatalf("ping with a wrong password: %v", err)
	}
}

func TestParseKeyring(t *testing.T) {
	s := chartrepotest.NewSigner(t)
	ring, err := ParseKeyring(s.Keyring())
	if err != nil || len(ring) != 1 {
		t.Fatalf("armored keyring: %v %d", err, len(ring))
	}
	two := append(append([]byte{}, s.Keyring()...), chartrepotest.NewSigner(t).Keyring()...)
	if ring, err := ParseKeyring(two); err != nil || len(ring) != 2 {
		t.Fatalf("concatenated keyrings: %v %d", err, len(ring))
	}
	for _, bad := range [][]byte{nil, []byte("garbage"), []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nxx\n-----END PGP PRIVATE KEY BLOCK-----\n")} {
		if _, err := ParseKeyring(bad); err == nil {
			t.Errorf("ParseKeyring(%.30q) accepted it", bad)
		}
	}
}

// TestOCIAnonymous pulls from a registry without authentication, and checks that plain HTTP is used only when
// the repository asks for it.
func TestOCIAnonymous(t *testing.T) {
	reg := ocitest.New(t, ocitest.Options{})
	_, digest := reg.Push(t, "charts", chartrepotest.Package(t, webappDir(t), "0.1.0"), nil)
	url := "oci://" + reg.Host() + "/charts/webapp"
	var l Loader
	c, err := l.Load(context.Background(), Source{Kind: SourceOCI, URL: url, Version: "0.1.0", Repo: Repository{PlainHTTP: true}})
	if err != nil || c.Digest() != digest {
		t.Fatalf("anonymous pull: %v (digest %s, want %s)", err, c.Digest(), digest)
	}
	if _, err := l.Load(context.Background(), Source{Kind: SourceOCI, URL: url, Version: "0.1.0"}); !errors.Is(err, engine.ErrSourceUnreachable) {
		t.Fatalf("pull without PlainHTTP from a plain-HTTP registry: %v, want a TLS failure", err)
	}
	if err := l.PingRegistry(context.Background(), Repository{URL: "oci://" + reg.Host(), PlainHTTP: true}); err != nil {
		t.Fatalf("anonymous ping: %v", err)
	}
}
