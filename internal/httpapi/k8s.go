package httpapi

import (
	"net/http"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/apiconv"
)

// The Kubernetes helpers: synchronous calls on a cluster besides Helm (namespaces, cert-manager Certificates,
// Secret copies, Roles and RoleBindings). The library validates every input before it calls the cluster.

func (s *Server) putNamespace(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	var req api.NamespaceRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	ns, err := s.cfg.Manager.CreateNamespace(c.r.Context(), id, apiconv.Namespace(c.params["name"], req))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, ns)
}

func (s *Server) deleteNamespace(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	if err := s.cfg.Manager.DeleteNamespace(c.r.Context(), id, c.params["name"]); err != nil {
		return err
	}
	return c.noContent()
}

func (s *Server) putCertificate(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	var req api.CertificateRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	opts, err := apiconv.Certificate(c.params["namespace"], c.params["name"], req)
	if err != nil {
		return err
	}
	cert, err := s.cfg.Manager.CreateCertificate(c.r.Context(), id, opts)
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, cert)
}

func (s *Server) deleteCertificate(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	if err := s.cfg.Manager.DeleteCertificate(c.r.Context(), id, c.params["namespace"], c.params["name"]); err != nil {
		return err
	}
	return c.noContent()
}

func (s *Server) copySecret(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	var req api.SecretCopyRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	cp, err := s.cfg.Manager.CopySecret(c.r.Context(), id, apiconv.SecretCopy(req))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, cp)
}

func (s *Server) putRBAC(c *call) error {
	id, err := c.clusterID()
	if err != nil {
		return err
	}
	var req api.RBACRequest
	if err := c.decode(&req); err != nil {
		return err
	}
	r, err := s.cfg.Manager.SetupRBAC(c.r.Context(), id, apiconv.RBAC(c.params["namespace"], c.params["name"], req))
	if err != nil {
		return err
	}
	return c.json(http.StatusOK, r)
}
