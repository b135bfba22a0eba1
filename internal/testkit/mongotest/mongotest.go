// Package mongotest starts an embedded MongoDB-wire server for tests: FerretDB v1 with its SQLite backend, in
// process, listening on a free loopback port. FerretDB v1 handles what kdu's status writes need (dotted $set,
// matched counts, finds by dotted filters) but not everything MongoDB does (no $elemMatch, positional $, $pull
// with conditions, transactions or change streams).
//
// Use Start from TestMain (one server for the whole package) or New from a test.
package mongotest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// newMu serialises ferretdb.New, which writes a package-level variable (the version's package name).
var newMu sync.Mutex

// stopTimeout bounds how long a stop waits for the server's connections to end.
const stopTimeout = 10 * time.Second

// Start starts a FerretDB server storing its databases under dir (one SQLite file per database; dir must exist
// and should be empty or hold files of an earlier run). It returns the server's mongodb://127.0.0.1:<port>/
// URI and a stop function that shuts the server down and waits for it (bounded); stop is safe to call more
// than once. Clients should disconnect before stop is called. The server logs nothing.
func Start(dir string) (uri string, stop func(), err error) {
	if dir == "" {
		return "", nil, errors.New("mongotest: empty directory")
	}
	if st, err := os.Stat(dir); err != nil {
		return "", nil, fmt.Errorf("mongotest: %w", err)
	} else if !st.IsDir() {
		return "", nil, fmt.Errorf("mongotest: %s is not a directory", dir)
	}

	newMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:   slog.New(slog.DiscardHandler),
		Handler:  "sqlite",
		// The trailing slash matters: SQLiteURL names a directory holding one file per database.
		SQLiteURL: "file:" + dir + "/",
	})
	newMu.Unlock()
	if err != nil {
		return "", nil, fmt.Errorf("mongotest: start FerretDB: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx) // always nil
	}()
	// The listener is bound by ferretdb.New, so the address is known now.
	uri = f.MongoDBURI()

	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(stopTimeout):
				// A client still holds a connection; give up waiting rather than hang the test binary.
			}
		})
	}
	return uri, stop, nil
}

// New starts a server for the duration of tb, with its data in tb.TempDir(), and returns its URI. The server is
// stopped in tb.Cleanup; register client disconnects with tb.Cleanup after calling New so they run first.
func New(tb testing.TB) string {
	tb.Helper()
	uri, stop, err := Start(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return uri
}
