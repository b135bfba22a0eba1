package store

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" means valid
	}{
		{"c1", ""},
		{"../x", ""},
		{"ünï", ""},
		{"", "is empty"},
		{"a\x00", "NUL byte"},
		{"\xff", "not valid UTF-8"},
	}
	for _, tc := range tests {
		err := CheckKey("cluster id", tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("CheckKey(%q) = %v", tc.in, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cluster id") {
			t.Errorf("CheckKey(%q) = %v, want ErrInvalid naming the field and %q", tc.in, err, tc.want)
		}
	}
	if err := CheckText("namespace", ""); err != nil {
		t.Errorf("CheckText(\"\") = %v, want nil", err)
	}
}

func TestNormalizeDefaults(t *testing.T) {
	c, err := Cluster{ID: "x"}.Normalize()
	if err != nil || c.Flavour != FlavourHelm3 {
		t.Errorf("Cluster.Normalize = %+v, %v", c, err)
	}
	c, _ = Cluster{ID: "x", Flavour: FlavourHelm2}.Normalize()
	if c.Flavour != FlavourHelm2 || c.TillerNamespace != "" || c.TillerAddress != "" || c.InstalledSW {
		t.Errorf("Normalize of a bare helm2 cluster = %+v, want no Tiller defaults", c)
	}
	in := Cluster{ID: "x", Flavour: FlavourHelm2, TillerNamespace: "kube-system", TillerAddress: "t:44134", InstalledSW: true}
	if c, err := in.Normalize(); err != nil || !reflect.DeepEqual(c, in) {
		t.Errorf("Normalize(%+v) = %+v, %v; want it unchanged", in, c, err)
	}
	for _, tc := range []struct {
		c    Cluster
		want string
	}{
		{Cluster{ID: "x", TillerNamespace: "kube\x00system"}, "tiller namespace"},
		{Cluster{ID: "x", TillerAddress: "\xffhost:44134"}, "tiller address"},
	} {
		if _, err := tc.c.Normalize(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Cluster.Normalize(%+v) = %v, want ErrInvalid naming %q", tc.c, err, tc.want)
		}
	}
	r, err := Repo{ClusterID: "x", Name: "r"}.Normalize()
	if err != nil || r.Type != RepoTypeHTTP {
		t.Errorf("Repo.Normalize = %+v, %v", r, err)
	}
	if _, err := (Repo{ClusterID: "x", Name: "r", Username: "a\x00"}).Normalize(); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "username") {
		t.Errorf("Repo.Normalize with NUL in username = %v", err)
	}
	if _, err := (Cluster{ID: "x", Project: "\xfe"}).Normalize(); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "project") {
		t.Errorf("Cluster.Normalize with bad project = %v", err)
	}
}

func TestClone(t *testing.T) {
	c := Cluster{ID: "x", Kubeconfig: []byte("abc")}
	d := c.Clone()
	d.Kubeconfig[0] = 'z'
	if string(c.Kubeconfig) != "abc" {
		t.Error("Cluster.Clone shares the kubeconfig")
	}
	r := Repo{Password: []byte("pw")}
	s := r.Clone()
	s.Password[0] = 'z'
	if string(r.Password) != "pw" {
		t.Error("Repo.Clone shares the password")
	}
	if (Repo{Password: []byte{}}).Clone().Password != nil {
		t.Error("Clone of an empty password is not nil")
	}
	base := 3
	op := Operation{BaseRevision: &base, Progress: []byte("p")}
	o := op.Clone()
	*o.BaseRevision, o.Progress[0] = 4, 'z'
	if base != 3 || string(op.Progress) != "p" {
		t.Error("Operation.Clone shares BaseRevision or Progress")
	}
	if (Operation{}).Clone().BaseRevision != nil {
		t.Error("Clone of an unset BaseRevision is set")
	}
}

func TestCheckRevisions(t *testing.T) {
	zero, neg := 0, -1
	for _, tc := range []struct {
		base    *int
		written int
		want    string // "" means valid
	}{
		{nil, 0, ""}, {&zero, 0, ""}, {&zero, 7, ""}, {&neg, 0, "base revision"}, {nil, -1, "written revision"},
	} {
		err := CheckRevisions(tc.base, tc.written)
		if (tc.want == "") != (err == nil) || (err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want))) {
			t.Errorf("CheckRevisions(%v, %d) = %v, want %q", tc.base, tc.written, err, tc.want)
		}
	}
}

func TestAADDistinct(t *testing.T) {
	pairs := [][2]string{{"a/b", "c"}, {"a", "b/c"}, {`a"`, `"c`}, {`a","`, "c"}, {"a", `","c`}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		k := string(RepoPasswordAAD(p[0], p[1]))
		if prev, ok := seen[k]; ok {
			t.Errorf("RepoPasswordAAD(%q) == RepoPasswordAAD(%q)", p, prev)
		}
		seen[k] = p
	}
	if bytes.Equal(KubeconfigAAD("a"), KubeconfigAAD("b")) {
		t.Error("KubeconfigAAD ignores the id")
	}
	if bytes.Equal(KubeconfigAAD("a"), RepoPasswordAAD("a", "kubeconfig")) {
		t.Error("a kubeconfig and a password share an AAD")
	}
}

// FuzzRepoPasswordAAD checks that different (cluster, name) keys never share an AAD, so a password cannot be
// moved between rows.
func FuzzRepoPasswordAAD(f *testing.F) {
	f.Add("a/b", "c", "a", "b/c")
	f.Add(`a"`, `"c`, `a","`, "c")
	f.Add("x", "y", "x", "y")
	f.Fuzz(func(t *testing.T, c1, n1, c2, n2 string) {
		same := bytes.Equal(RepoPasswordAAD(c1, n1), RepoPasswordAAD(c2, n2))
		if same != (c1 == c2 && n1 == n2) {
			t.Fatalf("RepoPasswordAAD(%q, %q) vs (%q, %q): equal = %v", c1, n1, c2, n2, same)
		}
		if bytes.Equal(KubeconfigAAD(c1), RepoPasswordAAD(c2, n2)) {
			t.Fatalf("KubeconfigAAD(%q) equals RepoPasswordAAD(%q, %q)", c1, c2, n2)
		}
	})
}
