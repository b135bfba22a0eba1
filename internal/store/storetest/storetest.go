// Package storetest is the conformance suite that every store.Store implementation must pass.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdu-io/kdu/internal/secret"
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
		{"ClusterTiller", testClusterTiller},
		{"InvalidArguments", testInvalidArguments},
		{"RepoRoundTrip", testRepoRoundTrip},
		{"RepoFlags", testRepoFlags},
		{"RepoCreateErrors", testRepoCreateErrors},
		{"RepoNotFound", testRepoNotFound},
		{"RepoUpdate", testRepoUpdate},
		{"RepoListOrdered", testRepoListOrdered},
		{"RepoPerCluster", testRepoPerCluster},
		{"RepoSecrets", testRepoSecrets},
		{"RepoCopies", testRepoCopies},
		{"RepoDelete", testRepoDelete},
		{"RepoInvalidText", testRepoInvalidText},
		{"ProjectRepoIsolation", testProjectRepoIsolation},
		{"ProjectRepoErrors", testProjectRepoErrors},
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

// Box returns a secret.Box whose key is KeySize bytes b.
func Box(t testing.TB, b byte) *secret.Box {
	t.Helper()
	box, err := secret.NewBox(bytes.Repeat([]byte{b}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// sampleCluster returns a cluster with every field set, each to a value that names the field and the cluster, so
// that a column mix-up shows. The store keeps the Tiller fields whatever the flavour.
func sampleCluster(id string) store.Cluster {
	return store.Cluster{
		ID:              id,
		Kubeconfig:      []byte("apiVersion: v1\nkind: Config\n# cluster " + id + "\n"),
		Context:         "ctx-" + id,
		Namespace:       "ns-" + id,
		Flavour:         store.FlavourHelm3,
		Server:          "https://" + id + ".example:6443",
		Version:         "v1.37.2",
		Project:         "proj",
		TillerNamespace: "tiller-ns-" + id,
		TillerAddress:   "tiller-" + id + ".example:44134",
		InstalledSW:     true,
	}
}

// sampleRepo returns a cluster repository with every field set, each to a value that names the field and the
// repository, so that a column mix-up shows.
func sampleRepo(clusterID, name string) store.Repo {
	return store.Repo{
		ClusterID:          clusterID,
		Name:               name,
		ExtID:              "ext-" + name,
		URL:                "https://charts.example/" + name,
		Type:               store.RepoTypeHTTP,
		Username:           "user-" + name,
		Password:           []byte("pw-" + name),
		CACert:             pemBlock("CERTIFICATE", "ca-"+name),
		CertPEM:            pemBlock("CERTIFICATE", "client-cert-"+name),
		KeyPEM:             pemBlock("PRIVATE KEY", "client-key-"+name),
		Keyring:            append([]byte{0x99, 0x00, 0x0d, 0x04}, "keyring-"+name...),
		InsecureSkipVerify: true,
		PlainHTTP:          true,
	}
}

// sampleProjectRepo returns a project repository with every field set; its values also name the project.
func sampleProjectRepo(project, name string) store.Repo {
	r := sampleRepo("", name)
	r.Project = project
	id := project + "/" + name
	r.ExtID = "ext-" + id
	r.URL = "https://projects.example/" + id
	r.Password = []byte("ppw-" + id)
	r.KeyPEM = pemBlock("PRIVATE KEY", "project-key-"+id)
	r.CACert = pemBlock("CERTIFICATE", "project-ca-"+id)
	return r
}

func pemBlock(typ, body string) []byte {
	return []byte("-----BEGIN " + typ + "-----\n" + body + "\n-----END " + typ + "-----\n")
}

// repoBlobs returns pointers to the byte-slice fields of r, by name.
func repoBlobs(r *store.Repo) []struct {
	name string
	p    *[]byte
} {
	return []struct {
		name string
		p    *[]byte
	}{
		{"Password", &r.Password}, {"CACert", &r.CACert}, {"CertPEM", &r.CertPEM}, {"KeyPEM", &r.KeyPEM},
		{"Keyring", &r.Keyring},
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
		got.Version != want.Version || got.Project != want.Project || got.TillerNamespace != want.TillerNamespace ||
		got.TillerAddress != want.TillerAddress || got.InstalledSW != want.InstalledSW ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtCluster(got), fmtCluster(want))
	}
}

func fmtCluster(c store.Cluster) string {
	return fmt.Sprintf("{ID:%q Kubeconfig:%q Context:%q Namespace:%q Flavour:%q Server:%q Version:%q Project:%q "+
		"TillerNamespace:%q TillerAddress:%q InstalledSW:%v Created:%s Updated:%s}",
		c.ID, c.Kubeconfig, c.Context, c.Namespace, c.Flavour, c.Server, c.Version, c.Project,
		c.TillerNamespace, c.TillerAddress, c.InstalledSW, c.CreatedAt.Format(time.RFC3339Nano), c.UpdatedAt.Format(time.RFC3339Nano))
}

// sameRepo compares every field; times by instant.
func sameRepo(t *testing.T, what string, got, want store.Repo) {
	t.Helper()
	same := got.ClusterID == want.ClusterID && got.Project == want.Project && got.Name == want.Name &&
		got.ExtID == want.ExtID && got.URL == want.URL && got.Type == want.Type && got.Username == want.Username &&
		got.InsecureSkipVerify == want.InsecureSkipVerify && got.PassCredentials == want.PassCredentials &&
		got.PlainHTTP == want.PlainHTTP && got.CreatedAt.Equal(want.CreatedAt) && got.UpdatedAt.Equal(want.UpdatedAt)
	gb, wb := repoBlobs(&got), repoBlobs(&want)
	for i := range gb {
		same = same && bytes.Equal(*gb[i].p, *wb[i].p)
	}
	if !same {
		t.Errorf("%s:\n got %s\nwant %s", what, fmtRepo(got), fmtRepo(want))
	}
}

func fmtRepo(r store.Repo) string {
	return fmt.Sprintf("{ClusterID:%q Project:%q Name:%q ExtID:%q URL:%q Type:%q Username:%q Password:%q "+
		"CACert:%q CertPEM:%q KeyPEM:%q Keyring:%q InsecureSkipVerify:%v PassCredentials:%v PlainHTTP:%v "+
		"Created:%s Updated:%s}",
		r.ClusterID, r.Project, r.Name, r.ExtID, r.URL, r.Type, r.Username, r.Password,
		r.CACert, r.CertPEM, r.KeyPEM, r.Keyring, r.InsecureSkipVerify, r.PassCredentials, r.PlainHTTP,
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
	if got.Flavour != store.FlavourHelm3 || len(got.Kubeconfig) != 0 || got.Context != "" || got.Namespace != "" ||
		got.TillerNamespace != "" || got.TillerAddress != "" || got.InstalledSW {
		t.Errorf("GetCluster = %s, want defaults", fmtCluster(got))
	}
	c2 := sampleCluster("h2")
	c2.Flavour = store.FlavourHelm2
	if got := mustCreateCluster(t, s, c2); got.Flavour != store.FlavourHelm2 {
		t.Errorf("Flavour = %q, want %q", got.Flavour, store.FlavourHelm2)
	}
	// A helm2 cluster without a Tiller namespace keeps it empty: the default belongs to the caller.
	h2 := mustCreateCluster(t, s, store.Cluster{ID: "bare-h2", Flavour: store.FlavourHelm2})
	got, err = s.GetCluster(ctx(t), "bare-h2")
	if err != nil {
		t.Fatal(err)
	}
	if got.TillerNamespace != "" || got.TillerAddress != "" || got.InstalledSW {
		t.Errorf("GetCluster of a bare helm2 cluster = %s, want empty Tiller fields", fmtCluster(got))
	}
	sameCluster(t, "bare helm2 create result vs GetCluster", h2, got)
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
		// The sample has all three Tiller fields set: new strings and a cleared flag must all be written.
		TillerNamespace: "kube-system",
		TillerAddress:   "10.0.0.7:44134",
		InstalledSW:     false,
		CreatedAt:       time.Unix(1, 0), // ignored
		UpdatedAt:       time.Unix(1, 0), // ignored
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
	if len(fetched.Kubeconfig) != 0 || fetched.Namespace != "" || fetched.Project != "" || fetched.Flavour != store.FlavourHelm3 ||
		fetched.TillerNamespace != "" || fetched.TillerAddress != "" || fetched.InstalledSW {
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

// testClusterTiller stores every combination of the Tiller fields (each string empty or set, the flag off or on),
// on both flavours, reads them back one by one and listed, then flips each combination through UpdateCluster.
func testClusterTiller(t *testing.T, s store.Store) {
	tiller := func(id string, bits int) store.Cluster {
		c := sampleCluster(id)
		c.Flavour = store.FlavourHelm2
		if bits&8 != 0 {
			c.Flavour = store.FlavourHelm3
		}
		c.TillerNamespace, c.TillerAddress = "", ""
		if bits&1 != 0 {
			c.TillerNamespace = "tiller-ns-" + id
		}
		if bits&2 != 0 {
			c.TillerAddress = "tiller-" + id + ".example:44134"
		}
		c.InstalledSW = bits&4 != 0
		return c
	}
	const n = 16
	want := make([]store.Cluster, n)
	for bits := range n {
		want[bits] = mustCreateCluster(t, s, tiller(fmt.Sprintf("t%02d", bits), bits))
	}
	list, err := s.ListClusters(ctx(t))
	if err != nil || len(list) != n {
		t.Fatalf("ListClusters = %d clusters, %v; want %d", len(list), err, n)
	}
	for bits, c := range list {
		sameCluster(t, "ListClusters["+strconv.Itoa(bits)+"]", c, want[bits])
		got, err := s.GetCluster(ctx(t), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameCluster(t, "GetCluster "+c.ID, got, want[bits])
	}
	// Each cluster takes the opposite combination; the flag goes both ways.
	for bits := range n {
		id := fmt.Sprintf("t%02d", bits)
		upd := tiller(id, bits^7)
		got, err := s.UpdateCluster(ctx(t), upd)
		if err != nil {
			t.Fatalf("UpdateCluster(%q): %v", id, err)
		}
		upd.CreatedAt, upd.UpdatedAt = want[bits].CreatedAt, got.UpdatedAt
		sameCluster(t, "UpdateCluster "+id, got, upd)
		fetched, err := s.GetCluster(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		sameCluster(t, "GetCluster after update "+id, fetched, upd)
	}
	// Text that needs quoting in SQL or is not ASCII is kept as it is.
	odd := sampleCluster("odd")
	odd.TillerNamespace, odd.TillerAddress = "ns-'; DROP TABLE clusters; --", "[fe80::1%eth0]:44134 ünï"
	created := mustCreateCluster(t, s, odd)
	got, err := s.GetCluster(ctx(t), "odd")
	if err != nil {
		t.Fatal(err)
	}
	sameCluster(t, "GetCluster of odd Tiller text", got, created)
	if got.TillerNamespace != odd.TillerNamespace || got.TillerAddress != odd.TillerAddress {
		t.Errorf("odd Tiller text = %q, %q", got.TillerNamespace, got.TillerAddress)
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
		{"nul in tiller namespace", bad(func(c *store.Cluster) { c.TillerNamespace = "kube\x00system" }), "tiller namespace"},
		{"invalid utf8 tiller address", bad(func(c *store.Cluster) { c.TillerAddress = "h\xff:44134" }), "tiller address"},
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
	_, err = s.CreateRepo(ctx(t), sampleRepo("a\xffb", "r"))
	wantErr(t, "CreateRepo invalid utf8 cluster id", err, store.ErrInvalid, "cluster id")
	_, err = s.GetRepo(ctx(t), "", "r")
	wantErr(t, "GetRepo empty cluster id", err, store.ErrInvalid, "cluster id")
	wantErr(t, "DeleteRepo empty cluster id", s.DeleteRepo(ctx(t), "", "r"), store.ErrInvalid, "cluster id")
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

// repoOwner reaches the repositories of one cluster or one project through a Store, so that one test covers
// both kinds.
type repoOwner struct {
	name   string                       // for subtest names and messages
	key    func(name string) store.Repo // a repository with only its key fields set
	sample func(name string) store.Repo // a repository with every field set
	get    func(ctx context.Context, s store.Store, name string) (store.Repo, error)
	list   func(ctx context.Context, s store.Store) ([]store.Repo, error)
	del    func(ctx context.Context, s store.Store, name string) error
}

func clusterOwner(id string) repoOwner {
	return repoOwner{
		name:   fmt.Sprintf("cluster %q", id),
		key:    func(n string) store.Repo { return store.Repo{ClusterID: id, Name: n} },
		sample: func(n string) store.Repo { return sampleRepo(id, n) },
		get:    func(ctx context.Context, s store.Store, n string) (store.Repo, error) { return s.GetRepo(ctx, id, n) },
		list:   func(ctx context.Context, s store.Store) ([]store.Repo, error) { return s.ListRepos(ctx, id) },
		del:    func(ctx context.Context, s store.Store, n string) error { return s.DeleteRepo(ctx, id, n) },
	}
}

func projectOwner(project string) repoOwner {
	return repoOwner{
		name:   fmt.Sprintf("project %q", project),
		key:    func(n string) store.Repo { return store.Repo{Project: project, Name: n} },
		sample: func(n string) store.Repo { return sampleProjectRepo(project, n) },
		get: func(ctx context.Context, s store.Store, n string) (store.Repo, error) {
			return s.GetProjectRepo(ctx, project, n)
		},
		list: func(ctx context.Context, s store.Store) ([]store.Repo, error) {
			return s.ListProjectRepos(ctx, project)
		},
		del: func(ctx context.Context, s store.Store, n string) error { return s.DeleteProjectRepo(ctx, project, n) },
	}
}

// forEachOwner runs fn, in one store, for the repositories of cluster "c", of project "p" and of the default
// project "". The owners' repositories must not see each other, so each subtest also checks isolation.
func forEachOwner(t *testing.T, s store.Store, fn func(t *testing.T, o repoOwner)) {
	mustCreateCluster(t, s, sampleCluster("c"))
	for _, o := range []repoOwner{clusterOwner("c"), projectOwner("p"), projectOwner("")} {
		t.Run(o.name, func(t *testing.T) { fn(t, o) })
	}
}

func testRepoRoundTrip(t *testing.T, s store.Store) {
	forEachOwner(t, s, func(t *testing.T, o repoOwner) {
		in := o.sample("bitnami")
		in.Type = store.RepoTypeOCI
		in.PassCredentials = true
		before := time.Now()
		created := mustCreateRepo(t, s, in)
		after := time.Now()
		checkTimes(t, "CreatedAt", created.CreatedAt, before, after)
		want := in
		want.CreatedAt, want.UpdatedAt = created.CreatedAt, created.CreatedAt
		sameRepo(t, "CreateRepo result", created, want)
		got, err := o.get(ctx(t), s, "bitnami")
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		sameRepo(t, "get", got, want)
		list, err := o.list(ctx(t), s)
		if err != nil || len(list) != 1 {
			t.Fatalf("list = %d repos, %v; want 1", len(list), err)
		}
		sameRepo(t, "list[0]", list[0], want)

		bare := o.key("plain")
		bare.URL = "https://p"
		def := mustCreateRepo(t, s, bare)
		if def.Type != store.RepoTypeHTTP || def.Username != "" || def.ExtID != "" ||
			def.InsecureSkipVerify || def.PassCredentials || def.PlainHTTP {
			t.Errorf("defaults: %s", fmtRepo(def))
		}
		for _, b := range repoBlobs(&def) {
			if *b.p != nil {
				t.Errorf("defaults: %s = %q, want nil", b.name, *b.p)
			}
		}
		got, _ = o.get(ctx(t), s, "plain")
		sameRepo(t, "get with defaults", got, def)
		for _, b := range repoBlobs(&got) {
			if *b.p != nil {
				t.Errorf("get with defaults: %s = %q, want nil", b.name, *b.p)
			}
		}
	})
}

// testRepoFlags stores every combination of the three flags, so that swapped columns show.
func testRepoFlags(t *testing.T, s store.Store) {
	forEachOwner(t, s, func(t *testing.T, o repoOwner) {
		for bits := range 8 {
			r := o.sample(fmt.Sprintf("f%d", bits))
			r.InsecureSkipVerify, r.PassCredentials, r.PlainHTTP = bits&1 != 0, bits&2 != 0, bits&4 != 0
			mustCreateRepo(t, s, r)
		}
		list, err := o.list(ctx(t), s)
		if err != nil || len(list) != 8 {
			t.Fatalf("list = %d repos, %v; want 8", len(list), err)
		}
		for bits, r := range list {
			want := [3]bool{bits&1 != 0, bits&2 != 0, bits&4 != 0}
			if got := [3]bool{r.InsecureSkipVerify, r.PassCredentials, r.PlainHTTP}; got != want || r.Name != fmt.Sprintf("f%d", bits) {
				t.Errorf("list[%d] = %s: flags %v, want %v", bits, r.Name, got, want)
			}
			got, err := o.get(ctx(t), s, r.Name)
			if err != nil {
				t.Fatal(err)
			}
			sameRepo(t, "get "+r.Name, got, r)
		}
	})
}

func testRepoUpdate(t *testing.T, s store.Store) {
	forEachOwner(t, s, func(t *testing.T, o repoOwner) {
		created := mustCreateRepo(t, s, o.sample("r"))
		other := mustCreateRepo(t, s, o.sample("other"))
		time.Sleep(2 * time.Millisecond) // so that the update's timestamp differs
		upd := o.key("r")
		upd.ExtID = "ext-new"
		upd.URL = "oci://reg.example/charts"
		upd.Type = store.RepoTypeOCI
		upd.Username = "robot"
		upd.Password = []byte("new-secret")
		upd.CACert = pemBlock("CERTIFICATE", "new-ca")
		upd.CertPEM = pemBlock("CERTIFICATE", "new-cert")
		upd.KeyPEM = pemBlock("PRIVATE KEY", "new-key")
		upd.Keyring = []byte("new-keyring")
		upd.InsecureSkipVerify, upd.PassCredentials, upd.PlainHTTP = false, true, false // sample: true, false, true
		upd.CreatedAt = time.Unix(5, 0)                                                 // ignored
		before := time.Now()
		got, err := s.UpdateRepo(ctx(t), upd)
		after := time.Now()
		if err != nil {
			t.Fatalf("UpdateRepo: %v", err)
		}
		checkTimes(t, "UpdatedAt", got.UpdatedAt, before, after)
		if !got.CreatedAt.Equal(created.CreatedAt) || !got.UpdatedAt.After(created.UpdatedAt) {
			t.Errorf("timestamps after update: created %s (was %s), updated %s (was %s)",
				got.CreatedAt, created.CreatedAt, got.UpdatedAt, created.UpdatedAt)
		}
		want := upd
		want.CreatedAt, want.UpdatedAt = created.CreatedAt, got.UpdatedAt
		sameRepo(t, "UpdateRepo result", got, want)
		fetched, _ := o.get(ctx(t), s, "r")
		sameRepo(t, "get after update", fetched, want)
		untouched, _ := o.get(ctx(t), s, "other")
		sameRepo(t, "another repo of the same owner after update", untouched, other)

		// Clearing every optional field, and defaulting the type.
		bare := o.key("r")
		bare.URL = "https://x"
		cleared, err := s.UpdateRepo(ctx(t), bare)
		if err != nil {
			t.Fatal(err)
		}
		fetched, _ = o.get(ctx(t), s, "r")
		if fetched.Username != "" || fetched.ExtID != "" || fetched.Type != store.RepoTypeHTTP ||
			fetched.InsecureSkipVerify || fetched.PassCredentials || fetched.PlainHTTP {
			t.Errorf("after clearing update get = %s", fmtRepo(fetched))
		}
		for _, b := range repoBlobs(&fetched) {
			if *b.p != nil {
				t.Errorf("after clearing update %s = %q, want nil", b.name, *b.p)
			}
		}
		sameRepo(t, "cleared result vs get", cleared, fetched)
	})
}

func testRepoListOrdered(t *testing.T, s store.Store) {
	forEachOwner(t, s, func(t *testing.T, o repoOwner) {
		list, err := o.list(ctx(t), s)
		if err != nil {
			t.Fatalf("list without repos: %v", err)
		}
		if list == nil || len(list) != 0 {
			t.Errorf("list without repos = %#v, want an empty non-nil slice", list)
		}
		names := []string{"stable", "bitnami", "Z", "a", "a-b", "ab", "a_b", "0", "é"}
		shuffled := append([]string(nil), names...)
		rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for _, n := range shuffled {
			mustCreateRepo(t, s, o.sample(n))
		}
		list, err = o.list(ctx(t), s)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range list {
			got = append(got, r.Name)
			want := o.sample(r.Name)
			want.CreatedAt, want.UpdatedAt = r.CreatedAt, r.UpdatedAt
			sameRepo(t, "list entry", r, want)
		}
		want := append([]string(nil), names...)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("list order = %q, want %q", got, want)
		}

		// Deleting one repository removes it alone from the list.
		if err := o.del(ctx(t), s, "a"); err != nil {
			t.Fatalf("delete: %v", err)
		}
		wantErr(t, "second delete", o.del(ctx(t), s, "a"), store.ErrNotFound, `"a"`)
		_, err = o.get(ctx(t), s, "a")
		wantErr(t, "get after delete", err, store.ErrNotFound, `"a"`)
		list, err = o.list(ctx(t), s)
		if err != nil || len(list) != len(names)-1 {
			t.Fatalf("list after delete = %d repos, %v; want %d", len(list), err, len(names)-1)
		}
		for _, r := range list {
			if r.Name == "a" {
				t.Error("list after delete still has the deleted repo")
			}
		}
	})
}

// testRepoSecrets covers nil, empty and binary values of every byte field; the secret ones (Password, KeyPEM)
// are sealed, and nil (or empty) means none and reads back as nil.
func testRepoSecrets(t *testing.T, s store.Store) {
	forEachOwner(t, s, func(t *testing.T, o repoOwner) {
		tests := []struct {
			name string
			v    []byte
			want []byte
		}{
			{"nil", nil, nil},
			{"empty", []byte{}, nil},
			{"ascii", []byte("s3cr3t"), []byte("s3cr3t")},
			{"binary with nul", []byte{0, 1, 0, 255}, []byte{0, 1, 0, 255}},
			{"long", bytes.Repeat([]byte("p"), 10000), bytes.Repeat([]byte("p"), 10000)},
		}
		for _, tc := range tests {
			r := o.sample(tc.name)
			for i, b := range repoBlobs(&r) {
				*b.p = tag(i, tc.v)
			}
			mustCreateRepo(t, s, r)
			got, err := o.get(ctx(t), s, tc.name)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			for i, b := range repoBlobs(&got) {
				want := tag(i, tc.want)
				if !bytes.Equal(*b.p, want) || (want == nil) != (*b.p == nil) {
					t.Errorf("%s: %s = %q (nil %v), want %q", tc.name, b.name, *b.p, *b.p == nil, want)
				}
			}
		}
	})
}

// tag prefixes a non-empty v with a digit, so that each field gets its own value; an empty v is returned as is.
func tag(i int, v []byte) []byte {
	if len(v) == 0 {
		return v
	}
	return append([]byte{byte('0' + i)}, v...)
}

func testRepoCopies(t *testing.T, s store.Store) {
	// Clone copies every byte field.
	in := sampleProjectRepo("p", "r")
	clone := in.Clone()
	for _, b := range repoBlobs(&clone) {
		(*b.p)[0] ^= 0xFF
	}
	sameRepo(t, "original after mutating its Clone", in, sampleProjectRepo("p", "r"))

	forEachOwner(t, s, func(t *testing.T, o repoOwner) {
		flip := func(r *store.Repo) {
			for _, b := range repoBlobs(r) {
				(*b.p)[0] ^= 0xFF
			}
		}
		check := func(how string) {
			t.Helper()
			got, err := o.get(ctx(t), s, "r")
			if err != nil {
				t.Fatal(err)
			}
			want := o.sample("r")
			want.CreatedAt, want.UpdatedAt = got.CreatedAt, got.UpdatedAt
			sameRepo(t, "stored repo after mutating "+how, got, want)
		}
		in := o.sample("r")
		created := mustCreateRepo(t, s, in)
		flip(&in) // the caller reuses its buffers
		flip(&created)
		check("the caller's and the created slices")
		got, _ := o.get(ctx(t), s, "r")
		flip(&got)
		list, _ := o.list(ctx(t), s)
		flip(&list[0])
		check("returned slices")
		upd := o.sample("r")
		updated, err := s.UpdateRepo(ctx(t), upd)
		if err != nil {
			t.Fatal(err)
		}
		flip(&upd)
		flip(&updated)
		check("an update's slices")
	})
}

// testRepoInvalidText: keys and text fields that portable SQL cannot hold are refused with ErrInvalid, and
// nothing is stored.
func testRepoInvalidText(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("c"))
	mut := func(r store.Repo, f func(*store.Repo)) store.Repo { f(&r); return r }
	cr, pr := sampleRepo("c", "r"), sampleProjectRepo("p", "r")
	tests := []struct {
		name string
		r    store.Repo
		want string
	}{
		{"cluster: nul in cluster id", mut(cr, func(r *store.Repo) { r.ClusterID = "c\x00" }), "cluster id"},
		{"cluster: invalid utf8 cluster id", mut(cr, func(r *store.Repo) { r.ClusterID = "c\xff" }), "cluster id"},
		{"cluster: empty name", mut(cr, func(r *store.Repo) { r.Name = "" }), "repo name"},
		{"cluster: nul in ext id", mut(cr, func(r *store.Repo) { r.ExtID = "x\x00" }), "ext id"},
		{"cluster: invalid utf8 ext id", mut(cr, func(r *store.Repo) { r.ExtID = "\xc3" }), "ext id"},
		{"cluster: nul in url", mut(cr, func(r *store.Repo) { r.URL = "https://x\x00" }), "url"},
		{"project: nul in project", mut(pr, func(r *store.Repo) { r.Project = "p\x00" }), "project"},
		{"project: invalid utf8 project", mut(pr, func(r *store.Repo) { r.Project = "\xff" }), "project"},
		{"project: empty name", mut(pr, func(r *store.Repo) { r.Name = "" }), "repo name"},
		{"project: nul in name", mut(pr, func(r *store.Repo) { r.Name = "r\x00" }), "repo name"},
		{"project: nul in ext id", mut(pr, func(r *store.Repo) { r.ExtID = "x\x00" }), "ext id"},
		{"project: invalid utf8 ext id", mut(pr, func(r *store.Repo) { r.ExtID = "\xff" }), "ext id"},
		{"project: invalid utf8 url", mut(pr, func(r *store.Repo) { r.URL = "\xc3" }), "url"},
		{"project: nul in type", mut(pr, func(r *store.Repo) { r.Type = "\x00" }), "type"},
		{"project: nul in username", mut(pr, func(r *store.Repo) { r.Username = "u\x00" }), "username"},
	}
	for _, tc := range tests {
		_, err := s.CreateRepo(ctx(t), tc.r)
		wantErr(t, "CreateRepo "+tc.name, err, store.ErrInvalid, tc.want)
		_, err = s.UpdateRepo(ctx(t), tc.r)
		wantErr(t, "UpdateRepo "+tc.name, err, store.ErrInvalid, tc.want)
	}
	for _, k := range [][2]string{{"p", ""}, {"\xff", "r"}, {"p\x00", "r"}, {"p", "r\x00"}} {
		_, err := s.GetProjectRepo(ctx(t), k[0], k[1])
		wantErr(t, fmt.Sprintf("GetProjectRepo(%q, %q)", k[0], k[1]), err, store.ErrInvalid)
		err = s.DeleteProjectRepo(ctx(t), k[0], k[1])
		wantErr(t, fmt.Sprintf("DeleteProjectRepo(%q, %q)", k[0], k[1]), err, store.ErrInvalid)
	}
	for _, p := range []string{"\xff", "a\x00b"} {
		_, err := s.ListProjectRepos(ctx(t), p)
		wantErr(t, fmt.Sprintf("ListProjectRepos(%q)", p), err, store.ErrInvalid, "project")
	}
	for _, o := range []repoOwner{clusterOwner("c"), projectOwner("p"), projectOwner("")} {
		if list, err := o.list(ctx(t), s); err != nil || len(list) != 0 {
			t.Errorf("invalid creates left %d repos on %s (%v), want 0", len(list), o.name, err)
		}
	}
}

// testProjectRepoIsolation: a repository belongs to exactly one cluster or project, whatever the names.
func testProjectRepoIsolation(t *testing.T, s store.Store) {
	mustCreateCluster(t, s, sampleCluster("p")) // a cluster named like a project
	projects := []string{"", "p", "P", "p/q", "p ", `"p"`}
	want := map[string]store.Repo{}
	for _, p := range projects {
		created := mustCreateRepo(t, s, sampleProjectRepo(p, "stable"))
		if created.ClusterID != "" || created.Project != p {
			t.Errorf("CreateRepo of a project repo returned %s", fmtRepo(created))
		}
		want[p] = created
	}
	clusterRepo := mustCreateRepo(t, s, sampleRepo("p", "stable"))
	check := func(when string) {
		t.Helper()
		for p, w := range want {
			got, err := s.GetProjectRepo(ctx(t), p, "stable")
			if err != nil {
				t.Errorf("%s: GetProjectRepo(%q): %v", when, p, err)
				continue
			}
			sameRepo(t, fmt.Sprintf("%s: GetProjectRepo(%q)", when, p), got, w)
			if list, err := s.ListProjectRepos(ctx(t), p); err != nil || len(list) != 1 {
				t.Errorf("%s: ListProjectRepos(%q) = %d repos, %v; want 1", when, p, len(list), err)
			} else {
				sameRepo(t, fmt.Sprintf("%s: ListProjectRepos(%q)[0]", when, p), list[0], w)
			}
		}
		if clusterRepo.Name == "" {
			if _, err := s.GetRepo(ctx(t), "p", "stable"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: GetRepo of the deleted cluster repo: %v, want ErrNotFound", when, err)
			}
			if list, err := s.ListRepos(ctx(t), "p"); err != nil || len(list) != 0 {
				t.Errorf("%s: ListRepos = %d repos, %v; want 0", when, len(list), err)
			}
			return
		}
		got, err := s.GetRepo(ctx(t), "p", "stable")
		if err != nil {
			t.Errorf("%s: GetRepo: %v", when, err)
		}
		sameRepo(t, when+": GetRepo", got, clusterRepo)
		if list, err := s.ListRepos(ctx(t), "p"); err != nil || len(list) != 1 {
			t.Errorf("%s: ListRepos = %d repos, %v; want 1", when, len(list), err)
		}
	}
	check("after creates")

	// The Project of a cluster repository is ignored and stored as "".
	withProject := sampleRepo("p", "with-project")
	withProject.Project = "p"
	created := mustCreateRepo(t, s, withProject)
	if created.Project != "" || created.ClusterID != "p" {
		t.Errorf("CreateRepo of a cluster repo with a Project returned %s", fmtRepo(created))
	}
	if got, err := s.GetRepo(ctx(t), "p", "with-project"); err != nil || got.Project != "" {
		t.Errorf("GetRepo of a cluster repo created with a Project: %s, %v", fmtRepo(got), err)
	}
	if _, err := s.GetProjectRepo(ctx(t), "p", "with-project"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a cluster repo created with a Project shows in the project: %v", err)
	}
	withProject.URL = "https://updated"
	if updated, err := s.UpdateRepo(ctx(t), withProject); err != nil || updated.Project != "" {
		t.Errorf("UpdateRepo of a cluster repo with a Project: %s, %v", fmtRepo(updated), err)
	}
	if err := s.DeleteRepo(ctx(t), "p", "with-project"); err != nil {
		t.Fatal(err)
	}
	check("after a cluster repo with a Project came and went")

	// Updating one repository leaves its namesakes alone.
	upd := sampleProjectRepo("p", "stable")
	upd.URL = "https://changed"
	upd.Password = []byte("changed")
	updated, err := s.UpdateRepo(ctx(t), upd)
	if err != nil {
		t.Fatal(err)
	}
	want["p"] = updated
	check("after updating project p's repo")

	// Deleting one leaves its namesakes alone.
	if err := s.DeleteRepo(ctx(t), "p", "stable"); err != nil {
		t.Fatal(err)
	}
	clusterRepo = store.Repo{}
	check("after deleting the cluster's repo")
	for _, p := range []string{"p", ""} {
		if err := s.DeleteProjectRepo(ctx(t), p, "stable"); err != nil {
			t.Fatalf("DeleteProjectRepo(%q): %v", p, err)
		}
		if _, err := s.GetProjectRepo(ctx(t), p, "stable"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetProjectRepo(%q) after delete: %v, want ErrNotFound", p, err)
		}
		if list, err := s.ListProjectRepos(ctx(t), p); err != nil || list == nil || len(list) != 0 {
			t.Errorf("ListProjectRepos(%q) after delete = %#v, %v; want an empty non-nil slice", p, list, err)
		}
		delete(want, p)
		check(fmt.Sprintf("after deleting project %q's repo", p))
	}
}

func testProjectRepoErrors(t *testing.T, s store.Store) {
	// A project repository needs no cluster: the store is empty.
	orig := mustCreateRepo(t, s, sampleProjectRepo("p", "r"))
	dup := sampleProjectRepo("p", "r")
	dup.URL = "https://other"
	dup.Password = []byte("other")
	_, err := s.CreateRepo(ctx(t), dup)
	wantErr(t, "duplicate CreateRepo", err, store.ErrExists, `"r"`, `"p"`)
	got, err := s.GetProjectRepo(ctx(t), "p", "r")
	if err != nil {
		t.Fatal(err)
	}
	sameRepo(t, "repo after a refused duplicate", got, orig)

	for _, k := range [][2]string{{"p", "absent"}, {"other", "r"}, {"", "r"}, {"P", "r"}, {"p", "R"}} {
		what := fmt.Sprintf("(%q, %q)", k[0], k[1])
		_, err := s.GetProjectRepo(ctx(t), k[0], k[1])
		wantErr(t, "GetProjectRepo"+what, err, store.ErrNotFound, strconv.Quote(k[1]))
		_, err = s.UpdateRepo(ctx(t), sampleProjectRepo(k[0], k[1]))
		wantErr(t, "UpdateRepo"+what, err, store.ErrNotFound, strconv.Quote(k[1]))
		wantErr(t, "DeleteProjectRepo"+what, s.DeleteProjectRepo(ctx(t), k[0], k[1]), store.ErrNotFound,
			strconv.Quote(k[1]))
		if _, err := s.GetProjectRepo(ctx(t), k[0], k[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateRepo%s of a missing repo created it", what)
		}
	}
	// A cluster with the project's name does not make its repositories the project's, nor the reverse.
	_, err = s.GetRepo(ctx(t), "p", "r")
	wantErr(t, "GetRepo of a project repo", err, store.ErrNotFound)
	wantErr(t, "DeleteRepo of a project repo", s.DeleteRepo(ctx(t), "p", "r"), store.ErrNotFound)
	_, err = s.UpdateRepo(ctx(t), sampleRepo("p", "r"))
	wantErr(t, "UpdateRepo of a project repo as a cluster repo", err, store.ErrNotFound)

	list, err := s.ListProjectRepos(ctx(t), "unknown")
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("ListProjectRepos of an unknown project = %#v, %v; want an empty non-nil slice", list, err)
	}

	if err := s.DeleteProjectRepo(ctx(t), "p", "r"); err != nil {
		t.Fatalf("DeleteProjectRepo: %v", err)
	}
	wantErr(t, "second DeleteProjectRepo", s.DeleteProjectRepo(ctx(t), "p", "r"), store.ErrNotFound)
	mustCreateRepo(t, s, sampleProjectRepo("p", "r")) // the name can be reused
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
	// Project repositories, even of the cluster's project or named like it, are not the cluster's.
	var projectRepos []store.Repo
	for _, p := range []string{sampleCluster("c").Project, "", "c"} {
		projectRepos = append(projectRepos, mustCreateRepo(t, s, sampleProjectRepo(p, "r1")))
	}
	if err := s.DeleteCluster(ctx(t), "c"); err != nil {
		t.Fatal(err)
	}
	for _, want := range projectRepos {
		got, err := s.GetProjectRepo(ctx(t), want.Project, "r1")
		if err != nil {
			t.Errorf("DeleteCluster removed project %q's repo: %v", want.Project, err)
			continue
		}
		sameRepo(t, "project repo after DeleteCluster", got, want)
		if l, err := s.ListProjectRepos(ctx(t), want.Project); err != nil || len(l) != 1 {
			t.Errorf("ListProjectRepos(%q) after DeleteCluster = %d repos, %v; want 1", want.Project, len(l), err)
		}
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
	mustCreateRepo(t, s, sampleRepo("c", "r"))
	projectRepo := mustCreateRepo(t, s, sampleProjectRepo("p", "r"))
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := map[string]func() error{
		"CreateCluster": func() error { _, err := s.CreateCluster(cctx, sampleCluster("n")); return err },
		"UpdateCluster": func() error { _, err := s.UpdateCluster(cctx, sampleCluster("c")); return err },
		"GetCluster":    func() error { _, err := s.GetCluster(cctx, "c"); return err },
		"ListClusters":  func() error { _, err := s.ListClusters(cctx); return err },
		"DeleteCluster": func() error { return s.DeleteCluster(cctx, "c") },
		"CreateRepo":    func() error { _, err := s.CreateRepo(cctx, sampleRepo("c", "r")); return err },
		"UpdateRepo":    func() error { _, err := s.UpdateRepo(cctx, sampleRepo("c", "r")); return err },
		"GetRepo":       func() error { _, err := s.GetRepo(cctx, "c", "r"); return err },
		"ListRepos":     func() error { _, err := s.ListRepos(cctx, "c"); return err },
		"DeleteRepo":    func() error { return s.DeleteRepo(cctx, "c", "r") },
		"CreateRepo of a project": func() error {
			_, err := s.CreateRepo(cctx, sampleProjectRepo("p", "new"))
			return err
		},
		"UpdateRepo of a project": func() error {
			_, err := s.UpdateRepo(cctx, sampleProjectRepo("p", "r"))
			return err
		},
		"GetProjectRepo":    func() error { _, err := s.GetProjectRepo(cctx, "p", "r"); return err },
		"ListProjectRepos":  func() error { _, err := s.ListProjectRepos(cctx, "p"); return err },
		"DeleteProjectRepo": func() error { return s.DeleteProjectRepo(cctx, "p", "r") },
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
	if got, err := s.GetProjectRepo(ctx(t), "p", "r"); err != nil {
		t.Errorf("project repo gone after canceled calls: %v", err)
	} else {
		sameRepo(t, "project repo after canceled calls", got, projectRepo)
	}
	if _, err := s.GetProjectRepo(ctx(t), "p", "new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("canceled CreateRepo stored the project repo: %v", err)
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
	for _, r := range []store.Repo{sampleRepo("same", "r"), sampleProjectRepo("same", "r")} {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.CreateRepo(ctx(t), r)
				results <- err
			}()
		}
		wg.Wait()
		ok = 0
		for range n {
			if err := <-results; err == nil {
				ok++
			} else if !errors.Is(err, store.ErrExists) {
				t.Errorf("concurrent CreateRepo %s: unexpected error %v", fmtRepo(r), err)
			}
		}
		if ok != 1 {
			t.Errorf("%d concurrent creates of one repo succeeded (project %v), want exactly 1", ok, r.IsProject())
		}
	}
}
