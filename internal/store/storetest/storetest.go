// Package storetest is the conformance suite that every store.Store implementation must pass.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdu-io/kdu/internal/store"
)

// Run runs the suite. open must return a new, empty store on every call; Run closes each store it opens.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ClusterRoundTrip", testClusterRoundTrip},
		{"ClusterDefaults", testClusterDefaults},
		{"ClusterCreateExists", testClusterCreateExists},
		{"ClusterNotFound", testClusterNotFound},
		{"ClusterUpdate", testClusterUpdate},
		{"ClusterDelete", testClusterDelete},
		{"ClusterListOrdered", testClusterListOrdered},
		{"ClusterOpaqueIDs", testClusterOpaqueIDs},
		{"ClusterCopies", testClusterCopies},
		{"ClusterLargeKubeconfig", testClusterLargeKubeconfig},
		{"InvalidArguments", testInvalidArguments},
		{"RepoRoundTrip", testRepoRoundTrip},
		{"RepoCreateErrors", testRepoCreateErrors},
		{"RepoNotFound", testRepoNotFound},
		{"RepoUpdate", testRepoUpdate},
		{"RepoListOrdered", testRepoListOrdered},
		{"RepoPerCluster", testRepoPerCluster},
		{"RepoPasswords", testRepoPasswords},
		{"RepoCopies", testRepoCopies},
		{"RepoDelete", testRepoDelete},
		{"DeleteClusterCascades", testDeleteClusterCascades},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ConcurrentCreateSameID", testConcurrentCreateSameID},
	}
	tests = append(tests, operationTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func sampleCluster(id string) store.Cluster {
	return store.Cluster{
		ID:         id,
		Kubeconfig: []byte("apiVersion: v1\nkind: Config\n# cluster " + id + "\n"),
		Context:    "ctx-" + id,
		Namespace:  "ns-" + id,
		Flavour:    store.FlavourHelm3,
		Server:     "https://" + id + ".example:6443",
		Version:    "v1.37.2",
		Project:    "proj",
	}
}

func sampleRepo(clusterID, name string) store.Repo {
	return store.Repo{
		ClusterID: clusterID,
		Name:      name,
		URL:       "https://charts.example/" + name,
		Type:      store.RepoTypeHTTP,
		Username:  "user-" + name,
		Password:  []byte("pw-" + name),
	}
}

func mustCreateCluster(t *testing.T, s store.Store, c store.Cluster) store.Cluster {
	t.Helper()
	got, err := s.CreateCluster(ctx(t), c)
	if err != nil {
		t.Fatalf("CreateCluster(%q): %v", c.ID, err)
	}
	return got
}

func mustCreateRepo(t *testing.T, s store.Store, r store.Repo) store.Repo {
	t.Helper()
	got, err := s.CreateRepo(ctx(t), r)
	if err != nil {
		t.Fatalf("CreateRepo(%q, %q): %v", r.ClusterID, r.Name, err)
	}
	return got
}

// sameCluster compares every field; times by instant.
func sameCluster(t *testing.T, what string, got, want store.Cluster) {
	t.Helper()
	if got.ID != want.ID || !bytes.Equal(got.Kubeconfig, want.Kubeconfig) || got.Context != want.Context ||
		got.Namespace != want.Namespace || got.Flavour != want.Flavour || got.Server != want.Server ||
		got.Version != want.Version || got.Project != want.Project ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtCluster(got), fmtCluster(want))
	}
}

func fmtCluster(c store.Cluster) string {
	return fmt.Sprintf("{ID:%q Kubeconfig:%q Context:%q Namespace:%q Flavour:%q Server:%q Version:%q Project:%q Created:%s Updated:%s}",
		c.ID, c.Kubeconfig, c.Context, c.Namespace, c.Flavour, c.Server, c.Version, c.Project,
		c.CreatedAt.Format(time.RFC3339Nano), c.UpdatedAt.Format(time.RFC3339Nano))
}

func sameRepo(t *testing.T, what string, got, want store.Repo) {
	t.Helper()
	if got.ClusterID != want.ClusterID || got.Name != want.Name || got.URL != want.URL || got.Type != want.Type ||
		got.Username != want.Username || !bytes.Equal(got.Password, want.Password) ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtRepo(got), fmtRepo(want))
	}
}

func fmtRepo(r store.Repo) string {
	return fmt.Sprintf("{ClusterID:%q Name:%q URL:%q Type:%q Username:%q Password:%q Created:%s Updated:%s}",
		r.ClusterID, r.Name, r.URL, r.Type, r.Username, r.Password,
		r.CreatedAt.Format(time.RFC3339Nano), r.UpdatedAt.Format(time.RFC3339Nano))
}

// checkTimes asserts that ts lies in [before, after] give or take the store's rounding, and is UTC.
func checkTimes(t *testing.T, what string, ts, before, after time.Time) {
	t.Helper()
	if ts.IsZero() {
		t.Errorf("%s is zero", what)
		return
	}
	if ts.Before(before.Add(-time.Millisecond)) || ts.After(after.Add(time.Millisecond)) {
		t.Errorf("%s = %s, want between %s and %s", what, ts, before, after)
	}
	if ts.Location() != time.UTC {
		t.Errorf("%s is in %s, want UTC", what, ts.Location())
	}
}

func wantErr(t *testing.T, what string, err, target error, mentions ...string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
		return
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not mention %q", what, err, m)
		}
	}
}

func testClusterRoundTrip(t *testing.T, s store.Store) {
	in := sampleCluster("c1")
	before := time.Now()
	created := mustCreateCluster(t, s, in)
	after := time.Now()
	checkTimes(t, "CreatedAt", created.CreatedAt, before, after)
	if !created.UpdatedAt.Equal(created.CreatedAt) {
		t.Errorf("UpdatedAt %s != CreatedAt %s after create", created.UpdatedAt, created.CreatedAt)
	}
	want := in
	want.CreatedAt, want.UpdatedAt = created.CreatedAt, created.UpdatedAt
	sameCluster(t, "CreateCluster result", created, want)

	got, err := s.GetCluster(ctx(t), "c1")
	if err != nil {
		t.Fatalf("GetCluster: %v", err)
	}
	sameCluster(t, "GetCluster", got, want)

	list, err := s.ListClusters(ctx(t))
	if err != nil {
		t.Fatalf("ListClusters: %v", err)
	}
	if len(list) != 1 {
		t.Fatalf("ListClusters returned %d clusters, want 1", len(list))
	}
	sameCluster(t, "ListClusters[0]", list[0], want)
}

func testClusterDefaults(t *testing.T, s store.Store) {
	c := mustCreateCluster(t, s, store.Cluster{ID: "bare"})
	if c.Flavour != store.FlavourHelm3 {
		t.Errorf("Flavour = %q, want %q for an empty flavour", c.Flavour, store.FlavourHelm3)
	}
	got, err := s.GetCluster(ctx(t), "bare")
	if err != nil {
		t.Fatal(err)
	}
	if got.Flavour != store.FlavourHelm3 || len(got.Kubeconfig) != 0 || got.Context != "" || got.Namespace != "" {
		t.Errorf("GetCluster = %s, want defaults", fmtCluster(got))
	}
	c2 := sampleCluster("h2")
	c2.Flavour = store.FlavourHelm2
	if got := mustCreateCluster(t, s, c2); got.Flavour != store.FlavourHelm2 {
		t.Errorf("Flavour = %q, want %q", got.Flavour, store.FlavourHelm2)
	}
}

func testClusterCreateExists(t *testing.T, s store.Store) {
	orig := mustCreateCluster(t, s, sampleCluster("dup"))
	other := sampleCluster("dup")
	other.Kubeconfig = []byte("different")
	other.Namespace = "other"
	_, err := s.CreateCluster(ctx(t), other)
	wantErr(t, "second CreateCluster", err, store.ErrExists, `"dup"`)
	got, err := s.GetCluster(ctx(t), "dup")
	if err != nil {
		t.Fatal(err)
	}
	sameCluster(t, "cluster after a refused duplicate create", got, orig)
}

func testClusterNotFound(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("present"))
	_, err := s.GetCluster(ctx(t), "absent")
	wantErr(t, "GetCluster", err, store.ErrNotFound, `"absent"`)
	_, err = s.UpdateCluster(ctx(t), sampleCluster("absent"))
	wantErr(t, "UpdateCluster", err, store.ErrNotFound, `"absent"`)
	err = s.DeleteCluster(ctx(t), "absent")
	wantErr(t, "DeleteCluster", err, store.ErrNotFound, `"absent"`)
	if _, err := s.GetCluster(ctx(t), "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateCluster of a missing cluster created it (GetCluster error %v)", err)
	}
	// Prefixes and case variants are different keys.
	for _, id := range []string{"presen", "present ", "PRESENT", "present\n"} {
		if _, err := s.GetCluster(ctx(t), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCluster(%q) error = %v, want ErrNotFound", id, err)
		}
	}
}

func testClusterUpdate(t *testing.T, s store.Store) {
	created := mustCreateCluster(t, s, sampleCluster("u"))
	time.Sleep(2 * time.Millisecond)
	upd := store.Cluster{
		ID:         "u",
		Kubeconfig: []byte("new kubeconfig"),
		Context:    "new-ctx",
		Namespace:  "new-ns",
		Flavour:    store.FlavourHelm2,
		Server:     "https://new:6443",
		Version:    "v1.38.0",
		Project:    "new-proj",
		CreatedAt:  time.Unix(1, 0), // ignored
		UpdatedAt:  time.Unix(1, 0), // ignored
	}
	before := time.Now()
	got, err := s.UpdateCluster(ctx(t), upd)
	after := time.Now()
	if err != nil {
		t.Fatalf("UpdateCluster: %v", err)
	}
	if !got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("UpdateCluster changed CreatedAt from %s to %s", created.CreatedAt, got.CreatedAt)
	}
	checkTimes(t, "UpdatedAt", got.UpdatedAt, before, after)
	if !got.UpdatedAt.After(created.UpdatedAt) {
		t.Errorf("UpdatedAt %s is not after the previous %s", got.UpdatedAt, created.UpdatedAt)
	}
	want := upd
	want.CreatedAt, want.UpdatedAt = created.CreatedAt, got.UpdatedAt
	sameCluster(t, "UpdateCluster result", got, want)
	fetched, err := s.GetCluster(ctx(t), "u")
	if err != nil {
		t.Fatal(err)
	}
	sameCluster(t, "GetCluster after update", fetched, want)

	// Clearing optional fields works, and an empty flavour falls back to the default.
	cleared, err := s.UpdateCluster(ctx(t), store.Cluster{ID: "u"})
	if err != nil {
		t.Fatal(err)
	}
	fetched, _ = s.GetCluster(ctx(t), "u")
	if len(fetched.Kubeconfig) != 0 || fetched.Namespace != "" || fetched.Project != "" || fetched.Flavour != store.FlavourHelm3 {
		t.Errorf("after clearing update GetCluster = %s", fmtCluster(fetched))
	}
	sameCluster(t, "cleared result vs GetCluster", cleared, fetched)
}

func testClusterDelete(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("keep"))
	mustCreateCluster(t, s, sampleCluster("gone"))
	if err := s.DeleteCluster(ctx(t), "gone"); err != nil {
		t.Fatalf("DeleteCluster: %v", err)
	}
	_, err := s.GetCluster(ctx(t), "gone")
	wantErr(t, "GetCluster after delete", err, store.ErrNotFound)
	wantErr(t, "second DeleteCluster", s.DeleteCluster(ctx(t), "gone"), store.ErrNotFound, `"gone"`)
	if _, err := s.GetCluster(ctx(t), "keep"); err != nil {
		t.Errorf("DeleteCluster removed another cluster: %v", err)
	}
	// The id can be reused, as a fresh cluster.
	re := sampleCluster("gone")
	re.Namespace = "reborn"
	mustCreateCluster(t, s, re)
	got, err := s.GetCluster(ctx(t), "gone")
	if err != nil || got.Namespace != "reborn" {
		t.Errorf("recreated cluster: %s, %v", fmtCluster(got), err)
	}
}

func testClusterListOrdered(t *testing.T, s store.Store) {
	list, err := s.ListClusters(ctx(t))
	if err != nil {
		t.Fatalf("ListClusters on an empty store: %v", err)
	}
	if list == nil || len(list) != 0 {
		t.Errorf("ListClusters on an empty store = %#v, want an empty non-nil slice", list)
	}
	ids := []string{"b", "a", "B", "a-1", "a1", "aa", "z", "_x", "0", "é"}
	shuffled := append([]string(nil), ids...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, id := range shuffled {
		mustCreateCluster(t, s, sampleCluster(id))
	}
	list, err = s.ListClusters(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range list {
		got = append(got, c.ID)
		if want := sampleCluster(c.ID).Kubeconfig; !bytes.Equal(c.Kubeconfig, want) {
			t.Errorf("ListClusters: cluster %q has another cluster's kubeconfig %q", c.ID, c.Kubeconfig)
		}
	}
	want := append([]string(nil), ids...)
	sort.Strings(want) // byte-wise
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ListClusters order = %q, want %q", got, want)
	}
}

func testClusterOpaqueIDs(t *testing.T, s store.Store) {
	ids := []string{
		"../../etc/passwd", "a/b", `a\b`, "with space", "ünïcödé-日本", "'; DROP TABLE clusters; --",
		`"quoted"`, "%", "_", "a%", "x:y", strings.Repeat("long", 100), ".", "..", "/abs",
	}
	for _, id := range ids {
		mustCreateCluster(t, s, sampleCluster(id))
	}
	for _, id := range ids {
		got, err := s.GetCluster(ctx(t), id)
		if err != nil {
			t.Errorf("GetCluster(%q): %v", id, err)
			continue
		}
		if got.ID != id || got.Namespace != "ns-"+id || !bytes.Equal(got.Kubeconfig, sampleCluster(id).Kubeconfig) {
			t.Errorf("GetCluster(%q) returned %s", id, fmtCluster(got))
		}
	}
	// LIKE wildcards must not match other ids.
	if _, err := s.GetCluster(ctx(t), "a_"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCluster(%q) error = %v, want ErrNotFound", "a_", err)
	}
	list, err := s.ListClusters(ctx(t))
	if err != nil || len(list) != len(ids) {
		t.Fatalf("ListClusters returned %d clusters (err %v), want %d", len(list), err, len(ids))
	}
	if err := s.DeleteCluster(ctx(t), "%"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListClusters(ctx(t)); len(list) != len(ids)-1 {
		t.Errorf("deleting %q removed %d clusters", "%", len(ids)-len(list))
	}
}

func testClusterCopies(t *testing.T, s store.Store) {
	in := sampleCluster("copy")
	orig := bytes.Clone(in.Kubeconfig)
	created := mustCreateCluster(t, s, in)
	in.Kubeconfig[0] ^= 0xFF // the caller reuses its buffer
	created.Kubeconfig[1] ^= 0xFF
	got, err := s.GetCluster(ctx(t), "copy")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Kubeconfig, orig) {
		t.Fatalf("stored kubeconfig changed through a caller's slice: %q", got.Kubeconfig)
	}
	got.Kubeconfig[2] ^= 0xFF
	again, _ := s.GetCluster(ctx(t), "copy")
	if !bytes.Equal(again.Kubeconfig, orig) {
		t.Fatalf("stored kubeconfig changed through a returned slice: %q", again.Kubeconfig)
	}
	list, _ := s.ListClusters(ctx(t))
	list[0].Kubeconfig[0] ^= 0xFF
	again, _ = s.GetCluster(ctx(t), "copy")
	if !bytes.Equal(again.Kubeconfig, orig) {
		t.Fatal("stored kubeconfig changed through a listed slice")
	}
	upd := sampleCluster("copy")
	updated, err := s.UpdateCluster(ctx(t), upd)
	if err != nil {
		t.Fatal(err)
	}
	upd.Kubeconfig[0] ^= 0xFF
	updated.Kubeconfig[1] ^= 0xFF
	again, _ = s.GetCluster(ctx(t), "copy")
	if !bytes.Equal(again.Kubeconfig, orig) {
		t.Fatal("stored kubeconfig changed through an update's slices")
	}
}

func testClusterLargeKubeconfig(t *testing.T, s store.Store) {
	kc := make([]byte, 2<<20)
	for i := range kc {
		kc[i] = byte(i * 7)
	}
	c := sampleCluster("big")
	c.Kubeconfig = kc
	mustCreateCluster(t, s, c)
	got, err := s.GetCluster(ctx(t), "big")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Kubeconfig, kc) {
		t.Fatalf("2 MiB binary kubeconfig did not round-trip (got %d bytes)", len(got.Kubeconfig))
	}
}

func testInvalidArguments(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("ok"))
	bad := func(mut func(*store.Cluster)) store.Cluster {
		c := sampleCluster("ok2")
		mut(&c)
		return c
	}
	clusters := []struct {
		name string
		c    store.Cluster
		want string
	}{
		{"empty id", bad(func(c *store.Cluster) { c.ID = "" }), "cluster id"},
		{"nul in id", bad(func(c *store.Cluster) { c.ID = "a\x00b" }), "cluster id"},
		{"invalid utf8 id", bad(func(c *store.Cluster) { c.ID = "a\xffb" }), "cluster id"},
		{"nul in namespace", bad(func(c *store.Cluster) { c.Namespace = "x\x00" }), "namespace"},
		{"invalid utf8 server", bad(func(c *store.Cluster) { c.Server = "\xc3" }), "server"},
	}
	for _, tc := range clusters {
		_, err := s.CreateCluster(ctx(t), tc.c)
		wantErr(t, "CreateCluster "+tc.name, err, store.ErrInvalid, tc.want)
		_, err = s.UpdateCluster(ctx(t), tc.c)
		if !errors.Is(err, store.ErrInvalid) && !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateCluster %s: error = %v, want ErrInvalid", tc.name, err)
		}
	}
	_, err := s.GetCluster(ctx(t), "")
	wantErr(t, "GetCluster empty id", err, store.ErrInvalid)
	wantErr(t, "DeleteCluster empty id", s.DeleteCluster(ctx(t), ""), store.ErrInvalid)
	_, err = s.ListRepos(ctx(t), "")
	wantErr(t, "ListRepos empty id", err, store.ErrInvalid)
	_, err = s.CreateRepo(ctx(t), sampleRepo("ok", ""))
	wantErr(t, "CreateRepo empty name", err, store.ErrInvalid, "repo name")
	_, err = s.CreateRepo(ctx(t), sampleRepo("", "r"))
	wantErr(t, "CreateRepo empty cluster id", err, store.ErrInvalid, "cluster id")
	r := sampleRepo("ok", "r")
	r.URL = "https://x\x00"
	_, err = s.CreateRepo(ctx(t), r)
	wantErr(t, "CreateRepo nul in url", err, store.ErrInvalid, "url")
	_, err = s.GetRepo(ctx(t), "ok", "")
	wantErr(t, "GetRepo empty name", err, store.ErrInvalid)
	wantErr(t, "DeleteRepo empty name", s.DeleteRepo(ctx(t), "ok", ""), store.ErrInvalid)
	if list, _ := s.ListClusters(ctx(t)); len(list) != 1 {
		t.Errorf("invalid creates left %d clusters, want 1", len(list))
	}
	if repos, _ := s.ListRepos(ctx(t), "ok"); len(repos) != 0 {
		t.Errorf("invalid creates left %d repos, want 0", len(repos))
	}
}

func testRepoRoundTrip(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	in := sampleRepo("c", "bitnami")
	in.Type = store.RepoTypeOCI
	before := time.Now()
	created := mustCreateRepo(t, s, in)
	after := time.Now()
	checkTimes(t, "CreatedAt", created.CreatedAt, before, after)
	want := in
	want.CreatedAt, want.UpdatedAt = created.CreatedAt, created.CreatedAt
	sameRepo(t, "CreateRepo result", created, want)
	got, err := s.GetRepo(ctx(t), "c", "bitnami")
	if err != nil {
		t.Fatalf("GetRepo: %v", err)
	}
	sameRepo(t, "GetRepo", got, want)
	list, err := s.ListRepos(ctx(t), "c")
	if err != nil || len(list) != 1 {
		t.Fatalf("ListRepos = %d repos, %v; want 1", len(list), err)
	}
	sameRepo(t, "ListRepos[0]", list[0], want)

	def := mustCreateRepo(t, s, store.Repo{ClusterID: "c", Name: "plain", URL: "https://p"})
	if def.Type != store.RepoTypeHTTP || def.Password != nil || def.Username != "" {
		t.Errorf("defaults: %s", fmtRepo(def))
	}
	got, _ = s.GetRepo(ctx(t), "c", "plain")
	sameRepo(t, "GetRepo with defaults", got, def)
}

func testRepoCreateErrors(t *testing.T, s store.Store) {
	_, err := s.CreateRepo(ctx(t), sampleRepo("nocluster", "r"))
	wantErr(t, "CreateRepo on a missing cluster", err, store.ErrNotFound, `"nocluster"`)
	mustCreateCluster(t, s, sampleCluster("c"))
	orig := mustCreateRepo(t, s, sampleRepo("c", "r"))
	dup := sampleRepo("c", "r")
	dup.URL = "https://other"
	dup.Password = []byte("other")
	_, err = s.CreateRepo(ctx(t), dup)
	wantErr(t, "duplicate CreateRepo", err, store.ErrExists, `"r"`, `"c"`)
	got, err := s.GetRepo(ctx(t), "c", "r")
	if err != nil {
		t.Fatal(err)
	}
	sameRepo(t, "repo after a refused duplicate", got, orig)
	if _, err := s.GetRepo(ctx(t), "nocluster", "r"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateRepo on a missing cluster stored something: %v", err)
	}
}

func testRepoNotFound(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	mustCreateRepo(t, s, sampleRepo("c", "r"))
	_, err := s.GetRepo(ctx(t), "c", "absent")
	wantErr(t, "GetRepo", err, store.ErrNotFound, `"absent"`)
	_, err = s.GetRepo(ctx(t), "nocluster", "r")
	wantErr(t, "GetRepo on a missing cluster", err, store.ErrNotFound)
	_, err = s.UpdateRepo(ctx(t), sampleRepo("c", "absent"))
	wantErr(t, "UpdateRepo", err, store.ErrNotFound, `"absent"`)
	_, err = s.UpdateRepo(ctx(t), sampleRepo("nocluster", "r"))
	wantErr(t, "UpdateRepo on a missing cluster", err, store.ErrNotFound)
	wantErr(t, "DeleteRepo", s.DeleteRepo(ctx(t), "c", "absent"), store.ErrNotFound, `"absent"`)
	_, err = s.ListRepos(ctx(t), "nocluster")
	wantErr(t, "ListRepos on a missing cluster", err, store.ErrNotFound, `"nocluster"`)
	if _, err := s.GetRepo(ctx(t), "c", "absent"); !errors.Is(err, store.ErrNotFound) {
		t.Error("UpdateRepo of a missing repo created it")
	}
}

func testRepoUpdate(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	created := mustCreateRepo(t, s, sampleRepo("c", "r"))
	time.Sleep(2 * time.Millisecond)
	upd := store.Repo{ClusterID: "c", Name: "r", URL: "oci://reg.example/charts", Type: store.RepoTypeOCI,
		Username: "robot", Password: []byte("new-secret"), CreatedAt: time.Unix(5, 0)}
	got, err := s.UpdateRepo(ctx(t), upd)
	if err != nil {
		t.Fatalf("UpdateRepo: %v", err)
	}
	if !got.CreatedAt.Equal(created.CreatedAt) || !got.UpdatedAt.After(created.UpdatedAt) {
		t.Errorf("timestamps after update: created %s (was %s), updated %s (was %s)",
			got.CreatedAt, created.CreatedAt, got.UpdatedAt, created.UpdatedAt)
	}
	want := upd
	want.CreatedAt, want.UpdatedAt = created.CreatedAt, got.UpdatedAt
	sameRepo(t, "UpdateRepo result", got, want)
	fetched, _ := s.GetRepo(ctx(t), "c", "r")
	sameRepo(t, "GetRepo after update", fetched, want)

	// Removing the password and defaulting the type.
	cleared, err := s.UpdateRepo(ctx(t), store.Repo{ClusterID: "c", Name: "r", URL: "https://x"})
	if err != nil {
		t.Fatal(err)
	}
	fetched, _ = s.GetRepo(ctx(t), "c", "r")
	if fetched.Password != nil || fetched.Username != "" || fetched.Type != store.RepoTypeHTTP {
		t.Errorf("after clearing update GetRepo = %s", fmtRepo(fetched))
	}
	sameRepo(t, "cleared result vs GetRepo", cleared, fetched)
}

func testRepoListOrdered(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	list, err := s.ListRepos(ctx(t), "c")
	if err != nil {
		t.Fatalf("ListRepos on a cluster without repos: %v", err)
	}
	if list == nil || len(list) != 0 {
		t.Errorf("ListRepos on a cluster without repos = %#v, want an empty non-nil slice", list)
	}
	names := []string{"stable", "bitnami", "Z", "a", "a-b", "ab", "a_b", "0"}
	shuffled := append([]string(nil), names...)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, n := range shuffled {
		mustCreateRepo(t, s, sampleRepo("c", n))
	}
	list, err = s.ListRepos(ctx(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range list {
		got = append(got, r.Name)
		if r.ClusterID != "c" || r.URL != sampleRepo("c", r.Name).URL || string(r.Password) != "pw-"+r.Name {
			t.Errorf("ListRepos entry %s does not match what was stored", fmtRepo(r))
		}
	}
	want := append([]string(nil), names...)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ListRepos order = %q, want %q", got, want)
	}
}

func testRepoPerCluster(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c1"))
	mustCreateCluster(t, s, sampleCluster("c2"))
	r1 := sampleRepo("c1", "stable")
	r2 := sampleRepo("c2", "stable")
	r2.URL = "https://other"
	r2.Password = []byte("other-pw")
	mustCreateRepo(t, s, r1)
	mustCreateRepo(t, s, r2)
	g1, _ := s.GetRepo(ctx(t), "c1", "stable")
	g2, _ := s.GetRepo(ctx(t), "c2", "stable")
	if g1.URL != r1.URL || string(g1.Password) != string(r1.Password) ||
		g2.URL != r2.URL || string(g2.Password) != string(r2.Password) {
		t.Errorf("same-named repos on two clusters interfere: %s / %s", fmtRepo(g1), fmtRepo(g2))
	}
	if err := s.DeleteRepo(ctx(t), "c1", "stable"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRepo(ctx(t), "c2", "stable"); err != nil {
		t.Errorf("deleting c1's repo removed c2's: %v", err)
	}
	if l, _ := s.ListRepos(ctx(t), "c1"); len(l) != 0 {
		t.Errorf("c1 still lists %d repos", len(l))
	}
	// Keys that would collide if joined naively stay distinct.
	mustCreateCluster(t, s, sampleCluster("a/b"))
	mustCreateCluster(t, s, sampleCluster("a"))
	x := sampleRepo("a/b", "c")
	y := sampleRepo("a", "b/c")
	mustCreateRepo(t, s, x)
	mustCreateRepo(t, s, y)
	gx, err1 := s.GetRepo(ctx(t), "a/b", "c")
	gy, err2 := s.GetRepo(ctx(t), "a", "b/c")
	if err1 != nil || err2 != nil || string(gx.Password) != "pw-c" || string(gy.Password) != "pw-b/c" {
		t.Errorf("repos with slash-joined-equal keys: %v %v %s %s", err1, err2, fmtRepo(gx), fmtRepo(gy))
	}
}

func testRepoPasswords(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	tests := []struct {
		name string
		pw   []byte
		want []byte
	}{
		{"nil", nil, nil},
		{"empty", []byte{}, nil},
		{"ascii", []byte("s3cr3t"), []byte("s3cr3t")},
		{"binary with nul", []byte{0, 1, 0, 255}, []byte{0, 1, 0, 255}},
		{"long", bytes.Repeat([]byte("p"), 10000), bytes.Repeat([]byte("p"), 10000)},
	}
	for _, tc := range tests {
		r := sampleRepo("c", tc.name)
		r.Password = tc.pw
		mustCreateRepo(t, s, r)
		got, err := s.GetRepo(ctx(t), "c", tc.name)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got.Password, tc.want) || (tc.want == nil) != (got.Password == nil) {
			t.Errorf("%s: password = %q (nil %v), want %q", tc.name, got.Password, got.Password == nil, tc.want)
		}
	}
}

func testRepoCopies(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	in := sampleRepo("c", "r")
	created := mustCreateRepo(t, s, in)
	in.Password[0] ^= 0xFF
	created.Password[1] ^= 0xFF
	got, _ := s.GetRepo(ctx(t), "c", "r")
	if string(got.Password) != "pw-r" {
		t.Fatalf("stored password changed through a caller's slice: %q", got.Password)
	}
	got.Password[0] ^= 0xFF
	list, _ := s.ListRepos(ctx(t), "c")
	list[0].Password[1] ^= 0xFF
	again, _ := s.GetRepo(ctx(t), "c", "r")
	if string(again.Password) != "pw-r" {
		t.Fatalf("stored password changed through a returned slice: %q", again.Password)
	}
}

func testRepoDelete(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	mustCreateRepo(t, s, sampleRepo("c", "a"))
	mustCreateRepo(t, s, sampleRepo("c", "b"))
	if err := s.DeleteRepo(ctx(t), "c", "a"); err != nil {
		t.Fatalf("DeleteRepo: %v", err)
	}
	_, err := s.GetRepo(ctx(t), "c", "a")
	wantErr(t, "GetRepo after delete", err, store.ErrNotFound)
	wantErr(t, "second DeleteRepo", s.DeleteRepo(ctx(t), "c", "a"), store.ErrNotFound)
	list, _ := s.ListRepos(ctx(t), "c")
	if len(list) != 1 || list[0].Name != "b" {
		t.Errorf("after deleting a, ListRepos = %d repos", len(list))
	}
	if _, err := s.GetCluster(ctx(t), "c"); err != nil {
		t.Errorf("DeleteRepo affected the cluster: %v", err)
	}
	mustCreateRepo(t, s, sampleRepo("c", "a")) // the name can be reused
}

func testDeleteClusterCascades(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	mustCreateCluster(t, s, sampleCluster("other"))
	for _, n := range []string{"r1", "r2", "r3"} {
		mustCreateRepo(t, s, sampleRepo("c", n))
	}
	mustCreateRepo(t, s, sampleRepo("other", "r1"))
	if err := s.DeleteCluster(ctx(t), "c"); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetRepo(ctx(t), "c", "r1")
	wantErr(t, "GetRepo after cluster delete", err, store.ErrNotFound)
	// A new cluster with the same id starts without repositories.
	mustCreateCluster(t, s, sampleCluster("c"))
	list, err := s.ListRepos(ctx(t), "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("recreated cluster inherited %d repos of the deleted one", len(list))
	}
	mustCreateRepo(t, s, sampleRepo("c", "r1"))
	if l, _ := s.ListRepos(ctx(t), "other"); len(l) != 1 {
		t.Errorf("deleting c touched other's repos: %d left", len(l))
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"CreateCluster": func() error { _, err := s.CreateCluster(cctx, sampleCluster("n")); return err },
		"UpdateCluster": func() error { _, err := s.UpdateCluster(cctx, sampleCluster("c")); return err },
		"GetCluster":    func() error { _, err := s.GetCluster(cctx, "c"); return err },
		"ListClusters":  func() error { _, err := s.ListClusters(cctx); return err },
		"DeleteCluster": func() error { return s.DeleteCluster(cctx, "c") },
		"CreateRepo":    func() error { _, err := s.CreateRepo(cctx, sampleRepo("c", "r")); return err },
		"ListRepos":     func() error { _, err := s.ListRepos(cctx, "c"); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a canceled context: error = %v, want context.Canceled", name, err)
		}
	}
	if _, err := s.GetCluster(ctx(t), "c"); err != nil {
		t.Errorf("cluster gone after canceled calls: %v", err)
	}
	if _, err := s.GetCluster(ctx(t), "n"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("canceled CreateCluster stored the cluster: %v", err)
	}
}

func testConcurrentWriters(t *testing.T, s store.Store) {
	const workers, perWorker = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker*4)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				id := fmt.Sprintf("w%02d-c%02d", w, i)
				if _, err := s.CreateCluster(ctx(t), sampleCluster(id)); err != nil {
					errs <- err
					continue
				}
				if _, err := s.CreateRepo(ctx(t), sampleRepo(id, "r")); err != nil {
					errs <- err
				}
				c := sampleCluster(id)
				c.Version = "v2"
				if _, err := s.UpdateCluster(ctx(t), c); err != nil {
					errs <- err
				}
				if _, err := s.ListClusters(ctx(t)); err != nil {
					errs <- err
				}
				if i%3 == 0 {
					if err := s.DeleteCluster(ctx(t), id); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent writer: %v", err)
	}
	list, err := s.ListClusters(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := workers * (perWorker - (perWorker+2)/3)
	if len(list) != want {
		t.Errorf("after concurrent writes ListClusters has %d clusters, want %d", len(list), want)
	}
	for _, c := range list {
		if c.Version != "v2" {
			t.Errorf("cluster %q lost its update", c.ID)
		}
		if r, err := s.ListRepos(ctx(t), c.ID); err != nil || len(r) != 1 {
			t.Errorf("cluster %q has %d repos (%v), want 1", c.ID, len(r), err)
		}
	}
}

func testConcurrentCreateSameID(t *testing.T, s store.Store) {
	const n = 12
	var wg sync.WaitGroup
	results := make(chan error, n*2)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := sampleCluster("same")
			c.Namespace = fmt.Sprintf("ns-%d", i)
			_, err := s.CreateCluster(ctx(t), c)
			results <- err
		}()
	}
	wg.Wait()
	ok := 0
	for range n {
		err := <-results
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrExists):
		default:
			t.Errorf("concurrent CreateCluster: unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent creates of one id succeeded, want exactly 1", ok)
	}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CreateRepo(ctx(t), sampleRepo("same", "r"))
			results <- err
		}()
	}
	wg.Wait()
	ok = 0
	for range n {
		if err := <-results; err == nil {
			ok++
		} else if !errors.Is(err, store.ErrExists) {
			t.Errorf("concurrent CreateRepo: unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent creates of one repo succeeded, want exactly 1", ok)
	}
}
