package chartrepotest_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/downloader"
	"helm.sh/helm/v4/pkg/getter"
	"helm.sh/helm/v4/pkg/provenance"
	repo "helm.sh/helm/v4/pkg/repo/v1"

	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
	"github.com/kdu-io/kdu/internal/testkit/pkitest"
)

func webapp(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "examples", "charts", "webapp"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// get fetches url with optional basic auth and returns the status, body and WWW-Authenticate header.
func get(t *testing.T, c *http.Client, url, user, pass string) (int, []byte, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, resp.Header.Get("WWW-Authenticate")
}

// chartYAML returns the Chart.yaml inside a packaged chart.
func chartYAML(t *testing.T, tgz []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no webapp/Chart.yaml in archive: %v", err)
		}
		if hdr.Name == "webapp/Chart.yaml" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

func loadIndex(t *testing.T, data []byte) *repo.IndexFile {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	idx, err := repo.LoadIndexFile(path)
	if err != nil {
		t.Fatalf("helm cannot load index.yaml: %v\n%s", err, data)
	}
	return idx
}

func TestNewServesVersions(t *testing.T) {
	r := chartrepotest.New(t, webapp(t), "", "")
	_, raw, _ := get(t, r.Client(), r.URL+"/index.yaml", "", "")
	idx := loadIndex(t, raw)
	for _, v := range chartrepotest.Versions {
		cv, err := idx.Get("webapp", v)
		if err != nil {
			t.Fatalf("index has no webapp %s: %v", v, err)
		}
		if want := []string{"charts/webapp-" + v + ".tgz"}; len(cv.URLs) != 1 || cv.URLs[0] != want[0] {
			t.Errorf("urls of %s = %v, want %v", v, cv.URLs, want)
		}
		status, tgz, _ := get(t, r.Client(), r.URL+r.ArchivePath(v), "", "")
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", r.ArchivePath(v), status)
		}
		if sum := sha256.Sum256(tgz); cv.Digest != hex.EncodeToString(sum[:]) {
			t.Errorf("digest of %s = %s, archive sha256 = %x", v, cv.Digest, sum)
		}
		if !bytes.Equal(tgz, r.File(r.ArchivePath(v))) {
			t.Errorf("File(%s) differs from the served archive", r.ArchivePath(v))
		}
		if y := chartYAML(t, tgz); !strings.Contains(y, "\nversion: "+v+"\n") {
			t.Errorf("Chart.yaml of %s:\n%s", v, y)
		}
		if status, _, _ := get(t, r.Client(), r.URL+r.ArchivePath(v)+".prov", "", ""); status != http.StatusNotFound {
			t.Errorf("provenance served without a Signer: %d", status)
		}
	}
	if latest, err := idx.Get("webapp", ""); err != nil || latest.Version != "0.2.0" {
		t.Errorf("latest = %v, %v; want 0.2.0", latest, err)
	}
	if got := r.Requests.Load(); got != 5 {
		t.Errorf("Requests = %d, want 5", got)
	}
}

func TestBasicAuth(t *testing.T) {
	r := chartrepotest.New(t, webapp(t), "kdu", "s3cret")
	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"wrong password", "kdu", "wrong", http.StatusUnauthorized},
		{"wrong user", "other", "s3cret", http.StatusUnauthorized},
		{"right credentials", "kdu", "s3cret", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, challenge := get(t, r.Client(), r.URL+"/index.yaml", tt.user, tt.pass)
			if status != tt.want {
				t.Fatalf("status = %d, want %d", status, tt.want)
			}
			if wantChallenge := tt.want == http.StatusUnauthorized; wantChallenge != strings.HasPrefix(challenge, "Basic ") {
				t.Errorf("WWW-Authenticate = %q", challenge)
			}
		})
	}
	if got := r.Gets("/index.yaml"); got != 1 {
		t.Errorf("Gets counts rejected requests: %d, want 1", got)
	}
}

func TestGets(t *testing.T) {
	r := chartrepotest.New(t, webapp(t), "", "")
	c := r.Client()
	get(t, c, r.URL+"/index.yaml", "", "")
	get(t, c, r.URL+"/index.yaml", "", "")
	get(t, c, r.URL+"/charts/webapp-0.1.0.tgz", "", "")
	get(t, c, r.URL+"/nope", "", "")
	if resp, err := c.Head(r.URL + "/charts/webapp-0.2.0.tgz"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	for path, want := range map[string]int{
		"/index.yaml": 2, "/charts/webapp-0.1.0.tgz": 1, "/nope": 1, "/charts/webapp-0.2.0.tgz": 0,
	} {
		if got := r.Gets(path); got != want {
			t.Errorf("Gets(%q) = %d, want %d", path, got, want)
		}
	}
	if got := r.Requests.Load(); got != 5 {
		t.Errorf("Requests = %d, want 5", got)
	}
}

func TestIndexEntries(t *testing.T) {
	extra := "apiVersion: v2\nname: webapp\nversion: 0.3.0-rc.1\nurls:\n  - charts/webapp-0.3.0-rc.1.tgz\n"
	tests := []struct {
		name         string
		opts         chartrepotest.Options
		rawContains  []string
		wantVersions []string
	}{
		{name: "default", wantVersions: []string{"0.2.0", "0.1.0"}},
		{
			name:         "broken entries are dropped",
			opts:         chartrepotest.Options{BrokenEntry: true},
			rawContains:  []string{"name: ../webapp", "version: 9.9.9", "webapp-missing-version.tgz"},
			wantVersions: []string{"0.2.0", "0.1.0"},
		},
		{
			name:         "extra entries",
			opts:         chartrepotest.Options{ExtraIndexEntries: []string{extra}},
			rawContains:  []string{"0.3.0-rc.1"},
			wantVersions: []string{"0.3.0-rc.1", "0.2.0", "0.1.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := chartrepotest.NewWithOptions(t, webapp(t), tt.opts)
			_, raw, _ := get(t, r.Client(), r.URL+"/index.yaml", "", "")
			for _, s := range tt.rawContains {
				if !bytes.Contains(raw, []byte(s)) {
					t.Errorf("index.yaml lacks %q:\n%s", s, raw)
				}
			}
			idx := loadIndex(t, raw)
			var got []string
			for _, cv := range idx.Entries["webapp"] {
				got = append(got, cv.Version)
			}
			if strings.Join(got, ",") != strings.Join(tt.wantVersions, ",") {
				t.Errorf("versions = %v, want %v", got, tt.wantVersions)
			}
			if latest, err := idx.Get("webapp", ""); err != nil || latest.Version != "0.2.0" {
				t.Errorf("latest stable = %v, %v; want 0.2.0", latest, err)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	pki := pkitest.New(t)
	client := func(ca []byte, withCert bool) *http.Client {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if withCert {
			pair, err := tls.X509KeyPair(pki.ClientCertPEM(), pki.ClientKeyPEM())
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	tests := []struct {
		name     string
		mutual   bool
		ca       []byte
		withCert bool
		wantErr  bool
	}{
		{name: "trusted CA", ca: pki.CAPEM()},
		{name: "unrelated CA", ca: pki.OtherCAPEM(), wantErr: true},
		{name: "mutual with client cert", mutual: true, ca: pki.CAPEM(), withCert: true},
		{name: "mutual without client cert", mutual: true, ca: pki.CAPEM(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := chartrepotest.NewWithOptions(t, webapp(t), chartrepotest.Options{TLS: pki, MutualTLS: tt.mutual, User: "u", Pass: "p"})
			if !strings.HasPrefix(r.URL, "https://127.0.0.1:") {
				t.Fatalf("URL = %s", r.URL)
			}
			resp, err := client(tt.ca, tt.withCert).Get(r.URL + "/index.yaml")
			if err == nil {
				resp.Body.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status without credentials = %d, want 401", resp.StatusCode)
			}
		})
	}
}

func TestSignerProvenance(t *testing.T) {
	s := chartrepotest.NewSigner(t)
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(s.Keyring()))
	if err != nil {
		t.Fatalf("Keyring is not an armored keyring: %v", err)
	}
	if len(ring) != 1 || ring[0].PrivateKey != nil {
		t.Fatalf("Keyring holds %d entities (private key included: %v)", len(ring), len(ring) == 1 && ring[0].PrivateKey != nil)
	}
	otherRing, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(chartrepotest.NewSigner(t).Keyring()))
	if err != nil {
		t.Fatal(err)
	}
	archive := chartrepotest.Package(t, webapp(t), "0.1.0")
	prov := s.Sign(t, archive, "webapp-0.1.0.tgz")

	// The signed message carries the chart metadata as helm writes it, then the archive's sum.
	var md chart.Metadata
	var sums provenance.SumCollection
	if err := provenance.ParseMessageBlock(clearText(t, prov), &md, &sums); err != nil {
		t.Fatalf("parsing provenance: %v", err)
	}
	if md.Name != "webapp" || md.Version != "0.1.0" || md.APIVersion != "v2" || md.AppVersion != "1.0.0" {
		t.Errorf("provenance metadata = %+v", md)
	}

	tampered := append(bytes.Clone(archive), 0)
	tests := []struct {
		name     string
		ring     openpgp.EntityList
		archive  []byte
		filename string
		wantErr  string
	}{
		{name: "valid", ring: ring, archive: archive, filename: "webapp-0.1.0.tgz"},
		{name: "archive modified after signing", ring: ring, archive: tampered, filename: "webapp-0.1.0.tgz", wantErr: "sha256 sum does not match"},
		{name: "other file name", ring: ring, archive: archive, filename: "webapp-0.2.0.tgz", wantErr: "does not contain a SHA"},
		{name: "unknown signer", ring: otherRing, archive: archive, filename: "webapp-0.1.0.tgz", wantErr: "unknown entity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ver, err := (&provenance.Signatory{KeyRing: tt.ring}).Verify(tt.archive, prov, tt.filename)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ver.SignedBy == nil || ver.SignedBy.PrimaryKey.KeyId != ring[0].PrimaryKey.KeyId || ver.FileName != tt.filename {
				t.Errorf("verification = %+v", ver)
			}
		})
	}
}

// clearText returns the signed text of a clear-signed provenance file.
func clearText(t *testing.T, prov []byte) []byte {
	t.Helper()
	block, _ := clearsign.Decode(prov)
	if block == nil {
		t.Fatalf("not a clear-signed message:\n%s", prov)
	}
	return block.Plaintext
}

// TestHelmDownloaderVerifies downloads through helm's own chart downloader, with provenance verification, from a
// repository with every option on: mutual TLS, basic auth, signatures, a tampered version and broken index entries.
func TestHelmDownloaderVerifies(t *testing.T) {
	pki := pkitest.New(t)
	signer := chartrepotest.NewSigner(t)
	r := chartrepotest.NewWithOptions(t, webapp(t), chartrepotest.Options{
		User: "kdu", Pass: "s3cret", TLS: pki, MutualTLS: true,
		Signer: signer, TamperVersion: "0.2.0", BrokenEntry: true,
	})
	dir := t.TempDir()
	files := map[string][]byte{"ca.pem": pki.CAPEM(), "cert.pem": pki.ClientCertPEM(), "key.pem": pki.ClientKeyPEM()}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyring := signer.KeyringFile(t)
	download := func(version string) (*provenance.Verification, error) {
		dl := downloader.ChartDownloader{
			Out:              io.Discard,
			Verify:           downloader.VerifyAlways,
			Keyring:          keyring,
			Getters:          getter.Providers{{Schemes: []string{"http", "https"}, New: getter.NewHTTPGetter}},
			RepositoryConfig: filepath.Join(dir, "repositories.yaml"), // absent: no repository configuration
			ContentCache:     t.TempDir(),
			Options: []getter.Option{
				getter.WithBasicAuth("kdu", "s3cret"),
				getter.WithTLSClientConfig(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")),
			},
		}
		_, ver, err := dl.DownloadTo(r.URL+r.ArchivePath(version), "", t.TempDir())
		return ver, err
	}
	ver, err := download("0.1.0")
	if err != nil {
		t.Fatalf("download 0.1.0: %v", err)
	}
	if ver.FileName != "webapp-0.1.0.tgz" || ver.SignedBy == nil {
		t.Errorf("verification = %+v", ver)
	}
	if _, err := download("0.2.0"); err == nil || !strings.Contains(err.Error(), "sha256 sum does not match") {
		t.Errorf("download of tampered 0.2.0: err = %v, want a sha256 mismatch", err)
	}
	// The tampered provenance carries a valid signature, over the documented different bytes.
	tampered := append(r.File(r.ArchivePath("0.2.0")), "tampered"...)
	if _, err := (&provenance.Signatory{KeyRing: mustRing(t, signer)}).Verify(tampered, r.File(r.ArchivePath("0.2.0")+".prov"), "webapp-0.2.0.tgz"); err != nil {
		t.Errorf("tampered provenance does not verify against the bytes it signed: %v", err)
	}
	for _, path := range []string{r.ArchivePath("0.1.0"), r.ArchivePath("0.1.0") + ".prov", r.ArchivePath("0.2.0"), r.ArchivePath("0.2.0") + ".prov"} {
		if got := r.Gets(path); got != 1 {
			t.Errorf("Gets(%q) = %d, want 1", path, got)
		}
	}
}

func mustRing(t *testing.T, s *chartrepotest.Signer) openpgp.EntityList {
	t.Helper()
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(s.Keyring()))
	if err != nil {
		t.Fatal(err)
	}
	return ring
}
