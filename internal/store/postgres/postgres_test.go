package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kdu-io/kdu/internal/pgtest"
	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
	"github.com/kdu-io/kdu/internal/store/migrate"
	"github.com/kdu-io/kdu/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func testBox(t testing.TB, b byte) *secret.Box {
	t.Helper()
	box, err := secret.NewBox(bytes.Repeat([]byte{b}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return box
}

func openAt(t *testing.T, url string, box *secret.Box) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, box)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openAt(t, pgtest.Database(t), testBox(t, 1))
	})
}

// TestTwoReplicasClaim claims from two Stores, each with its own connection pool, as two replicas would: only
// the database keeps their claims apart.
func TestTwoReplicasClaim(t *testing.T) {
	url := pgtest.Database(t)
	a := openAt(t, url, testBox(t, 1))
	defer a.Close()
	b := openAt(t, url, testBox(t, 1))
	defer b.Close()
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			if _, err := a.db.Exec(`DELETE FROM operations`); err != nil {
				t.Fatal(err)
			}
			const n = 40
			ops := storetest.CreateClaimWork(t, a, n, 5)
			race := storetest.NewClaimRace()
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			var wg sync.WaitGroup
			for i := range 8 {
				s := a
				if i%2 == 1 {
					s = b
				}
				wg.Go(func() { race.Worker(ctx, s, fmt.Sprintf("replica-%d-worker-%d", i%2, i), n) })
			}
			wg.Wait()
			if ctx.Err() != nil {
				t.Fatal("workers did not finish in time")
			}
			race.Check(t, b, ops)
		})
	}
}

// TestTakeoverAcrossReplicas: a replica that stops renewing loses its operation to another replica, and the
// lease is measured on the database's clock.
func TestTakeoverAcrossReplicas(t *testing.T) {
	url := pgtest.Database(t)
	a := openAt(t, url, testBox(t, 1))
	defer a.Close()
	b := openAt(t, url, testBox(t, 1))
	defer b.Close()
	if _, _, err := a.CreateOperation(t.Context(), store.Operation{ID: "op", Kind: "k", Cluster: "c", Release: "r"}); err != nil {
		t.Fatal(err)
	}
	op, ok, err := a.ClaimOperation(t.Context(), "a", 200*time.Millisecond)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	var dbNow int64
	if err := a.db.QueryRow(`SELECT ` + nowUS).Scan(&dbNow); err != nil {
		t.Fatal(err)
	}
	if d := op.LeaseUntil.Sub(fromMicro(dbNow)); d > 200*time.Millisecond || d < -time.Second {
		t.Errorf("lease ends %s after the database's now, want at most 200ms", d)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, ok, err := b.ClaimOperation(t.Context(), "b", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if got.ID != "op" || got.Owner != "b" || got.Attempts != 2 {
				t.Fatalf("takeover gave %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no takeover after 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := a.RenewLease(t.Context(), "op", "a", time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("RenewLease by the replica that lost the operation: %v, want ErrLeaseLost", err)
	}
}

const (
	requestMarker = "PLAINTEXT-REQUEST-VALUES-MARKER-91ab"
	kubeMarker    = "PLAINTEXT-KUBECONFIG-MARKER-4f1c9e"
	keyMarker     = "PLAINTEXT-TLS-KEY-MARKER-5e0a"
)

func TestSecretsAreCiphertextAtRest(t *testing.T) {
	url := pgtest.Database(t)
	s := openAt(t, url, testBox(t, 1))
	defer s.Close()
	ctx := t.Context()
	if _, err := s.CreateCluster(ctx, store.Cluster{ID: "c", Kubeconfig: []byte(kubeMarker)}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []store.Repo{
		{ClusterID: "c", Name: "r", Password: []byte(kubeMarker), KeyPEM: []byte(keyMarker)},
		{Project: "c", Name: "r", Password: []byte(kubeMarker), KeyPEM: []byte(keyMarker)},
		{Name: "r", Password: []byte(kubeMarker), KeyPEM: []byte(keyMarker)},
	} {
		if _, err := s.CreateRepo(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.CreateOperation(ctx, store.Operation{ID: "op", Kind: "k", Cluster: "c", Release: "r",
		Request: []byte(requestMarker), Targets: []byte(requestMarker)}); err != nil {
		t.Fatal(err)
	}
	var n, sealed int
	err := s.db.QueryRow(`SELECT
		(SELECT count(*) FROM clusters WHERE position($1::bytea in kubeconfig_enc) > 0) +
		(SELECT count(*) FROM repos WHERE position($1::bytea in password_enc) > 0
			OR position($3::bytea in key_enc) > 0) +
		(SELECT count(*) FROM project_repos WHERE position($1::bytea in password_enc) > 0
			OR position($3::bytea in key_enc) > 0) +
		(SELECT count(*) FROM operations WHERE position($2::bytea in request_enc) > 0
			OR position($2::bytea in targets_enc) > 0)`,
		[]byte(kubeMarker), []byte(requestMarker), []byte(keyMarker)).Scan(&n)
	if err != nil || n != 0 {
		t.Errorf("%d rows hold a plaintext secret (%v)", n, err)
	}
	// The query above would see them: the secret columns hold sealed values of the right size.
	err = s.db.QueryRow(`SELECT
		(SELECT count(*) FROM repos WHERE length(password_enc) = $1 AND length(key_enc) = $2) +
		(SELECT count(*) FROM project_repos WHERE length(password_enc) = $1 AND length(key_enc) = $2)`,
		len(kubeMarker)+secret.Overhead, len(keyMarker)+secret.Overhead).Scan(&sealed)
	if err != nil || sealed != 3 {
		t.Errorf("%d repos have sealed password and key columns (%v), want 3", sealed, err)
	}
	// A repository secret moved to the other column, or between a cluster's and a project's repository of the
	// same names, does not open.
	for _, q := range []string{
		`UPDATE repos SET key_enc = password_enc WHERE cluster_id = 'c'`,
		`UPDATE project_repos SET password_enc = (SELECT password_enc FROM repos WHERE cluster_id = 'c') WHERE project = 'c'`,
		`UPDATE project_repos SET key_enc = (SELECT key_enc FROM project_repos WHERE project = 'c') WHERE project = ''`,
	} {
		if res, err := s.db.Exec(q); err != nil {
			t.Fatal(err)
		} else if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("%s changed %d rows", q, n)
		}
	}
	if _, err := s.GetRepo(ctx, "c", "r"); !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), "key") {
		t.Errorf("GetRepo after moving the password into the key column: %v", err)
	}
	if _, err := s.GetProjectRepo(ctx, "c", "r"); !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), `project "c"`) {
		t.Errorf("GetProjectRepo after swapping in the cluster repo's password: %v", err)
	}
	if _, err := s.ListProjectRepos(ctx, ""); !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), `project ""`) {
		t.Errorf("ListProjectRepos after swapping in another project's key: %v", err)
	}
	// A ciphertext moved to another row does not open.
	if _, _, err := s.CreateOperation(ctx, store.Operation{ID: "op2", Kind: "k", Cluster: "c", Release: "r2",
		Request: []byte("other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`UPDATE operations SET request_enc = (SELECT request_enc FROM operations WHERE id = 'op') WHERE id = 'op2'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetOperation(ctx, "op2"); !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), `"op2"`) {
		t.Errorf("GetOperation after swapping in another row's request: %v", err)
	}

	// The wrong key: errors say so, and leak nothing.
	other := openAt(t, url, testBox(t, 2))
	defer other.Close()
	_, err = other.GetCluster(ctx, "c")
	if !errors.Is(err, secret.ErrDecrypt) || strings.Contains(err.Error(), kubeMarker) || !strings.Contains(err.Error(), secret.EnvKey) {
		t.Errorf("GetCluster with the wrong key: %v", err)
	}
	_, err = other.GetOperation(ctx, "op")
	if !errors.Is(err, secret.ErrDecrypt) || strings.Contains(err.Error(), requestMarker) {
		t.Errorf("GetOperation with the wrong key: %v", err)
	}
	if _, err := s.CreateRepo(ctx, store.Repo{Project: "p", Name: "r", KeyPEM: []byte(keyMarker)}); err != nil {
		t.Fatal(err)
	}
	_, err = other.GetProjectRepo(ctx, "p", "r")
	if !errors.Is(err, secret.ErrDecrypt) || strings.Contains(err.Error(), keyMarker) ||
		!strings.Contains(err.Error(), `repo "r" of project "p"`) || !strings.Contains(err.Error(), secret.EnvKey) {
		t.Errorf("GetProjectRepo with the wrong key: %v", err)
	}
	if err := other.DeleteProjectRepo(ctx, "p", "r"); err != nil {
		t.Errorf("DeleteProjectRepo with the wrong key: %v", err)
	}
}

func TestOneRunningPerReleaseIndex(t *testing.T) {
	s := openAt(t, pgtest.Database(t), testBox(t, 1))
	defer s.Close()
	for _, id := range []string{"a", "b"} {
		if _, _, err := s.CreateOperation(t.Context(), store.Operation{ID: id, Kind: "k", Cluster: "c", Release: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok, err := s.ClaimOperation(t.Context(), "o", time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	_, err := s.db.Exec(`UPDATE operations SET state = 'running' WHERE id = 'b'`)
	if pgCode(err) != codeUniqueViolation {
		t.Errorf("second running operation of a release: error = %v, want a unique violation", err)
	}
}

func TestMigrations(t *testing.T) {
	url := pgtest.Database(t)
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	// Replicas that start together migrate once.
	var wg sync.WaitGroup
	stores := make([]*Store, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url, testBox(t, 1)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	s := stores[0]
	var n, maxV int
	if err := s.db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &maxV); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || maxV != len(ms) {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d", n, maxV, len(ms))
	}
	if _, err := s.CreateCluster(t.Context(), store.Cluster{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), url, testBox(t, 1))
	if !errors.Is(err, migrate.ErrNewerSchema) || !strings.Contains(err.Error(), "999") {
		t.Errorf("Open of a newer schema: %v, want ErrNewerSchema", err)
	}
	if _, err := s.GetCluster(t.Context(), "c"); err != nil {
		t.Errorf("the refusal changed data: %v", err)
	}
}

// TestMigrationFromVersion2: repositories stored before 0003 keep every field, read with the new columns at
// their defaults, and take the new fields on update.
func TestMigrationFromVersion2(t *testing.T) {
	url := pgtest.Database(t)
	box := testBox(t, 1)
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if _, err := migrate.Apply(t.Context(), db, ms[:2], migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	kc, _ := box.Seal([]byte(kubeMarker), store.KubeconfigAAD("c"))
	pw, _ := box.Seal([]byte("pw"), store.RepoPasswordAAD("c", "r"))
	if _, err := db.Exec(`INSERT INTO clusters (id, kubeconfig_enc, project, created_at, updated_at)
		VALUES ('c', $1, 'proj', 1000, 2000)`, kc); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO repos (cluster_id, name, url, type, username, password_enc, created_at, updated_at)
		VALUES ('c', 'r', 'oci://reg.example/charts', 'oci', 'robot', $1, 3000, 4000)`, pw); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openAt(t, url, box)
	defer s.Close()
	want := store.Repo{ClusterID: "c", Name: "r", URL: "oci://reg.example/charts", Type: store.RepoTypeOCI,
		Username: "robot", Password: []byte("pw"), CreatedAt: fromMicro(3000), UpdatedAt: fromMicro(4000)}
	got, err := s.GetRepo(t.Context(), "c", "r")
	if err != nil {
		t.Fatalf("GetRepo after the migration: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetRepo after the migration = %+v, want %+v", got, want)
	}
	list, err := s.ListRepos(t.Context(), "c")
	if err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Errorf("ListRepos after the migration = %+v, %v; want [%+v]", list, err, want)
	}
	upd := want
	upd.ExtID, upd.KeyPEM, upd.Keyring, upd.InsecureSkipVerify = "ext", []byte(keyMarker), []byte("kr"), true
	if _, err := s.UpdateRepo(t.Context(), upd); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetRepo(t.Context(), "c", "r")
	if err != nil || got.ExtID != "ext" || string(got.KeyPEM) != keyMarker || string(got.Keyring) != "kr" ||
		!got.InsecureSkipVerify || string(got.Password) != "pw" || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("GetRepo after updating a migrated repo = %+v, %v", got, err)
	}
	if _, err := s.CreateRepo(t.Context(), store.Repo{Project: "proj", Name: "r"}); err != nil {
		t.Errorf("CreateRepo of a project repo after the migration: %v", err)
	}
	if err := s.DeleteCluster(t.Context(), "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetProjectRepo(t.Context(), "proj", "r"); err != nil {
		t.Errorf("DeleteCluster removed a project repo: %v", err)
	}
}

// TestMigrationFromVersion3: clusters stored before 0004 keep every field, read with the Tiller fields at their
// defaults (no Tiller namespace is made up for a helm2 cluster), and take the Tiller fields on update.
func TestMigrationFromVersion3(t *testing.T) {
	url := pgtest.Database(t)
	box := testBox(t, 1)
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if _, err := migrate.Apply(t.Context(), db, ms[:3], migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	kc, _ := box.Seal([]byte(kubeMarker), store.KubeconfigAAD("c"))
	kc2, _ := box.Seal([]byte("helm2 kubeconfig"), store.KubeconfigAAD("h2"))
	pw, _ := box.Seal([]byte("pw"), store.RepoPasswordAAD("c", "r"))
	if _, err := db.Exec(`INSERT INTO clusters (id, kubeconfig_enc, project, created_at, updated_at)
		VALUES ('c', $1, 'proj', 1000, 2000)`, kc); err != nil {
		t.Fatal(err)
	}
	// A helm2 cluster with every column version 3 has, so that a shifted column shows.
	if _, err := db.Exec(`INSERT INTO clusters (id, kubeconfig_enc, context, namespace, flavour, server, version,
		project, created_at, updated_at) VALUES ('h2', $1, 'ctx', 'ns', 'helm2', 'https://h2:6443', 'v1.20.0',
		'proj2', 5000, 6000)`, kc2); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO repos (cluster_id, name, url, type, username, password_enc, created_at, updated_at)
		VALUES ('c', 'r', 'oci://reg.example/charts', 'oci', 'robot', $1, 3000, 4000)`, pw); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openAt(t, url, box)
	defer s.Close()
	want := []store.Cluster{
		{ID: "c", Kubeconfig: []byte(kubeMarker), Flavour: store.FlavourHelm3, Project: "proj",
			CreatedAt: fromMicro(1000), UpdatedAt: fromMicro(2000)},
		{ID: "h2", Kubeconfig: []byte("helm2 kubeconfig"), Context: "ctx", Namespace: "ns",
			Flavour: store.FlavourHelm2, Server: "https://h2:6443", Version: "v1.20.0", Project: "proj2",
			CreatedAt: fromMicro(5000), UpdatedAt: fromMicro(6000)},
	}
	for _, w := range want {
		got, err := s.GetCluster(t.Context(), w.ID)
		if err != nil {
			t.Fatalf("GetCluster(%q) after the migration: %v", w.ID, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("GetCluster(%q) after the migration = %+v, want %+v", w.ID, got, w)
		}
	}
	list, err := s.ListClusters(t.Context())
	if err != nil || !reflect.DeepEqual(list, want) {
		t.Errorf("ListClusters after the migration = %+v, %v; want %+v", list, err, want)
	}
	if r, err := s.GetRepo(t.Context(), "c", "r"); err != nil || string(r.Password) != "pw" {
		t.Errorf("repo after the migration = %+v, %v", r, err)
	}
	upd := want[1]
	upd.TillerNamespace, upd.TillerAddress, upd.InstalledSW = "kube-system", "10.0.0.7:44134", true
	if _, err := s.UpdateCluster(t.Context(), upd); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCluster(t.Context(), "h2")
	if err != nil || got.TillerNamespace != "kube-system" || got.TillerAddress != "10.0.0.7:44134" ||
		!got.InstalledSW || got.Server != "https://h2:6443" || !got.CreatedAt.Equal(want[1].CreatedAt) {
		t.Errorf("GetCluster after updating a migrated cluster = %+v, %v", got, err)
	}
	if c, err := s.GetCluster(t.Context(), "c"); err != nil || !reflect.DeepEqual(c, want[0]) {
		t.Errorf("updating h2 changed c: %+v, %v", c, err)
	}
	var v int
	if err := s.db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != len(ms) {
		t.Errorf("schema version after the migration = %d, %v; want %d", v, err, len(ms))
	}
}

// TestSameVersionsAsSQLite keeps the two dialects' migrations numbered alike.
func TestSameVersionsAsSQLite(t *testing.T) {
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	const want = "0001_init.sql 0002_operations.sql 0003_project_repos.sql 0004_tiller.sql"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("migrations = %s, want %s; keep them in step with store/sqlite/migrations", got, want)
	}
	sqlite, err := migrate.Load(os.DirFS(filepath.Join("..", "sqlite")), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var sqliteNames []string
	for _, m := range sqlite {
		sqliteNames = append(sqliteNames, m.Name)
	}
	if got := strings.Join(sqliteNames, " "); got != want {
		t.Errorf("store/sqlite/migrations = %s, want %s", got, want)
	}
}

func TestPasswordsNeverInErrors(t *testing.T) {
	const pw = "hunter2-S3cret"
	tests := []string{
		"postgres://kdu:" + pw + "@127.0.0.1:1/kdu?sslmode=disable&connect_timeout=2", // nothing listens
		"postgres://kdu:" + pw + "@127.0.0.1:1/kdu?sslmode=bogus",                     // bad option
		"postgres://kdu:" + pw + "@127.0.0.1:99999/kdu",                               // bad port
		"postgres://kdu:" + pw + "@[::1/kdu",                                          // not a URL
		"host=127.0.0.1 port=1 user=kdu password=" + pw + " connect_timeout=2",
		"host=127.0.0.1 port=1 user=kdu password='" + pw + "' connect_timeout=2",
		"postgres://127.0.0.1:1/kdu?user=kdu&password=" + pw + "&connect_timeout=2",
		"postgres://kdu:" + strings.ReplaceAll(pw, "-", "%2D") + "@127.0.0.1:1/kdu?connect_timeout=2",
	}
	for _, conn := range tests {
		s, err := Open(t.Context(), conn, testBox(t, 1))
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded", RedactURL(conn))
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "S3cret") {
			t.Errorf("error leaks the password: %v", err)
		}
		if !strings.Contains(err.Error(), "open store") {
			t.Errorf("error does not say what failed: %v", err)
		}
		if r := RedactURL(conn); strings.Contains(r, "S3cret") {
			t.Errorf("RedactURL(...) = %s", r)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=pw&user=u", "postgres://h/db?password=xxxxx&user=u"},
		{"host=h password=pw user=u", "host=h password=xxxxx user=u"},
		{"host=h password='p w' user=u", "host=h password=xxxxx user=u"},
		{"postgres://u:p:w@[::1/db", "postgres://u:xxxxx@[::1/db"},
	}
	for _, tc := range tests {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.Context(), "postgres://x", nil); err == nil || !strings.Contains(err.Error(), "box") {
		t.Errorf("Open with a nil box: %v", err)
	}
	if _, err := Open(t.Context(), "", testBox(t, 1)); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Open with an empty URL: %v", err)
	}
	// Scanning results keeps working after the pool reconnects.
	s := openAt(t, pgtest.Database(t), testBox(t, 1))
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 3 { // a terminated pooled connection fails once, then is replaced
		if err = s.Ping(t.Context()); err == nil {
			break
		}
	}
	if err != nil {
		t.Errorf("Ping after the server dropped connections: %v", err)
	}
}
