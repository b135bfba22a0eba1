package tiller

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/engine"
)

// What kdu installs for Tiller (docs/n2vc.md#init_env, N2VC's Helm 2 _cluster_init, without its bug 25 of
// docs/n2vc.md#n2vc-bugs-and-what-kdu-does: the service account lives in Tiller's own namespace, so Tiller can
// use it whatever that namespace is).
const (
	// DeploymentName is Tiller's Deployment and Service, as `helm init` names them.
	DeploymentName = "tiller-deploy"
	// ServiceAccountName is the account Tiller runs as.
	ServiceAccountName = "kdu-tiller"
	// DefaultImage is the Tiller image kdu installs.
	DefaultImage = "ghcr.io/helm/tiller:v2.17.0"
	managedBy    = "kdu"
)

// bindingName is the ClusterRoleBinding of the Tiller of a namespace.
func bindingName(namespace string) string { return "kdu-tiller-" + namespace }

// Detect reports whether Tiller is installed in a namespace (a Deployment tiller-deploy, as N2VC checks).
func Detect(ctx context.Context, conn *cluster.Conn, namespace string) (bool, error) {
	_, err := conn.Clientset.AppsV1().Deployments(namespace).Get(ctx, DeploymentName, metav1.GetOptions{})
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err):
		return false, nil
	}
	return false, fmt.Errorf("%w: looking for Tiller in namespace %s: %w", engine.ErrUnreachable, namespace, err)
}

// Install creates what `helm init --service-account` creates: the namespace if needed, a service account in
// it bound to cluster-admin (Tiller manages arbitrary objects; see the README on what that means), and Tiller's
// Deployment and Service. Objects that exist are kept. image "" is DefaultImage; historyMax bounds the revisions
// Tiller keeps (0: unlimited, as helm2's default).
func Install(ctx context.Context, conn *cluster.Conn, namespace, image string, historyMax int) error {
	if image == "" {
		image = DefaultImage
	}
	cs := conn.Clientset
	labels := map[string]string{"app": "helm", "name": "tiller"}
	owned := map[string]string{"app.kubernetes.io/managed-by": managedBy}
	created := func(err error) bool { return err == nil || apierrors.IsAlreadyExists(err) }
	fail := func(what string, err error) error {
		return fmt.Errorf("installing Tiller in namespace %s: creating %s: %w", namespace, what, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); !created(err) {
		return fail("namespace", err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ServiceAccountName, Namespace: namespace, Labels: owned}}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); !created(err) {
		return fail("service account", err)
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: bindingName(namespace), Labels: owned},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: ServiceAccountName, Namespace: namespace}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); !created(err) {
		return fail("cluster role binding", err)
	}
	one := int32(1)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: DeploymentName, Namespace: namespace, Labels: mergeLabels(labels, owned)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName:           ServiceAccountName,
					AutomountServiceAccountToken: ptr(true),
					Containers: []corev1.Container{{
						Name: "tiller", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
						Env:   []corev1.EnvVar{{Name: "TILLER_NAMESPACE", Value: namespace}, {Name: "TILLER_HISTORY_MAX", Value: strconv.Itoa(historyMax)}},
						Ports: []corev1.ContainerPort{{Name: "tiller", ContainerPort: Port}, {Name: "http", ContainerPort: 44135}},
						LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/liveness", Port: intstr.FromInt32(44135)}},
							InitialDelaySeconds: 1, TimeoutSeconds: 1},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readiness", Port: intstr.FromInt32(44135)}},
							InitialDelaySeconds: 1, TimeoutSeconds: 1},
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(namespace).Create(ctx, dep, metav1.CreateOptions{}); !created(err) {
		return fail("deployment", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: DeploymentName, Namespace: namespace, Labels: mergeLabels(labels, owned)},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: labels,
			Ports: []corev1.ServicePort{{Name: "tiller", Port: Port, TargetPort: intstr.FromString("tiller")}}},
	}
	if _, err := cs.CoreV1().Services(namespace).Create(ctx, svc, metav1.CreateOptions{}); !created(err) {
		return fail("service", err)
	}
	return nil
}

// Uninstall removes Tiller's Deployment and Service, its cluster role binding and service account
// (docs/n2vc.md#reset, uninstall_sw). Objects already gone are not an error. Releases stored by Tiller (its
// Secrets or ConfigMaps) are left alone.
func Uninstall(ctx context.Context, conn *cluster.Conn, namespace string) error {
	cs := conn.Clientset
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	del := func(what string, err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing Tiller's %s in namespace %s: %w", what, namespace, err))
		}
	}
	del("deployment", cs.AppsV1().Deployments(namespace).Delete(ctx, DeploymentName, opts))
	del("service", cs.CoreV1().Services(namespace).Delete(ctx, DeploymentName, opts))
	del("cluster role binding", cs.RbacV1().ClusterRoleBindings().Delete(ctx, bindingName(namespace), opts))
	del("service account", cs.CoreV1().ServiceAccounts(namespace).Delete(ctx, ServiceAccountName, opts))
	return errors.Join(errs...)
}

func mergeLabels(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func ptr[T any](v T) *T { return &v }
