package storetest

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/kdu-io/kdu/internal/secret"
	"github.com/kdu-io/kdu/internal/store"
)

// CheckSharedPool checks that the Stores that open returns for one database, in one process, share one
// connection pool (pool returns a Store's) while each keeps its own secret box; that a closed Store fails while
// the others carry on; that the last Close closes the pool; and that an Open after it gets a new one. open must
// open a Store on the same database at every call, as the back end's Open does; it may run concurrently.
func CheckSharedPool(t *testing.T, open func(box *secret.Box) (store.Store, error), pool func(store.Store) *sql.DB) {
	t.Helper()
	box1 := Box(t, 1)
	mustOpen := func(b byte) store.Store {
		t.Helper()
		s, err := open(Box(t, b))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	}
	a, b := mustOpen(1), mustOpen(2)
	db := pool(a)
	if pool(b) != db {
		t.Fatal("two Opens of one database have two connection pools")
	}
	mustCreateCluster(t, a, sampleCluster("shared"))
	if _, err := b.GetCluster(ctx(t), "shared"); !errors.Is(err, secret.ErrDecrypt) {
		t.Errorf("GetCluster through a Store with another box: %v, want ErrDecrypt (each Store keeps its box)", err)
	}

	// Concurrent Opens (the library's and the operation runner's, say) find the pool too.
	others := make([]store.Store, 6)
	errs := make([]error, len(others))
	var wg sync.WaitGroup
	for i := range others {
		wg.Go(func() { others[i], errs[i] = open(box1) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Opens: %v", err)
	}
	for _, s := range others {
		if pool(s) != db {
			t.Fatal("a concurrent Open has a pool of its own")
		}
		if _, err := s.GetCluster(ctx(t), "shared"); err != nil {
			t.Errorf("GetCluster through a concurrently opened Store: %v", err)
		}
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Ping(ctx(t)); err == nil {
		t.Error("Ping of a closed Store succeeded")
	}
	if _, err := a.GetCluster(ctx(t), "shared"); err == nil {
		t.Error("GetCluster of a closed Store succeeded")
	}
	if err := a.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	for i, s := range others {
		if err := s.Ping(ctx(t)); err != nil {
			t.Fatalf("Ping of a Store sharing the pool of a closed one: %v", err)
		}
		mustCreateCluster(t, s, sampleCluster(fmt.Sprintf("after-close-%d", i)))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("the pool was closed while b still uses it: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err == nil {
		t.Error("the last Close left the pool open")
	}

	c := mustOpen(1)
	defer c.Close()
	if pool(c) == db {
		t.Error("an Open after the last Close got the closed pool")
	}
	if list, err := c.ListClusters(ctx(t)); err != nil || len(list) != 1+len(others) {
		t.Errorf("ListClusters after reopening = %d clusters, %v; want %d", len(list), err, 1+len(others))
	}
}
