package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdu-io/kdu/internal/engine"
)

// moduleRoot walks up from the test's directory to the directory holding go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

func webappDir(t testing.TB) string {
	return filepath.Join(moduleRoot(t), "examples", "charts", "webapp")
}

// tgzDir archives a chart directory as Helm packages it: tar+gzip, every entry under "<prefix>/".
func tgzDir(t testing.TB, dir, prefix string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: prefix + "/" + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// libraryChartDir writes a minimal library chart.
func libraryChartDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "libchart")
	if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"Chart.yaml":             "apiVersion: v2\nname: libchart\nversion: 1.0.0\ntype: library\n",
		"templates/_helpers.tpl": "{{- define \"libchart.name\" -}}lib{{- end -}}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestChartLoaderLocal(t *testing.T) {
	tmp := t.TempDir()
	archive := filepath.Join(tmp, "webapp-0.1.0.tgz")
	if err := os.WriteFile(archive, tgzDir(t, webappDir(t), "webapp"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(tmp, "garbage.tgz")
	if err := os.WriteFile(garbage, []byte("not a gzip file"), 0o644); err != nil {
		t.Fatal(err)
	}
	libArchive := filepath.Join(tmp, "libchart-1.0.0.tgz")
	if err := os.WriteFile(libArchive, tgzDir(t, libraryChartDir(t), "libchart"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		src     Source
		wantErr error
	}{
		{"directory", Source{Kind: SourceDir, Path: webappDir(t)}, nil},
		{"archive", Source{Kind: SourceArchive, Path: archive}, nil},
		{"missing directory", Source{Kind: SourceDir, Path: filepath.Join(tmp, "nope")}, engine.ErrChartNotFound},
		{"directory is a file", Source{Kind: SourceDir, Path: archive}, engine.ErrInvalidChart},
		{"directory without Chart.yaml", Source{Kind: SourceDir, Path: tmp}, engine.ErrInvalidChart},
		{"missing archive", Source{Kind: SourceArchive, Path: filepath.Join(tmp, "nope.tgz")}, engine.ErrChartNotFound},
		{"garbage archive", Source{Kind: SourceArchive, Path: garbage}, engine.ErrInvalidChart},
		{"library chart directory", Source{Kind: SourceDir, Path: libraryChartDir(t)}, engine.ErrInvalidChart},
		{"library chart archive", Source{Kind: SourceArchive, Path: libArchive}, engine.ErrInvalidChart},
		{"oci without a repository path", Source{Kind: SourceOCI, URL: "oci://127.0.0.1:1"}, engine.ErrInvalidChart},
		{"unknown kind", Source{}, engine.ErrInvalidChart},
	}
	var l Loader
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := l.Load(context.Background(), tc.src)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v, want %v", err, tc.wantErr)
				}
				t.Logf("error: %v", err)
				if strings.HasPrefix(tc.name, "library") && !strings.Contains(err.Error(), "library chart") {
					t.Errorf("error %q does not say it is a library chart", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			md := c.Metadata()
			if md.Name != "webapp" || md.Version != "0.1.0" || md.AppVersion != "1.0.0" {
				t.Errorf("metadata = %+v", md)
			}
			if v := c.DefaultValues()["replicaCount"]; fmt.Sprint(v) != "1" {
				t.Errorf("replicaCount default = %v", v)
			}
			info := Show(c)
			if !strings.Contains(info.Values, "replicaCount: 1") || info.Readme == "" {
				t.Errorf("Show: values %q, readme %q", info.Values, info.Readme)
			}
		})
	}
}

// chartRepo is a fake chart repository on 127.0.0.1. The index lists:
//   - webapp 0.1.0 (correct digest) and 0.2.0-rc.1 (a pre-release, URL that 404s),
//   - tampered 0.1.0 (the webapp archive with a wrong digest),
//   - mirrored 0.1.0 (an absolute URL on a second server, the mirror),
//   - redirected 0.1.0 (a URL on the repository that redirects to the mirror under another host name),
//   - libchart 1.0.0 (a library chart),
//   - plus invalid entries that must be skipped.
type chartRepo struct {
	srv, mirror *httptest.Server
	user, pass  string

	mu             sync.Mutex
	requests       map[string]int // by path, on srv
	mirrorAuth     []string       // Authorization headers the mirror received
	mirrorRequests int
}

func newChartRepo(t *testing.T, user, pass string) *chartRepo {
	t.Helper()
	webapp := tgzDir(t, webappDir(t), "webapp")
	lib := tgzDir(t, libraryChartDir(t), "libchart")
	r := &chartRepo{user: user, pass: pass, requests: map[string]int{}}
	r.mirror = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.mirrorAuth = append(r.mirrorAuth, req.Header.Get("Authorization"))
		r.mirrorRequests++
		r.mu.Unlock()
		_, _ = w.Write(webapp)
	}))
	t.Cleanup(r.mirror.Close)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests[req.URL.Path]++
		r.mu.Unlock()
		if r.user != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.user || p != r.pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="charts"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		switch req.URL.Path {
		case "/charts/index.yaml":
			_, _ = fmt.Fprintf(w, `apiVersion: v1
generated: "2026-01-01T00:00:00Z"
entries:
  webapp:
  - apiVersion: v2
    name: webapp
    version: 0.1.0
    digest: %[1]s
    urls: [pkg/webapp-0.1.0.tgz]
  - apiVersion: v2
    name: webapp
    version: 0.2.0-rc.1
    urls: [pkg/webapp-0.2.0-rc.1.tgz]
  - name: webapp
    urls: [pkg/no-version.tgz]
  tampered:
  - apiVersion: v2
    name: tampered
    version: 0.1.0
    digest: %[2]s
    urls: [pkg/webapp-0.1.0.tgz]
  mirrored:
  - apiVersion: v2
    name: mirrored
    version: 0.1.0
    digest: %[1]s
    urls: [%[3]s/webapp-0.1.0.tgz]
  redirected:
  - apiVersion: v2
    name: redirected
    version: 0.1.0
    digest: %[1]s
    urls: [pkg/redirect.tgz]
  libchart:
  - apiVersion: v2
    name: libchart
    version: 1.0.0
    type: library
    digest: %[4]s
    urls: [pkg/libchart-1.0.0.tgz]
  nourl:
  - apiVersion: v2
    name: nourl
    version: 1.0.0
`, sha(webapp), strings.Repeat("0", 64), r.mirror.URL, sha(lib))
		case "/charts/pkg/webapp-0.1.0.tgz":
			_, _ = w.Write(webapp)
		case "/charts/pkg/redirect.tgz":
			// To the mirror under another host name (localhost rather than 127.0.0.1).
			http.Redirect(w, req, strings.Replace(r.mirror.URL, "127.0.0.1", "localhost", 1)+"/webapp-0.1.0.tgz", http.StatusFound)
		case "/charts/pkg/libchart-1.0.0.tgz":
			_, _ = w.Write(lib)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *chartRepo) url() string { return r.srv.URL + "/charts" }

func (r *chartRepo) count(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[path]
}

func TestChartLoaderRepo(t *testing.T) {
	ctx := context.Background()
	open := newChartRepo(t, "", "")
	const password = "hunter2-repo-password"
	private := newChartRepo(t, "alice", password)

	cases := []struct {
		name       string
		repo       *chartRepo
		src        Source
		wantErr    error
		wantInText string
	}{
		{name: "exact version", repo: open, src: Source{Chart: "webapp", Version: "0.1.0"}},
		{name: "latest stable skips the pre-release", repo: open, src: Source{Chart: "webapp"}},
		{name: "semver constraint", repo: open, src: Source{Chart: "webapp", Version: "~0.1"}},
		{name: "missing version", repo: open, src: Source{Chart: "webapp", Version: "9.9.9"},
			wantErr: engine.ErrChartNotFound, wantInText: "webapp version 9.9.9"},
		{name: "missing chart", repo: open, src: Source{Chart: "nope"}, wantErr: engine.ErrChartNotFound},
		{name: "pre-release archive 404", repo: open, src: Source{Chart: "webapp", Version: "0.2.0-rc.1"},
			wantErr: engine.ErrChartNotFound, wantInText: "404"},
		{name: "digest mismatch", repo: open, src: Source{Chart: "tampered", Version: "0.1.0"},
			wantErr: engine.ErrInvalidChart, wantInText: "digest"},
		{name: "library chart", repo: open, src: Source{Chart: "libchart"},
			wantErr: engine.ErrInvalidChart, wantInText: "library chart"},
		{name: "no download url", repo: open, src: Source{Chart: "nourl"}, wantErr: engine.ErrChartNotFound},
		{name: "basic auth", repo: private, src: Source{Chart: "webapp", Repo: Repository{Username: "alice", Password: password}}},
		{name: "basic auth, mirrored on another host", repo: private,
			src: Source{Chart: "mirrored", Repo: Repository{Username: "alice", Password: password}}},
		{name: "basic auth, redirected to another host", repo: private,
			src: Source{Chart: "redirected", Repo: Repository{Username: "alice", Password: password}}},
		{name: "wrong password", repo: private, src: Source{Chart: "webapp", Repo: Repository{Username: "alice", Password: "wrong-" + password}},
			wantInText: "credentials"},
		{name: "no credentials", repo: private, src: Source{Chart: "webapp"}, wantInText: "credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l Loader
			tc.src.Kind = SourceRepo
			tc.src.Repo.URL = tc.repo.url()
			c, err := l.Load(ctx, tc.src)
			if tc.wantErr != nil || tc.wantInText != "" {
				if err == nil {
					t.Fatalf("Load succeeded, want an error")
				}
				t.Logf("error: %v", err)
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %q does not wrap %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantInText) {
					t.Errorf("error %q does not contain %q", err, tc.wantInText)
				}
				if strings.Contains(err.Error(), password) {
					t.Errorf("error %q contains the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if md := c.Metadata(); md.Name != "webapp" || md.Version != "0.1.0" {
				t.Errorf("loaded %s %s", md.Name, md.Version)
			}
		})
	}

	t.Run("credentials are not sent to another host", func(t *testing.T) {
		private.mu.Lock()
		auth, n := append([]string(nil), private.mirrorAuth...), private.mirrorRequests
		private.mu.Unlock()
		if n != 2 {
			t.Fatalf("the mirror was asked for %d archives, want 2 (mirrored and redirected)", n)
		}
		for _, a := range auth {
			if a != "" {
				t.Errorf("the mirror received Authorization %q", a)
			}
		}
	})

	t.Run("missing version refreshes the index once", func(t *testing.T) {
		var l Loader
		src := Source{Kind: SourceRepo, Repo: Repository{URL: open.url()}, Chart: "webapp", Version: "0.1.0"}
		if _, err := l.Load(ctx, src); err != nil {
			t.Fatal(err)
		}
		before := open.count("/charts/index.yaml")
		if _, err := l.Load(ctx, src); err != nil {
			t.Fatal(err)
		}
		if got := open.count("/charts/index.yaml"); got != before {
			t.Errorf("a second load of a known version downloaded the index again (%d -> %d)", before, got)
		}
		src.Version = "9.9.9"
		if _, err := l.Load(ctx, src); !errors.Is(err, engine.ErrChartNotFound) {
			t.Fatalf("got %v", err)
		}
		if got := open.count("/charts/index.yaml"); got != before+1 {
			t.Errorf("index downloads for an unknown version = %d, want 1", got-before)
		}
	})
}

func TestChartLoaderIndexCache(t *testing.T) {
	ctx := context.Background()
	repo := newChartRepo(t, "", "")
	cache := t.TempDir()
	src := Source{Kind: SourceRepo, Repo: Repository{URL: repo.url()}, Chart: "webapp", Version: "0.1.0"}

	first := &Loader{CacheDir: cache}
	if _, err := first.Load(ctx, src); err != nil {
		t.Fatal(err)
	}
	if n := repo.count("/charts/index.yaml"); n != 1 {
		t.Fatalf("index downloads = %d, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(cache, indexKey(Repository{URL: repo.url()})+".yaml")); err != nil {
		t.Fatalf("index not cached on disk: %v", err)
	}

	second := &Loader{CacheDir: cache}
	c, err := second.Load(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metadata().Name != "webapp" {
		t.Errorf("loaded %+v", c.Metadata())
	}
	if n := repo.count("/charts/index.yaml"); n != 1 {
		t.Errorf("a second loader downloaded the index again: %d downloads, want 1", n)
	}
	if n := repo.count("/charts/pkg/webapp-0.1.0.tgz"); n != 1 {
		t.Errorf("archive downloads = %d, want 1 (the second loader reads it from the digest-keyed cache)", n)
	}

	// ForgetIndex drops both copies: a third loader downloads again.
	second.ForgetIndex(Repository{URL: repo.url()})
	if _, err := os.Stat(filepath.Join(cache, indexKey(Repository{URL: repo.url()})+".yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ForgetIndex left the cached file: %v", err)
	}
	third := &Loader{CacheDir: cache}
	if _, err := third.Load(ctx, src); err != nil {
		t.Fatal(err)
	}
	if n := repo.count("/charts/index.yaml"); n != 2 {
		t.Errorf("after ForgetIndex: %d downloads, want 2", n)
	}

	// A corrupted cache file is ignored, not fatal.
	if err := os.WriteFile(filepath.Join(cache, indexKey(Repository{URL: repo.url()})+".yaml"), []byte("{{{"), 0o600); err != nil {
		t.Fatal(err)
	}
	fourth := &Loader{CacheDir: cache}
	if _, err := fourth.Load(ctx, src); err != nil {
		t.Fatalf("corrupted cache: %v", err)
	}
	if n := repo.count("/charts/index.yaml"); n != 3 {
		t.Errorf("after a corrupted cache: %d downloads, want 3", n)
	}
}

func TestChartLoaderURL(t *testing.T) {
	ctx := context.Background()
	repo := newChartRepo(t, "", "")
	private := newChartRepo(t, "alice", "pw-in-url-9f8e")
	cases := []struct {
		name       string
		url        string
		wantErr    error
		wantInText string
	}{
		{name: "archive", url: repo.url() + "/pkg/webapp-0.1.0.tgz"},
		{name: "404", url: repo.url() + "/pkg/nope-1.0.0.tgz", wantErr: engine.ErrChartNotFound, wantInText: "404"},
		{name: "library chart", url: repo.url() + "/pkg/libchart-1.0.0.tgz", wantErr: engine.ErrInvalidChart, wantInText: "library"},
		{name: "not an archive", url: repo.url() + "/index.yaml", wantErr: engine.ErrInvalidChart},
		{name: "not http", url: "file:///etc/passwd", wantErr: engine.ErrInvalidChart, wantInText: "not an http(s) URL"},
		{name: "credentials in the URL are redacted", url: strings.Replace(private.url(), "http://", "http://alice:wrong@", 1) +
			"/pkg/webapp-0.1.0.tgz?token=pw-in-url-9f8e", wantInText: "401"},
		{name: "connection refused", url: closedURL(t) + "/webapp-0.1.0.tgz", wantInText: "refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l Loader
			c, err := l.Load(ctx, Source{Kind: SourceURL, URL: tc.url})
			if tc.wantErr == nil && tc.wantInText == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.Metadata().Name != "webapp" {
					t.Errorf("loaded %+v", c.Metadata())
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			t.Logf("error: %v", err)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantInText) {
				t.Errorf("error %q does not contain %q", err, tc.wantInText)
			}
			for _, secret := range []string{"pw-in-url-9f8e", "alice:wrong"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
		})
	}
}

func closedURL(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://alice:secret@charts.example/repo/index.yaml?token=abc#frag", "https://charts.example/repo/index.yaml"},
		{"https://alice@charts.example/", "https://charts.example/"},
		{"http://charts.example:8080/a", "http://charts.example:8080/a"},
		{"oci://user:pw@registry.example/charts/web", "oci://registry.example/charts/web"},
		{"http://[::1", "(unparsable URL)"},
		{"", ""},
	} {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIndexKey(t *testing.T) {
	base := Repository{URL: "https://charts.example/repo", Username: "alice", Password: "pw"}
	key := indexKey(base)
	if len(key) != 32 || strings.ContainsAny(key, "/\\.") {
		t.Errorf("indexKey = %q, want 32 hex characters", key)
	}
	if indexKey(Repository{URL: base.URL + "/", Username: "alice"}) != key {
		t.Error("a trailing slash changes the key")
	}
	if indexKey(Repository{URL: base.URL, Username: "alice", Password: "other"}) != key {
		t.Error("the password changes the key (it would also mean the password is part of a file name)")
	}
	differ := []Repository{
		{URL: "https://charts.example/other", Username: "alice"},
		{URL: "https://charts.example/repo", Username: "bob"},
		{URL: "https://charts.example/repo"},
		{URL: "https://charts.example/rep", Username: "oalice"},
		{URL: "../../etc/passwd", Username: "../x"},
	}
	seen := map[string]bool{key: true}
	for _, r := range differ {
		k := indexKey(r)
		if seen[k] {
			t.Errorf("indexKey(%+v) collides", r)
		}
		seen[k] = true
		if strings.ContainsAny(k, "/\\") {
			t.Errorf("indexKey(%+v) = %q contains a path separator", r, k)
		}
	}
}

// TestFetchCredentialsNotRedirectedToAnotherOrigin checks the rule fetch applies to index URLs (credentials go
// only to the repository's own scheme and host:port) also holds when the repository redirects: Go's HTTP
// client keeps the Authorization header on a redirect to the same host name, whatever the port or scheme,
// so an https repository redirecting to http on another port would receive the password in clear text.
func TestFetchCredentialsNotRedirectedToAnotherOrigin(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = w.Write([]byte("apiVersion: v1\nentries: {}\n"))
	}))
	t.Cleanup(other.Close)
	repo := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound) // https://127.0.0.1:A -> http://127.0.0.1:B
	}))
	t.Cleanup(repo.Close)
	l := &Loader{HTTPClient: repo.Client()}
	_, _ = l.UpdateIndex(context.Background(), Repository{URL: repo.URL, Username: "alice", Password: "redirect-pw"})
	mu.Lock()
	defer mu.Unlock()
	if len(auth) == 0 {
		t.Fatal("the redirect was not followed")
	}
	for _, a := range auth {
		if a != "" {
			t.Errorf("%s (another scheme and port than the repository %s) received Authorization %q", other.URL, repo.URL, a)
		}
	}
}
