package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/apierr"
	"github.com/kdu-io/kdu/internal/ops"
	"github.com/kdu-io/kdu/internal/store"
)

// sseHeartbeat keeps idle event streams (and the proxies in between) alive.
const sseHeartbeat = 15 * time.Second

var opStates = map[api.OperationState]bool{api.Queued: true, api.Running: true, api.Succeeded: true, api.Failed: true, api.Cancelled: true}
var opKinds = map[string]bool{api.KindInstall: true, api.KindUpgrade: true, api.KindScale: true, api.KindMigrate: true, api.KindRollback: true, api.KindUninstall: true}

func (s *Server) listOperations(c *call) error {
	f := store.OperationFilter{Projects: c.p.projectFilter(), Cluster: c.query("cluster"), Release: c.query("kdu"),
		State: api.OperationState(c.query("state")), Kind: c.query("kind"), Before: c.query("before"), Limit: 100}
	if f.State != "" && !opStates[f.State] {
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, "state", "state must be queued, running, succeeded, failed or cancelled, not %q", f.State)
	}
	if f.Kind != "" && !opKinds[f.Kind] {
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, "kind", "kind must be install, upgrade, scale, rollback or uninstall, not %q", f.Kind)
	}
	if q := c.query("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > 1000 {
			return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, "limit", "limit must be a number from 1 to 1000, not %q", q)
		}
		f.Limit = n
	}
	list, err := s.cfg.Store.ListOperations(c.r.Context(), f)
	if err != nil {
		return err
	}
	out := api.List[api.Operation]{Items: make([]api.Operation, 0, len(list))}
	for _, op := range list {
		out.Items = append(out.Items, ops.View(op))
	}
	if len(list) == f.Limit {
		out.Next = list[len(list)-1].ID
	}
	return c.json(http.StatusOK, out)
}

// operation loads the {id} operation and checks the principal may see it.
func (c *call) operation() (store.Operation, error) {
	id := c.params["id"]
	op, err := c.s.cfg.Store.GetOperation(c.r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return op, apierr.New(http.StatusNotFound, apierr.CodeNotFound, "id", "operation %q not found", id)
	}
	if err != nil {
		return op, err
	}
	if !c.p.Sees(op.Project) {
		if c.rt.Write {
			return op, apierr.New(http.StatusForbidden, apierr.CodeForbidden, "id", "operation %q belongs to a project this token may not act on", id)
		}
		return op, apierr.New(http.StatusNotFound, apierr.CodeNotFound, "id", "operation %q not found", id)
	}
	return op, nil
}

func (s *Server) getOperation(c *call) error {
	op, err := c.operation()
	if err != nil {
		return err
	}
	wait, err := c.boolQuery("wait")
	if err != nil {
		return err
	}
	v := ops.View(op)
	if wait && !v.State.Terminal() {
		if v, err = s.await(c, op.ID); err != nil {
			return err
		}
	}
	return c.json(http.StatusOK, v)
}

func (s *Server) cancelOperation(c *call) error {
	op, err := c.operation()
	if err != nil {
		return err
	}
	op, err = s.cfg.Runner.Cancel(c.r.Context(), op.ID)
	if errors.Is(err, store.ErrConflict) {
		return apierr.New(http.StatusConflict, apierr.CodeConflict, "", "operation %s already ended (%s)", op.ID, op.State)
	}
	if err != nil {
		return err
	}
	return c.json(http.StatusAccepted, ops.View(op))
}

// stream writes Server-Sent Events.
type stream struct {
	c  *call
	rc *http.ResponseController
}

func (c *call) startStream() *stream {
	h := c.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	c.status = http.StatusOK
	c.w.WriteHeader(http.StatusOK)
	st := &stream{c: c, rc: http.NewResponseController(c.w)}
	_ = st.rc.Flush()
	return st
}

func (st *stream) send(id string, op api.Operation) error {
	b, err := json.Marshal(op)
	if err != nil {
		return err
	}
	_ = st.rc.SetWriteDeadline(time.Now().Add(defaultWriteTimeout))
	if _, err := fmt.Fprintf(st.c.w, "id: %s\nevent: operation\ndata: %s\n\n", id, b); err != nil {
		return err
	}
	return st.rc.Flush()
}

func (st *stream) comment(text string) error {
	_ = st.rc.SetWriteDeadline(time.Now().Add(defaultWriteTimeout))
	if _, err := fmt.Fprintf(st.c.w, ": %s\n\n", text); err != nil {
		return err
	}
	return st.rc.Flush()
}

// operationEvents streams one operation: its state now, then every change, ending after the terminal one.
func (s *Server) operationEvents(c *call) error {
	op, err := c.operation()
	if err != nil {
		return err
	}
	sub := s.cfg.Runner.Hub().Subscribe(func(o *api.Operation) bool { return o.ID == op.ID }, 256)
	defer func() { sub.Close() }()
	// Read after subscribing, so no change falls between the two.
	if op, err = s.cfg.Store.GetOperation(c.r.Context(), op.ID); err != nil {
		return err
	}
	st := c.startStream()
	v := ops.View(op)
	if err := st.send(strconv.FormatInt(v.Version, 10), v); err != nil {
		return nil
	}
	hb := time.NewTicker(sseHeartbeat)
	defer hb.Stop()
	for !v.State.Terminal() {
		select {
		case next, ok := <-sub.C:
			if !ok { // fell behind: send the newest state and go on
				sub = s.cfg.Runner.Hub().Subscribe(func(o *api.Operation) bool { return o.ID == op.ID }, 256)
				cur, err := s.cfg.Store.GetOperation(c.r.Context(), op.ID)
				if err != nil {
					return nil
				}
				next = ops.View(cur)
			}
			if next.Version <= v.Version {
				continue
			}
			v = next
			if err := st.send(strconv.FormatInt(v.Version, 10), v); err != nil {
				return nil
			}
		case <-hb.C:
			if err := st.comment("keep-alive"); err != nil {
				return nil
			}
		case <-c.r.Context().Done():
			return nil
		}
	}
	return nil
}

// events streams every change of every operation the principal may see, optionally of one cluster.
func (s *Server) events(c *call) error {
	cluster := c.query("cluster")
	filter := func(o *api.Operation) bool {
		return c.p.Sees(o.Project) && (cluster == "" || o.Target.Cluster == cluster)
	}
	sub := s.cfg.Runner.Hub().Subscribe(filter, 1024)
	defer func() { sub.Close() }()
	st := c.startStream()
	if err := st.comment("kdu operation events"); err != nil {
		return nil
	}
	hb := time.NewTicker(sseHeartbeat)
	defer hb.Stop()
	for {
		select {
		case v, ok := <-sub.C:
			if !ok {
				_ = st.comment("this stream fell behind and ends; reconnect and re-read the operations you follow")
				return nil
			}
			if err := st.send(v.ID+"/"+strconv.FormatInt(v.Version, 10), v); err != nil {
				return nil
			}
		case <-hb.C:
			if err := st.comment("keep-alive"); err != nil {
				return nil
			}
		case <-c.r.Context().Done():
			return nil
		}
	}
}

func (s *Server) healthz(c *call) error {
	return c.json(http.StatusOK, api.Health{Status: "ok"})
}

func (s *Server) readyz(c *call) error {
	if err := s.cfg.Store.Ping(c.r.Context()); err != nil {
		return apierr.New(http.StatusServiceUnavailable, apierr.CodeUnavailable, "", "not ready: the store does not answer: %v", err)
	}
	return c.json(http.StatusOK, api.Health{Status: "ok"})
}

func (s *Server) metrics(c *call) error {
	c.status = http.StatusOK
	s.cfg.Metrics.Handler().ServeHTTP(c.w, c.r)
	return nil
}

func (s *Server) openapi(c *call) error {
	c.status = http.StatusOK
	c.w.Header().Set("Content-Type", "application/json")
	_, err := c.w.Write(s.doc)
	return err
}
