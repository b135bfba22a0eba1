// Package tiller is kdu's Helm 2 engine: it drives a Tiller v2 server natively over its gRPC API (protos
// regenerated from Helm 2.17 in internal/helm2/hapi), reaching it at a configured address or through a client-go
// port-forward to the Tiller pod, as the helm2 CLI does. Charts are loaded with the Helm v4 SDK and converted
// to Tiller's chart message; status is computed from the release manifest with the same readiness code as Helm
// 3 releases, so callers see one shape. It never runs a helm or tiller binary.
package tiller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
	"github.com/kdu-io/kdu/internal/helm2/hapi/services"
	"github.com/kdu-io/kdu/internal/helm2/hapi/version"
)

// Port is Tiller's gRPC port in its pod.
const Port = 44134

// PodSelector finds Tiller pods, as helm2 does.
const PodSelector = "app=helm,name=tiller"

// podWait bounds the wait for a running Tiller pod before a port-forward.
const podWait = time.Minute

// maxMessage is helm2's gRPC message size limit.
const maxMessage = 20 << 20

// versionHeader carries the client version; Tiller refuses clients whose version does not match its own minor
// (GetVersion excepted). kdu sends the server's own version, so it works with any 2.x Tiller.
const versionHeader = "x-helm-api-client"

// client is a connection to Tiller: a gRPC channel, the tunnel under it (if any) and the server's version.
type client struct {
	conn      *cluster.Conn
	namespace string // Tiller's namespace
	address   string // explicit address; "" means port-forward

	mu      sync.Mutex
	cc      *grpc.ClientConn
	stop    func() // closes the tunnel
	version string
}

// rpc returns the Tiller client and a context carrying the version header, connecting first if needed.
func (c *client) rpc(ctx context.Context) (services.ReleaseServiceClient, context.Context, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc == nil {
		if err := c.connect(ctx); err != nil {
			return nil, ctx, err
		}
	}
	return services.NewReleaseServiceClient(c.cc), metadata.AppendToOutgoingContext(ctx, versionHeader, c.version), nil
}

// Version returns the Tiller server's version, connecting if needed.
func (c *client) Version(ctx context.Context) (string, error) {
	if _, _, err := c.rpc(ctx); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version, nil
}

func (c *client) connect(ctx context.Context) error {
	addr, stop := c.address, func() {}
	if addr == "" {
		var err error
		if addr, stop, err = c.forward(ctx); err != nil {
			return err
		}
	}
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)))
	if err != nil {
		stop()
		return fmt.Errorf("%w: Tiller at %s: %w", engine.ErrTillerUnavailable, addr, err)
	}
	// Not WaitForReady: a refused connection fails at once instead of being retried until the deadline.
	vctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := services.NewReleaseServiceClient(cc).GetVersion(vctx, &services.GetVersionRequest{})
	if err != nil {
		cc.Close()
		stop()
		return fmt.Errorf("%w: Tiller at %s does not answer: %w", engine.ErrTillerUnavailable, c.where(addr), unwrap(err))
	}
	c.cc, c.stop, c.version = cc, stop, semver(v.GetVersion())
	return nil
}

func (c *client) where(addr string) string {
	if c.address != "" {
		return addr
	}
	return fmt.Sprintf("%s (port-forward to namespace %s)", addr, c.namespace)
}

func semver(v *version.Version) string {
	if v == nil || v.SemVer == "" {
		return "v2"
	}
	return v.SemVer
}

// reset drops the connection after a transport failure, so the next call reconnects (a new tunnel to a new
// Tiller pod, for example).
func (c *client) reset(err error) {
	if status.Code(err) != codes.Unavailable {
		return
	}
	c.close()
}

func (c *client) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cc != nil {
		c.cc.Close()
		c.stop()
		c.cc, c.stop = nil, nil
	}
}

// forward opens a port-forward from a loopback port to a running Tiller pod, as helm2 does without --host.
func (c *client) forward(ctx context.Context) (string, func(), error) {
	// A Tiller kdu has just installed may not be running yet: wait for it a while, as `helm init --wait` does.
	var pods *corev1.PodList
	deadline := time.Now().Add(podWait)
	for {
		var err error
		pods, err = c.conn.Clientset.CoreV1().Pods(c.namespace).List(ctx, metav1.ListOptions{LabelSelector: PodSelector, FieldSelector: "status.phase=Running"})
		if err != nil {
			return "", nil, fmt.Errorf("%w: looking for Tiller in namespace %s: %w", engine.ErrUnreachable, c.namespace, err)
		}
		if len(pods.Items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return "", nil, fmt.Errorf("%w: no running Tiller pod (%s) in namespace %s after %s", engine.ErrTillerUnavailable, PodSelector, c.namespace, podWait)
		}
		select {
		case <-ctx.Done():
			return "", nil, fmt.Errorf("%w: waiting for a running Tiller pod in namespace %s: %w", engine.ErrTillerUnavailable, c.namespace, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
	pod := pods.Items[0].Name
	rt, upgrader, err := spdy.RoundTripperFor(c.conn.RESTConfig())
	if err != nil {
		return "", nil, fmt.Errorf("port-forward to Tiller: %w", err)
	}
	u := c.conn.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(c.namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stopCh, readyCh := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(Port)}, stopCh, readyCh, io.Discard, io.Discard)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward to Tiller pod %s/%s: %w", c.namespace, pod, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	stop := sync.OnceFunc(func() { close(stopCh) })
	select {
	case <-readyCh:
	case err := <-done:
		if err == nil {
			err = errors.New("the tunnel closed")
		}
		return "", nil, fmt.Errorf("%w: port-forward to Tiller pod %s/%s: %w", engine.ErrTillerUnavailable, c.namespace, pod, err)
	case <-ctx.Done():
		stop()
		return "", nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		stop()
		return "", nil, fmt.Errorf("%w: port-forward to Tiller pod %s/%s: no local port", engine.ErrTillerUnavailable, c.namespace, pod)
	}
	return "127.0.0.1:" + strconv.Itoa(int(ports[0].Local)), stop, nil
}

// unwrap turns a gRPC error into its message (Tiller reports everything as codes.Unknown with a text).
func unwrap(err error) error {
	if s, ok := status.FromError(err); ok {
		return errors.New(s.Message())
	}
	return err
}
