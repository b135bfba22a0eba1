package helm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kdu-io/kdu/internal/engine"
)

// testMapper serves Deployment, Service and ConfigMap (namespaced) and ClusterRole (cluster-scoped).
func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Service"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, meta.RESTScopeRoot)
	return m
}

// refID renders a ref for comparison: Kind/namespace/name@group/version/resource (or !unmapped).
func refID(r objectRef) string {
	s := r.Kind + "/" + r.Namespace + "/" + r.Name
	if r.mapErr != nil {
		return s + "!unmapped"
	}
	return s + "@" + r.GVR.Group + "/" + r.GVR.Version + "/" + r.GVR.Resource
}

// A manifest as Helm renders it: "# Source:" comments, an empty document, a document of only comments, and
// documents without kind or name.
const sampleManifest = `---
# Source: webapp/templates/clusterrole.yaml
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: web-reader
  namespace: ignored-for-cluster-scoped
---
# Source: webapp/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
data:
  index.html: "---"
---
---
# Source: webapp/templates/empty.yaml
# nothing rendered here
---
# Source: webapp/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: other
spec:
  ports:
  - port: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  namespace: nameless
---
apiVersion: v1
metadata:
  name: kindless
---
# Source: webapp/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
# Source: webapp/templates/widget.yaml
apiVersion: example.com/v1
kind: Widget
metadata:
  name: gadget
  namespace: explicit
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: gizmo
`

func TestParseManifest(t *testing.T) {
	cases := []struct {
		name     string
		manifest string
		ns       string
		want     []string
		wantErr  string
	}{
		{name: "helm manifest", manifest: sampleManifest, ns: "apps", want: []string{
			"ClusterRole//web-reader@rbac.authorization.k8s.io/v1/clusterroles",
			"ConfigMap/apps/web@/v1/configmaps",
			"Service/other/web@/v1/services",
			"Deployment/apps/web@apps/v1/deployments",
			"Widget/explicit/gadget!unmapped",
			"Widget//gizmo!unmapped",
		}},
		{name: "empty", manifest: "", ns: "apps"},
		{name: "only separators and comments", manifest: "---\n# hello\n---\n\n---\n", ns: "apps"},
		{name: "no leading separator", manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", ns: "x",
			want: []string{"ConfigMap/x/a@/v1/configmaps"}},
		{name: "json document", manifest: `{"apiVersion":"v1","kind":"Service","metadata":{"name":"j"}}`, ns: "x",
			want: []string{"Service/x/j@/v1/services"}},
		{name: "no release namespace", manifest: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", ns: "",
			want: []string{"ConfigMap//a@/v1/configmaps"}},
		{name: "invalid yaml document", manifest: "---\napiVersion: v1\nkind: ConfigMap\n---\nkind: [unclosed\n", ns: "x",
			wantErr: "release manifest document"},
		{name: "invalid apiVersion", manifest: "apiVersion: a/b/c\nkind: ConfigMap\nmetadata:\n  name: a\n", ns: "x",
			wantErr: "ConfigMap a"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refs, err := parseManifest(tc.manifest, tc.ns, testMapper())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseManifest: %v", err)
			}
			var got []string
			for _, r := range refs {
				got = append(got, refID(r))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("parseManifest =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// TestParseManifestOrder checks numeric document order past ten documents (manifest-10 after manifest-9).
func TestParseManifestOrder(t *testing.T) {
	var b strings.Builder
	var want []string
	for i := range 15 {
		fmt.Fprintf(&b, "---\n# Source: c/templates/cm%d.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n", i, i)
		want = append(want, fmt.Sprintf("cm-%d", i))
	}
	refs, err := parseManifest(b.String(), "ns", testMapper())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add(sampleManifest, "apps")
	f.Add("", "")
	f.Add("---\n# hello\n---\n\n---\n", "apps")
	f.Add(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"j"}}`, "x")
	f.Add("apiVersion: a/b/c\nkind: ConfigMap\nmetadata:\n  name: a\n", "x")
	f.Add("kind: ClusterRole\nmetadata:\n  name: r\n", "x")
	mapper := testMapper()
	f.Fuzz(func(t *testing.T, manifest, ns string) {
		refs, err := parseManifest(manifest, ns, mapper)
		if err != nil {
			return
		}
		for _, r := range refs {
			if r.Kind == "" || r.Name == "" {
				t.Fatalf("ref without kind or name: %+v", r)
			}
			if r.mapErr != nil {
				continue
			}
			if r.Kind == "ClusterRole" && r.Namespace != "" {
				t.Fatalf("cluster-scoped object got namespace %q", r.Namespace)
			}
			if r.Kind != "ClusterRole" && r.Namespace == "" && ns != "" {
				t.Fatalf("namespaced object %s/%s got no namespace", r.Kind, r.Name)
			}
		}
		_ = resourceStatuses(context.Background(), refs, func(context.Context, objectRef) (*unstructured.Unstructured, error) {
			return nil, nil
		})
	})
}

func deployment(name string, available int64) *unstructured.Unstructured {
	cond := func(typ, status, reason string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason}
	}
	conds := []any{cond("Available", "True", "MinimumReplicasAvailable"), cond("Progressing", "True", "NewReplicaSetAvailable")}
	if available == 0 {
		conds = []any{cond("Available", "False", "MinimumReplicasUnavailable"), cond("Progressing", "True", "ReplicaSetUpdated")}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": name, "namespace": "apps", "generation": int64(1)},
		"spec":       map[string]any{"replicas": int64(2)},
		"status": map[string]any{
			"observedGeneration": int64(1),
			"replicas":           int64(2),
			"updatedReplicas":    int64(2),
			"readyReplicas":      available,
			"availableReplicas":  available,
			"conditions":         conds,
		},
	}}
}

func TestResourceStatuses(t *testing.T) {
	refs, err := parseManifest(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: ready}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: starting}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: gone}
---
apiVersion: v1
kind: Service
metadata: {name: broken}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: gadget, namespace: apps}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
`, "apps", testMapper())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	asked := map[string]bool{}
	get := func(ctx context.Context, ref objectRef) (*unstructured.Unstructured, error) {
		mu.Lock()
		asked[ref.Name] = true
		mu.Unlock()
		if ref.Namespace != "apps" {
			return nil, fmt.Errorf("asked for namespace %q", ref.Namespace)
		}
		switch ref.Name {
		case "ready":
			return deployment("ready", 2), nil
		case "starting":
			return deployment("starting", 0), nil
		case "gone":
			return nil, nil
		case "broken":
			return nil, errors.New("services \"broken\" is forbidden: user cannot get")
		case "plain":
			return &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "plain", "namespace": "apps"},
			}}, nil
		}
		return nil, fmt.Errorf("unexpected ref %+v", ref)
	}
	got := resourceStatuses(context.Background(), refs, get)
	want := []engine.Resource{
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "apps", Name: "ready", Status: "Current", Ready: true},
		{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "apps", Name: "starting", Status: "InProgress"},
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "apps", Name: "gone", Status: "NotFound", Message: "not found"},
		{APIVersion: "v1", Kind: "Service", Namespace: "apps", Name: "broken", Status: "Unknown",
			Message: "services \"broken\" is forbidden: user cannot get"},
		{APIVersion: "example.com/v1", Kind: "Widget", Namespace: "apps", Name: "gadget", Status: "Unknown"},
		{APIVersion: "v1", Kind: "ConfigMap", Namespace: "apps", Name: "plain", Status: "Current", Ready: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d resources, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if w.Message == "" {
			g.Message = "" // kstatus wording is not ours; checked below where it matters
		}
		if g != w {
			t.Errorf("resource %d = %+v, want %+v", i, got[i], w)
		}
	}
	if !strings.Contains(got[4].Message, "kind not served") {
		t.Errorf("unmapped kind message = %q, want it to say the kind is not served", got[4].Message)
	}
	if got[1].Message == "" {
		t.Error("a Deployment in progress has no message")
	}
	if asked["gadget"] {
		t.Error("the getter was called for a kind the cluster does not serve")
	}

	t.Run("many objects concurrently", func(t *testing.T) {
		var refs []objectRef
		for i := range 40 {
			refs = append(refs, objectRef{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "apps", Name: fmt.Sprint(i),
				GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}})
		}
		got := resourceStatuses(context.Background(), refs, func(_ context.Context, ref objectRef) (*unstructured.Unstructured, error) {
			return deployment(ref.Name, 2), nil
		})
		for i, r := range got {
			if r.Name != fmt.Sprint(i) || !r.Ready {
				t.Fatalf("resource %d = %+v", i, r)
			}
		}
	})
}

func TestServiceOf(t *testing.T) {
	cases := []struct {
		name string
		svc  corev1.Service
		want engine.Service
	}{
		{
			name: "ClusterIP by default, named and numeric target ports",
			svc: corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"},
				Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
					{Name: "metrics", Protocol: corev1.ProtocolUDP, Port: 9090, TargetPort: intstr.FromInt32(9091)},
					{Port: 8080},
				}},
			},
			want: engine.Service{Name: "web", Namespace: "apps", Type: "ClusterIP", ClusterIP: "10.96.0.10", Ports: []engine.ServicePort{
				{Name: "http", Protocol: "TCP", Port: 80, TargetPort: "http"},
				{Name: "metrics", Protocol: "UDP", Port: 9090, TargetPort: "9091"},
				{Protocol: "TCP", Port: 8080},
			}},
		},
		{
			name: "NodePort",
			svc: corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "np", Namespace: "apps"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.11", Ports: []corev1.ServicePort{
					{Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: 30080, Protocol: corev1.ProtocolTCP},
				}},
			},
			want: engine.Service{Name: "np", Namespace: "apps", Type: "NodePort", ClusterIP: "10.96.0.11", Ports: []engine.ServicePort{
				{Protocol: "TCP", Port: 80, TargetPort: "8080", NodePort: 30080},
			}},
		},
		{
			name: "LoadBalancer pending",
			svc: corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "lb", Namespace: "apps"},
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
			},
			want: engine.Service{Name: "lb", Namespace: "apps", Type: "LoadBalancer", Ports: []engine.ServicePort{}},
		},
		{
			name: "LoadBalancer with IP and hostname ingress",
			svc: corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "lb", Namespace: "apps"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{
					{Port: 443, TargetPort: intstr.FromString("https"), NodePort: 31443},
				}},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
					{IP: "203.0.113.7"},
					{Hostname: "lb.example.com"},
					{IP: "203.0.113.8", Hostname: "lb2.example.com"},
					{},
				}}},
			},
			want: engine.Service{Name: "lb", Namespace: "apps", Type: "LoadBalancer",
				Ports:       []engine.ServicePort{{Protocol: "TCP", Port: 443, TargetPort: "https", NodePort: 31443}},
				ExternalIPs: []string{"203.0.113.7", "203.0.113.8"},
				Hostnames:   []string{"lb.example.com", "lb2.example.com"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ServiceOf(&tc.svc)
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tc.want) {
				t.Errorf("serviceOf =\n  %#v\nwant\n  %#v", got, tc.want)
			}
			if got.Ports == nil {
				t.Error("Ports is nil; want an empty list")
			}
		})
	}
}
