package kdu

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kdu-io/kdu/internal/engine/helm"
	"github.com/kdu-io/kdu/internal/naming"
)

// Service returns one Service of a cluster by namespace and name (docs/n2vc.md#get_service), in the shape of
// Services: type, cluster IP, ports, load-balancer IPs and hostnames. An empty namespace is the cluster's
// default namespace.
func (m *Manager) Service(ctx context.Context, clusterRef, namespace, name string) (*Service, error) {
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		return nil, invalidf("name", "%q is not a Service name: %s", name, strings.Join(errs, "; "))
	}
	if namespace != "" {
		if err := naming.ValidateNamespace(namespace); err != nil {
			return nil, invalid("namespace", err)
		}
	}
	cc, _, ns, err := m.helperCluster(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	if namespace != "" {
		ns = namespace
	}
	ctx, cancel := helperContext(ctx)
	defer cancel()
	svc, err := cc.conn.Clientset.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, kubeCall{what: fmt.Sprintf("reading Service %q", ns+"/"+name), field: "name",
			missingKind: "service", missing: fmt.Sprintf("Service %q", ns+"/"+name), missingField: "name"}.err(err)
	}
	out := helm.ServiceOf(svc)
	return &out, nil
}
