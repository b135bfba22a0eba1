package storetest

import (
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
)

// The secrets of the rows that SeedLegacy writes.
const (
	LegacyKubeconfig = "PLAINTEXT-KUBECONFIG-MARKER-4f1c9e"
	LegacyPassword   = "PLAINTEXT-PASSWORD-MARKER-b27d"
)

// SeedLegacy writes, with plain SQL through db (a database that a program knowing only the first migrations
// left), what the migration tests start from: cluster "c" of project "proj" with its OCI repository "r" (a
// password), and a helm2 cluster "h2" with every column of schema version 1, so that a shifted column shows. The
// secrets are sealed with box.
func SeedLegacy(t *testing.T, db *sql.DB, box *secret.Box) {
	t.Helper()
	seal := func(plain string, aad []byte) []byte {
		t.Helper()
		enc, err := box.Seal([]byte(plain), aad)
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	for _, q := range []struct {
		sql string
		arg []byte
	}{
		{`INSERT INTO clusters (id, kubeconfig_enc, project, created_at, updated_at) VALUES ('c', $1, 'proj', 1000, 2000)`,
			seal(LegacyKubeconfig, store.KubeconfigAAD("c"))},
		{`INSERT INTO clusters (id, kubeconfig_enc, context, namespace, flavour, server, version, project, created_at,
			updated_at) VALUES ('h2', $1, 'ctx', 'ns', 'helm2', 'https://h2:6443', 'v1.20.0', 'proj2', 5000, 6000)`,
			seal("helm2 kubeconfig", store.KubeconfigAAD("h2"))},
		{`INSERT INTO repos (cluster_id, name, url, type, username, password_enc, created_at, updated_at)
			VALUES ('c', 'r', 'oci://reg.example/charts', 'oci', 'robot', $1, 3000, 4000)`,
			seal(LegacyPassword, store.RepoPasswordAAD("c", "r"))},
	} {
		if _, err := db.ExecContext(ctx(t), q.sql, q.arg); err != nil {
			t.Fatal(err)
		}
	}
}

func fromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

// legacyClusters are SeedLegacy's clusters as a store reads them.
var legacyClusters = []store.Cluster{
	{ID: "c", Kubeconfig: []byte(LegacyKubeconfig), Flavour: store.FlavourHelm3, Project: "proj",
		CreatedAt: fromMicro(1000), UpdatedAt: fromMicro(2000)},
	{ID: "h2", Kubeconfig: []byte("helm2 kubeconfig"), Context: "ctx", Namespace: "ns",
		Flavour: store.FlavourHelm2, Server: "https://h2:6443", Version: "v1.20.0", Project: "proj2",
		CreatedAt: fromMicro(5000), UpdatedAt: fromMicro(6000)},
}

// legacyRepo is SeedLegacy's repository as a store reads it.
var legacyRepo = store.Repo{ClusterID: "c", Name: "r", URL: "oci://reg.example/charts", Type: store.RepoTypeOCI,
	Username: "robot", Password: []byte(LegacyPassword), CreatedAt: fromMicro(3000), UpdatedAt: fromMicro(4000)}

// CheckFromVersion2 checks a store migrated from a database at schema version 2 that SeedLegacy filled:
// repositories stored before 0003 keep every field, read with the new columns at their defaults, and take the
// new fields on update; project repositories can be added, and outlive the cluster.
func CheckFromVersion2(t *testing.T, s store.Store) {
	t.Helper()
	want := legacyRepo
	got, err := s.GetRepo(ctx(t), "c", "r")
	if err != nil {
		t.Fatalf("GetRepo after the migration: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetRepo after the migration = %+v, want %+v", got, want)
	}
	list, err := s.ListRepos(ctx(t), "c")
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Errorf("ListRepos after the migration = %+v, %v; want [%+v]", list, err, want)
	}
	if list, err := s.ListProjectRepos(ctx(t), "proj"); err != nil || len(list) != 0 {
		t.Errorf("ListProjectRepos after the migration = %d repos, %v; want none", len(list), err)
	}
	upd := want
	upd.ExtID, upd.KeyPEM, upd.CACert, upd.Keyring = "ext", []byte("PLAINTEXT-TLS-KEY-MARKER-5e0a"), []byte("ca"), []byte("kr")
	upd.PlainHTTP, upd.InsecureSkipVerify = true, true
	if _, err := s.UpdateRepo(ctx(t), upd); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetRepo(ctx(t), "c", "r")
	if err != nil || got.ExtID != "ext" || string(got.KeyPEM) != string(upd.KeyPEM) || string(got.CACert) != "ca" ||
		string(got.Keyring) != "kr" || !got.PlainHTTP || !got.InsecureSkipVerify ||
		string(got.Password) != LegacyPassword || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("GetRepo after updating a migrated repo = %+v, %v", got, err)
	}
	if _, err := s.CreateRepo(ctx(t), store.Repo{Project: "proj", Name: "r", Password: []byte("p")}); err != nil {
		t.Errorf("CreateRepo of a project repo after the migration: %v", err)
	}
	if err := s.DeleteCluster(ctx(t), "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetProjectRepo(ctx(t), "proj", "r"); err != nil {
		t.Errorf("DeleteCluster removed a project repo: %v", err)
	}
}

// CheckFromVersion3 checks a store migrated from a database at schema version 3 that SeedLegacy filled:
// clusters stored before 0004 keep every field, read with the Tiller fields at their defaults (no Tiller
// namespace is made up for a helm2 cluster), and take the Tiller fields on update.
func CheckFromVersion3(t *testing.T, s store.Store) {
	t.Helper()
	want := legacyClusters
	for _, w := range want {
		got, err := s.GetCluster(ctx(t), w.ID)
		if err != nil {
			t.Fatalf("GetCluster(%q) after the migration: %v", w.ID, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("GetCluster(%q) after the migration = %+v, want %+v", w.ID, got, w)
		}
	}
	list, err := s.ListClusters(ctx(t))
	if err != nil || !reflect.DeepEqual(list, want) {
		t.Errorf("ListClusters after the migration = %+v, %v; want %+v", list, err, want)
	}
	if r, err := s.GetRepo(ctx(t), "c", "r"); err != nil || string(r.Password) != LegacyPassword {
		t.Errorf("repo after the migration = %+v, %v", r, err)
	}
	upd := want[1]
	upd.TillerNamespace, upd.TillerAddress, upd.InstalledSW = "kube-system", "10.0.0.7:44134", true
	if _, err := s.UpdateCluster(ctx(t), upd); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCluster(ctx(t), "h2")
	if err != nil || got.TillerNamespace != "kube-system" || got.TillerAddress != "10.0.0.7:44134" ||
		!got.InstalledSW || got.Server != "https://h2:6443" || !got.CreatedAt.Equal(want[1].CreatedAt) {
		t.Errorf("GetCluster after updating a migrated cluster = %+v, %v", got, err)
	}
	if c, err := s.GetCluster(ctx(t), "c"); err != nil || !reflect.DeepEqual(c, want[0]) {
		t.Errorf("updating h2 changed c: %+v, %v", c, err)
	}
}
