package clustertest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/kdu-io/kdu/internal/testkit/clustertest"
)

// These tests share one cluster per test binary through clustertest.Shared (lazy, so that the unit tests
// and the fuzz target of this package run without a cluster). A package whose tests all need the
// cluster uses the TestMain pattern instead:
//
//	var cluster *clustertest.Cluster
//	func TestMain(m *testing.M) { os.Exit(clustertest.Main(m, &cluster)) }

func TestClusterServesVersion(t *testing.T) {
	c := clustertest.Shared(t)
	v, err := c.Clientset.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("ServerVersion: %v", err)
	}
	// The binaries are built with version stamps; without them the server says v0.0.0-master and charts
	// with a kubeVersion constraint fail.
	if !strings.HasPrefix(v.GitVersion, "v1.") || v.Major != "1" {
		t.Errorf("server version = %q (major %q), want a stamped v1.x version", v.GitVersion, v.Major)
	}
	if len(c.Kubeconfig) == 0 || c.KubeconfigPath == "" || c.RESTConfig == nil {
		t.Errorf("cluster is missing its kubeconfig or REST config: %+v", c)
	}
}

func TestNamespaceIsCreatedAndCleanedUp(t *testing.T) {
	c := clustertest.Shared(t)
	var name string
	t.Run("Sub/Test With Spaces", func(t *testing.T) {
		name = c.Namespace(t)
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("Namespace() = %q is not a DNS-1123 label: %v", name, errs)
		}
		if !strings.HasPrefix(name, "testnamespaceiscreatedandcleanedup-sub-test-with-spaces-") {
			t.Errorf("Namespace() = %q is not derived from the test name", name)
		}
		ns, err := c.Clientset.CoreV1().Namespaces().Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get namespace %q: %v", name, err)
		}
		if ns.Labels[clustertest.NamespaceLabel] != "true" {
			t.Errorf("namespace %q labels = %v, want %s=true", name, ns.Labels, clustertest.NamespaceLabel)
		}
		if other := c.Namespace(t); other == name {
			t.Errorf("two Namespace() calls returned the same name %q", name)
		}
	})
	// The subtest's cleanup has run: the namespace is gone or terminating.
	ns, err := c.Clientset.CoreV1().Namespaces().Get(t.Context(), name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		t.Fatalf("get namespace %q after cleanup: %v", name, err)
	case ns.DeletionTimestamp == nil:
		t.Errorf("namespace %q still exists without a deletion timestamp after the test's cleanup", name)
	}
}

func TestDeploymentBecomesAvailable(t *testing.T) {
	t.Parallel()
	c := clustertest.Shared(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	createDeployment(ctx, t, c.Clientset, ns, "web", 2, nil)
	d := waitDeployment(ctx, t, c.Clientset, ns, "web", func(d *appsv1.Deployment) bool {
		return d.Status.AvailableReplicas == 2 && d.Status.UpdatedReplicas == 2
	})
	if d.Status.ReadyReplicas != 2 {
		t.Errorf("deployment web: readyReplicas = %d, want 2", d.Status.ReadyReplicas)
	}
}

func TestNeverReadyDeploymentStaysUnavailable(t *testing.T) {
	t.Parallel()
	c := clustertest.Shared(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	createDeployment(ctx, t, c.Clientset, ns, "broken", 2, map[string]string{clustertest.NeverReadyLabel: "true"})
	// A normal Deployment created at the same time is the control: it must become available, which shows
	// that the cluster processes Pods while the broken one stays unavailable.
	createDeployment(ctx, t, c.Clientset, ns, "control", 2, nil)
	waitDeployment(ctx, t, c.Clientset, ns, "control", func(d *appsv1.Deployment) bool {
		return d.Status.AvailableReplicas == 2
	})

	// The never-ready Pods are scheduled and Running...
	sel := "app=broken"
	waitPods(ctx, t, c.Clientset, ns, sel, func(pods []corev1.Pod) error {
		if len(pods) != 2 {
			return fmt.Errorf("%d pods, want 2", len(pods))
		}
		for _, p := range pods {
			if p.Spec.NodeName == "" || p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod %s: node %q, phase %s; want scheduled and Running", p.Name, p.Spec.NodeName, p.Status.Phase)
			}
		}
		return nil
	})

	// ...but during a window well beyond the ~0.2 s it took the control to become available, neither
	// a Pod turns Ready nor the Deployment available.
	window := time.NewTimer(3 * time.Second)
	defer window.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-window.C:
			done = true
		case <-tick.C:
		}
		d, err := c.Clientset.AppsV1().Deployments(ns).Get(ctx, "broken", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get deployment broken: %v", err)
		}
		if d.Status.AvailableReplicas != 0 || d.Status.ReadyReplicas != 0 {
			t.Fatalf("deployment broken: available %d, ready %d; want 0 and 0 (pods labelled %s=true must never be Ready)",
				d.Status.AvailableReplicas, d.Status.ReadyReplicas, clustertest.NeverReadyLabel)
		}
		pods, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatalf("list pods %s: %v", sel, err)
		}
		for _, p := range pods.Items {
			if podReady(&p) || p.Status.Phase != corev1.PodRunning {
				t.Fatalf("pod %s: phase %s, ready %v; want Running and not Ready", p.Name, p.Status.Phase, podReady(&p))
			}
		}
	}
}

func TestBarePodRunsToCompletion(t *testing.T) {
	t.Parallel()
	c := clustertest.Shared(t)
	ns := c.Namespace(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// A bare Pod with restartPolicy Never (like a helm test hook) must finish; with restartPolicy
	// Always it keeps running.
	for _, tc := range []struct {
		name   string
		policy corev1.RestartPolicy
		want   corev1.PodPhase
	}{
		{"hook", corev1.RestartPolicyNever, corev1.PodSucceeded},
		{"server", corev1.RestartPolicyAlways, corev1.PodRunning},
	} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: tc.name, Labels: map[string]string{"pod": tc.name}},
			Spec: corev1.PodSpec{
				RestartPolicy: tc.policy,
				Containers:    []corev1.Container{{Name: "c", Image: "example.invalid/busybox:1"}},
			},
		}
		if _, err := c.Clientset.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", tc.name, err)
		}
		waitPods(ctx, t, c.Clientset, ns, "pod="+tc.name, func(pods []corev1.Pod) error {
			if len(pods) != 1 || pods[0].Status.Phase != tc.want {
				return fmt.Errorf("pod %s not %s yet", tc.name, tc.want)
			}
			return nil
		})
	}
}

func createDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32, extraLabels map[string]string) {
	t.Helper()
	labels := map[string]string{"app": name}
	for k, v := range extraLabels {
		labels[k] = v
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "app",
					Image: "example.invalid/nginx:1", // never pulled: kwok runs no container
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
					}},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s/%s: %v", ns, name, err)
	}
}

// waitDeployment polls until ok(deployment) holds; the test fails when ctx ends first.
func waitDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, ok func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var last *appsv1.Deployment
	for {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			last = d
			if ok(d) {
				return d
			}
		}
		select {
		case <-ctx.Done():
			if last != nil {
				t.Fatalf("deployment %s/%s: condition not met before %v; status %+v", ns, name, ctx.Err(), last.Status)
			}
			t.Fatalf("deployment %s/%s: %v (last error %v)", ns, name, ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPods polls the Pods matching selector until check returns nil; the test fails when ctx ends first.
func waitPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, selector string, check func([]corev1.Pod) error) {
	t.Helper()
	var why error
	for {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			if why = check(pods.Items); why == nil {
				return
			}
		} else {
			why = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pods %s in %s: %v before %v", selector, ns, why, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
