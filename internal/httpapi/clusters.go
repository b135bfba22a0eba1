package httpapi

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/apiconv"
	"github.com/kdu-io/kdu/internal/apierr"
	"github.com/kdu-io/kdu/internal/naming"
	"github.com/kdu-io/kdu/internal/store"
)

// projectCache remembers which project owns a cluster for a moment, sparing hot read paths (status) a
// store read per request. Changes made through this server invalidate it at once.
type projectCache struct {
	mu sync.Mutex
	m  map[string]projectEntry
}

type projectEntry struct {
	project string
	at      time.Time
}

const projectTTL = 2 * time.Second

func (pc *projectCache) get(id string) (string, bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.m[id]
	if !ok || time.Since(e.at) > projectTTL {
		return "", false
	}
	return e.project, true
}

func (pc *projectCache) put(id, project string) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.m == nil || len(pc.m) > 10000 {
		pc.m = map[string]projectEntry{}
	}
	pc.m[id] = projectEntry{project, time.Now()}
}

func (pc *projectCache) drop(id string) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	delete(pc.m, id)
}

// clusterID validates the {cluster} path parameter and checks that the principal may use that cluster:
// another project's cluster is "not found" on reads and "forbidden" on writes.
func (c *call) clusterID() (string, error) {
	id, _, err := c.clusterNamed(c.params["cluster"], "cluster")
	return id, err
}

// clusterNamed checks a cluster id given in field and returns it and its project.
func (c *call) clusterNamed(id, field string) (string, string, error) {
	if err := naming.ValidateClusterID(id); err != nil {
		return "", "", &kdu.FieldError{Field: field, Reason: err.Error(), Err: err}
	}
	project, ok := c.s.projects.get(id)
	if !ok {
		rec, err := c.s.cfg.Store.GetCluster(c.r.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			return "", "", apierr.New(http.StatusNotFound, apierr.CodeNotFound, field, "cluster %q not found", id)
		}
		if err != nil {
			return "", "", err
		}
		project = rec.Project
		c.s.projects.put(id, project)
	}
	if !c.p.Sees(project) {
		if c.rt.Write {
			return "", "", apierr.New(http.StatusForbidden, apierr.CodeForbidden, field, "cluster %q belongs to a project this token may not act on", id)
		}
		return "", "", apierr.New(http.StatusNotFound, apierr.CodeNotFound, field, "cluster %q not found", id)
	}
	return id, project, nil
}

func (s *Server) listClusters(c *call) error {
	all, err := s.cfg.Manager.Clusters(c.r.Context())
	if err != nil {
		return err
	}
	out := api.List[kdu.Cluster]{Items: []kdu.Cluster{}}
	for _, cl := range all {
		if c.p.Sees(cl.Project) {
			out.Items = append(out.Items, cl)
		}
	}
	return c.json(http.StatusOK, out)
}

func (s *Server) registerCluster(c *call) error {
	var req api.ClusterRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	project := req.Project
	switch {
	case project != "":
		if err := naming.ValidateProject(project); err != nil {
			return &kdu.FieldError{Field: "project", Reason: err.Error(), Err: err}
		}
		if !c.p.Sees(project) {
			return apierr.New(http.StatusForbidden, apierr.CodeForbidden, "project", "this token may not act on project %q", project)
		}
	case !c.p.Admin && len(c.p.Projects) == 1:
		project = c.p.Projects[0]
	case !c.p.Admin:
		return &kdu.FieldError{Field: "project", Reason: "is required: this token may act on several projects"}
	}
	// An id taken by another project's cluster is refused without saying more about that cluster.
	if _, id, err := naming.ParseClusterID(req.ID); err == nil {
		if existing, err := s.cfg.Store.GetCluster(c.r.Context(), id); err == nil {
			if !c.p.Sees(existing.Project) {
				return apierr.New(http.StatusForbidden, apierr.CodeForbidden, "id", "cluster id %q is taken by a project this token may not act on", id)
			}
			if req.Replace && req.Project != "" && req.Project != existing.Project {
				return &kdu.FieldError{Field: "project", Reason: "the project of a registered cluster cannot change"}
			}
		}
	}
	if req.Kubeconfig == "" {
		return &kdu.FieldError{Field: "kubeconfig", Reason: "is required"}
	}
	cl, err := s.cfg.Manager.AddCluster(c.r.Context(), apiconv.Cluster(req, project))
	if err != nil {
		return err
	}
	s.projects.drop(cl.ID)
	c.w.Header().Set("Location", "/v1/clusters/"+cl.ID)
	return c.json(http.StatusCreated, cl)
}

func (s *Server) getCluster(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	cl, err := s.cfg.Manager.GetCluster(c.r.Context(), id)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, cl)
}

func (s *Server) checkCluster(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	cl, err := s.cfg.Manager.CheckCluster(c.r.Context(), id)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, cl)
}

func (s *Server) deleteCluster(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	force, err := c.boolQuery("force")
	if err != nil {
		return err
	}
	forget, err := c.boolQuery("forget")
	if err != nil {
		return err
	}
	uninstallSW, err := c.boolQuery("uninstallSW")
	if err != nil {
		return err
	}
	if err := s.cfg.Manager.RemoveCluster(c.r.Context(), id, kdu.RemoveOptions{Force: force, Forget: forget, UninstallSW: uninstallSW}); err != nil {
		return err
	}
	s.projects.drop(id)
	return c.noContent()
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
