package cluster

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"
)

// ErrUnreachable wraps every failure to reach or authenticate to a cluster's API server.
var ErrUnreachable = errors.New("kubernetes API server unreachable")

// DefaultQPS and DefaultBurst are the client-side request rate limits per cluster. At 100 QPS sixteen
// concurrent installs with wait queued behind the limiter (each makes about a dozen requests); the API server
// has its own protection (API Priority and Fairness).
const (
	DefaultQPS   = 500
	DefaultBurst = 1000
)

// Options tune the clients of one cluster.
type Options struct {
	// QPS and Burst bound client-side request rates per cluster, shared by every client of the cluster
	// (client-go's default of 5 QPS throttles a service under load). Zero means DefaultQPS and DefaultBurst.
	QPS   float32
	Burst int
	// UserAgent is sent with every request; "" means "kdu".
	UserAgent string
}

// Conn holds the live clients of one cluster. It implements Helm's RESTClientGetter with discovery and REST
// mapping cached in memory for the life of the Conn, so per-operation Helm configurations built over it share
// one cache. A Conn is safe for concurrent use.
type Conn struct {
	kubeconfig   *Kubeconfig
	restConfig   *rest.Config
	clientConfig clientcmd.ClientConfig
	discovery    discovery.CachedDiscoveryInterface
	mapper       meta.ResettableRESTMapper

	// Clientset and Dynamic are shared typed and dynamic clients.
	Clientset kubernetes.Interface
	Dynamic   dynamic.Interface
}

// Connect builds the clients of a cluster. It does not contact the API server; call Check for that.
func Connect(kc *Kubeconfig, opts Options) (*Conn, error) {
	cc := clientcmd.NewNonInteractiveClientConfig(kc.config, kc.context, &clientcmd.ConfigOverrides{}, nil)
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, invalid("%s", err)
	}
	rc.QPS, rc.Burst = opts.QPS, opts.Burst
	if rc.QPS <= 0 {
		rc.QPS = DefaultQPS
	}
	if rc.Burst <= 0 {
		rc.Burst = DefaultBurst
	}
	// One limiter per cluster: the typed, dynamic and Helm's clients all copy this config, and would otherwise
	// each get their own budget.
	rc.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(rc.QPS, rc.Burst)
	rc.UserAgent = opts.UserAgent
	if rc.UserAgent == "" {
		rc.UserAgent = "kdu"
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building clients for %s: %w", kc.Server, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building clients for %s: %w", kc.Server, err)
	}
	disc := memory.NewMemCacheClient(cs.Discovery())
	return &Conn{
		kubeconfig:   kc,
		restConfig:   rc,
		clientConfig: cc,
		discovery:    disc,
		mapper:       restmapper.NewDeferredDiscoveryRESTMapper(disc),
		Clientset:    cs,
		Dynamic:      dyn,
	}, nil
}

// Server returns the API server URL.
func (c *Conn) Server() string { return c.kubeconfig.Server }

// DefaultNamespace returns the kubeconfig context's namespace, or "default".
func (c *Conn) DefaultNamespace() string {
	if c.kubeconfig.Namespace != "" {
		return c.kubeconfig.Namespace
	}
	return "default"
}

// ToRESTConfig returns a copy of the cluster's REST config.
func (c *Conn) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(c.restConfig), nil }

// ToDiscoveryClient returns the shared, memory-cached discovery client.
func (c *Conn) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return c.discovery, nil
}

// ToRESTMapper returns the shared REST mapper; it refreshes discovery when it meets an unknown kind.
func (c *Conn) ToRESTMapper() (meta.RESTMapper, error) { return c.mapper, nil }

// ToRawKubeConfigLoader returns the in-memory kubeconfig loader.
func (c *Conn) ToRawKubeConfigLoader() clientcmd.ClientConfig { return c.clientConfig }

// Mapper returns the shared REST mapper.
func (c *Conn) Mapper() meta.RESTMapper { return c.mapper }

// InvalidateDiscovery drops cached discovery and mappings (after CRDs were installed, for example).
func (c *Conn) InvalidateDiscovery() {
	c.discovery.Invalidate()
	c.mapper.Reset()
}

// Check contacts the API server and returns its version (e.g. "v1.37.2"). Failures wrap ErrUnreachable and
// say why in words an operator can act on: connection refused, TLS trust, credentials rejected.
func (c *Conn) Check(ctx context.Context) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
	}
	body, err := c.Clientset.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %s", ErrUnreachable, c.kubeconfig.Server, describeConnError(err))
	}
	var info version.Info
	if err := json.Unmarshal(body, &info); err != nil || info.GitVersion == "" {
		return "", fmt.Errorf("%w: %s: /version did not return a Kubernetes version", ErrUnreachable, c.kubeconfig.Server)
	}
	return info.GitVersion, nil
}

func describeConnError(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var opErr *net.OpError
	var urlErr *url.Error
	switch {
	case apierrors.IsUnauthorized(err):
		return "credentials rejected (401 Unauthorized)"
	case apierrors.IsForbidden(err):
		return "access forbidden (403): the kubeconfig's user may not read /version"
	case errors.As(err, &ua):
		return "server certificate is not signed by the kubeconfig's certificate authority"
	case errors.As(err, &hn):
		return "server certificate does not match the host: " + hn.Error()
	case errors.As(err, &ci):
		return "server certificate is invalid: " + ci.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &opErr):
		return opErr.Err.Error()
	case errors.As(err, &urlErr):
		return urlErr.Err.Error()
	}
	s := err.Error()
	return strings.TrimSpace(s)
}

// RESTConfig returns a copy of the cluster's REST configuration (for port-forwarding, which needs a transport of
// its own).
func (c *Conn) RESTConfig() *rest.Config { return rest.CopyConfig(c.restConfig) }
