package httpapi

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/apiconv"
	"github.com/kdu-io/kdu/internal/apierr"
	"github.com/kdu-io/kdu/internal/naming"
)

// defaultProjectParam is how a path names the default project (""), which has no name of its own.
const defaultProjectParam = "-"

// project validates the {project} path parameter ("-" is the default project, returned as "") and checks that
// the principal may use that project: another project is "not found" on reads and "forbidden" on writes, as
// clusters are. Only admins see the default project.
func (c *call) project() (string, error) {
	project := c.params["project"]
	if project == defaultProjectParam {
		project = ""
	} else if err := naming.ValidateProject(project); err != nil {
		return "", &kdu.FieldError{Field: "project", Reason: err.Error() + ` (or "-" for the default project)`, Err: err}
	}
	if !c.p.Sees(project) {
		what := "the default project"
		if project != "" {
			what = fmt.Sprintf("project %q", project)
		}
		if c.rt.Write {
			return "", apierr.New(http.StatusForbidden, apierr.CodeForbidden, "project", "this token may not act on %s", what)
		}
		return "", apierr.New(http.StatusNotFound, apierr.CodeNotFound, "project", "%s not found", what)
	}
	return project, nil
}

// projectPath is the path of a project's resources.
func projectPath(project string) string {
	if project == "" {
		return "/v1/projects/" + defaultProjectParam
	}
	return "/v1/projects/" + url.PathEscape(project)
}

func (s *Server) listRepos(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	rs, err := s.cfg.Manager.Repos(c.r.Context(), id)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, api.List[kdu.Repo]{Items: nonNil(rs)})
}

func (s *Server) addRepo(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	var req api.RepoRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	r, err := s.cfg.Manager.AddRepo(c.r.Context(), id, apiconv.Repo(req))
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", "/v1/clusters/"+id+"/repos/"+url.PathEscape(r.Name))
	return c.json(http.StatusCreated, r)
}

func (s *Server) removeRepo(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	if err := s.cfg.Manager.RemoveRepo(c.r.Context(), id, c.params["repo"]); err != nil {
		return err
	}
	return c.noContent()
}

func (s *Server) updateRepos(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	var req api.RepoUpdateRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	res, err := s.cfg.Manager.UpdateRepos(c.r.Context(), id, req.Names...)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, api.List[kdu.RepoUpdate]{Items: nonNil(res)})
}

// syncRepos makes a cluster's own repositories exactly the list given: all entries are checked before anything
// changes.
func (s *Server) syncRepos(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	var req api.RepoSyncRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	if req.Repos == nil {
		// An absent list is a mistake far more often than a wish to remove every repository: that takes [].
		return &kdu.FieldError{Field: "repos", Reason: "is required (an empty list [] removes every repository of the cluster)"}
	}
	specs := make([]kdu.RepoSpec, len(req.Repos))
	for i, r := range req.Repos {
		specs[i] = apiconv.Repo(r)
	}
	res, err := s.cfg.Manager.SyncRepos(c.r.Context(), id, specs)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, res)
}

func (s *Server) listProjectRepos(c *call) error {
	project, err := c.project()
	if err != nil {
		return err
	}
	rs, err := s.cfg.Manager.ProjectRepos(c.r.Context(), project)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, api.List[kdu.Repo]{Items: nonNil(rs)})
}

func (s *Server) addProjectRepo(c *call) error {
	project, err := c.project()
	if err != nil {
		return err
	}
	var req api.RepoRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	r, err := s.cfg.Manager.AddProjectRepo(c.r.Context(), project, apiconv.Repo(req))
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", projectPath(project)+"/repos/"+url.PathEscape(r.Name))
	return c.json(http.StatusCreated, r)
}

func (s *Server) removeProjectRepo(c *call) error {
	project, err := c.project()
	if err != nil {
		return err
	}
	if err := s.cfg.Manager.RemoveProjectRepo(c.r.Context(), project, c.params["repo"]); err != nil {
		return err
	}
	return c.noContent()
}

func (s *Server) updateProjectRepos(c *call) error {
	project, err := c.project()
	if err != nil {
		return err
	}
	var req api.RepoUpdateRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	res, err := s.cfg.Manager.UpdateProjectRepos(c.r.Context(), project, req.Names...)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, api.List[kdu.RepoUpdate]{Items: nonNil(res)})
}
