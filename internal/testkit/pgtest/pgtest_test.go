package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestStartAndStop(t *testing.T) {
	if os.Getenv(EnvSkip) == "1" {
		t.Skipf("%s=1", EnvSkip)
	}
	if _, err := FindBin(); errors.Is(err, ErrNoPostgres) {
		t.Fatalf("%v; %s", err, Hint)
	}
	s, err := Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !strings.HasPrefix(s.URL, "postgres://postgres@127.0.0.1:") {
		t.Errorf("URL = %q, want a loopback one", s.URL)
	}
	c, err := pgx.Connect(t.Context(), s.URL)
	if err != nil {
		t.Fatal(err)
	}
	var fsync, listen string
	if err := c.QueryRow(t.Context(), `SELECT current_setting('fsync'), current_setting('listen_addresses')`).Scan(&fsync, &listen); err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	if fsync != "off" || listen != "127.0.0.1" {
		t.Errorf("fsync = %s, listen_addresses = %s", fsync, listen)
	}
	dir := s.dir
	s.Stop()
	s.Stop() // twice is fine
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server directory left behind: %v", err)
	}
	if _, err := pgx.Connect(t.Context(), s.URL); err == nil {
		t.Error("the server still answers after Stop")
	}
}

func TestNewDatabase(t *testing.T) {
	dbURL := Database(t)
	base, err := URL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	other, drop, err := NewDatabase(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	if other == dbURL {
		t.Fatal("two databases with one URL")
	}
	names := map[string]bool{}
	for _, u := range []string{dbURL, other} {
		c, err := pgx.Connect(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		var name string
		var tables int
		if err := c.QueryRow(t.Context(), `SELECT current_database(),
			(SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public')`).Scan(&name, &tables); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(t.Context(), `CREATE TABLE t (x int)`); err != nil {
			t.Fatal(err)
		}
		c.Close(context.Background())
		if tables != 0 || !strings.HasPrefix(name, "kdu_test_") {
			t.Errorf("database %q has %d tables, want a fresh kdu_test_ one", name, tables)
		}
		names[name] = true
	}
	drop()
	c, err := pgx.Connect(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	for name := range names {
		if err := c.QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(other, name) && n != 0 {
			t.Errorf("dropped database %s still exists", name)
		}
	}
}

func TestSharedServerOnce(t *testing.T) {
	if os.Getenv(EnvURL) != "" || os.Getenv(EnvSkip) == "1" {
		t.Skip("uses the shared throwaway server")
	}
	a, err := URL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := URL(t.Context())
	if a != b {
		t.Errorf("URL started two servers: %q and %q", a, b)
	}
}

func TestEnvURLWins(t *testing.T) {
	t.Setenv(EnvURL, "postgres://u@db.example:5432/x")
	if u, err := URL(t.Context()); err != nil || u != "postgres://u@db.example:5432/x" {
		t.Errorf("URL = %q, %v", u, err)
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ base, want string }{
		{"postgres://postgres@127.0.0.1:5/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5/kdu_x?sslmode=disable"},
		{"postgresql://u:p%40ss@h/", "postgresql://u:p%40ss@h/kdu_x"},
		{"host=h user=u dbname=postgres", "host=h user=u dbname=postgres dbname=kdu_x"},
	}
	for _, tc := range tests {
		if got, err := withDatabase(tc.base, "kdu_x"); err != nil || got != tc.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tc.base, got, err, tc.want)
		}
	}
	if _, err := withDatabase("postgres://u:secret@h:bad/", "x"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("withDatabase of a bad URL: %v", err)
	}
}

func TestFindBinOverride(t *testing.T) {
	t.Setenv(EnvBin, filepath.Join(t.TempDir(), "none"))
	if _, err := FindBin(); !errors.Is(err, ErrNoPostgres) || !strings.Contains(err.Error(), EnvBin) {
		t.Errorf("FindBin with a bad %s: %v", EnvBin, err)
	}
}
