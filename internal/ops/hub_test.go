package ops

import (
	"testing"
	"time"

	"github.com/kdu-io/kdu/api"
)

func TestHubDeliversNewerVersionsOnly(t *testing.T) {
	h := NewHub()
	all := h.Subscribe(nil, 10)
	onlyB := h.Subscribe(func(o *api.Operation) bool { return o.ID == "b" }, 10)
	for _, op := range []api.Operation{{ID: "a", Version: 1}, {ID: "a", Version: 2}, {ID: "a", Version: 2}, {ID: "a", Version: 1}, {ID: "b", Version: 5}} {
		h.Publish(op)
	}
	var got []int64
	for len(all.C) > 0 {
		got = append(got, (<-all.C).Version)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 5 {
		t.Fatalf("all got versions %v, want [1 2 5]", got)
	}
	if len(onlyB.C) != 1 || (<-onlyB.C).ID != "b" {
		t.Fatal("filtered subscription got the wrong operations")
	}
	all.Close()
	all.Close() // idempotent
	if h.Subscribers() != 1 {
		t.Fatalf("subscribers %d, want 1", h.Subscribers())
	}
}

func TestHubClosesLaggingSubscribers(t *testing.T) {
	h := NewHub()
	slow := h.Subscribe(nil, 2)
	for v := int64(1); v <= 5; v++ {
		h.Publish(api.Operation{ID: "x", Version: v}) // never blocks
	}
	n := 0
	for range slow.C {
		n++
	}
	if n != 2 || !slow.Lagged() {
		t.Fatalf("slow subscriber got %d events, lagged %v; want 2 and closed as lagged", n, slow.Lagged())
	}
	if h.Subscribers() != 0 {
		t.Fatal("lagged subscription still registered")
	}
}

func TestHubForget(t *testing.T) {
	h := NewHub()
	h.Publish(api.Operation{ID: "x", Version: 3})
	h.Forget(time.Now().Add(time.Minute))
	s := h.Subscribe(nil, 1)
	h.Publish(api.Operation{ID: "x", Version: 3})
	if len(s.C) != 1 {
		t.Fatal("a forgotten version was not published again")
	}
}
