// Package chartrepotest serves charts for tests: an HTTP(S) chart repository on 127.0.0.1, with optional basic
// auth, mutual TLS, provenance files and deliberately broken content, plus chart packaging and signing without the
// helm CLI.
package chartrepotest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdu-io/kdu/internal/testkit/pkitest"
)

// Versions are the chart versions every Repo serves, oldest first.
var Versions = []string{"0.1.0", "0.2.0"}

// Options configure NewWithOptions. The zero value serves plain HTTP without auth, like New(t, dir, "", "").
type Options struct {
	// User and Pass, if User is set, require HTTP basic auth on every request; others get 401 with a
	// WWW-Authenticate: Basic challenge.
	User, Pass string
	// TLS, if set, serves HTTPS with the PKI's server certificate (valid for 127.0.0.1 and localhost).
	TLS *pkitest.PKI
	// MutualTLS, with TLS, requires a client certificate signed by the PKI's CA (pkitest.PKI.ClientCertPEM).
	MutualTLS bool
	// Signer, if set, signs every archive and serves its provenance file at "<archive path>.prov".
	Signer *Signer
	// TamperVersion, with Signer, makes the provenance file of that version carry a valid signature, and the real
	// chart metadata, over a sha256 of different bytes (the archive with bytes appended). The archive itself is served unmodified and its index
	// digest is correct, so only provenance verification fails, with helm's "sha256 sum does not match".
	TamperVersion string
	// BrokenEntry adds to index.yaml, under the chart's name, two invalid entries that Helm's index loader drops
	// (with a warning) while the valid versions keep working: one without a version, and one named "../<chart>"
	// with version 9.9.9 (higher than every valid version, so picking it as "latest" is caught). Neither URL is
	// served.
	BrokenEntry bool
	// ExtraIndexEntries are raw YAML mappings (one index entry each, unindented, e.g.
	// "name: webapp\nversion: 0.3.0\nurls: [charts/webapp-0.3.0.tgz]") appended to the chart's index entries.
	ExtraIndexEntries []string
}

// Repo is an HTTP(S) chart repository on 127.0.0.1 serving one chart directory as the versions in Versions:
// /index.yaml, /charts/<name>-<version>.tgz and, with a Signer, /charts/<name>-<version>.tgz.prov.
type Repo struct {
	*httptest.Server
	user, pass string
	name       string
	files      map[string][]byte

	mu   sync.Mutex
	gets map[string]int

	// Requests counts the requests served, including rejected ones.
	Requests atomic.Int32
}

// New serves the chart in dir (whose Chart.yaml says version: 0.1.0); user and pass, if set, require basic auth.
func New(t testing.TB, dir, user, pass string) *Repo {
	t.Helper()
	return NewWithOptions(t, dir, Options{User: user, Pass: pass})
}

// NewWithOptions serves the chart in dir (whose Chart.yaml says version: 0.1.0) as configured by o. The server is
// closed when the test ends.
func NewWithOptions(t testing.TB, dir string, o Options) *Repo {
	t.Helper()
	if o.MutualTLS && o.TLS == nil {
		t.Fatal("chartrepotest: MutualTLS needs TLS")
	}
	if o.TamperVersion != "" && o.Signer == nil {
		t.Fatal("chartrepotest: TamperVersion needs Signer")
	}
	name := filepath.Base(dir)
	r := &Repo{user: o.User, pass: o.Pass, name: name, files: map[string][]byte{}, gets: map[string]int{}}
	var entries []string
	tampered := false
	for _, v := range Versions {
		tgz := Package(t, dir, v)
		file := name + "-" + v + ".tgz"
		r.files["/charts/"+file] = tgz
		if o.Signer != nil {
			signed := tgz
			if v == o.TamperVersion {
				signed = append(bytes.Clone(tgz), "tampered"...)
				tampered = true
			}
			r.files["/charts/"+file+".prov"] = o.Signer.sign(t, signed, tgz, file)
		}
		sum := sha256.Sum256(tgz)
		entries = append(entries, fmt.Sprintf(`  - apiVersion: v2
    name: %s
    version: %s
    appVersion: "1.0.0"
    urls: [charts/%s]
    digest: %s
    created: "2026-11-01T00:00:00Z"`, name, v, file, hex.EncodeToString(sum[:])))
	}
	if o.TamperVersion != "" && !tampered {
		t.Fatalf("chartrepotest: TamperVersion %q is not one of %v", o.TamperVersion, Versions)
	}
	if o.BrokenEntry {
		entries = append(entries, fmt.Sprintf(`  - apiVersion: v2
    name: %s
    appVersion: "1.0.0"
    urls: [charts/%s-missing-version.tgz]
    created: "2026-11-01T00:00:00Z"`, name, name), fmt.Sprintf(`  - apiVersion: v2
    name: ../%s
    version: 9.9.9
    appVersion: "1.0.0"
    urls: [charts/%s-9.9.9.tgz]
    created: "2026-11-01T00:00:00Z"`, name, name))
	}
	for _, e := range o.ExtraIndexEntries {
		entries = append(entries, "  - "+strings.ReplaceAll(strings.TrimRight(e, "\n"), "\n", "\n    "))
	}
	r.files["/index.yaml"] = []byte("apiVersion: v1\nentries:\n  " + name + ":\n" + strings.Join(entries, "\n") + "\n")

	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected in TLS tests
	if o.TLS != nil {
		r.TLS = o.TLS.ServerTLS(o.MutualTLS)
		r.StartTLS()
	} else {
		r.Start()
	}
	t.Cleanup(r.Close)
	return r
}

func (r *Repo) serve(w http.ResponseWriter, req *http.Request) {
	r.Requests.Add(1)
	if r.user != "" {
		if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="chartrepotest"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	if req.Method == http.MethodGet {
		r.mu.Lock()
		r.gets[req.URL.Path]++
		r.mu.Unlock()
	}
	data, ok := r.files[req.URL.Path]
	if !ok {
		http.NotFound(w, req)
		return
	}
	_, _ = w.Write(data)
}

// Gets returns how many authenticated GET requests the repository received for path (for example
// "/charts/webapp-0.1.0.tgz" or "/index.yaml"), whether or not the path exists.
func (r *Repo) Gets(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets[path]
}

// ArchivePath returns the URL path of the archive of version, e.g. "/charts/webapp-0.1.0.tgz".
func (r *Repo) ArchivePath(version string) string {
	return "/charts/" + r.name + "-" + version + ".tgz"
}

// File returns a copy of the bytes served at path (e.g. ArchivePath("0.1.0") or ArchivePath("0.1.0")+".prov"), or
// nil when nothing is served there.
func (r *Repo) File(path string) []byte {
	return bytes.Clone(r.files[path])
}

// Package tars and gzips a chart directory the way `helm package` lays it out, with a given version.
func Package(t testing.TB, dir, version string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	base := filepath.Base(dir)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == "Chart.yaml" {
			data = []byte(strings.Replace(string(data), "version: 0.1.0", "version: "+version, 1))
		}
		hdr := &tar.Header{Name: base + "/" + filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
