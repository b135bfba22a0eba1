package helm

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/release/common"
	rspb "helm.sh/helm/v4/pkg/release/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// helmEncode encodes a release exactly as Helm's secrets driver does (storage/driver/util.go encodeRelease):
// base64(gzip(JSON)) at best compression.
func helmEncode(t testing.TB, rel *rspb.Release) []byte {
	t.Helper()
	b, err := json.Marshal(rel)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(gzipBytes(t, b)))
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func releaseSecret(data []byte) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "sh.helm.release.v1.web.v3"}}
	if data != nil {
		s.Data = map[string][]byte{"release": data}
	}
	return s
}

func sampleRelease() *rspb.Release {
	first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &rspb.Release{
		Name:      "web",
		Namespace: "apps",
		Version:   3,
		Info: &rspb.Info{
			FirstDeployed: first,
			LastDeployed:  first.Add(time.Hour),
			Description:   "Upgrade complete",
			Status:        common.StatusDeployed,
			Notes:         "visit http://web",
		},
		Chart: &chart.Chart{Metadata: &chart.Metadata{
			APIVersion: chart.APIVersionV2, Name: "webapp", Version: "0.1.0", AppVersion: "1.0.0", Type: "application",
		}},
		Config:   map[string]any{"replicaCount": float64(2), "image": map[string]any{"tag": "1.27"}},
		Manifest: "---\n# Source: webapp/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
	}
}

func TestDecodeReleaseRoundTrip(t *testing.T) {
	orig := sampleRelease()
	want, err := json.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"helm encoding (base64 gzip json)", helmEncode(t, orig)},
		{"legacy uncompressed (base64 json)", []byte(base64.StdEncoding.EncodeToString(want))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel, err := decodeRelease(releaseSecret(tc.data))
			if err != nil {
				t.Fatalf("decodeRelease: %v", err)
			}
			got, err := json.Marshal(rel)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("round trip differs:\n got %s\nwant %s", got, want)
			}
			if rel.Name != "web" || rel.Version != 3 || rel.Info.Status != common.StatusDeployed ||
				!rel.Info.LastDeployed.Equal(orig.Info.LastDeployed) || rel.Chart.Metadata.Version != "0.1.0" {
				t.Errorf("decoded %+v", rel)
			}
			r := toRelease(rel)
			if r.Chart != "webapp-0.1.0" || r.State != "deployed" || r.Revision != 3 {
				t.Errorf("toRelease = %+v", r)
			}
		})
	}
}

func TestDecodeReleaseErrors(t *testing.T) {
	b64 := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }
	valid := gzipBytes(t, []byte(`{"name":"web"}`))
	corrupt := append([]byte{}, valid...)
	for i := 10; i < len(corrupt)-8; i++ {
		corrupt[i] ^= 0xff
	}
	cases := []struct {
		name    string
		secret  *corev1.Secret
		wantErr string
	}{
		{"missing data key", releaseSecret(nil), "apps/sh.helm.release.v1.web.v3 has no release data"},
		{"other data key only", &corev1.Secret{Data: map[string][]byte{"other": []byte("x")}}, "has no release data"},
		{"not base64", releaseSecret([]byte("this is *not* base64!")), "not base64"},
		{"corrupted gzip", releaseSecret(b64(corrupt)), "apps/sh.helm.release.v1.web.v3"},
		{"truncated gzip", releaseSecret(b64(valid[:len(valid)/2])), "apps/sh.helm.release.v1.web.v3"},
		{"gzip header only", releaseSecret(b64([]byte{0x1f, 0x8b, 0x08, 0x00})), "apps/sh.helm.release.v1.web.v3"},
		{"gzip of not json", releaseSecret(b64(gzipBytes(t, []byte("hello, world")))), "not valid JSON"},
		{"plain not json", releaseSecret(b64([]byte("hello, world"))), "not valid JSON"},
		{"json of the wrong shape", releaseSecret(b64([]byte(`{"name":42}`))), "not valid JSON"},
		{"empty", releaseSecret([]byte{}), "not valid JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rel, err := decodeRelease(tc.secret)
			if err == nil {
				t.Fatalf("decodeRelease = %+v, want an error containing %q", rel, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}

	t.Run("info missing becomes empty info", func(t *testing.T) {
		rel, err := decodeRelease(releaseSecret(b64([]byte(`{"name":"web","version":2}`))))
		if err != nil {
			t.Fatal(err)
		}
		if rel.Info == nil {
			t.Fatal("Info is nil")
		}
		if r := toRelease(rel); r.State != "unknown" || r.Chart != "" {
			t.Errorf("toRelease of a record without info/chart = %+v", r)
		}
	})
}

// TestDecodeReleaseGzipBomb checks that a record that decompresses beyond maxReleaseJSON is refused without
// decompressing it all.
func TestDecodeReleaseGzipBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("decompresses 64 MiB")
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	// Zeros compress about 1000:1: 64 MiB + 1 KiB of them is ~65 KiB compressed, well under a Secret's 1 MiB.
	if _, err := io.CopyN(zw, zeroReader{}, maxReleaseJSON+1024); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	data := []byte(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if len(data) > 1<<20 {
		t.Fatalf("bomb is %d bytes encoded, more than a Secret holds", len(data))
	}
	_, err = decodeRelease(releaseSecret(data))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v, want a refusal saying the record is too large", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func FuzzDecodeRelease(f *testing.F) {
	valid := helmEncode(f, sampleRelease())
	f.Add(valid)
	js, _ := json.Marshal(sampleRelease())
	f.Add([]byte(base64.StdEncoding.EncodeToString(js)))
	f.Add(js)
	f.Add([]byte(`{"name":"web","info":{"status":"deployed","first_deployed":""}}`))
	f.Add([]byte(`{"info":{"resources":{"v1/Pod":[{"kind":"Pod"}]}}}`))
	f.Add([]byte("this is *not* base64!"))
	f.Add([]byte{})
	f.Add(valid[:len(valid)/2])
	f.Fuzz(func(t *testing.T, raw []byte) {
		// The raw Secret data, and the same bytes as JSON wrapped the way Helm stores it, with and without gzip.
		for _, data := range [][]byte{
			raw,
			[]byte(base64.StdEncoding.EncodeToString(raw)),
			[]byte(base64.StdEncoding.EncodeToString(gzipBytes(t, raw))),
		} {
			rel, err := decodeRelease(releaseSecret(data))
			if err != nil {
				continue
			}
			if rel.Info == nil {
				t.Fatal("decodeRelease returned a release with nil Info")
			}
			_ = toRelease(rel)
		}
	})
}

func labelled(ns, name, version string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns,
		Name:      "sh.helm.release.v1." + name + ".v" + version,
		Labels:    map[string]string{labelOwner: ownerHelm, labelName: name, labelVersion: version, labelStatus: "deployed"},
	}}
}

func TestSecretVersion(t *testing.T) {
	for _, tc := range []struct {
		label string
		want  int
	}{
		{"1", 1}, {"12", 12}, {"007", 7}, {"", 0}, {"x", 0}, {"1.5", 0}, {" 2", 0}, {"-3", 0}, {"99999999999999999999999", 0},
	} {
		if got := secretVersion(labelled("ns", "r", tc.label)); got != tc.want {
			t.Errorf("secretVersion(version=%q) = %d, want %d", tc.label, got, tc.want)
		}
	}
	if got := secretVersion(&corev1.Secret{}); got != 0 {
		t.Errorf("secretVersion(no labels) = %d", got)
	}
}

func TestLatestPerNamespace(t *testing.T) {
	secrets := []*corev1.Secret{
		labelled("a", "web", "1"),
		labelled("a", "web", "10"), // numeric, not lexical: 10 > 9
		labelled("a", "web", "9"),
		labelled("b", "web", "2"),
		labelled("b", "web", "1"),
		labelled("c", "web", "garbage"),
		labelled("c", "web", "1"),
		labelled("d", "web", "garbage"),
	}
	got := latestPerNamespace(secrets)
	want := map[string]string{"a": "10", "b": "2", "c": "1", "d": "garbage"}
	if len(got) != len(want) {
		t.Fatalf("got %d namespaces, want %d", len(got), len(want))
	}
	for ns, v := range want {
		if got[ns] == nil || got[ns].Labels[labelVersion] != v {
			t.Errorf("namespace %s: got %v, want version %s", ns, got[ns], v)
		}
	}
	if len(latestPerNamespace(nil)) != 0 {
		t.Error("latestPerNamespace(nil) is not empty")
	}
}

func TestLatestPerRelease(t *testing.T) {
	secrets := []*corev1.Secret{
		labelled("b", "zeta", "1"),
		labelled("a", "web", "2"),
		labelled("b", "alpha", "3"),
		labelled("a", "web", "11"),
		labelled("a", "web", "3"),
		labelled("b", "web", "1"),
		labelled("a", "db", "1"),
		labelled("b", "alpha", "2"),
	}
	got := latestPerRelease(secrets)
	want := []string{"a/db/1", "a/web/11", "b/alpha/3", "b/web/1", "b/zeta/1"}
	var gotIDs []string
	for _, s := range got {
		gotIDs = append(gotIDs, s.Namespace+"/"+s.Labels[labelName]+"/"+s.Labels[labelVersion])
	}
	if strings.Join(gotIDs, " ") != strings.Join(want, " ") {
		t.Errorf("latestPerRelease = %v, want %v", gotIDs, want)
	}
	if out := latestPerRelease(nil); out == nil || len(out) != 0 {
		t.Errorf("latestPerRelease(nil) = %#v, want an empty slice", out)
	}
}
