package client

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/kdu-io/kdu/api"
)

// The Kubernetes helpers: synchronous calls on a cluster besides Helm. A cluster reference may use the legacy
// "namespace:id" form, whose namespace part is then the default namespace of the call.

// pathSegment refuses a path parameter that is empty or would not stay one segment (the server checks the
// rest).
func pathSegment(field, v string) error {
	if v == "" {
		return &api.FieldError{Field: field, Reason: "is required"}
	}
	if strings.Contains(v, "/") {
		return &api.FieldError{Field: field, Reason: "must not contain '/'"}
	}
	return nil
}

// namespacedPath returns the path of an object in a namespace of a cluster, plain and escaped (a Role's name
// may hold ':', which the escaped path sends as %3A so that it is not read as an action): namespace "" is the
// reference's namespace part, else the cluster's default namespace (asked of the server).
func (c *Client) namespacedPath(ctx context.Context, cluster, namespace, kind, name string) (request, error) {
	id, ns, err := clusterPath(cluster)
	if err != nil {
		return request{}, err
	}
	if namespace == "" {
		namespace = ns
	}
	if namespace == "" {
		cl, err := c.GetCluster(ctx, id)
		if err != nil {
			return request{}, err
		}
		namespace = cl.Namespace
	}
	if err := pathSegment("namespace", namespace); err != nil {
		return request{}, err
	}
	if err := pathSegment("name", name); err != nil {
		return request{}, err
	}
	prefix := "/v1/clusters/" + id + "/namespaces/" + namespace + "/" + kind + "/"
	return request{path: prefix + name, rawPath: escapePath(prefix) + strings.ReplaceAll(url.PathEscape(name), ":", "%3A")}, nil
}

// CreateNamespace creates a namespace with labels, or merges the labels into an existing namespace's (nothing
// else of it changes). The result says which: created, updated or unchanged.
func (c *Client) CreateNamespace(ctx context.Context, cluster, name string, req api.NamespaceRequest) (*api.Namespace, error) {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	if err := pathSegment("name", name); err != nil {
		return nil, err
	}
	var out api.Namespace
	_, err = c.do(ctx, request{method: http.MethodPut, path: "/v1/clusters/" + id + "/namespaces/" + name,
		body: req}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteNamespace deletes a namespace and everything in it; Kubernetes finishes in the background. A namespace
// that does not exist, or is being deleted already, is success.
func (c *Client) DeleteNamespace(ctx context.Context, cluster, name string) error {
	id, _, err := clusterPath(cluster)
	if err != nil {
		return err
	}
	if err := pathSegment("name", name); err != nil {
		return err
	}
	_, err = c.do(ctx, request{method: http.MethodDelete, path: "/v1/clusters/" + id + "/namespaces/" + name}, nil)
	return err
}

// CreateCertificate creates or updates a cert-manager Certificate in namespace ("": the cluster's default
// namespace). A cluster without cert-manager's CRD answers unsupported (errors.Is api.ErrUnsupported).
func (c *Client) CreateCertificate(ctx context.Context, cluster, namespace, name string, req api.CertificateRequest) (*api.Certificate, error) {
	r, err := c.namespacedPath(ctx, cluster, namespace, "certificates", name)
	if err != nil {
		return nil, err
	}
	r.method, r.body = http.MethodPut, req
	var out api.Certificate
	if _, err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteCertificate deletes a cert-manager Certificate; one that does not exist is success.
func (c *Client) DeleteCertificate(ctx context.Context, cluster, namespace, name string) error {
	r, err := c.namespacedPath(ctx, cluster, namespace, "certificates", name)
	if err != nil {
		return err
	}
	r.method = http.MethodDelete
	_, err = c.do(ctx, r, nil)
	return err
}

// CopySecret copies one key of a Secret into a new Opaque Secret. A namespace left out is the reference's
// namespace part, else the server's default for the cluster.
func (c *Client) CopySecret(ctx context.Context, cluster string, req api.SecretCopyRequest) (*api.SecretCopy, error) {
	id, ns, err := clusterPath(cluster)
	if err != nil {
		return nil, err
	}
	if req.Source.Namespace == "" {
		req.Source.Namespace = ns
	}
	if req.Target.Namespace == "" {
		req.Target.Namespace = ns
	}
	var out api.SecretCopy
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + id + "/secrets:copy", body: req}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetupRBAC creates or updates a Role and a RoleBinding named name in namespace ("": the cluster's default
// namespace) granting the rules to a service account of the namespace.
func (c *Client) SetupRBAC(ctx context.Context, cluster, namespace, name string, req api.RBACRequest) (*api.RBAC, error) {
	r, err := c.namespacedPath(ctx, cluster, namespace, "rbac", name)
	if err != nil {
		return nil, err
	}
	r.method, r.body = http.MethodPut, req
	var out api.RBAC
	if _, err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
