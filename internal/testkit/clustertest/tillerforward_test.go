package clustertest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/kdu-io/kdu/internal/testkit/clustertest"
)

const greeting = "hello from loopback\n"

// TestTillerForwardReachesLoopback port-forwards through the API server (as kubectl port-forward and kdu's Tiller
// client do) to fake Pods: port TillerPort of a Pod in TillerForwardNamespace reaches the server on the address
// TillerForward returns; other ports and Pods of other namespaces reach nothing.
func TestTillerForwardReachesLoopback(t *testing.T) {
	c := clustertest.Shared(t)
	addr := c.TillerForward(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// A stand-in for Tiller: it greets every connection.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on the forward's target %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(conn, greeting)
			conn.Close()
		}
	}()

	forwarded := probePod(ctx, t, c, clustertest.TillerForwardNamespace)
	other := probePod(ctx, t, c, c.Namespace(t))
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		port int
		want string
	}{
		{"tiller port in the forward namespace", forwarded, clustertest.TillerPort, greeting},
		{"another port", forwarded, clustertest.TillerPort + 1, ""},
		{"another namespace", other, clustertest.TillerPort, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := readThroughPortForward(ctx, t, c, tc.pod, tc.port); got != tc.want {
				t.Errorf("port-forward to %s/%s:%d read %q, want %q", tc.pod.Namespace, tc.pod.Name, tc.port, got, tc.want)
			}
		})
	}
}

// probePod creates a Pod in namespace ns, deleted when the test ends, and waits until it runs.
func probePod(ctx context.Context, t *testing.T, c *clustertest.Cluster, ns string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "pf-probe-"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.invalid/probe:1"}}},
	}
	pod, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create a pod in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		zero := int64(0)
		err := c.Clientset.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil {
			t.Errorf("delete pod %s/%s: %v", ns, pod.Name, err)
		}
	})
	waitPods(ctx, t, c.Clientset, ns, "", func(pods []corev1.Pod) error {
		for _, p := range pods {
			if p.Name == pod.Name && p.Status.Phase == corev1.PodRunning {
				return nil
			}
		}
		return fmt.Errorf("pod %s not running yet", pod.Name)
	})
	return pod
}

// readThroughPortForward opens a port-forward from a free loopback port to port of pod, connects to it and returns
// what it reads: the greeting, or what came before the port-forward closed the connection.
func readThroughPortForward(ctx context.Context, t *testing.T, c *clustertest.Cluster, pod *corev1.Pod, port int) string {
	t.Helper()
	rt, upgrader, err := spdy.RoundTripperFor(c.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	u := c.Clientset.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	defer func() {
		close(stop)
		<-done
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("port-forward ended before it was ready: %v", err)
	case <-ctx.Done():
		t.Fatalf("port-forward not ready: %v", ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		t.Fatalf("port-forward ports: %v %v", ports, err)
	}
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))))
	if err != nil {
		t.Fatalf("connect to the port-forward: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
		t.Fatal(err)
	}
	// The greeting, or less when the port-forward closes the connection (it does when kwok has no forward).
	// kwok does not pass the server's close on, so reading to EOF would wait forever after a greeting.
	b := make([]byte, len(greeting))
	n, err := io.ReadFull(conn, b)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("reading through the port-forward: %v after %q (neither the greeting nor a close)", err, b[:n])
	}
	return string(b[:n])
}
