package chartref

import (
	"errors"
	"strings"
	"testing"
)

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

type parseCase struct {
	in      string
	want    Ref
	canon   string // expected String(); "" means same as in
	errPart string // non-empty: Parse must fail with an error containing this
}

var parseCases = []parseCase{
	// Repository charts (docs/n2vc.md#identifiers examples).
	{in: "stable/openldap:1.2.4", want: Ref{Kind: KindRepo, Repo: "stable", Chart: "openldap", Version: "1.2.4"}},
	{in: "stable/openldap:1.2.2", want: Ref{Kind: KindRepo, Repo: "stable", Chart: "openldap", Version: "1.2.2"}},
	{in: "stable/openldap", want: Ref{Kind: KindRepo, Repo: "stable", Chart: "openldap"}},
	{in: "bitnami/nginx:^15.0.0", want: Ref{Kind: KindRepo, Repo: "bitnami", Chart: "nginx", Version: "^15.0.0"}},
	{in: "my.repo_1/chart-a:~1.2", want: Ref{Kind: KindRepo, Repo: "my.repo_1", Chart: "chart-a", Version: "~1.2"}},
	{in: "r/c:1.x", want: Ref{Kind: KindRepo, Repo: "r", Chart: "c", Version: "1.x"}},
	{in: "r/c:1.0.0+build.1-rc", want: Ref{Kind: KindRepo, Repo: "r", Chart: "c", Version: "1.0.0+build.1-rc"}},
	{in: "a:b:c", errPart: "contains 2 ':' characters"},
	{in: "r/c:1:2", errPart: "contains 2 ':' characters"},
	{in: "r/c:", errPart: "version after ':' is empty"},
	{in: "r/:1.0", errPart: "chart name is empty"},
	{in: "r/", errPart: "chart name is empty"},
	{in: "-r/c", errPart: `repository name "-r"`},
	{in: "r/_c", errPart: `chart name "_c"`},
	{in: "r:x/c", errPart: `repository name "r:x"`},
	{in: "r/c:1.2*", errPart: "forbidden character '*'"},
	{in: "r/c:>=1.0", errPart: "forbidden character '>'"},
	{in: "r/c:1,2", errPart: `version "1,2" contains ','`},
	{in: "r/c:1=2", errPart: `version "1=2" contains '='`},
	{in: "r/c:" + strings.Repeat("1", 129), errPart: "the maximum is 128"},
	{in: "0:..", errPart: `version ".." starts with '.'`},
	{in: "r/c:1..2", errPart: `version "1..2" contains ".."`},
	{in: "r/c:-1", errPart: `version "-1" starts with '-'`},
	{in: "r/c:v1.0", want: Ref{Kind: KindRepo, Repo: "r", Chart: "c", Version: "v1.0"}},

	// Bare chart names.
	{in: "openldap", want: Ref{Kind: KindName, Chart: "openldap"}},
	{in: "openldap:1.2.4", want: Ref{Kind: KindName, Chart: "openldap", Version: "1.2.4"}},
	{in: ":1.0", errPart: "chart name is empty"},
	{in: ".", errPart: `chart name "."`},

	// Local paths (spec: /chart.tgz, ./mychart).
	{in: "/chart.tgz", want: Ref{Kind: KindArchive, Path: "/chart.tgz"}},
	{in: "./mychart", want: Ref{Kind: KindDir, Path: "mychart"}},
	{in: "/abs/path/chart", want: Ref{Kind: KindDir, Path: "/abs/path/chart"}},
	{in: "/abs/path/chart/", want: Ref{Kind: KindDir, Path: "/abs/path/chart"}, canon: "/abs/path/chart"},
	{in: "/abs//path/./chart", want: Ref{Kind: KindDir, Path: "/abs/path/chart"}, canon: "/abs/path/chart"},
	{in: "charts/sub/chart", want: Ref{Kind: KindDir, Path: "charts/sub/chart"}, canon: "./charts/sub/chart"},
	{in: "/charts/foo:1.0", want: Ref{Kind: KindDir, Path: "/charts/foo:1.0"}},
	{in: "chart-1.0.tgz", want: Ref{Kind: KindArchive, Path: "chart-1.0.tgz"}, canon: "./chart-1.0.tgz"},
	{in: "repo/chart-1.0.tar.gz", want: Ref{Kind: KindArchive, Path: "repo/chart-1.0.tar.gz"}, canon: "./repo/chart-1.0.tar.gz"},
	{in: "./", want: Ref{Kind: KindDir, Path: "."}, canon: "./."},
	{in: "/", want: Ref{Kind: KindDir, Path: "/"}},
	{in: "/.tgz", errPart: "no name before the extension"},
	{in: "../chart", errPart: `".." path segment`},
	{in: "./a/../../etc", errPart: `".." path segment`},
	{in: "/a/..", errPart: `".." path segment`},
	{in: "..", errPart: `".." path segment`},
	{in: "/a/...b", want: Ref{Kind: KindDir, Path: "/a/...b"}},

	// Archive URLs.
	{in: "https://charts.example.com/nginx-1.2.3.tgz", want: Ref{Kind: KindURL, URL: "https://charts.example.com/nginx-1.2.3.tgz"}},
	{in: "HTTP://Charts.Example.COM:8080/a/Nginx.tgz", want: Ref{Kind: KindURL, URL: "http://charts.example.com:8080/a/Nginx.tgz"}, canon: "http://charts.example.com:8080/a/Nginx.tgz"},
	{in: "https://10.0.0.1/c:1.0", want: Ref{Kind: KindURL, URL: "https://10.0.0.1/c:1.0"}},
	{in: "https://h/a%2Bb.tgz", want: Ref{Kind: KindURL, URL: "https://h/a%2Bb.tgz"}},
	{in: "https://h/%2e%2e/etc", errPart: `decoded, contains a ".." path segment`},
	{in: "https://h/a%0a.tgz", errPart: "decoded, contains whitespace"},
	{in: "https://h/a%zz", errPart: "not a valid URL"},
	{in: "https://user:pw@h/c.tgz", errPart: "credentials"},
	{in: "https://h/c.tgz?x=1", errPart: "forbidden character '?'"},
	{in: "https:///c.tgz", errPart: "has no host"},
	{in: "https://h", errPart: "no path"},
	{in: "https://h/", errPart: "no path"},
	{in: "https://h:0/c.tgz", errPart: `invalid port "0"`},
	{in: "https://h:99999/c.tgz", errPart: `invalid port "99999"`},
	{in: "https://h:/c.tgz", errPart: `invalid port ""`},
	{in: "https://-h/c.tgz", errPart: `invalid host "-h"`},
	{in: "https://h_x/c.tgz", errPart: `invalid host "h_x"`},
	{in: "file:///etc/passwd", errPart: `unsupported URL scheme "file"`},
	{in: "ftp://h/c.tgz", errPart: `unsupported URL scheme "ftp"`},
	{in: "1x://h/c", errPart: `malformed URL scheme "1x"`},
	{in: "/a://b", errPart: "malformed URL scheme"},

	// OCI.
	{in: "oci://h/c:1.0", want: Ref{Kind: KindOCI, URL: "oci://h/c", Chart: "c", Version: "1.0"}},
	{in: "oci://registry.example.com:5000/charts/my-chart", want: Ref{Kind: KindOCI, URL: "oci://registry.example.com:5000/charts/my-chart", Chart: "my-chart"}},
	{in: "oci://ghcr.io/org/sub/chart:1.2.3_build.1@sha256:" + hex64, want: Ref{Kind: KindOCI, URL: "oci://ghcr.io/org/sub/chart", Chart: "chart", Version: "1.2.3_build.1", Digest: "sha256:" + hex64}},
	{in: "oci://h/c@sha256:" + hex64, want: Ref{Kind: KindOCI, URL: "oci://h/c", Chart: "c", Digest: "sha256:" + hex64}},
	{in: "OCI://H/c:1.0+b", want: Ref{Kind: KindOCI, URL: "oci://h/c", Chart: "c", Version: "1.0+b"}, canon: "oci://h/c:1.0+b"},
	{in: "oci://h/c:1.0@sha256:" + strings.ToUpper(hex64), errPart: "64 lower-case hex"},
	{in: "oci://h/c@sha256:abc", errPart: "64 lower-case hex"},
	{in: "oci://h/c@md5:" + hex64[:32], errPart: "must be sha256:"},
	{in: "oci://h/c@sha256:" + hex64 + "@sha256:" + hex64, errPart: "64 lower-case hex"},
	{in: "oci://h", errPart: "no repository path"},
	{in: "oci://h/", errPart: "no repository path"},
	{in: "oci:///c", errPart: "has no host"},
	{in: "oci://h/c:", errPart: `OCI tag "" is empty`},
	{in: "oci://h/c:.1", errPart: `OCI tag ".1"`},
	{in: "oci://h/c:1:2", errPart: `OCI tag "1:2"`},
	{in: "oci://h/a:1/c", errPart: "':' outside the last segment"},
	{in: "oci://h/Chart", errPart: `segment "Chart"`},
	{in: "oci://h//c", errPart: "empty segment"},
	{in: "oci://h/c:" + strings.Repeat("a", 129), errPart: "the maximum is 128"},
	{in: "oci://u:p@h/c", errPart: "credentials"},

	// Character rules (defence in depth, bug 1 of docs/n2vc.md#n2vc-bugs-and-what-kdu-does).
	{in: "", errPart: "reference is empty"},
	{in: strings.Repeat("a", 1025), errPart: "1025 bytes long"},
	{in: "x --post-renderer evil.sh", errPart: "whitespace ' '"},
	{in: "stable/openldap\n", errPart: `whitespace '\n'`},
	{in: "chart\x00", errPart: `control character '\x00'`},
	{in: "chart\x7f", errPart: "control character"},
	{in: "charté", errPart: "non-ASCII byte 0xc3"},
	{in: "r/c;rm", errPart: "forbidden character ';'"},
	{in: "r/c|x", errPart: "forbidden character '|'"},
	{in: "r/c&", errPart: "forbidden character '&'"},
	{in: "$(id)", errPart: "forbidden character '$'"},
	{in: "`id`", errPart: "forbidden character '`'"},
	{in: "r/c<x", errPart: "forbidden character '<'"},
	{in: "{a}", errPart: "forbidden character '{'"},
	{in: "a[1]", errPart: "forbidden character '['"},
	{in: "c?", errPart: "forbidden character '?'"},
	{in: "c!", errPart: "forbidden character '!'"},
	{in: "'c'", errPart: `forbidden character '\''`},
	{in: `"c"`, errPart: `forbidden character '"'`},
	{in: `a\b`, errPart: `forbidden character '\\'`},
	{in: "c#1", errPart: "forbidden character '#'"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.errPart != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want error containing %q", tc.in, got, tc.errPart)
				}
				if !errors.Is(err, ErrInvalidChartRef) {
					t.Errorf("error %v does not wrap ErrInvalidChartRef", err)
				}
				var e *Error
				if !errors.As(err, &e) || e.Ref != tc.in || e.Reason == "" {
					t.Errorf("error %v is not an *Error naming the reference", err)
				}
				if !strings.Contains(err.Error(), tc.errPart) {
					t.Errorf("error %q does not contain %q", err, tc.errPart)
				}
				if got != (Ref{}) {
					t.Errorf("Parse returned %+v along with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			canon := tc.canon
			if canon == "" {
				canon = tc.in
			}
			if s := got.String(); s != canon {
				t.Errorf("String() = %q, want %q", s, canon)
			}
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Errorf("Parse(String()) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Parse("a:b:c")
	want := `invalid chart reference "a:b:c": contains 2 ':' characters; at most one (before the version) is allowed`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	_, err = Parse(strings.Repeat("x", 2000))
	if err == nil || len(err.Error()) > 300 {
		t.Errorf("long input should give a shortened message, got %d bytes", len(err.Error()))
	}
	_, err = Parse("a\x1bb")
	if err == nil || strings.ContainsRune(err.Error(), 0x1b) {
		t.Errorf("control characters must be escaped in the message: %q", err)
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{
		KindInvalid: "invalid", KindRepo: "repo", KindName: "name", KindDir: "dir",
		KindArchive: "archive", KindURL: "url", KindOCI: "oci", Kind(99): "invalid",
	}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), k.String(), s)
		}
	}
	if (Ref{}).String() != "" {
		t.Error("zero Ref should print as empty")
	}
	if !(Ref{Kind: KindDir}).IsLocal() || !(Ref{Kind: KindArchive}).IsLocal() || (Ref{Kind: KindRepo}).IsLocal() {
		t.Error("IsLocal is wrong")
	}
}

func TestWithVersion(t *testing.T) {
	cases := []struct {
		ref, version, want string
		err                error
	}{
		{"stable/openldap", "1.2.4", "stable/openldap:1.2.4", nil},
		{"stable/openldap:1.2.4", "1.2.4", "stable/openldap:1.2.4", nil},
		{"stable/openldap:1.2.4", "", "stable/openldap:1.2.4", nil},
		{"stable/openldap:1.2.4", "1.2.5", "", ErrVersionConflict},
		{"openldap", "~1.2", "openldap:~1.2", nil},
		{"openldap:1.0", "2.0", "", ErrVersionConflict},
		{"openldap", "1.0 --evil", "", ErrInvalidChartRef},
		{"openldap", "1.*", "", ErrInvalidChartRef},
		{"oci://h/c", "1.0", "oci://h/c:1.0", nil},
		{"oci://h/c@sha256:" + hex64, "1.0", "oci://h/c:1.0@sha256:" + hex64, nil},
		{"oci://h/c:1.0", "1.1", "", ErrVersionConflict},
		{"oci://h/c", "^1.0", "", ErrInvalidChartRef},
		{"./mychart", "1.0", "", ErrVersionNotApplicable},
		{"/chart.tgz", "1.0", "", ErrVersionNotApplicable},
		{"https://h/c.tgz", "1.0", "", ErrVersionNotApplicable},
		{"./mychart", "", "./mychart", nil},
	}
	for _, tc := range cases {
		t.Run(tc.ref+"+"+tc.version, func(t *testing.T) {
			r, err := Parse(tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.WithVersion(tc.version)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("WithVersion(%q) err = %v, want %v", tc.version, err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.version) {
					t.Errorf("error %q does not name the version %q", err, tc.version)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Errorf("WithVersion(%q) = %q, want %q", tc.version, got.String(), tc.want)
			}
			if again, err := Parse(got.String()); err != nil || again != got {
				t.Errorf("result does not round-trip: %+v, %v", again, err)
			}
		})
	}
}

// FuzzParse checks that Parse never panics, that accepted references
// round-trip through String, and that nothing dangerous is ever accepted.
func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidChartRef) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalidChartRef", s, err)
			}
			return
		}
		if r.Kind == KindInvalid {
			t.Fatalf("Parse(%q) returned KindInvalid without error", s)
		}
		if strings.ContainsAny(s, forbidden+" \t\r\n") {
			t.Fatalf("Parse(%q) accepted a forbidden character", s)
		}
		canon := r.String()
		again, err := Parse(canon)
		if err != nil || again != r {
			t.Fatalf("Parse(%q) = %+v; String() = %q; re-parse = %+v, %v", s, r, canon, again, err)
		}
		for _, field := range []string{r.Repo, r.Chart, r.Version, r.Path, r.URL, r.Digest} {
			for _, seg := range strings.Split(field, "/") {
				if seg == ".." {
					t.Fatalf("Parse(%q) = %+v contains a .. segment", s, r)
				}
			}
		}
		if v := r.Version; v != "" {
			if _, err := r.WithVersion(v); err != nil {
				t.Fatalf("WithVersion(own version %q) failed: %v", v, err)
			}
		}
	})
}
