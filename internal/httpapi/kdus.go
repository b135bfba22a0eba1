package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/apiconv"
	"github.com/kdu-io/kdu/internal/apierr"
	"github.com/kdu-io/kdu/internal/naming"
	"github.com/kdu-io/kdu/internal/ops"
	"github.com/kdu-io/kdu/internal/store"
)

// target validates the {cluster}/{name} of a KDU path and the namespace given in the query or the body.
func (c *call) target(bodyNamespace string) (kdu.Target, string, error) {
	id, project, err := c.clusterNamed(c.params["cluster"], "cluster")
	if err != nil {
		return kdu.Target{}, "", err
	}
	name := c.params["name"]
	if err := naming.ValidateReleaseName(name); err != nil {
		return kdu.Target{}, "", &kdu.FieldError{Field: "name", Reason: err.Error(), Err: err}
	}
	ns := bodyNamespace
	if q := c.query("namespace"); q != "" {
		if ns != "" && ns != q {
			return kdu.Target{}, "", &kdu.FieldError{Field: "namespace", Reason: "the query and the body name different namespaces"}
		}
		ns = q
	}
	if ns != "" {
		if err := naming.ValidateNamespace(ns); err != nil {
			return kdu.Target{}, "", &kdu.FieldError{Field: "namespace", Reason: err.Error(), Err: err}
		}
	}
	return kdu.Target{Cluster: id, Namespace: ns, Name: name}, project, nil
}

// existing resolves a target to the release it names (404 if there is none) and returns the target with the
// release's namespace.
func (c *call) existing(t kdu.Target) (kdu.Target, error) {
	rel, err := c.s.cfg.Manager.Find(c.r.Context(), t)
	if err != nil {
		return t, err
	}
	t.Namespace = rel.Namespace
	return t, nil
}

func (s *Server) checkTargets(ts []api.StatusTarget) error {
	for i, t := range ts {
		if s.cfg.ValidateTarget == nil {
			return &kdu.FieldError{Field: fmt.Sprintf("statusTargets[%d]", i), Reason: "this server writes no status targets"}
		}
		if err := s.cfg.ValidateTarget(i, t); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) install(c *call) error {
	id, project, err := c.clusterNamed(c.params["cluster"], "cluster")
	if err != nil {
		return err
	}
	var req api.InstallRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if err := s.checkTargets(req.StatusTargets); err != nil {
		return err
	}
	o, err := apiconv.Install(req)
	if err != nil {
		return err
	}
	t, err := s.cfg.Manager.PlanInstall(c.r.Context(), id, o)
	if err != nil {
		return err
	}
	req.Name, req.Namespace = t.Name, t.Namespace
	return s.submit(c, api.KindInstall, project, t, req, req.StatusTargets)
}

// releaseAction is a mutating call on an existing release: upgrade, scale, rollback, uninstall.
type releaseAction struct {
	kind string
	// body points to the request; namespace and targets to its fields.
	body      any
	namespace *string
	targets   *[]api.StatusTarget
	// check validates the decoded request's options.
	check func() error
	// missingOK queues the operation even if the release does not exist (uninstall is idempotent: its
	// operation then succeeds at once).
	missingOK bool
}

// onRelease decodes and validates a release action, resolves the release's namespace, and queues it.
func (s *Server) onRelease(c *call, a releaseAction) error {
	if err := c.decode(a.body); err != nil {
		return err
	}
	t, project, err := c.target(*a.namespace)
	if err != nil {
		return err
	}
	if err := s.checkTargets(*a.targets); err != nil {
		return err
	}
	if err := a.check(); err != nil {
		return err
	}
	if found, err := c.existing(t); err == nil {
		t = found
	} else if _, e := apierr.From(err); !a.missingOK || e.Code != apierr.CodeNotFound {
		return err
	}
	*a.namespace = t.Namespace
	return s.submit(c, a.kind, project, t, a.body, *a.targets)
}

func (s *Server) upgrade(c *call) error {
	var req api.UpgradeRequest
	return s.onRelease(c, releaseAction{kind: api.KindUpgrade, body: &req, namespace: &req.Namespace, targets: &req.StatusTargets,
		check: func() error {
			o, err := apiconv.Upgrade(req)
			if err != nil {
				return err
			}
			return s.cfg.Manager.ValidateUpgrade(o)
		}})
}

func (s *Server) scale(c *call) error {
	var req api.ScaleRequest
	return s.onRelease(c, releaseAction{kind: api.KindScale, body: &req, namespace: &req.Namespace, targets: &req.StatusTargets,
		check: func() error { _, err := apiconv.Scale(req); return err }})
}

func (s *Server) migrate(c *call) error {
	var req api.MigrateRequest
	return s.onRelease(c, releaseAction{kind: api.KindMigrate, body: &req, namespace: &req.Namespace, targets: &req.StatusTargets,
		check: func() error { _, err := apiconv.Migrate(req); return err }})
}

func (s *Server) generateName(c *call) error {
	var req api.GenerateNameRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	ref, err := c.clusterID()
	if err != nil {
		return err
	}
	name, err := s.cfg.Manager.GenerateName(c.r.Context(), ref, req.Chart)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, api.GeneratedName{Name: name})
}

func (s *Server) getService(c *call) error {
	ref, err := c.clusterID()
	if err != nil {
		return err
	}
	svc, err := s.cfg.Manager.Service(c.r.Context(), ref, c.params["namespace"], c.params["name"])
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, svc)
}

func (s *Server) execPrimitive(c *call) error {
	var req api.PrimitiveRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	t, _, err := c.target(req.Namespace)
	if err != nil {
		return err
	}
	return s.cfg.Manager.ExecPrimitive(c.r.Context(), t, req.Primitive, req.Params)
}

func (s *Server) upgradeCharm(c *call) error {
	t, _, err := c.target(c.query("namespace"))
	if err != nil {
		return err
	}
	return s.cfg.Manager.UpgradeCharm(c.r.Context(), t)
}

func (s *Server) rollback(c *call) error {
	var req api.RollbackRequest
	return s.onRelease(c, releaseAction{kind: api.KindRollback, body: &req, namespace: &req.Namespace, targets: &req.StatusTargets,
		check: func() error { _, err := apiconv.Rollback(req); return err }})
}

func (s *Server) uninstall(c *call) error {
	var req api.UninstallRequest
	return s.onRelease(c, releaseAction{kind: api.KindUninstall, body: &req, namespace: &req.Namespace, targets: &req.StatusTargets,
		check: func() error { _, err := apiconv.Uninstall(req); return err }, missingOK: true})
}

// maxIdempotencyKey bounds the Idempotency-Key header.
const maxIdempotencyKey = 200

// submit queues an operation and answers 202 with it (200 once it ended, with ?wait=true). A retried request
// with the same Idempotency-Key gets the same operation; a different request with a used key is refused.
func (s *Server) submit(c *call, kind, project string, t kdu.Target, req any, targets []api.StatusTarget) error {
	wait, err := c.boolQuery("wait")
	if err != nil {
		return err
	}
	key := c.r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey || !validRequestID(key) && key != "" {
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, "Idempotency-Key", "the Idempotency-Key header must be 1 to %d printable ASCII characters", maxIdempotencyKey)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	var tb []byte
	if len(targets) > 0 {
		if tb, err = json.Marshal(targets); err != nil {
			return err
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", kind, t.Cluster, t.Name)
	h.Write(body)
	hash := hex.EncodeToString(h.Sum(nil))
	op, created, err := s.cfg.Runner.Submit(c.r.Context(), store.Operation{
		ID: newID("op"), Kind: kind, Project: project, Cluster: t.Cluster, Namespace: t.Namespace, Release: t.Name,
		Request: body, Targets: tb, IdempotencyKey: key, RequestHash: hash,
	})
	if err != nil {
		return err
	}
	if !created {
		if op.RequestHash != hash {
			return apierr.New(http.StatusUnprocessableEntity, apierr.CodeConflict, "Idempotency-Key",
				"this Idempotency-Key was used for a different request (operation %s)", op.ID)
		}
		c.log.Info("idempotent retry: returning the existing operation", "operation_id", op.ID)
	} else {
		c.log.Info("operation submitted", "operation_id", op.ID, "kind", kind, "cluster", t.Cluster, "release", t.Name)
	}
	c.w.Header().Set("Location", "/v1/operations/"+op.ID)
	v := ops.View(op)
	if wait {
		if v, err = s.await(c, op.ID); err != nil {
			return err
		}
		if v.State.Terminal() {
			return c.json(http.StatusOK, v)
		}
	}
	return c.json(http.StatusAccepted, v)
}

// await blocks until an operation ends, the request ends or MaxWait passes, and returns its newest state.
func (s *Server) await(c *call, id string) (api.Operation, error) {
	deadline := time.NewTimer(MaxWait)
	defer deadline.Stop()
	for {
		v, behind, err := s.awaitOnce(c, id, deadline.C)
		if err != nil || !behind {
			return v, err
		}
		// The subscription fell behind: read the operation again.
	}
}

// awaitOnce follows one subscription to the operation's events; behind reports that the subscription fell
// behind and the state must be read again.
func (s *Server) awaitOnce(c *call, id string, deadline <-chan time.Time) (v api.Operation, behind bool, err error) {
	sub := s.cfg.Runner.Hub().Subscribe(func(o *api.Operation) bool { return o.ID == id }, 64)
	defer sub.Close()
	op, err := s.cfg.Store.GetOperation(c.r.Context(), id)
	if err != nil {
		return api.Operation{}, false, err
	}
	v = ops.View(op)
	for !v.State.Terminal() {
		select {
		case next, ok := <-sub.C:
			if !ok {
				return v, true, nil
			}
			if next.Version > v.Version {
				v = next
			}
		case <-c.r.Context().Done():
			return v, false, nil
		case <-deadline:
			return v, false, nil
		}
	}
	return v, false, nil
}

func (s *Server) status(c *call) error {
	t, _, err := c.target("")
	if err != nil {
		return err
	}
	withManifest, err := c.boolQuery("manifest")
	if err != nil {
		return err
	}
	st, err := s.cfg.Manager.Status(c.r.Context(), t)
	if err != nil {
		return err
	}
	if withManifest {
		if st.Manifest, err = s.cfg.Manager.Manifest(c.r.Context(), t, !c.p.Admin); err != nil {
			return err
		}
	}
	return c.json(http.StatusOK, st)
}

func (s *Server) listKdus(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	var states []kdu.ReleaseState
	if q := c.query("state"); q != "" {
		for _, st := range strings.Split(q, ",") {
			states = append(states, kdu.ReleaseState(strings.TrimSpace(st)))
		}
	}
	rels, err := s.cfg.Manager.List(c.r.Context(), id, kdu.ListOptions{Namespace: c.query("namespace"), States: states})
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, api.List[kdu.Release]{Items: nonNil(rels)})
}

func (s *Server) history(c *call) error {
	t, _, err := c.target("")
	if err != nil {
		return err
	}
	h, err := s.cfg.Manager.History(c.r.Context(), t)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, api.List[kdu.Release]{Items: nonNil(h)})
}

func (s *Server) values(c *call) error {
	t, _, err := c.target("")
	if err != nil {
		return err
	}
	all, err := c.boolQuery("all")
	if err != nil {
		return err
	}
	v, err := s.cfg.Manager.GetValues(c.r.Context(), t, all)
	if err != nil {
		return err
	}
	if v == nil {
		v = map[string]any{}
	}
	return c.json(http.StatusOK, v)
}

func (s *Server) services(c *call) error {
	t, _, err := c.target("")
	if err != nil {
		return err
	}
	svcs, err := s.cfg.Manager.Services(c.r.Context(), t)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, api.List[kdu.Service]{Items: nonNil(svcs)})
}

func (s *Server) scaleCount(c *call) error {
	t, _, err := c.target("")
	if err != nil {
		return err
	}
	resource := c.query("resource")
	n, err := s.cfg.Manager.ScaleCount(c.r.Context(), t, resource)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, api.ScaleCount{Resource: resource, Replicas: n})
}

func (s *Server) showChart(c *call) error {
	var req api.ShowRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Cluster != "" {
		if _, _, err := c.clusterNamed(req.Cluster, "cluster"); err != nil {
			return err
		}
	}
	info, err := s.cfg.Manager.ShowChart(c.r.Context(), apiconv.Show(req))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, info)
}
