// Package pgtest gives tests a PostgreSQL server and a fresh database per test.
//
// The server is the one $KDU_TEST_POSTGRES names (a postgres:// URL of a role that may create databases), or
// else a throwaway one that this package starts from the local PostgreSQL binaries (Debian's postgresql-NN
// package; `scripts/postgres install` installs it) on a free loopback port with its data in a temporary
// directory, once per test binary. A package's TestMain calls Main so that the throwaway server stops when the
// tests end; the server also dies with the test process if that is killed.
//
// Without binaries and without $KDU_TEST_POSTGRES, tests that need PostgreSQL fail with a message that says how
// to get it; KDU_SKIP_POSTGRES=1 skips them instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Environment variables.
const (
	// EnvURL names an existing server to use instead of starting one.
	EnvURL = "KDU_TEST_POSTGRES"
	// EnvSkip, set to 1, makes tests that need PostgreSQL skip when EnvURL is not set.
	EnvSkip = "KDU_SKIP_POSTGRES"
	// EnvBin names the directory holding initdb and postgres, overriding the search.
	EnvBin = "KDU_PG_BIN"
)

// ErrNoPostgres means no PostgreSQL server binaries were found.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries (initdb, postgres) found")

// StartTimeout bounds initdb plus the server's start.
const StartTimeout = 60 * time.Second

// Hint says how to get PostgreSQL for the tests.
const Hint = "install it with `scripts/postgres install` (Debian's postgresql-15), or set " + EnvURL +
	" to the URL of a server whose user may create databases, or set " + EnvSkip + "=1 to skip these tests"

// FindBin returns the directory of initdb and postgres: $KDU_PG_BIN, else the newest
// /usr/lib/postgresql/<version>/bin, else `pg_config --bindir`, else the directory of initdb on $PATH.
func FindBin() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if d := os.Getenv(EnvBin); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("%s=%s: %w there", EnvBin, d, ErrNoPostgres)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { // newest version first
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

// Server is a throwaway PostgreSQL server.
type Server struct {
	// URL connects to the server's postgres database as the superuser postgres, without a password.
	URL string
	dir string
	cmd *exec.Cmd
	// exited is closed when the server process has exited.
	exited chan struct{}
	stop   sync.Once
}

// Start initialises a new cluster in a temporary directory and starts a server on a free port of 127.0.0.1,
// with durability off (fsync, synchronous_commit, full_page_writes) for speed. Run as root, it runs the server
// as the postgres user, which owns the directory. Stop the server with Stop.
func Start(ctx context.Context) (*Server, error) {
	if runtime.GOOS == "windows" {
		return nil, fmt.Errorf("start PostgreSQL: not supported on windows: %w", ErrNoPostgres)
	}
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest.")
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("start PostgreSQL: %w", err)
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("start PostgreSQL: initdb: %w\n%s", err, out)
	}
	var lastErr error
	for range 3 { // a free port can be taken by someone else before the server binds it
		s, err := start(ctx, bin, dir, cred)
		if err == nil {
			ok = true
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// credential returns who runs the server: nil for the current user, the postgres user when running as root
// (PostgreSQL refuses to run as root).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL as root: the server must run as the postgres user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("start PostgreSQL as root: postgres user has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs the server of the initialised cluster in dir in the foreground, as a child of this process that
// gets SIGQUIT (immediate shutdown) if this process dies, and waits until it accepts connections.
func start(ctx context.Context, bin, dir string, cred *syscall.Credential) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL: find a free port: %w", err)
	}
	logPath := filepath.Join(dir, "log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "data"),
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port), "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	s := &Server{
		URL:    fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		dir:    dir,
		cmd:    cmd,
		exited: make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	for {
		c, err := pgconn.Connect(ctx, s.URL)
		if err == nil {
			c.Close(ctx)
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("start PostgreSQL: server exited: %s", tail(logPath))
		case <-ctx.Done():
			s.kill()
			return nil, fmt.Errorf("start PostgreSQL: not ready after %s (%v): %s", StartTimeout, err, tail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Stop shuts the server down (fast shutdown, then a kill after 10 s) and removes its directory. It may be called
// more than once.
func (s *Server) Stop() {
	s.stop.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.kill()
		}
		os.RemoveAll(s.dir)
	})
}

var shared struct {
	mu  sync.Mutex
	srv *Server
	url string
	err error
}

// URL returns the URL of the tests' server: $KDU_TEST_POSTGRES if set, else a throwaway server started on the
// first call (later calls return the same one, or the same error). The error wraps ErrNoPostgres when there are
// no binaries.
func URL(ctx context.Context) (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.url == "" && shared.err == nil {
		srv, err := Start(ctx)
		if err != nil {
			shared.err = err
		} else {
			shared.srv, shared.url = srv, srv.URL
		}
	}
	return shared.url, shared.err
}

// StopShared stops the server that URL started, if any.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.Stop()
		shared.srv, shared.url = nil, ""
	}
}

// Main runs the tests and then stops the server that URL started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// NewDatabase creates an empty database with a unique name on the server of baseURL (a postgres:// URL or a
// keyword/value string) and returns its URL and a function that drops it.
func NewDatabase(ctx context.Context, baseURL string) (dbURL string, drop func(), err error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "kdu_test_" + hex.EncodeToString(b)
	if dbURL, err = withDatabase(baseURL, name); err != nil {
		return "", nil, err
	}
	// FILE_COPY (PostgreSQL 15+) copies the small template faster than the default WAL_LOG.
	if err := adminExec(ctx, baseURL, `CREATE DATABASE `+name+` STRATEGY = FILE_COPY`); err != nil {
		if err := adminExec(ctx, baseURL, `CREATE DATABASE `+name); err != nil {
			return "", nil, fmt.Errorf("create test database: %w", err)
		}
	}
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := adminExec(ctx, baseURL, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			// PostgreSQL before 13 has no FORCE.
			_ = adminExec(ctx, baseURL, `DROP DATABASE IF EXISTS `+name)
		}
	}
	return dbURL, drop, nil
}

func adminExec(ctx context.Context, baseURL, sql string) error {
	c, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql)
	return err
}

// withDatabase returns baseURL with its database replaced by name.
func withDatabase(baseURL, name string) (string, error) {
	if strings.HasPrefix(baseURL, "postgres://") || strings.HasPrefix(baseURL, "postgresql://") {
		u, err := url.Parse(baseURL)
		if err != nil {
			return "", errors.New("pgtest: the server URL does not parse") // the error would quote a password
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	return baseURL + " dbname=" + name, nil // in keyword/value strings the last value wins
}

// Database returns the URL of a new empty database for t, dropped when t's cleanups run (after those registered
// later, such as closing a store). Without PostgreSQL it fails t, or skips it if KDU_SKIP_POSTGRES=1.
func Database(t testing.TB) string {
	t.Helper()
	if os.Getenv(EnvURL) == "" && os.Getenv(EnvSkip) == "1" {
		t.Skipf("%s=1: skipping a test that needs PostgreSQL", EnvSkip)
	}
	base, err := URL(t.Context())
	if err != nil {
		if errors.Is(err, ErrNoPostgres) {
			t.Fatalf("this test needs PostgreSQL: %v; %s", err, Hint)
		}
		t.Fatalf("this test needs PostgreSQL: %v", err)
	}
	dbURL, drop, err := NewDatabase(t.Context(), base)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(drop)
	return dbURL
}
