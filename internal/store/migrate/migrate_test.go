package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	_ "modernc.org/sqlite"
)

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestParseName(t *testing.T) {
	tests := []struct {
		name string
		want int
		err  string
	}{
		{"0001_init.sql", 1, ""},
		{"12_add_ops.sql", 12, ""},
		{"0003_a_b_c.sql", 3, ""},
		{"1000000_max.sql", 1000000, ""},
		{"0000_zero.sql", 0, "out of range"},
		{"1000001_big.sql", 0, "out of range"},
		{"99999999999999999999_huge.sql", 0, "out of range"},
		{"init.sql", 0, "NNNN_description"},
		{"0001.sql", 0, "NNNN_description"},
		{"0001_.sql", 0, "NNNN_description"},
		{"_x.sql", 0, "NNNN_description"},
		{"00a1_x.sql", 0, "not a decimal"},
		{"-1_x.sql", 0, "not a decimal"},
		{"+1_x.sql", 0, "not a decimal"},
		{"0001_init.txt", 0, "does not end in .sql"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseName(tc.name)
			if tc.err != "" {
				if !errors.Is(err, ErrBadMigration) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseName(%q) error = %v, want ErrBadMigration mentioning %q", tc.name, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseName(%q) = %d, %v; want %d", tc.name, got, err, tc.want)
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"0001_init.sql", "12_add_ops.sql", "0000_zero.sql", "init.sql", "0001_.sql",
		"00a1_x.sql", "-1_x.sql", "0001_init.txt", "99999999999999999999_huge.sql"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseName(s)
		if err != nil {
			if !errors.Is(err, ErrBadMigration) {
				t.Fatalf("error %v does not wrap ErrBadMigration", err)
			}
			return
		}
		if v < 1 || v > 1_000_000 || !strings.HasSuffix(s, ".sql") || !strings.Contains(s, "_") {
			t.Fatalf("ParseName(%q) accepted version %d", s, v)
		}
	})
}

func TestLoad(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name  string
		fs    fstest.MapFS
		want  []string
		error string
	}{
		{"ordered", fstest.MapFS{
			"m/0002_b.sql": file("CREATE TABLE b (x INTEGER);"),
			"m/0001_a.sql": file("CREATE TABLE a (x INTEGER);"),
			"m/README.md":  file("ignored"),
		}, []string{"0001_a.sql", "0002_b.sql"}, ""},
		{"gap", fstest.MapFS{"m/0001_a.sql": file("x"), "m/0003_c.sql": file("x")}, nil, "want 2"},
		{"not from 1", fstest.MapFS{"m/0002_a.sql": file("x")}, nil, "want 1"},
		{"duplicate", fstest.MapFS{"m/0001_a.sql": file("x"), "m/1_b.sql": file("x")}, nil, "same version 1"},
		{"empty file", fstest.MapFS{"m/0001_a.sql": file(" \n")}, nil, "is empty"},
		{"bad name", fstest.MapFS{"m/first.sql": file("x")}, nil, "NNNN_description"},
		{"no files", fstest.MapFS{"m/README": file("x")}, nil, "no NNNN_name.sql"},
		{"no dir", fstest.MapFS{}, nil, "read directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := Load(tc.fs, "m")
			if tc.error != "" {
				if !errors.Is(err, ErrBadMigration) || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("Load error = %v, want ErrBadMigration mentioning %q", err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, m := range ms {
				got = append(got, m.Name)
				if m.Version != i+1 || m.SQL == "" {
					t.Errorf("migration %d = %+v", i, m)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("Load = %v, want %v", got, tc.want)
			}
		})
	}
}

var testMigrations = []Migration{
	{1, "0001_a.sql", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"},
	{2, "0002_b.sql", "CREATE TABLE b (y TEXT); ALTER TABLE a ADD COLUMN z TEXT;"},
}

func versions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestApply(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	n, err := Apply(ctx, db, testMigrations[:1], Options{Now: func() time.Time { return fixed }})
	if err != nil || n != 1 {
		t.Fatalf("first Apply = %d, %v; want 1", n, err)
	}
	var at int64
	if err := db.QueryRow(`SELECT applied_at FROM schema_migrations WHERE version = 1`).Scan(&at); err != nil || at != fixed.UnixMicro() {
		t.Errorf("applied_at = %d, %v; want %d", at, err, fixed.UnixMicro())
	}
	// A later program adds migration 2: only it runs.
	n, err = Apply(ctx, db, testMigrations, Options{})
	if err != nil || n != 1 {
		t.Fatalf("second Apply = %d, %v; want 1", n, err)
	}
	if _, err := db.Exec(`INSERT INTO b VALUES ('ok')`); err != nil {
		t.Errorf("migration 2 did not run: %v", err)
	}
	var cnt int
	if err := db.QueryRow(`SELECT COUNT(*) FROM a`).Scan(&cnt); err != nil || cnt != 1 {
		t.Errorf("migration 1 re-ran or vanished: %d rows, %v", cnt, err)
	}
	// Idempotent.
	n, err = Apply(ctx, db, testMigrations, Options{})
	if err != nil || n != 0 {
		t.Fatalf("third Apply = %d, %v; want 0", n, err)
	}
	if vs := versions(t, db); fmt.Sprint(vs) != "[1 2]" {
		t.Errorf("versions = %v", vs)
	}
	// An older program refuses the newer database and changes nothing.
	_, err = Apply(ctx, db, testMigrations[:1], Options{})
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), "up to 1") {
		t.Fatalf("older Apply error = %v, want ErrNewerSchema naming versions 2 and 1", err)
	}
	if vs := versions(t, db); fmt.Sprint(vs) != "[1 2]" {
		t.Errorf("versions after refusal = %v", vs)
	}
}

func TestApplyFailureRollsBack(t *testing.T) {
	ctx := t.Context()
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	bad := []Migration{
		testMigrations[0],
		{2, "0002_bad.sql", "CREATE TABLE half (x INTEGER); THIS IS NOT SQL;"},
	}
	n, err := Apply(ctx, db, bad, Options{})
	if err == nil || !strings.Contains(err.Error(), "0002_bad.sql") {
		t.Fatalf("Apply error = %v, want one naming 0002_bad.sql", err)
	}
	if n != 1 {
		t.Errorf("Apply reported %d migrations run, want 1", n)
	}
	if vs := versions(t, db); fmt.Sprint(vs) != "[1]" {
		t.Errorf("versions = %v, want [1]", vs)
	}
	if _, err := db.Exec(`SELECT * FROM half`); err == nil {
		t.Error("the failed migration's first statement was not rolled back")
	}
}

func TestApplyRejectsBadInput(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	if _, err := Apply(t.Context(), db, nil, Options{}); !errors.Is(err, ErrBadMigration) {
		t.Errorf("Apply(nil) error = %v", err)
	}
	if _, err := Apply(t.Context(), db, []Migration{{Version: 2, Name: "x", SQL: "SELECT 1"}}, Options{}); !errors.Is(err, ErrBadMigration) {
		t.Errorf("Apply(gap) error = %v", err)
	}
}

func TestApplyLockHook(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "db"))
	calls := 0
	lockErr := errors.New("lock refused")
	_, err := Apply(t.Context(), db, testMigrations, Options{Lock: func(ctx context.Context, tx *sql.Tx) error {
		calls++
		if calls == 2 {
			return lockErr
		}
		return nil
	}})
	if !errors.Is(err, lockErr) || calls != 2 {
		t.Fatalf("Apply error = %v after %d lock calls, want lockErr after 2", err, calls)
	}
	if vs := versions(t, db); fmt.Sprint(vs) != "[1]" {
		t.Errorf("versions = %v, want [1]", vs)
	}
}

func TestApplyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	const n = 6
	var wg sync.WaitGroup
	counts := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := openDB(t, path)
			counts[i], errs[i] = Apply(context.Background(), db, testMigrations, Options{})
		}()
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Apply %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	if total != len(testMigrations) {
		t.Errorf("concurrent Apply ran %d migrations in total, want %d", total, len(testMigrations))
	}
	if vs := versions(t, openDB(t, path)); fmt.Sprint(vs) != "[1 2]" {
		t.Errorf("versions = %v", vs)
	}
}
