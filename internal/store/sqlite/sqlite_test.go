package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
	"github.com/kdu-io/kdu/internal/store/migrate"
	"github.com/kdu-io/kdu/internal/store/storetest"
)

var testBox = storetest.Box

func openAt(t *testing.T, path string, box *secret.Box) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, box)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

// openPrivate opens a Store with a connection pool and write slot of its own, as another process would.
func openPrivate(t *testing.T, path string, box *secret.Box) *Store {
	t.Helper()
	s, err := open(t.Context(), path, box, false)
	if err != nil {
		t.Fatalf("open(%s): %v", path, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openAt(t, filepath.Join(t.TempDir(), DBFileName), testBox(t, 1))
	})
}

const (
	kubeconfigMarker  = "PLAINTEXT-KUBECONFIG-MARKER-4f1c9e"
	passwordMarker    = "PLAINTEXT-PASSWORD-MARKER-b27d"
	keyMarker         = "PLAINTEXT-TLS-KEY-MARKER-5e0a"
	projectPwMarker   = "PLAINTEXT-PROJECT-PASSWORD-MARKER-19c3"
	projectKeyMarker  = "PLAINTEXT-PROJECT-TLS-KEY-MARKER-d4e8"
	serverMarker      = "https://visible-server-marker.example:6443"
	certMarker        = "VISIBLE-CLIENT-CERT-MARKER-7a21"
	projectCertMarker = "VISIBLE-PROJECT-CA-MARKER-3b90"
)

// secretMarkers are the plaintexts that seed stores and that must never reach the database files.
var secretMarkers = []string{kubeconfigMarker, passwordMarker, keyMarker, projectPwMarker, projectKeyMarker}

// seed stores one cluster, one repo of it and one repo of project id, carrying recognisable secrets.
func seed(t *testing.T, s *Store, id string) {
	t.Helper()
	_, err := s.CreateCluster(t.Context(), store.Cluster{
		ID: id, Kubeconfig: []byte("apiVersion: v1\ntoken: " + kubeconfigMarker + "\n"), Server: serverMarker,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateRepo(t.Context(), store.Repo{ClusterID: id, Name: "repo", URL: "https://charts.example",
		Username: "u", Password: []byte(passwordMarker), CertPEM: []byte(certMarker), KeyPEM: []byte(keyMarker)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateRepo(t.Context(), store.Repo{Project: id, Name: "repo", URL: "https://project.example",
		Username: "pu", Password: []byte(projectPwMarker), CACert: []byte(projectCertMarker),
		KeyPEM: []byte(projectKeyMarker)})
	if err != nil {
		t.Fatal(err)
	}
}

// containsSecret reports whether b holds any of secretMarkers.
func containsSecret(b []byte) bool {
	for _, m := range secretMarkers {
		if bytes.Contains(b, []byte(m)) {
			return true
		}
	}
	return false
}

func TestSecretsAreCiphertextAtRest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DBFileName)
	s := openAt(t, path, testBox(t, 1))
	seed(t, s, "c1")

	var kc, pw, key, ppw, pkey []byte
	for _, q := range []struct {
		query string
		dst   *[]byte
	}{
		{`SELECT kubeconfig_enc FROM clusters WHERE id = 'c1'`, &kc},
		{`SELECT password_enc FROM repos WHERE cluster_id = 'c1'`, &pw},
		{`SELECT key_enc FROM repos WHERE cluster_id = 'c1'`, &key},
		{`SELECT password_enc FROM project_repos WHERE project = 'c1'`, &ppw},
		{`SELECT key_enc FROM project_repos WHERE project = 'c1'`, &pkey},
	} {
		if err := s.DB().QueryRow(q.query).Scan(q.dst); err != nil {
			t.Fatalf("%s: %v", q.query, err)
		}
	}
	for name, raw := range map[string][]byte{"kubeconfig_enc": kc, "repos.password_enc": pw, "repos.key_enc": key,
		"project_repos.password_enc": ppw, "project_repos.key_enc": pkey} {
		if len(raw) == 0 || raw[0] != secret.Version1 {
			t.Errorf("%s is not a sealed value (%d bytes)", name, len(raw))
		}
		if containsSecret(raw) {
			t.Errorf("%s holds plaintext", name)
		}
	}
	if want := len(keyMarker) + secret.Overhead; len(key) != want {
		t.Errorf("key_enc is %d bytes, want %d", len(key), want)
	}
	// The public TLS material is stored as it is.
	var cert, ca []byte
	if err := s.DB().QueryRow(`SELECT cert FROM repos WHERE cluster_id = 'c1'`).Scan(&cert); err != nil || string(cert) != certMarker {
		t.Errorf("cert column = %q, %v; want the certificate as given", cert, err)
	}
	if err := s.DB().QueryRow(`SELECT ca_cert FROM project_repos WHERE project = 'c1'`).Scan(&ca); err != nil || string(ca) != projectCertMarker {
		t.Errorf("ca_cert column = %q, %v; want the CA bundle as given", ca, err)
	}
	if want := len("apiVersion: v1\ntoken: "+kubeconfigMarker+"\n") + secret.Overhead; len(kc) != want {
		t.Errorf("kubeconfig_enc is %d bytes, want %d", len(kc), want)
	}
	// A repo without secrets stores NULL, not a sealed empty string.
	for _, r := range []store.Repo{{ClusterID: "c1", Name: "anon", URL: "https://a"}, {Name: "anon", KeyPEM: []byte{}}} {
		if _, err := s.CreateRepo(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"repos", "project_repos"} {
		var n int
		err := s.DB().QueryRow(`SELECT COUNT(*) FROM ` + table + ` WHERE name = 'anon' AND password_enc IS NULL
			AND key_enc IS NULL AND ca_cert IS NULL AND cert IS NULL AND keyring IS NULL`).Scan(&n)
		if err != nil || n != 1 {
			t.Errorf("%s: %d rows of a repo without secrets have NULL secret and TLS columns (err %v), want 1", table, n, err)
		}
	}

	// Nothing on disk (database, WAL, shared memory) holds the plaintexts, while the non-secret server URL is
	// there, which shows the scan would find them.
	scan := func(when string) {
		var all []byte
		files, _ := filepath.Glob(path + "*")
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		if containsSecret(all) {
			t.Errorf("%s: a plaintext secret is in the files %v", when, files)
		}
		for _, m := range []string{serverMarker, certMarker, projectCertMarker} {
			if !bytes.Contains(all, []byte(m)) {
				t.Errorf("%s: the public value %q is not in the files %v; the scan is broken", when, m, files)
			}
		}
	}
	scan("while open")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scan("after close")
}

func TestCiphertextBoundToRow(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), DBFileName), testBox(t, 1))
	defer s.Close()
	seed(t, s, "a")
	seed(t, s, "b")
	if _, err := s.DB().Exec(`UPDATE clusters SET kubeconfig_enc = (SELECT kubeconfig_enc FROM clusters WHERE id = 'a') WHERE id = 'b'`); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetCluster(t.Context(), "b")
	if !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("GetCluster after swapping in another row's kubeconfig: error = %v, want ErrDecrypt naming b", err)
	}
	if _, err := s.GetCluster(t.Context(), "a"); err != nil {
		t.Errorf("cluster a: %v", err)
	}
	if _, err := s.DB().Exec(`UPDATE repos SET password_enc = (SELECT password_enc FROM repos WHERE cluster_id = 'a') WHERE cluster_id = 'b'`); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetRepo(t.Context(), "b", "repo")
	if !errors.Is(err, secret.ErrDecrypt) {
		t.Errorf("GetRepo after swapping in another row's password: error = %v, want ErrDecrypt", err)
	}
}

// TestRepoCiphertextBoundToRow: a sealed repository secret moved to another row, to the other secret column of
// its row, or between a cluster repository and a project repository of the same names, does not open.
func TestRepoCiphertextBoundToRow(t *testing.T) {
	getRepo := func(s *Store, id string) error { _, err := s.GetRepo(t.Context(), id, "repo"); return err }
	listRepos := func(s *Store, id string) error { _, err := s.ListRepos(t.Context(), id); return err }
	getProject := func(s *Store, p string) error { _, err := s.GetProjectRepo(t.Context(), p, "repo"); return err }
	listProject := func(s *Store, p string) error { _, err := s.ListProjectRepos(t.Context(), p); return err }
	tests := []struct {
		name   string
		update string
		reads  []func(s *Store, owner string) error
		owner  string
	}{
		{"key of another cluster's repo",
			`UPDATE repos SET key_enc = (SELECT key_enc FROM repos WHERE cluster_id = 'a') WHERE cluster_id = 'b'`,
			[]func(*Store, string) error{getRepo, listRepos}, "b"},
		{"password into the key column",
			`UPDATE repos SET key_enc = password_enc WHERE cluster_id = 'b'`,
			[]func(*Store, string) error{getRepo, listRepos}, "b"},
		{"key into the password column",
			`UPDATE repos SET password_enc = key_enc WHERE cluster_id = 'b'`,
			[]func(*Store, string) error{getRepo, listRepos}, "b"},
		{"password of another project's repo",
			`UPDATE project_repos SET password_enc = (SELECT password_enc FROM project_repos WHERE project = 'a') WHERE project = 'b'`,
			[]func(*Store, string) error{getProject, listProject}, "b"},
		{"key of another project's repo",
			`UPDATE project_repos SET key_enc = (SELECT key_enc FROM project_repos WHERE project = 'a') WHERE project = 'b'`,
			[]func(*Store, string) error{getProject, listProject}, "b"},
		{"project repo key into the password column",
			`UPDATE project_repos SET password_enc = key_enc WHERE project = 'b'`,
			[]func(*Store, string) error{getProject, listProject}, "b"},
		{"cluster repo password into the project repo of the same names",
			`UPDATE project_repos SET password_enc = (SELECT password_enc FROM repos WHERE cluster_id = 'a') WHERE project = 'a'`,
			[]func(*Store, string) error{getProject, listProject}, "a"},
		{"project repo key into the cluster repo of the same names",
			`UPDATE repos SET key_enc = (SELECT key_enc FROM project_repos WHERE project = 'a') WHERE cluster_id = 'a'`,
			[]func(*Store, string) error{getRepo, listRepos}, "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openAt(t, filepath.Join(t.TempDir(), DBFileName), testBox(t, 1))
			defer s.Close()
			seed(t, s, "a")
			seed(t, s, "b")
			if res, err := s.DB().Exec(tc.update); err != nil {
				t.Fatal(err)
			} else if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("the update changed %d rows, want 1", n)
			}
			for i, read := range tc.reads {
				err := read(s, tc.owner)
				if !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), strconv.Quote(tc.owner)) {
					t.Errorf("read %d: error = %v, want ErrDecrypt naming %q", i, err, tc.owner)
				}
			}
			// The other rows still open.
			other := map[string]string{"a": "b", "b": "a"}[tc.owner]
			for _, read := range []func(*Store, string) error{getRepo, getProject} {
				if err := read(s, other); err != nil {
					t.Errorf("an untouched row of %q: %v", other, err)
				}
			}
		})
	}
}

func TestWrongKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), DBFileName)
	s := openAt(t, path, testBox(t, 1))
	seed(t, s, "prod-cluster")
	s.Close()

	s = openAt(t, path, testBox(t, 2))
	defer s.Close()
	ctx := t.Context()
	checks := map[string]error{}
	_, checks["GetCluster"] = s.GetCluster(ctx, "prod-cluster")
	_, checks["ListClusters"] = s.ListClusters(ctx)
	_, checks["GetRepo"] = s.GetRepo(ctx, "prod-cluster", "repo")
	_, checks["ListRepos"] = s.ListRepos(ctx, "prod-cluster")
	_, checks["GetProjectRepo"] = s.GetProjectRepo(ctx, "prod-cluster", "repo")
	_, checks["ListProjectRepos"] = s.ListProjectRepos(ctx, "prod-cluster")
	for name, err := range checks {
		if !errors.Is(err, secret.ErrDecrypt) {
			t.Errorf("%s with the wrong key: error = %v, want ErrDecrypt", name, err)
			continue
		}
		msg := err.Error()
		for _, want := range []string{`"prod-cluster"`, "cannot decrypt", secret.EnvKey, secret.KeyFileName} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error %q does not mention %q", name, msg, want)
			}
		}
		if strings.Contains(name, "Repo") && !strings.Contains(msg, `"repo"`) {
			t.Errorf("%s: error %q does not name the repo", name, msg)
		}
		if strings.Contains(name, "Project") && !strings.Contains(msg, `project "prod-cluster"`) {
			t.Errorf("%s: error %q does not name the project", name, msg)
		}
		if containsSecret([]byte(msg)) {
			t.Errorf("%s: error %q leaks a secret", name, msg)
		}
	}
	// Operations that need no secret still work, so a user can clean up.
	if err := s.DeleteRepo(ctx, "prod-cluster", "repo"); err != nil {
		t.Errorf("DeleteRepo with the wrong key: %v", err)
	}
	if err := s.DeleteProjectRepo(ctx, "prod-cluster", "repo"); err != nil {
		t.Errorf("DeleteProjectRepo with the wrong key: %v", err)
	}
	if err := s.DeleteCluster(ctx, "prod-cluster"); err != nil {
		t.Errorf("DeleteCluster with the wrong key: %v", err)
	}
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), DBFileName)
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	s := openAt(t, path, testBox(t, 1))
	seed(t, s, "c")
	s.Close()
	for range 3 {
		s = openAt(t, path, testBox(t, 1))
		var n, maxV int
		if err := s.DB().QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &maxV); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) || maxV != len(ms) {
			t.Errorf("schema_migrations has %d rows up to version %d, want %d", n, maxV, len(ms))
		}
		c, err := s.GetCluster(t.Context(), "c")
		if err != nil || !strings.Contains(string(c.Kubeconfig), kubeconfigMarker) {
			t.Errorf("data lost on reopen: %v", err)
		}
		s.Close()
	}
}

// legacyDB creates the database at path as a program that knew only the first v migrations left it, holding
// storetest.SeedLegacy's rows sealed with box.
func legacyDB(t *testing.T, path string, v int, box *secret.Box) {
	t.Helper()
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareFile(path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := migrate.Apply(t.Context(), db, ms[:v], migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	storetest.SeedLegacy(t, db, box)
}

// openLegacy opens a new database that a program knowing only the first v migrations filled with
// storetest.SeedLegacy's rows.
func openLegacy(t *testing.T, v int) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), DBFileName)
	legacyDB(t, path, v, testBox(t, 1))
	return openAt(t, path, testBox(t, 1))
}

// TestMigrationFromVersion2: repositories stored before 0003 keep every field, read with the new columns at
// their defaults, and take the new fields on update.
func TestMigrationFromVersion2(t *testing.T) {
	s := openLegacy(t, 2)
	defer s.Close()
	storetest.CheckFromVersion2(t, s)
	checkSchemaVersion(t, s.DB())
	checkIntegrity(t, s.DB())
}

// checkSchemaVersion asserts that every embedded migration has been applied.
func checkSchemaVersion(t *testing.T, db *sql.DB) {
	t.Helper()
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != len(ms) {
		t.Errorf("schema version after the migration = %d, %v; want %d", v, err, len(ms))
	}
}

// TestMigrationFromVersion3: clusters stored before 0004 keep every field, read with the Tiller fields at their
// defaults (no Tiller namespace is made up for a helm2 cluster), and take the Tiller fields on update.
func TestMigrationFromVersion3(t *testing.T) {
	s := openLegacy(t, 3)
	defer s.Close()
	storetest.CheckFromVersion3(t, s)
	// The flag column takes only 0 and 1.
	if _, err := s.DB().Exec(`UPDATE clusters SET installed_sw = 2 WHERE id = 'c'`); err == nil {
		t.Error("installed_sw accepted 2")
	}
	checkSchemaVersion(t, s.DB())
	checkIntegrity(t, s.DB())
}

// TestMigrationFromV4Fixture opens a database that the schema-version-4 store wrote (testdata/README.md): it
// migrates, reads back everything as that store did, and takes writes.
func TestMigrationFromV4Fixture(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "v4-sqlite.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), DBFileName)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != 4 {
		t.Fatalf("the fixture is at schema version %d, %v; want 4", v, err)
	}
	db.Close()
	s := openAt(t, path, storetest.FixtureBox(t))
	defer s.Close()
	storetest.CheckV4Fixture(t, s, filepath.Join("..", "testdata", "v4-sqlite.json"))
	checkSchemaVersion(t, s.DB())
	checkIntegrity(t, s.DB())
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), DBFileName)
	s := openAt(t, path, testBox(t, 1))
	seed(t, s, "c")
	if _, err := s.DB().Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()

	_, err := Open(t.Context(), path, testBox(t, 1))
	if !errors.Is(err, migrate.ErrNewerSchema) {
		t.Fatalf("Open of a newer schema: error = %v, want ErrNewerSchema", err)
	}
	for _, want := range []string{"999", path, "upgrade"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// The refusal changed nothing.
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM clusters`).Scan(&n); err != nil || n != 1 {
		t.Errorf("clusters after refusal: %d, %v", n, err)
	}
}

func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("unix permissions")
	}
	dir := filepath.Join(t.TempDir(), "new", "kdu")
	path := filepath.Join(dir, DBFileName)
	s := openAt(t, path, testBox(t, 1))
	seed(t, s, "c")
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("stat %s: %v", p, err)
			continue
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %04o, want %04o", p, got, want)
		}
	}
	s.Close()

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, testBox(t, 1))
	defer s.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("Open left an existing 0644 database at mode %04o, want 0600", fi.Mode().Perm())
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(t.Context(), filepath.Join(dir, DBFileName), nil); err == nil || !strings.Contains(err.Error(), "box") {
		t.Errorf("Open with a nil box: error = %v", err)
	}
	if _, err := Open(t.Context(), "", testBox(t, 1)); err == nil || !strings.Contains(err.Error(), "path") {
		t.Errorf("Open with an empty path: error = %v", err)
	}
	sub := filepath.Join(dir, "adir")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), sub, testBox(t, 1)); err == nil {
		t.Error("Open of a directory succeeded")
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("this is not a database "), 200), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), junk, testBox(t, 1))
	if err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("Open of a non-database file: error = %v, want one naming the file", err)
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "we ird?dir#x%20y")
	path := filepath.Join(dir, "k?d#u%.db")
	s := openAt(t, path, testBox(t, 1))
	seed(t, s, "c")
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the exact path: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "k?d#u%.db") {
			t.Errorf("unexpected file %q next to the database (mangled URI?)", e.Name())
		}
	}
	s = openAt(t, path, testBox(t, 1))
	defer s.Close()
	if _, err := s.GetCluster(t.Context(), "c"); err != nil {
		t.Errorf("reopen: %v", err)
	}
}

// TestOpenSharesPool: in one process, the Stores opened on one file share one connection pool and write slot,
// whatever path leads to the file; a Store opened as another process would be has its own.
func TestOpenSharesPool(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DBFileName)
	storetest.CheckSharedPool(t, func(box *secret.Box) (store.Store, error) { return Open(t.Context(), path, box) },
		func(s store.Store) *sql.DB { return s.(*Store).DB() })

	a := openAt(t, path, testBox(t, 1))
	defer a.Close()
	paths := []string{filepath.Join(dir, ".", "x", "..", DBFileName)}
	if runtime.GOOS != "windows" {
		link := filepath.Join(dir, "link.db")
		if err := os.Symlink(path, link); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, link)
	}
	t.Chdir(dir)
	paths = append(paths, DBFileName)
	for _, p := range paths {
		s := openAt(t, p, testBox(t, 1))
		if s.DB() != a.DB() {
			t.Errorf("Open(%s) has a pool of its own, want %s's", p, path)
		}
		if !filepath.IsAbs(s.Path()) {
			t.Errorf("Open(%s).Path() = %s, want an absolute path", p, s.Path())
		}
		s.Close()
	}
	private := openPrivate(t, path, testBox(t, 1))
	defer private.Close()
	if private.DB() == a.DB() {
		t.Error("a Store opened as another process shares the pool")
	}
	other := openAt(t, filepath.Join(dir, "other.db"), testBox(t, 1))
	defer other.Close()
	if other.DB() == a.DB() {
		t.Error("two files share a pool")
	}
}

// TestTwoStoresOneFile writes through two Stores with pools of their own, as two processes would.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), DBFileName)
	a := openPrivate(t, path, testBox(t, 1))
	defer a.Close()
	b := openPrivate(t, path, testBox(t, 1))
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for i, s := range []*Store{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 40 {
				id := fmt.Sprintf("s%d-%03d", i, j)
				if _, err := s.CreateCluster(t.Context(), store.Cluster{ID: id, Kubeconfig: []byte(id)}); err != nil {
					errs <- err
				}
				if _, err := s.CreateRepo(t.Context(), store.Repo{ClusterID: id, Name: "r", Password: []byte(id)}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	for _, s := range []*Store{a, b} {
		list, err := s.ListClusters(t.Context())
		if err != nil || len(list) != 160 {
			t.Errorf("ListClusters = %d clusters, %v; want 160", len(list), err)
		}
	}
	checkIntegrity(t, a.DB())
}

func checkIntegrity(t *testing.T, db *sql.DB) {
	t.Helper()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Errorf("integrity_check = %q, %v", res, err)
	}
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("foreign_key_check reports violations")
	}
}

const helperEnv = "KDU_SQLITE_TEST_HELPER"

// TestHelperProcessWriter is not a test: TestTwoProcessesOneFile runs the test binary with it as a second
// process that writes to a shared database.
func TestHelperProcessWriter(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process only")
	}
	key, err := secret.LoadKey("", os.Getenv(secret.EnvKey))
	if err != nil {
		t.Fatal(err)
	}
	box, err := secret.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), os.Getenv("KDU_SQLITE_TEST_PATH"), box)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prefix := os.Getenv(helperEnv)
	n, _ := strconv.Atoi(os.Getenv("KDU_SQLITE_TEST_N"))
	for i := range n {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		if _, err := s.CreateCluster(context.Background(), store.Cluster{ID: id, Kubeconfig: []byte(id)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRepo(context.Background(), store.Repo{ClusterID: id, Name: "r", Password: []byte(id)}); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if _, err := s.ListClusters(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestTwoProcessesOneFile(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, DBFileName)
	key := bytes.Repeat([]byte{3}, secret.KeySize)
	const perProc = 60
	var wg sync.WaitGroup
	outs := make([][]byte, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessWriter$", "-test.count=1")
			cmd.Env = append(os.Environ(),
				fmt.Sprintf("%s=p%d", helperEnv, i),
				"KDU_SQLITE_TEST_PATH="+path,
				"KDU_SQLITE_TEST_N="+strconv.Itoa(perProc),
				secret.EnvKey+"="+base64.StdEncoding.EncodeToString(key))
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil {
			t.Errorf("process %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	box, _ := secret.NewBox(key)
	s := openAt(t, path, box)
	defer s.Close()
	list, err := s.ListClusters(t.Context())
	if err != nil || len(list) != 3*perProc {
		t.Fatalf("ListClusters = %d clusters, %v; want %d", len(list), err, 3*perProc)
	}
	for _, c := range list {
		r, err := s.GetRepo(t.Context(), c.ID, "r")
		if err != nil || string(r.Password) != c.ID || string(c.Kubeconfig) != c.ID {
			t.Errorf("cluster %q: repo %v, password %q, kubeconfig %q", c.ID, err, r.Password, c.Kubeconfig)
		}
	}
	checkIntegrity(t, s.DB())
}

func TestDefaultDataDir(t *testing.T) {
	home := t.TempDir()
	cwd, _ := os.Getwd()
	tests := []struct {
		name       string
		kdu, xdg   string
		want       string
		unsetHome  bool
		wantErrStr string
	}{
		{"KDU_DATA_DIR wins", "/srv/kdu", "/xdg", "/srv/kdu", false, ""},
		{"relative KDU_DATA_DIR made absolute", "rel/dir", "/xdg", filepath.Join(cwd, "rel/dir"), false, ""},
		{"XDG_DATA_HOME", "", "/xdg", "/xdg/kdu", false, ""},
		{"relative XDG_DATA_HOME ignored", "", "xdg", filepath.Join(home, ".local/share/kdu"), false, ""},
		{"HOME fallback", "", "", filepath.Join(home, ".local/share/kdu"), false, ""},
		{"nothing set", "", "", "", true, EnvDataDir},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvDataDir, tc.kdu)
			t.Setenv("XDG_DATA_HOME", tc.xdg)
			t.Setenv("HOME", home)
			if tc.unsetHome {
				t.Setenv("HOME", "")
				if runtime.GOOS != "linux" {
					t.Skip("UserHomeDir has other sources here")
				}
			}
			got, err := DefaultDataDir()
			if tc.wantErrStr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrStr) {
					t.Fatalf("error = %v, want one mentioning %s", err, tc.wantErrStr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DefaultDataDir() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDSNEscapesPath(t *testing.T) {
	got := dsn("/tmp/a b?c#d%e.db")
	if !strings.HasPrefix(got, "file:///tmp/a%20b%3Fc%23d%25e.db?") {
		t.Errorf("dsn = %q", got)
	}
	for _, want := range []string{"_txlock=immediate", "journal_mode%28WAL%29", "foreign_keys%281%29", "busy_timeout%285000%29"} {
		if !strings.Contains(got, want) {
			t.Errorf("dsn %q lacks %q", got, want)
		}
	}
}
