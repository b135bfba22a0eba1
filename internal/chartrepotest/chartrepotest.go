// Package chartrepotest serves charts for tests: an HTTP chart repository on 127.0.0.1, with optional basic
// auth, and chart packaging without the helm CLI.
package chartrepotest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Repo is an HTTP chart repository on 127.0.0.1 serving one chart directory as versions 0.1.0 and 0.2.0.
type Repo struct {
	*httptest.Server
	user, pass string
	// Requests counts the requests served.
	Requests atomic.Int32
}

// New serves the chart in dir (whose Chart.yaml says version: 0.1.0); user and pass, if set, require basic auth.
func New(t testing.TB, dir, user, pass string) *Repo {
	t.Helper()
	r := &Repo{user: user, pass: pass}
	files := map[string][]byte{}
	var entries []string
	for _, v := range []string{"0.1.0", "0.2.0"} {
		tgz := Package(t, dir, v)
		name := filepath.Base(dir) + "-" + v + ".tgz"
		files["/charts/"+name] = tgz
		sum := sha256.Sum256(tgz)
		entries = append(entries, fmt.Sprintf(`  - apiVersion: v2
    name: %s
    version: %s
    appVersion: "1.0.0"
    urls: [charts/%s]
    digest: %s
    created: "2026-11-01T00:00:00Z"`, filepath.Base(dir), v, name, hex.EncodeToString(sum[:])))
	}
	files["/index.yaml"] = []byte("apiVersion: v1\nentries:\n  " + filepath.Base(dir) + ":\n" + strings.Join(entries, "\n") + "\n")
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Requests.Add(1)
		if r.user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		data, ok := files[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(r.Close)
	return r
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
