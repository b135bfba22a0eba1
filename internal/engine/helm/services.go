package helm

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kdu-io/kdu/internal/engine"
)

// Services returns the Services of a release's manifest as they are in the cluster (docs/n2vc.md#get_services):
// type, cluster IP, ports and load-balancer ingress IPs and hostnames. A pending load balancer has no ingress
// yet, which is reported as empty lists. Services of the manifest missing from the cluster are skipped.
func (e *Engine) Services(ctx context.Context, key engine.Key) ([]engine.Service, error) {
	rec, err := e.reader.find(ctx, key.Namespace, key.Name)
	if err != nil {
		return nil, err
	}
	refs, err := e.reader.objects(rec)
	if err != nil {
		return nil, err
	}
	return services(ctx, refs, e.reader.object)
}

// services returns the Services among a manifest's objects, read live.
func services(ctx context.Context, refs []objectRef, get objectGetter) ([]engine.Service, error) {
	out := []engine.Service{}
	for _, ref := range refs {
		if ref.Kind != "Service" || ref.GVR.Group != "" || ref.mapErr != nil {
			continue
		}
		obj, err := get(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("reading service %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		if obj == nil {
			continue
		}
		var svc corev1.Service
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &svc); err != nil {
			return nil, fmt.Errorf("decoding service %s/%s: %w", ref.Namespace, ref.Name, err)
		}
		out = append(out, ServiceOf(&svc))
	}
	return out, nil
}

// ServiceOf is a Service as kdu reports it.
func ServiceOf(svc *corev1.Service) engine.Service {
	s := engine.Service{
		Name:      svc.Name,
		Namespace: svc.Namespace,
		Type:      string(svc.Spec.Type),
		ClusterIP: svc.Spec.ClusterIP,
		Ports:     []engine.ServicePort{},
	}
	if s.Type == "" {
		s.Type = string(corev1.ServiceTypeClusterIP)
	}
	for _, p := range svc.Spec.Ports {
		sp := engine.ServicePort{Name: p.Name, Protocol: string(p.Protocol), Port: p.Port, NodePort: p.NodePort}
		if p.TargetPort.String() != "0" {
			sp.TargetPort = p.TargetPort.String()
		}
		if sp.Protocol == "" {
			sp.Protocol = string(corev1.ProtocolTCP)
		}
		s.Ports = append(s.Ports, sp)
	}
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			s.ExternalIPs = append(s.ExternalIPs, in.IP)
		}
		if in.Hostname != "" {
			s.Hostnames = append(s.Hostnames, in.Hostname)
		}
	}
	return s
}
