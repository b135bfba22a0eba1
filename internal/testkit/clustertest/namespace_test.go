package clustertest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

var namespaceNameCases = []struct {
	name, test, suffix, want string
}{
	{"simple", "TestInstall", "ab12c", "testinstall-ab12c"},
	{"subtest", "TestInstall/with_values", "ab12c", "testinstall-with-values-ab12c"},
	{"runs of invalid characters", "Test__Weird//Name#$%1", "x", "test-weird-name-1-x"},
	{"leading and trailing junk", "/_Test_/", "x", "test-x"},
	{"empty test name", "", "abcde", "test-abcde"},
	{"only invalid characters", "___", "abcde", "test-abcde"},
	{"non-ASCII", "TestÜmlaut—Ω", "abcde", "test-mlaut-abcde"},
	{"empty suffix", "TestX", "", "testx"},
	{"suffix is sanitized", "TestX", "A_B", "testx-a-b"},
	{
		"long name is cut to 63",
		"TestAVeryLongTestNameThatGoesOnAndOnAndOnBeyondTheLimitOfSixtyThreeCharacters", "abcde",
		"testaverylongtestnamethatgoesonandonandonbeyondthelimitof-abcde", // 57 + 1 + 5,
	},
	{
		"cut does not leave a dash before the suffix",
		strings.Repeat("a", 56) + "/b", "abcde",
		strings.Repeat("a", 56) + "-abcde",
	},
	{"long suffix", "TestX", strings.Repeat("s", 70), "t-" + strings.Repeat("s", 61)},
	{"long empty-ish test name and no suffix", strings.Repeat("Ab_", 40), "", strings.TrimRight(strings.Repeat("ab-", 21), "-")},
}

func TestNamespaceName(t *testing.T) {
	for _, tc := range namespaceNameCases {
		t.Run(tc.name, func(t *testing.T) {
			got := NamespaceName(tc.test, tc.suffix)
			if got != tc.want {
				t.Errorf("NamespaceName(%q, %q) = %q, want %q", tc.test, tc.suffix, got, tc.want)
			}
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("NamespaceName(%q, %q) = %q is not a DNS-1123 label: %v", tc.test, tc.suffix, got, errs)
			}
		})
	}
}

func FuzzNamespaceName(f *testing.F) {
	for _, tc := range namespaceNameCases {
		f.Add(tc.test, tc.suffix)
	}
	f.Fuzz(func(t *testing.T, test, suffix string) {
		got := NamespaceName(test, suffix)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Fatalf("NamespaceName(%q, %q) = %q is not a DNS-1123 label: %v", test, suffix, got, errs)
		}
		if s := sanitize(suffix); s != "" && len(s) <= maxNameLen-2 && !strings.HasSuffix(got, "-"+s) {
			t.Fatalf("NamespaceName(%q, %q) = %q lost the suffix %q", test, suffix, got, s)
		}
	})
}

func TestRandomSuffix(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s := randomSuffix()
		if len(s) != suffixLen || sanitize(s) != s {
			t.Fatalf("randomSuffix() = %q, want %d characters of [a-z0-9]", s, suffixLen)
		}
		seen[s] = true
	}
	if len(seen) < 95 {
		t.Errorf("randomSuffix() gave only %d distinct values in 100 calls", len(seen))
	}
}

func TestLastLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"single", "/a/kubeconfig\n", "/a/kubeconfig"},
		{"several lines", "noise\n/a/kubeconfig\n", "/a/kubeconfig"},
		{"trailing blank lines", "x\n/a/kubeconfig\n\n  \n", "/a/kubeconfig"},
		{"no newline", "/a/kubeconfig", "/a/kubeconfig"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := lastLine(tc.in); got != tc.want {
				t.Errorf("lastLine(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRepoRoot(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "internal", "pkg", "sub")
	nested := filepath.Join(root, "examples", "mod") // a nested module without the script
	for _, d := range []string{deep, filepath.Join(root, "scripts"), nested} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"go.mod", "scripts/devcluster", "examples/mod/go.mod"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, from := range []string{root, deep, nested} {
		got, err := RepoRoot(from)
		if err != nil || got != root {
			t.Errorf("RepoRoot(%q) = %q, %v; want %q", from, got, err, root)
		}
	}

	if got, err := RepoRoot(t.TempDir()); !errors.Is(err, ErrNoRepoRoot) {
		t.Errorf("RepoRoot(empty dir) = %q, %v; want ErrNoRepoRoot", got, err)
	}
}
