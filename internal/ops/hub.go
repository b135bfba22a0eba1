package ops

import (
	"sync"
	"time"

	"github.com/kdu-io/kdu/api"
)

// Hub fans operation changes out to subscribers (Server-Sent Events streams, waiting requests). It drops
// versions it has already published, so changes may arrive both from this process and from the store poller
// that follows other replicas.
type Hub struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
	seen map[string]seenVersion // operation id → newest version published
}

type seenVersion struct {
	version int64
	at      time.Time
}

// Subscription receives operation changes on C until Close, or until it falls too far behind: C is then
// closed and Lagged reports true (the subscriber should re-read the state and subscribe again).
type Subscription struct {
	C      <-chan api.Operation
	c      chan api.Operation
	filter func(*api.Operation) bool
	hub    *Hub
	lagged bool
	closed bool
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: map[*Subscription]struct{}{}, seen: map[string]seenVersion{}}
}

// Subscribe returns a subscription to the operations filter accepts (nil: all), buffering up to buf changes.
func (h *Hub) Subscribe(filter func(*api.Operation) bool, buf int) *Subscription {
	if buf < 1 {
		buf = 1
	}
	c := make(chan api.Operation, buf)
	s := &Subscription{C: c, c: c, filter: filter, hub: h}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.closed {
		s.closed = true
		delete(h.subs, s)
		close(s.c)
	}
}

// Lagged reports whether the subscription was closed because its reader fell behind.
func (s *Subscription) Lagged() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.lagged
}

// Publish sends a change to every interested subscriber, unless a version at least as new was already
// published. It never blocks: a subscriber whose buffer is full is closed as lagged.
func (h *Hub) Publish(op api.Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v, ok := h.seen[op.ID]; ok && v.version >= op.Version {
		return
	}
	h.seen[op.ID] = seenVersion{version: op.Version, at: time.Now()}
	for s := range h.subs {
		if s.filter != nil && !s.filter(&op) {
			continue
		}
		select {
		case s.c <- op:
		default:
			s.lagged, s.closed = true, true
			delete(h.subs, s)
			close(s.c)
		}
	}
}

// Forget drops the versions remembered for operations last published before the given time, bounding memory.
// A version published again after that is delivered again, which subscribers tolerate (versions only grow).
func (h *Hub) Forget(before time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, v := range h.seen {
		if v.at.Before(before) {
			delete(h.seen, id)
		}
	}
}

// Subscribers returns the number of open subscriptions.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
