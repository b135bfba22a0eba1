package naming

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

// helmNameRE and labelRE are the reference regular expressions (Helm's
// validName and the Kubernetes DNS-1123 label rule) the hand-written
// validators are checked against.
var (
	helmNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	labelRE    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	suffixRE   = regexp.MustCompile(`-[0-9]{10}$`)
)

// randFor returns a random source whose first draw yields suffix n (1..99999999).
func randFor(n uint64) io.Reader {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n-1)
	return bytes.NewReader(b[:])
}

type generateCase struct {
	name, model, want string
	suffix            uint64
}

var generateCases = []generateCase{
	{"spec example", "stable/openldap:1.2.4", "stable-openldap-1-2-4-0005399828", 5399828},
	{"absolute path keeps base", "/abs/path/My_Chart.tgz", "my-chart-tgz-0000000001", 1},
	{"oci url keeps last segment", "oci://h/c:1.0", "c-1-0-0099999999", 99999999},
	{"https url keeps last segment", "https://example.com/charts/nginx-1.2.3.tgz", "nginx-1-2-3-tgz-0000000042", 42},
	{"relative dir keeps everything", "./mychart", "a--mychart-0000000007", 7},
	{"repo with several slashes is not cut", "a/b/c", "a-b-c-0000000007", 7},
	{"leading digit gets a", "123chart", "a123chart-0000000007", 7},
	{"upper case lowered", "Stable/OpenLDAP", "stable-openldap-0000000007", 7},
	{"non-ascii letter becomes dash (bug 24)", "Überchart", "a-berchart-0000000007", 7},
	{"cjk becomes dashes", "日本", "a---0000000007", 7},
	{"invalid utf-8 becomes dash", "x\xffy", "x-y-0000000007", 7},
	{"only punctuation", "-", "a--0000000007", 7},
	{"url ending in slash", "oci://h/c/", "a-0000000007", 7},
	{"bare slash", "/", "a-0000000007", 7},
	{"truncate to 35 before prefix", strings.Repeat("x", 50), strings.Repeat("x", 35) + "-0000000007", 7},
	{"truncate to 35 then prefix a", "1" + strings.Repeat("x", 50), "a1" + strings.Repeat("x", 34) + "-0000000007", 7},
	{"truncate counts characters not bytes", strings.Repeat("é", 40), "a" + strings.Repeat("-", 35) + "-0000000007", 7},
}

func TestGenerateReleaseName(t *testing.T) {
	for _, tc := range generateCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := GenerateReleaseName(tc.model, randFor(tc.suffix))
			if err != nil {
				t.Fatalf("GenerateReleaseName(%q): %v", tc.model, err)
			}
			if got != tc.want {
				t.Errorf("GenerateReleaseName(%q) = %q, want %q", tc.model, got, tc.want)
			}
			if err := ValidateReleaseName(got); err != nil {
				t.Errorf("generated name fails validation: %v", err)
			}
		})
	}
}

func TestGenerateReleaseNameErrors(t *testing.T) {
	if _, err := GenerateReleaseName("", randFor(1)); !errors.Is(err, ErrInvalidModel) {
		t.Errorf("empty model: err = %v, want ErrInvalidModel", err)
	}
	readErr := errors.New("entropy gone")
	if _, err := GenerateReleaseName("chart", iotest.ErrReader(readErr)); !errors.Is(err, readErr) {
		t.Errorf("failing reader: err = %v, want wrapped %v", err, readErr)
	}
	if _, err := GenerateReleaseName("chart", bytes.NewReader([]byte{1, 2, 3})); err == nil {
		t.Error("short reader: want error")
	}
	// All-ones draws are above the rejection limit forever.
	if _, err := GenerateReleaseName("chart", bytes.NewReader(bytes.Repeat([]byte{0xff}, 8*64))); err == nil {
		t.Error("reader that only yields rejected values: want error")
	}
	// One rejected draw followed by a good one succeeds.
	var buf bytes.Buffer
	buf.Write(bytes.Repeat([]byte{0xff}, 8))
	_, _ = io.Copy(&buf, randFor(5))
	got, err := GenerateReleaseName("chart", &buf)
	if err != nil || got != "chart-0000000005" {
		t.Errorf("after one rejected draw = %q, %v; want chart-0000000005", got, err)
	}
}

func TestGenerateReleaseNameCryptoRand(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		got, err := GenerateReleaseName("stable/openldap:1.2.4", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, "stable-openldap-1-2-4-") || !suffixRE.MatchString(got) {
			t.Fatalf("unexpected shape %q", got)
		}
		if got == "stable-openldap-1-2-4-0000000000" {
			t.Fatalf("suffix 0 is out of range: %q", got)
		}
		seen[got] = true
	}
	if len(seen) < 45 {
		t.Errorf("only %d distinct names in 50 draws; randomness looks broken", len(seen))
	}
}

func TestGenerateUnique(t *testing.T) {
	ctx := context.Background()

	t.Run("retries taken names", func(t *testing.T) {
		var asked []string
		exists := func(_ context.Context, name string) (bool, error) {
			asked = append(asked, name)
			return len(asked) < 3, nil
		}
		got, err := GenerateUnique(ctx, "stable/openldap", exists, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(asked) != 3 || got != asked[2] {
			t.Errorf("got %q after asking %v; want the third candidate", got, asked)
		}
		if err := ValidateReleaseName(got); err != nil {
			t.Error(err)
		}
	})

	t.Run("all taken", func(t *testing.T) {
		calls := 0
		exists := func(context.Context, string) (bool, error) { calls++; return true, nil }
		_, err := GenerateUnique(ctx, "chart", exists, 3)
		if !errors.Is(err, ErrNoUniqueName) || calls != 3 {
			t.Errorf("err = %v after %d calls; want ErrNoUniqueName after 3", err, calls)
		}
	})

	t.Run("default attempts", func(t *testing.T) {
		calls := 0
		exists := func(context.Context, string) (bool, error) { calls++; return true, nil }
		_, err := GenerateUnique(ctx, "chart", exists, 0)
		if !errors.Is(err, ErrNoUniqueName) || calls != DefaultAttempts {
			t.Errorf("err = %v after %d calls; want ErrNoUniqueName after %d", err, calls, DefaultAttempts)
		}
	})

	t.Run("exists error", func(t *testing.T) {
		boom := errors.New("cluster unreachable")
		exists := func(context.Context, string) (bool, error) { return false, boom }
		if _, err := GenerateUnique(ctx, "chart", exists, 3); !errors.Is(err, boom) {
			t.Errorf("err = %v, want wrapped %v", err, boom)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		calls := 0
		exists := func(context.Context, string) (bool, error) { calls++; return false, nil }
		if _, err := GenerateUnique(cctx, "chart", exists, 3); !errors.Is(err, context.Canceled) || calls != 0 {
			t.Errorf("err = %v after %d calls; want context.Canceled before any call", err, calls)
		}
	})

	t.Run("empty model", func(t *testing.T) {
		exists := func(context.Context, string) (bool, error) { return false, nil }
		if _, err := GenerateUnique(ctx, "", exists, 3); !errors.Is(err, ErrInvalidModel) {
			t.Errorf("err = %v, want ErrInvalidModel", err)
		}
	})

	t.Run("nil callback", func(t *testing.T) {
		if _, err := GenerateUnique(ctx, "chart", nil, 3); err == nil {
			t.Error("want error for nil callback")
		}
	})
}

type validateCase struct {
	in      string
	ok      bool
	errPart string // substring the error must contain
}

var releaseNameCases = []validateCase{
	{"a", true, ""},
	{"0", true, ""},
	{"my-release", true, ""},
	{"stable-openldap-1-2-4-0005399828", true, ""},
	{"a.b", true, ""},
	{"a1.b2-c.d", true, ""},
	{strings.Repeat("a", 53), true, ""},
	{"", false, "empty"},
	{strings.Repeat("a", 54), false, "54 characters"},
	{"My-release", false, "upper-case letter 'M' at position 0"},
	{"a_b", false, "invalid character '_' at position 1"},
	{"-a", false, "starting with '-'"},
	{"a-", false, "ending with '-'"},
	{"a..b", false, "empty part at position 2"},
	{".a", false, "empty part at position 0"},
	{"a.", false, "empty part at position 2"},
	{"a.-b", false, "starting with '-' at position 2"},
	{"ä", false, "non-ASCII byte 0xc3"},
	{"a b", false, "invalid character ' '"},
	{"a\nb", false, `'\n'`},
}

func TestValidateReleaseName(t *testing.T) {
	for _, tc := range releaseNameCases {
		t.Run(tc.in, func(t *testing.T) {
			err := ValidateReleaseName(tc.in)
			checkValidation(t, "release name", tc, err, ErrInvalidReleaseName)
		})
	}
}

var namespaceCases = []validateCase{
	{"default", true, ""},
	{"kube-system", true, ""},
	{"testk8s", true, ""},
	{"0ns", true, ""},
	{strings.Repeat("n", 63), true, ""},
	{"", false, "empty"},
	{strings.Repeat("n", 64), false, "64 characters"},
	{"a.b", false, "invalid character '.'"},
	{"Ab", false, "upper-case"},
	{"-a", false, "starting with '-'"},
	{"a-", false, "ending with '-'"},
	{"a/b", false, "invalid character '/'"},
}

func TestValidateNamespace(t *testing.T) {
	for _, tc := range namespaceCases {
		t.Run(tc.in, func(t *testing.T) {
			checkValidation(t, "namespace", tc, ValidateNamespace(tc.in), ErrInvalidNamespace)
		})
	}
}

var clusterIDCases = []validateCase{
	{"helm3_cluster_id", true, ""},
	{"7f2c5d1e-4b8a-4c3d-9e6f-0a1b2c3d4e5f", true, ""},
	{"Cluster.1", true, ""},
	{"a", true, ""},
	{strings.Repeat("c", 63), true, ""},
	{"", false, "empty"},
	{strings.Repeat("c", 64), false, "64 characters"},
	{"a..b", false, `".."`},
	{"..", false, "must start"},
	{".a", false, "must start"},
	{"_a", false, "must start"},
	{"-a", false, "must start"},
	{"a/b", false, "invalid character '/' at position 1"},
	{"../etc", false, "must start"},
	{"a b", false, "invalid character ' '"},
	{"é", false, "non-ASCII"},
	{"a:b", false, "invalid character ':'"},
}

func TestValidateClusterID(t *testing.T) {
	for _, tc := range clusterIDCases {
		t.Run(tc.in, func(t *testing.T) {
			checkValidation(t, "cluster id", tc, ValidateClusterID(tc.in), ErrInvalidClusterID)
		})
	}
}

func checkValidation(t *testing.T, what string, tc validateCase, err, sentinel error) {
	t.Helper()
	if tc.ok {
		if err != nil {
			t.Fatalf("%s %q: unexpected error %v", what, tc.in, err)
		}
		return
	}
	if err == nil {
		t.Fatalf("%s %q: want error", what, tc.in)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("%s %q: error %v does not wrap %v", what, tc.in, err, sentinel)
	}
	if !strings.Contains(err.Error(), tc.errPart) {
		t.Errorf("%s %q: error %q does not contain %q", what, tc.in, err, tc.errPart)
	}
	if err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
		t.Errorf("error %q does not start lower-case", err)
	}
}

type clusterRefCase struct {
	in, ns, id string
	err        error
}

var clusterRefCases = []clusterRefCase{
	{"helm3_cluster_id", "", "helm3_cluster_id", nil},
	{"7f2c5d1e-4b8a-4c3d-9e6f-0a1b2c3d4e5f", "", "7f2c5d1e-4b8a-4c3d-9e6f-0a1b2c3d4e5f", nil},
	{"kube-system:7f2c5d1e-4b8a-4c3d-9e6f-0a1b2c3d4e5f", "kube-system", "7f2c5d1e-4b8a-4c3d-9e6f-0a1b2c3d4e5f", nil},
	{"testk8s:helm_cluster_id", "testk8s", "helm_cluster_id", nil},
	{":abc", "", "abc", nil},
	{"", "", "", ErrInvalidClusterID},
	{":", "", "", ErrInvalidClusterID},
	{"ns:", "", "", ErrInvalidClusterID},
	{"a:b:c", "", "", ErrInvalidNamespace}, // namespace part "a:b" is not a label
	{"Bad_NS:id", "", "", ErrInvalidNamespace},
	{"ns:../x", "", "", ErrInvalidClusterID},
	{"../../etc", "", "", ErrInvalidClusterID},
}

func TestParseClusterID(t *testing.T) {
	for _, tc := range clusterRefCases {
		t.Run(tc.in, func(t *testing.T) {
			ns, id, err := ParseClusterID(tc.in)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("ParseClusterID(%q) err = %v, want %v", tc.in, err, tc.err)
				}
				if !errors.Is(err, ErrInvalidClusterID) {
					t.Errorf("ParseClusterID(%q) err = %v does not wrap ErrInvalidClusterID", tc.in, err)
				}
				if ns != "" || id != "" {
					t.Errorf("ParseClusterID(%q) returned values with an error: %q %q", tc.in, ns, id)
				}
				return
			}
			if err != nil || ns != tc.ns || id != tc.id {
				t.Errorf("ParseClusterID(%q) = %q, %q, %v; want %q, %q", tc.in, ns, id, err, tc.ns, tc.id)
			}
		})
	}
}

func FuzzGenerateReleaseName(f *testing.F) {
	for _, tc := range generateCases {
		f.Add(tc.model, tc.suffix)
	}
	f.Add("", uint64(0))
	f.Fuzz(func(t *testing.T, model string, draw uint64) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], draw)
		name, err := GenerateReleaseName(model, bytes.NewReader(bytes.Repeat(b[:], 64)))
		if model == "" {
			if !errors.Is(err, ErrInvalidModel) {
				t.Fatalf("empty model: err = %v", err)
			}
			return
		}
		if err != nil {
			// Only a draw that is always rejected may fail.
			if draw < (^uint64(0)/maxRandom)*maxRandom {
				t.Fatalf("GenerateReleaseName(%q): %v", model, err)
			}
			return
		}
		if err := ValidateReleaseName(name); err != nil {
			t.Fatalf("GenerateReleaseName(%q) = %q which is invalid: %v", model, name, err)
		}
		if len(name) > 47 || !suffixRE.MatchString(name) || strings.HasSuffix(name, "-0000000000") {
			t.Fatalf("GenerateReleaseName(%q) = %q has a bad shape", model, name)
		}
	})
}

func FuzzValidateReleaseName(f *testing.F) {
	for _, tc := range releaseNameCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateReleaseName(s)
		want := len(s) <= MaxReleaseNameLen && helmNameRE.MatchString(s)
		if (err == nil) != want {
			t.Fatalf("ValidateReleaseName(%q) = %v, Helm's rule says valid=%v", s, err, want)
		}
		if err != nil && !errors.Is(err, ErrInvalidReleaseName) {
			t.Fatalf("error %v does not wrap ErrInvalidReleaseName", err)
		}
	})
}

func FuzzValidateNamespace(f *testing.F) {
	for _, tc := range namespaceCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateNamespace(s)
		want := len(s) <= MaxNamespaceLen && labelRE.MatchString(s)
		if (err == nil) != want {
			t.Fatalf("ValidateNamespace(%q) = %v, DNS-1123 label rule says valid=%v", s, err, want)
		}
	})
}

func FuzzParseClusterID(f *testing.F) {
	for _, tc := range clusterRefCases {
		f.Add(tc.in)
	}
	for _, tc := range clusterIDCases {
		f.Add(tc.in)
	}
	idRE := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	f.Fuzz(func(t *testing.T, s string) {
		ns, id, err := ParseClusterID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidClusterID) {
				t.Fatalf("ParseClusterID(%q) error %v does not wrap ErrInvalidClusterID", s, err)
			}
			return
		}
		if !idRE.MatchString(id) || strings.Contains(id, "..") || strings.ContainsAny(id, "/\\:") {
			t.Fatalf("ParseClusterID(%q) accepted unsafe id %q", s, id)
		}
		if ns != "" && ValidateNamespace(ns) != nil {
			t.Fatalf("ParseClusterID(%q) accepted bad namespace %q", s, ns)
		}
		rebuilt := id
		if strings.Contains(s, ":") {
			rebuilt = ns + ":" + id
		}
		if rebuilt != s {
			t.Fatalf("ParseClusterID(%q) = %q, %q which does not rebuild the input", s, ns, id)
		}
	})
}
