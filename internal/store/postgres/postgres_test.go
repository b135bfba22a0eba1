package postgres

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
	"github.com/kdu-io/kdu/internal/store/migrate"
	"github.com/kdu-io/kdu/internal/store/sqlstore"
	"github.com/kdu-io/kdu/internal/store/storetest"
	"github.com/kdu-io/kdu/internal/testkit/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var testBox = storetest.Box

func openAt(t *testing.T, url string, box *secret.Box) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, box)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// openPrivate opens a Store with a connection pool of its own, as another replica would.
func openPrivate(t *testing.T, url string, box *secret.Box) *Store {
	t.Helper()
	s, err := open(t.Context(), url, box, false)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openAt(t, pgtest.Database(t), testBox(t, 1))
	})
}

// TestOpenSharesPool: in one process, the Stores opened with one connection string share one connection pool;
// a Store opened as another replica would be has its own.
func TestOpenSharesPool(t *testing.T) {
	url := pgtest.Database(t)
	storetest.CheckSharedPool(t, func(box *secret.Box) (store.Store, error) { return Open(t.Context(), url, box) },
		func(s store.Store) *sql.DB { return s.(*Store).DB() })
	a := openAt(t, url, testBox(t, 1))
	defer a.Close()
	private := openPrivate(t, url, testBox(t, 1))
	defer private.Close()
	if private.DB() == a.DB() {
		t.Error("a Store opened as another replica shares the pool")
	}
	// A refused Open leaves the shared pool alone.
	if _, err := a.DB().Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), url, testBox(t, 1)); !errors.Is(err, migrate.ErrNewerSchema) {
		t.Errorf("Open of a newer schema: %v, want ErrNewerSchema", err)
	}
	if err := a.Ping(t.Context()); err != nil {
		t.Errorf("Ping after a refused Open of the same database: %v", err)
	}
}

// TestTwoReplicasClaim claims from two Stores, each with its own connection pool, as two replicas would: only
// the database keeps their claims apart.
func TestTwoReplicasClaim(t *testing.T) {
	url := pgtest.Database(t)
	a := openPrivate(t, url, testBox(t, 1))
	defer a.Close()
	b := openPrivate(t, url, testBox(t, 1))
	defer b.Close()
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			if _, err := a.DB().Exec(`DELETE FROM operations`); err != nil {
				t.Fatal(err)
			}
			storetest.RunClaimRace(t, []store.Store{a, b}, 8, 40, 5)
		})
	}
}

// TestTakeoverAcrossReplicas: a replica that stops renewing loses its operation to another replica, and the
// lease is measured on the database's clock.
func TestTakeoverAcrossReplicas(t *testing.T) {
	url := pgtest.Database(t)
	a := openPrivate(t, url, testBox(t, 1))
	defer a.Close()
	b := openPrivate(t, url, testBox(t, 1))
	defer b.Close()
	if _, _, err := a.CreateOperation(t.Context(), store.Operation{ID: "op", Kind: "k", Cluster: "c", Release: "r"}); err != nil {
		t.Fatal(err)
	}
	op, ok, err := a.ClaimOperation(t.Context(), "a", 200*time.Millisecond, 0)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	var dbNow int64
	if err := a.DB().QueryRow(`SELECT ` + nowUS).Scan(&dbNow); err != nil {
		t.Fatal(err)
	}
	if d := op.LeaseUntil.Sub(sqlstore.FromMicro(dbNow)); d > 200*time.Millisecond || d < -time.Second {
		t.Errorf("lease ends %s after the database's now, want at most 200ms", d)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, ok, err := b.ClaimOperation(t.Context(), "b", time.Minute, 0)
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
	err := s.DB().QueryRow(`SELECT
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
	err = s.DB().QueryRow(`SELECT
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
		if res, err := s.DB().Exec(q); err != nil {
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
	if _, err := s.DB().Exec(`UPDATE operations SET request_enc = (SELECT request_enc FROM operations WHERE id = 'op') WHERE id = 'op2'`); err != nil {
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
	err := storetest.SecondRunning(t, s, func(q string) error { _, err := s.DB().Exec(q); return err })
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
		wg.Go(func() { stores[i], errs[i] = open(t.Context(), url, testBox(t, 1), false) })
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
	if err := s.DB().QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &maxV); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || maxV != len(ms) {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d", n, maxV, len(ms))
	}
	if _, err := s.CreateCluster(t.Context(), store.Cluster{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
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

// openLegacy opens a new database that a program knowing only the first v migrations filled with
// storetest.SeedLegacy's rows.
func openLegacy(t *testing.T, v int) *Store {
	t.Helper()
	url := pgtest.Database(t)
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
	if _, err := migrate.Apply(t.Context(), db, ms[:v], migrate.Options{}); err != nil {
		t.Fatal(err)
	}
	storetest.SeedLegacy(t, db, testBox(t, 1))
	return openAt(t, url, testBox(t, 1))
}

// checkSchemaVersion asserts that every embedded migration has been applied.
func checkSchemaVersion(t *testing.T, s *Store) {
	t.Helper()
	ms, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := s.DB().QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v != len(ms) {
		t.Errorf("schema version after the migration = %d, %v; want %d", v, err, len(ms))
	}
}

// TestMigrationFromVersion2: repositories stored before 0003 keep every field, read with the new columns at
// their defaults, and take the new fields on update.
func TestMigrationFromVersion2(t *testing.T) {
	s := openLegacy(t, 2)
	defer s.Close()
	storetest.CheckFromVersion2(t, s)
	checkSchemaVersion(t, s)
}

// TestMigrationFromVersion3: clusters stored before 0004 keep every field, read with the Tiller fields at their
// defaults (no Tiller namespace is made up for a helm2 cluster), and take the Tiller fields on update.
func TestMigrationFromVersion3(t *testing.T) {
	s := openLegacy(t, 3)
	defer s.Close()
	storetest.CheckFromVersion3(t, s)
	checkSchemaVersion(t, s)
}

// TestMigrationFromV4Fixture loads a dump of a database that the schema-version-4 store wrote
// (testdata/README.md): the store migrates it, reads back everything as that store did, and takes writes.
func TestMigrationFromV4Fixture(t *testing.T) {
	url := pgtest.Database(t)
	b, err := os.ReadFile(filepath.Join("..", "testdata", "v4-postgres.sql"))
	if err != nil {
		t.Fatal(err)
	}
	var dump []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, `\`) { // psql meta-commands (\restrict, \unrestrict)
			dump = append(dump, line)
		}
	}
	// One connection of its own: the dump empties its search_path.
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(t.Context(), strings.Join(dump, "\n")); err != nil {
		t.Fatalf("load the dump: %v", err)
	}
	var v int
	if err := conn.QueryRow(t.Context(), `SELECT MAX(version) FROM public.schema_migrations`).Scan(&v); err != nil || v != 4 {
		t.Fatalf("the fixture is at schema version %d, %v; want 4", v, err)
	}
	conn.Close(t.Context())

	s := openAt(t, url, storetest.FixtureBox(t))
	defer s.Close()
	storetest.CheckV4Fixture(t, s, filepath.Join("..", "testdata", "v4-postgres.json"))
	checkSchemaVersion(t, s)
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
	const want = "0001_init.sql 0002_operations.sql 0003_project_repos.sql 0004_tiller.sql 0005_revisions.sql 0006_target_results.sql"
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
	if _, err := s.DB().Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
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
