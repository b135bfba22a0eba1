package kdu_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/testkit/clustertest"
)

// helperName is a name no other test uses: the test's namespace's random suffix after prefix.
func (e *env) helperName(prefix string) string { return prefix + "-" + e.ns[len(e.ns)-5:] }

// cleanupNamespace deletes a namespace a test made through kdu, when the test ends.
func (e *env) cleanupNamespace(name string) {
	e.t.Cleanup(func() {
		err := tc.Clientset.CoreV1().Namespaces().Delete(e.ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			e.t.Errorf("delete namespace %s: %v", name, err)
		}
	})
}

func wantNotFound(t *testing.T, err error, kind, field string) {
	t.Helper()
	var nf *kdu.NotFoundError
	if !errors.As(err, &nf) || !errors.Is(err, kdu.ErrNotFound) || nf.Kind != kind || nf.Field != field {
		t.Fatalf("error %v: want a %s not found naming field %q", err, kind, field)
	}
}

// TestNamespaceHelpers: CreateNamespace creates with labels, merges labels into an existing namespace without
// touching the rest of it, refuses bad labels before anything exists and a namespace being deleted;
// DeleteNamespace is idempotent and never deletes Kubernetes' own namespaces.
func TestNamespaceHelpers(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	nss := tc.Clientset.CoreV1().Namespaces()
	name := e.helperName("helper-ns")
	e.cleanupNamespace(name)

	ns, err := e.m.CreateNamespace(e.ctx, clusterID, kdu.NamespaceOptions{Name: name,
		Labels: map[string]string{"osm.etsi.org/ns-id": "0f3c", "managed-by": "osm.etsi.org"}})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Result != kdu.ResultCreated || ns.Name != name || ns.Phase != "Active" || ns.Labels["osm.etsi.org/ns-id"] != "0f3c" ||
		ns.Labels["kubernetes.io/metadata.name"] != name {
		t.Fatalf("created: %+v", ns)
	}
	// Again, the same labels: nothing to do.
	if ns, err = e.m.CreateNamespace(e.ctx, clusterID, kdu.NamespaceOptions{Name: name, Labels: map[string]string{"managed-by": "osm.etsi.org"}}); err != nil || ns.Result != kdu.ResultUnchanged {
		t.Fatalf("again: %+v %v", ns, err)
	}
	// Someone else labels and annotates it; kdu merges its labels and keeps theirs.
	cur, err := nss.Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Labels["team"] = "core"
	cur.Annotations = map[string]string{"note": "keep me"}
	if _, err := nss.Update(e.ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err = e.m.CreateNamespace(e.ctx, clusterID, kdu.NamespaceOptions{Name: name,
		Labels: map[string]string{"osm.etsi.org/ns-id": "9a9a", "osm.etsi.org/vnf-id": ""}})
	if err != nil || ns.Result != kdu.ResultUpdated {
		t.Fatalf("merge: %+v %v", ns, err)
	}
	cur, err = nss.Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"kubernetes.io/metadata.name": name, "managed-by": "osm.etsi.org", "osm.etsi.org/ns-id": "9a9a",
		"osm.etsi.org/vnf-id": "", "team": "core"}
	if !reflect.DeepEqual(cur.Labels, want) || cur.Annotations["note"] != "keep me" || !reflect.DeepEqual(ns.Labels, want) {
		t.Fatalf("after merging: labels %v (answered %v), annotations %v", cur.Labels, ns.Labels, cur.Annotations)
	}

	// Bad input: refused naming the field, and nothing is created.
	other := e.helperName("helper-ns-bad")
	for _, c := range []struct {
		opts  kdu.NamespaceOptions
		field string
	}{
		{kdu.NamespaceOptions{Name: "Helper"}, "name"},
		{kdu.NamespaceOptions{Name: ""}, "name"},
		{kdu.NamespaceOptions{Name: other, Labels: map[string]string{"bad key": "x"}}, `labels["bad key"]`},
		{kdu.NamespaceOptions{Name: other, Labels: map[string]string{"ok": "bad value"}}, `labels["ok"]`},
		{kdu.NamespaceOptions{Name: other, Labels: map[string]string{"kubernetes.io/metadata.name": "elsewhere"}}, `labels["kubernetes.io/metadata.name"]`},
	} {
		_, err := e.m.CreateNamespace(e.ctx, clusterID, c.opts)
		wantErr(t, err, kdu.ErrInvalid, c.field)
	}
	if _, err := nss.Get(e.ctx, other, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused request created namespace %s: %v", other, err)
	}
	_, err = e.m.CreateNamespace(e.ctx, "no-such-cluster", kdu.NamespaceOptions{Name: other})
	wantErr(t, err, kdu.ErrNotFound, "")

	// Delete: started (Terminating or gone), again fine, a namespace that never was fine, Kubernetes' own refused.
	if err := e.m.DeleteNamespace(e.ctx, clusterID, name); err != nil {
		t.Fatal(err)
	}
	if cur, err := nss.Get(e.ctx, name, metav1.GetOptions{}); err == nil && cur.DeletionTimestamp == nil {
		t.Fatalf("namespace %s not being deleted: %+v", name, cur.Status)
	}
	if err := e.m.DeleteNamespace(e.ctx, clusterID, name); err != nil {
		t.Fatalf("delete again: %v", err)
	}
	if err := e.m.DeleteNamespace(e.ctx, clusterID, other); err != nil {
		t.Fatalf("delete a namespace that does not exist: %v", err)
	}
	for _, sys := range []string{"kube-system", "default", "kube-public", "kube-node-lease"} {
		wantErr(t, e.m.DeleteNamespace(e.ctx, clusterID, sys), kdu.ErrInvalid, "name")
	}
	wantErr(t, e.m.DeleteNamespace(e.ctx, clusterID, "Bad"), kdu.ErrInvalid, "name")
	if _, err := nss.Get(e.ctx, "kube-public", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestNamespaceBeingDeleted: a namespace held in Terminating (a ConfigMap in it keeps a finalizer) cannot be
// created again (ErrExists), and deleting it again is success.
func TestNamespaceBeingDeleted(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	name := e.helperName("helper-held")
	e.cleanupNamespace(name)
	if _, err := e.m.CreateNamespace(e.ctx, clusterID, kdu.NamespaceOptions{Name: name}); err != nil {
		t.Fatal(err)
	}
	cms := tc.Clientset.CoreV1().ConfigMaps(name)
	if _, err := cms.Create(e.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"kdu.test/hold"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, err := cms.Patch(e.ctx, "held", "application/merge-patch+json", []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("release the finalizer: %v", err)
		}
	})
	if err := e.m.DeleteNamespace(e.ctx, clusterID, name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cur, err := tc.Clientset.CoreV1().Namespaces().Get(e.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cur.Status.Phase == corev1.NamespaceTerminating {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s not Terminating: %+v", name, cur.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err := e.m.CreateNamespace(e.ctx, clusterID, kdu.NamespaceOptions{Name: name, Labels: map[string]string{"a": "b"}})
	wantErr(t, err, kdu.ErrExists, "")
	if !strings.Contains(err.Error(), "being deleted") {
		t.Fatalf("error %q does not say the namespace is being deleted", err)
	}
	if err := e.m.DeleteNamespace(e.ctx, clusterID, name); err != nil {
		t.Fatalf("delete a Terminating namespace: %v", err)
	}
}

var certificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}

func certificateSpec(t *testing.T, e *env, ns, name string) map[string]any {
	t.Helper()
	dyn, err := dynamic.NewForConfig(tc.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := dyn.Resource(certificates).Namespace(ns).Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get certificate %s/%s: %v", ns, name, err)
	}
	spec, _, _ := unstructured.NestedMap(obj.Object, "spec")
	return spec
}

// TestCertificateHelpers: without cert-manager's CRD, creating is a typed error naming it (after input
// validation) and deleting is success; with it, a Certificate is created as N2VC made it, left unchanged when
// asked again, updated to a new request (keeping fields kdu does not set), refused on bad input with nothing
// created, and deleted idempotently. The test leaves the CRD installed.
func TestCertificateHelpers(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	tc.CertManagerCRD(t, false)

	opts := kdu.CertificateOptions{Namespace: e.ns, Name: "ee-tls", DNSPrefix: "*"}
	_, err := e.m.CreateCertificate(e.ctx, clusterID, opts)
	var crd *kdu.CRDNotInstalledError
	if !errors.As(err, &crd) || !errors.Is(err, kdu.ErrUnsupported) || crd.CRD != clustertest.CertificateCRD ||
		!strings.Contains(err.Error(), "certificates.cert-manager.io") || !strings.Contains(err.Error(), "cert-manager") {
		t.Fatalf("without the CRD: %v, want a CRDNotInstalledError naming %s", err, clustertest.CertificateCRD)
	}
	bad := opts
	bad.DNSPrefix = ""
	_, err = e.m.CreateCertificate(e.ctx, clusterID, bad)
	wantErr(t, err, kdu.ErrInvalid, "dnsPrefix") // input is checked before the cluster
	if err := e.m.DeleteCertificate(e.ctx, clusterID, e.ns, "ee-tls"); err != nil {
		t.Fatalf("delete without the CRD: %v", err)
	}

	tc.CertManagerCRD(t, true)
	cert, err := e.m.CreateCertificate(e.ctx, clusterID, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"*." + e.ns, "*." + e.ns + ".svc", "*." + e.ns + ".svc.cluster", "*." + e.ns + ".svc.cluster.local"}
	if cert.Result != kdu.ResultCreated || cert.SecretName != "ee-tls" || cert.IssuerName != "ca-issuer" || cert.IssuerKind != "ClusterIssuer" ||
		cert.Duration != "8760h" || cert.RenewBefore != "2208h" || !reflect.DeepEqual(cert.DNSNames, wantNames) {
		t.Fatalf("created: %+v", cert)
	}
	spec := certificateSpec(t, e, e.ns, "ee-tls")
	wantSpec := map[string]any{
		"secretName":  "ee-tls",
		"privateKey":  map[string]any{"rotationPolicy": "Always", "algorithm": "ECDSA", "size": int64(256)},
		"duration":    "8760h",
		"renewBefore": "2208h",
		"subject":     map[string]any{"organizations": []any{"osm"}},
		"commonName":  "osm",
		"isCA":        false,
		"dnsNames":    []any{wantNames[0], wantNames[1], wantNames[2], wantNames[3]},
		"issuerRef":   map[string]any{"name": "ca-issuer", "kind": "ClusterIssuer", "group": "cert-manager.io"},
	}
	if !reflect.DeepEqual(spec, wantSpec) {
		t.Fatalf("spec:\n got %#v\nwant %#v", spec, wantSpec)
	}
	if cert, err = e.m.CreateCertificate(e.ctx, clusterID, opts); err != nil || cert.Result != kdu.ResultUnchanged {
		t.Fatalf("again: %+v %v", cert, err)
	}

	// Someone adds a field kdu does not set; a changed request updates kdu's fields and keeps it.
	dyn, err := dynamic.NewForConfig(tc.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	res := dyn.Resource(certificates).Namespace(e.ns)
	obj, err := res.Get(e.ctx, "ee-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(obj.Object, "Delete", "spec", "revisionHistoryLimitPolicy"); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Update(e.ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	changed := kdu.CertificateOptions{Namespace: e.ns, Name: "ee-tls", DNSPrefix: "ee-vnf1", SecretName: "ee-tls-secret",
		IssuerName: "ee-issuer", IssuerKind: "Issuer", Usages: []string{"server auth", "client auth"},
		Duration: 90 * 24 * time.Hour, RenewBefore: 30 * 24 * time.Hour}
	if cert, err = e.m.CreateCertificate(e.ctx, clusterID, changed); err != nil || cert.Result != kdu.ResultUpdated {
		t.Fatalf("update: %+v %v", cert, err)
	}
	spec = certificateSpec(t, e, e.ns, "ee-tls")
	if spec["secretName"] != "ee-tls-secret" || spec["duration"] != "2160h" || spec["renewBefore"] != "720h" ||
		!reflect.DeepEqual(spec["usages"], []any{"server auth", "client auth"}) ||
		!reflect.DeepEqual(spec["issuerRef"], map[string]any{"name": "ee-issuer", "kind": "Issuer", "group": "cert-manager.io"}) ||
		!reflect.DeepEqual(spec["dnsNames"], []any{"ee-vnf1." + e.ns, "ee-vnf1." + e.ns + ".svc", "ee-vnf1." + e.ns + ".svc.cluster", "ee-vnf1." + e.ns + ".svc.cluster.local"}) ||
		spec["revisionHistoryLimitPolicy"] != "Delete" {
		t.Fatalf("updated spec: %#v", spec)
	}
	// Back to no usages: the field goes.
	if cert, err = e.m.CreateCertificate(e.ctx, clusterID, opts); err != nil || cert.Result != kdu.ResultUpdated {
		t.Fatalf("update back: %+v %v", cert, err)
	}
	if spec = certificateSpec(t, e, e.ns, "ee-tls"); spec["usages"] != nil || spec["revisionHistoryLimitPolicy"] != "Delete" {
		t.Fatalf("spec after dropping usages: %#v", spec)
	}

	// Bad input: the field is named and nothing is created.
	for _, c := range []struct {
		edit  func(o *kdu.CertificateOptions)
		field string
	}{
		{func(o *kdu.CertificateOptions) { o.Name = "Bad" }, "name"},
		{func(o *kdu.CertificateOptions) { o.Name = "" }, "name"},
		{func(o *kdu.CertificateOptions) { o.Namespace = "Bad" }, "namespace"},
		{func(o *kdu.CertificateOptions) { o.DNSPrefix = "" }, "dnsPrefix"},
		{func(o *kdu.CertificateOptions) { o.DNSPrefix = "a.*" }, "dnsPrefix"},
		{func(o *kdu.CertificateOptions) { o.DNSPrefix = "Svc" }, "dnsPrefix"},
		{func(o *kdu.CertificateOptions) { o.SecretName = "a_b" }, "secretName"},
		{func(o *kdu.CertificateOptions) { o.IssuerName = "Ca" }, "issuerName"},
		{func(o *kdu.CertificateOptions) { o.IssuerKind = "issuer" }, "issuerKind"},
		{func(o *kdu.CertificateOptions) { o.Usages = []string{"server auth", "serverAuth"} }, "usages[1]"},
		{func(o *kdu.CertificateOptions) { o.Duration = 30 * time.Minute }, "duration"},
		{func(o *kdu.CertificateOptions) { o.RenewBefore = 9000 * time.Hour }, "renewBefore"},
	} {
		o := kdu.CertificateOptions{Namespace: e.ns, Name: "ee-tls-bad", DNSPrefix: "*"}
		c.edit(&o)
		_, err := e.m.CreateCertificate(e.ctx, clusterID, o)
		wantErr(t, err, kdu.ErrInvalid, c.field)
	}
	if list, err := res.List(e.ctx, metav1.ListOptions{}); err != nil || len(list.Items) != 1 {
		t.Fatalf("refused requests created certificates: %v %v", list, err)
	}
	_, err = e.m.CreateCertificate(e.ctx, clusterID, kdu.CertificateOptions{Namespace: "no-such-ns-" + e.ns[len(e.ns)-5:], Name: "x", DNSPrefix: "*"})
	wantNotFound(t, err, "namespace", "namespace")

	// The cluster's default namespace: the reference's namespace part.
	if cert, err = e.m.CreateCertificate(e.ctx, e.ns+":"+clusterID, kdu.CertificateOptions{Name: "ee-default", DNSPrefix: "svc"}); err != nil ||
		cert.Namespace != e.ns || cert.DNSNames[0] != "svc."+e.ns {
		t.Fatalf("default namespace: %+v %v", cert, err)
	}

	// Delete, twice; a missing namespace is fine too.
	for range 2 {
		if err := e.m.DeleteCertificate(e.ctx, clusterID, e.ns, "ee-tls"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := res.Get(e.ctx, "ee-tls", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("certificate still there: %v", err)
	}
	if err := e.m.DeleteCertificate(e.ctx, e.ns+":"+clusterID, "", "ee-default"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DeleteCertificate(e.ctx, clusterID, "no-such-ns-"+e.ns[len(e.ns)-5:], "x"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.m.DeleteCertificate(e.ctx, clusterID, e.ns, "Bad"), kdu.ErrInvalid, "name")
}

// TestCopySecret: one key is copied into a new Opaque Secret; a retry is unchanged; an existing target with
// other content is never overwritten; missing sources, keys and target namespaces are not found naming the
// field; bad names and keys are refused with nothing created.
func TestCopySecret(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	dst := tc.Namespace(t)
	core := tc.Clientset.CoreV1()
	src := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "osm-ca"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"ca.crt": []byte("-----BEGIN CERTIFICATE-----\nMIIB\n"), "tls.crt": []byte("crt"), "tls.key": []byte("the-key")}}
	if _, err := core.Secrets(e.ns).Create(e.ctx, src, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	opts := kdu.SecretCopyOptions{Source: kdu.SecretKeyRef{Namespace: e.ns, Name: "osm-ca", Key: "ca.crt"},
		Target: kdu.SecretKeyRef{Namespace: dst, Name: "ee-ca"}}
	cp, err := e.m.CopySecret(e.ctx, clusterID, opts)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Result != kdu.ResultCreated || cp.Target.Key != "ca.crt" || cp.Target.Namespace != dst || cp.Source.Namespace != e.ns {
		t.Fatalf("copy: %+v", cp)
	}
	got, err := core.Secrets(dst).Get(e.ctx, "ee-ca", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != corev1.SecretTypeOpaque || len(got.Data) != 1 || string(got.Data["ca.crt"]) != string(src.Data["ca.crt"]) {
		t.Fatalf("target: type %s, data %v", got.Type, got.Data)
	}
	if cp, err = e.m.CopySecret(e.ctx, clusterID, opts); err != nil || cp.Result != kdu.ResultUnchanged {
		t.Fatalf("retry: %+v %v", cp, err)
	}
	// Another key into the same target: refused, the target untouched.
	other := opts
	other.Source.Key = "tls.key"
	_, err = e.m.CopySecret(e.ctx, clusterID, other)
	wantErr(t, err, kdu.ErrExists, "")
	if got, err := core.Secrets(dst).Get(e.ctx, "ee-ca", metav1.GetOptions{}); err != nil || len(got.Data) != 1 || got.Data["tls.key"] != nil {
		t.Fatalf("target after a refused copy: %v %v", got.Data, err)
	}
	// A target key of its own, and the namespaces from the cluster reference.
	cp, err = e.m.CopySecret(e.ctx, dst+":"+clusterID, kdu.SecretCopyOptions{Source: kdu.SecretKeyRef{Namespace: e.ns, Name: "osm-ca", Key: "tls.key"},
		Target: kdu.SecretKeyRef{Name: "ee-key", Key: "private.key"}})
	if err != nil || cp.Target.Namespace != dst || cp.Target.Key != "private.key" {
		t.Fatalf("copy with a target key: %+v %v", cp, err)
	}
	if got, err := core.Secrets(dst).Get(e.ctx, "ee-key", metav1.GetOptions{}); err != nil || string(got.Data["private.key"]) != "the-key" || len(got.Data) != 1 {
		t.Fatalf("ee-key: %v %v", got, err)
	}

	// Missing things: not found, naming the field.
	missing := opts
	missing.Source.Name = "no-such-secret"
	_, err = e.m.CopySecret(e.ctx, clusterID, missing)
	wantNotFound(t, err, "secret", "source.name")
	missing = opts
	missing.Source.Key = "nope.crt"
	missing.Target.Name = "ee-nope"
	_, err = e.m.CopySecret(e.ctx, clusterID, missing)
	wantNotFound(t, err, "secret key", "source.key")
	if !strings.Contains(err.Error(), `"nope.crt"`) || !strings.Contains(err.Error(), "ca.crt, tls.crt, tls.key") {
		t.Fatalf("missing key: %v", err)
	}
	missing = opts
	missing.Target.Namespace = "no-such-ns-" + e.ns[len(e.ns)-5:]
	_, err = e.m.CopySecret(e.ctx, clusterID, missing)
	wantNotFound(t, err, "namespace", "target.namespace")

	// Bad input: the field, and nothing created.
	for _, c := range []struct {
		edit  func(o *kdu.SecretCopyOptions)
		field string
	}{
		{func(o *kdu.SecretCopyOptions) { o.Source.Name = "" }, "source.name"},
		{func(o *kdu.SecretCopyOptions) { o.Source.Namespace = "Osm" }, "source.namespace"},
		{func(o *kdu.SecretCopyOptions) { o.Source.Key = "" }, "source.key"},
		{func(o *kdu.SecretCopyOptions) { o.Source.Key = "a/b" }, "source.key"},
		{func(o *kdu.SecretCopyOptions) { o.Target.Name = "EE" }, "target.name"},
		{func(o *kdu.SecretCopyOptions) { o.Target.Namespace = "a.b" }, "target.namespace"},
		{func(o *kdu.SecretCopyOptions) { o.Target.Key = ".." }, "target.key"},
	} {
		o := opts
		o.Target.Name = "ee-bad"
		c.edit(&o)
		_, err := e.m.CopySecret(e.ctx, clusterID, o)
		wantErr(t, err, kdu.ErrInvalid, c.field)
	}
	if list, err := core.Secrets(dst).List(e.ctx, metav1.ListOptions{}); err != nil || len(list.Items) != 2 {
		t.Fatalf("secrets in the target namespace: %v %v", list, err)
	}
}

// wantCan waits (the RBAC authorizer follows changes through informers) until the API server's answer to
// whether a service account may do verb on resource in ns is want.
func wantCan(t *testing.T, e *env, ns, sa, verb, resource string, want bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err := tc.Clientset.AuthorizationV1().SubjectAccessReviews().Create(e.ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + ns + ":" + sa,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: resource},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("service account %s/%s may %s %s: %v, want %v", ns, sa, verb, resource, r.Status.Allowed, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSetupRBAC: a Role and its RoleBinding are created (and grant what they say), left unchanged when asked
// again, updated to new rules and a new service account; a RoleBinding that cannot be set up leaves the Role as
// it was (deleted when just created, its rules restored when just updated); bad input is refused with nothing
// created; credentials that may not grant a permission are refused naming the rules.
func TestSetupRBAC(t *testing.T) {
	e := newEnv(t, kdu.Options{})
	rbac := tc.Clientset.RbacV1()
	rule := kdu.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list"}}
	opts := kdu.RBACOptions{Namespace: e.ns, Name: "ee-rbac", ServiceAccount: "ee-sa", Rules: []kdu.PolicyRule{rule}}
	wantCan(t, e, e.ns, "ee-sa", "list", "pods", false)
	r, err := e.m.SetupRBAC(e.ctx, clusterID, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Role != kdu.ResultCreated || r.RoleBinding != kdu.ResultCreated || r.Namespace != e.ns || !reflect.DeepEqual(r.Rules, opts.Rules) {
		t.Fatalf("setup: %+v", r)
	}
	role, err := rbac.Roles(e.ns).Get(e.ctx, "ee-rbac", metav1.GetOptions{})
	if err != nil || !reflect.DeepEqual(role.Rules, []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list"}}}) {
		t.Fatalf("role: %+v %v", role, err)
	}
	rb, err := rbac.RoleBindings(e.ns).Get(e.ctx, "ee-rbac", metav1.GetOptions{})
	if err != nil || rb.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "ee-rbac"}) ||
		!reflect.DeepEqual(rb.Subjects, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ee-sa", Namespace: e.ns}}) {
		t.Fatalf("role binding: %+v %v", rb, err)
	}
	wantCan(t, e, e.ns, "ee-sa", "list", "pods", true)
	wantCan(t, e, e.ns, "ee-sa", "delete", "pods", false)
	wantCan(t, e, e.ns, "ee-sa", "get", "secrets", false)
	if r, err = e.m.SetupRBAC(e.ctx, clusterID, opts); err != nil || r.Role != kdu.ResultUnchanged || r.RoleBinding != kdu.ResultUnchanged {
		t.Fatalf("again: %+v %v", r, err)
	}
	changed := opts
	changed.ServiceAccount = "ee-sa2"
	changed.Rules = []kdu.PolicyRule{rule, {APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}
	if r, err = e.m.SetupRBAC(e.ctx, clusterID, changed); err != nil || r.Role != kdu.ResultUpdated || r.RoleBinding != kdu.ResultUpdated {
		t.Fatalf("update: %+v %v", r, err)
	}
	wantCan(t, e, e.ns, "ee-sa2", "get", "secrets", true)
	wantCan(t, e, e.ns, "ee-sa", "list", "pods", false)

	// A RoleBinding of that name binding another role: the binding cannot change, and the Role this call
	// created is removed again.
	clash := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ee-clash"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "view"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "someone", Namespace: e.ns}}}
	if _, err := rbac.RoleBindings(e.ns).Create(e.ctx, clash, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := opts
	c.Name = "ee-clash"
	_, err = e.m.SetupRBAC(e.ctx, clusterID, c)
	wantErr(t, err, kdu.ErrExists, "")
	if !strings.Contains(err.Error(), `ClusterRole "view"`) {
		t.Fatalf("clash: %v", err)
	}
	if _, err := rbac.Roles(e.ns).Get(e.ctx, "ee-clash", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Role of a failed setup is still there: %v", err)
	}
	// The same with a Role that existed: its rules are restored.
	old := []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}}}
	if _, err := rbac.Roles(e.ns).Create(e.ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "ee-clash"}, Rules: old}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = e.m.SetupRBAC(e.ctx, clusterID, c)
	wantErr(t, err, kdu.ErrExists, "")
	if role, err := rbac.Roles(e.ns).Get(e.ctx, "ee-clash", metav1.GetOptions{}); err != nil || !reflect.DeepEqual(role.Rules, old) {
		t.Fatalf("the Role's rules were not restored: %+v %v", role, err)
	}

	// Bad input: the field, and nothing created.
	for _, b := range []struct {
		edit  func(o *kdu.RBACOptions)
		field string
	}{
		{func(o *kdu.RBACOptions) { o.Name = "" }, "name"},
		{func(o *kdu.RBACOptions) { o.Name = "a/b" }, "name"},
		{func(o *kdu.RBACOptions) { o.Namespace = "Bad" }, "namespace"},
		{func(o *kdu.RBACOptions) { o.ServiceAccount = "" }, "serviceAccount"},
		{func(o *kdu.RBACOptions) { o.ServiceAccount = "EE_SA" }, "serviceAccount"},
		{func(o *kdu.RBACOptions) { o.Rules = nil }, "rules"},
		{func(o *kdu.RBACOptions) {
			o.Rules = []kdu.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}
		}, "rules[0].verbs"},
		{func(o *kdu.RBACOptions) {
			o.Rules = []kdu.PolicyRule{{Resources: []string{"pods"}, Verbs: []string{"get"}}}
		}, "rules[0].apiGroups"},
		{func(o *kdu.RBACOptions) {
			o.Rules = []kdu.PolicyRule{rule, {APIGroups: []string{""}, Resources: []string{"pods", ""}, Verbs: []string{"get"}}}
		}, "rules[1].resources[1]"},
	} {
		o := opts
		o.Name = "ee-bad"
		b.edit(&o)
		_, err := e.m.SetupRBAC(e.ctx, clusterID, o)
		wantErr(t, err, kdu.ErrInvalid, b.field)
	}
	if _, err := rbac.Roles(e.ns).Get(e.ctx, "ee-bad", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused request created a Role: %v", err)
	}
	_, err = e.m.SetupRBAC(e.ctx, clusterID, kdu.RBACOptions{Namespace: "no-such-ns-" + e.ns[len(e.ns)-5:], Name: "x", ServiceAccount: "sa", Rules: opts.Rules})
	wantNotFound(t, err, "namespace", "namespace")

	// A tenant, admin of its namespace only: it may grant what it holds, not more (Kubernetes forbids
	// escalation), and it may not create namespaces — but asking for its own, unchanged, is fine.
	if _, err := e.m.AddCluster(e.ctx, kdu.ClusterSpec{ID: "tenant", Kubeconfig: namespacedKubeconfig(t, e)}); err != nil {
		t.Fatal(err)
	}
	if r, err := e.m.SetupRBAC(e.ctx, "tenant", kdu.RBACOptions{Name: "tenant-ee", ServiceAccount: "ee-sa", Rules: opts.Rules}); err != nil ||
		r.Namespace != e.ns || r.Role != kdu.ResultCreated {
		t.Fatalf("tenant setup: %+v %v", r, err)
	}
	_, err = e.m.SetupRBAC(e.ctx, "tenant", kdu.RBACOptions{Name: "tenant-nodes", ServiceAccount: "ee-sa",
		Rules: []kdu.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}}})
	wantErr(t, err, kdu.ErrInvalid, "rules")
	if ns, err := e.m.CreateNamespace(e.ctx, "tenant", kdu.NamespaceOptions{Name: e.ns}); err != nil || ns.Result != kdu.ResultUnchanged {
		t.Fatalf("tenant asks for its own namespace: %+v %v", ns, err)
	}
	_, err = e.m.CreateNamespace(e.ctx, "tenant", kdu.NamespaceOptions{Name: e.helperName("tenant-ns")})
	wantErr(t, err, kdu.ErrInvalid, "name")
	if !strings.Contains(err.Error(), "may not") {
		t.Fatalf("tenant creates a namespace: %v", err)
	}
}
