package kdu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	rbacclient "k8s.io/client-go/kubernetes/typed/rbac/v1"
	"k8s.io/client-go/util/retry"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/engine/helm"
	"github.com/kdu-io/kdu/internal/kubespec"
	"github.com/kdu-io/kdu/internal/naming"
)

// The Kubernetes helpers (N2VC's create_namespace, delete_namespace, create_certificate, delete_certificate,
// copy_secret_data and setup_default_rbac) act on a registered cluster directly, besides Helm. Each validates
// every input before it calls the cluster, is idempotent, and reports what it did (created, updated,
// unchanged). Their results are the API's types.
type (
	// Namespace is a namespace as CreateNamespace left it.
	Namespace = api.Namespace
	// Certificate is a cert-manager Certificate as CreateCertificate left it.
	Certificate = api.Certificate
	// SecretKeyRef names one key of a Secret.
	SecretKeyRef = api.SecretKeyRef
	// SecretCopy reports a CopySecret.
	SecretCopy = api.SecretCopy
	// PolicyRule is one rule of a Role.
	PolicyRule = api.PolicyRule
	// RBAC reports a SetupRBAC.
	RBAC = api.RBAC
	// Result says what a helper did to an object.
	Result = api.Result
)

// Results.
const (
	ResultCreated   = api.ResultCreated
	ResultUpdated   = api.ResultUpdated
	ResultUnchanged = api.ResultUnchanged
)

// Certificate defaults, N2VC's.
const (
	DefaultIssuerName             = api.DefaultIssuerName
	DefaultIssuerKind             = api.DefaultIssuerKind
	DefaultCertificateDuration    = 8760 * time.Hour // one year
	DefaultCertificateRenewBefore = 2208 * time.Hour // about three months before it expires
)

// helperTimeout bounds a helper whose context has no deadline: each makes a few quick API calls.
const helperTimeout = 30 * time.Second

func helperContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, helperTimeout)
}

// helperCluster resolves the cluster of a helper: its connection, id and default namespace (the reference's
// namespace part, else the cluster's). It reads kdu's store only, never the cluster.
func (m *Manager) helperCluster(ctx context.Context, ref string) (*clusterConn, string, string, error) {
	nsPart, id, err := naming.ParseClusterID(ref)
	if err != nil {
		return nil, "", "", invalid("cluster", err)
	}
	cc, rec, err := m.connection(ctx, id)
	if err != nil {
		return nil, "", "", err
	}
	return cc, id, firstNonEmpty(nsPart, rec.Namespace, "default"), nil
}

// kubeCall says how to report the API server's refusal of one request of a helper.
type kubeCall struct {
	what  string // what was asked, for messages: `creating Secret "ns/name"`
	field string // the request field that named the object
	// A 404 means missingKind (what NotFoundError.Kind says) was not found: missing names it, missingField is
	// the request field that named it.
	missingKind, missing, missingField string
}

// err maps an API server's answer to kdu's errors, keeping its text.
func (k kubeCall) err(err error) error {
	var status apierrors.APIStatus
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", k.what, err)
	case !errors.As(err, &status):
		return &wrapped{fmt.Errorf("%s: %w", k.what, err), ErrUnreachable}
	case apierrors.IsNotFound(err):
		return &NotFoundError{Kind: k.missingKind, Msg: k.missing + " not found", Field: k.missingField, Err: err}
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return &wrapped{fmt.Errorf("%s: its namespace is being deleted: %w", k.what, err), ErrExists}
	case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err):
		return &wrapped{fmt.Errorf("%s: %w", k.what, err), ErrExists}
	case apierrors.IsForbidden(err):
		return &FieldError{Field: k.field, Reason: fmt.Sprintf("%s: the cluster's credentials may not do this: %v", k.what, err), Err: err}
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return &FieldError{Field: k.field, Reason: fmt.Sprintf("%s: the API server refused it: %v", k.what, err), Err: err}
	case apierrors.IsUnauthorized(err):
		return &wrapped{fmt.Errorf("%s: the API server refused kdu's credentials (401 Unauthorized): %w", k.what, err), ErrUnreachable}
	}
	return &wrapped{fmt.Errorf("%s: %w", k.what, err), ErrUnreachable}
}

// ---- Namespaces ----

// NamespaceOptions describe a namespace for CreateNamespace (N2VC's create_namespace).
type NamespaceOptions struct {
	// Name is the namespace's name, a DNS-1123 label.
	Name string
	// Labels are set on a new namespace, and merged into an existing one's.
	Labels map[string]string
}

// Validate checks the name and every label (keys qualified names, values label values, as Kubernetes
// requires).
func (o NamespaceOptions) Validate() error {
	if err := kubespec.Namespace("name", o.Name); err != nil {
		return err
	}
	return kubespec.Labels(o.Name, o.Labels)
}

func namespaceOf(ns *corev1.Namespace, r Result) *Namespace {
	return &Namespace{Name: ns.Name, Labels: ns.Labels, Phase: string(ns.Status.Phase), Result: r}
}

// CreateNamespace creates a namespace with labels. It is idempotent: an existing namespace gets the labels
// merged into its own (each given label set to its value, the others kept) and nothing else of it changes; a
// namespace being deleted is ErrExists. Credentials that may not create namespaces still succeed on one that
// exists and has the labels.
func (m *Manager) CreateNamespace(ctx context.Context, clusterRef string, opts NamespaceOptions) (*Namespace, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cc, id, _, err := m.helperCluster(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	ctx, cancel := helperContext(ctx)
	defer cancel()
	call := kubeCall{what: fmt.Sprintf("creating namespace %q", opts.Name), field: "name",
		missingKind: "namespace", missing: fmt.Sprintf("namespace %q", opts.Name), missingField: "name"}
	nss := cc.conn.Clientset.CoreV1().Namespaces()
	ns, err := nss.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.Name, Labels: opts.Labels}},
		metav1.CreateOptions{FieldManager: helm.FieldManager})
	if err == nil {
		m.log.Info("namespace created", "cluster", id, "namespace", opts.Name)
		return namespaceOf(ns, ResultCreated), nil
	}
	if !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return nil, call.err(err)
	}
	createErr := err
	ns, err = nss.Get(ctx, opts.Name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsForbidden(createErr) {
			return nil, call.err(createErr)
		}
		return nil, call.err(err)
	}
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return nil, fmt.Errorf("namespace %q is being deleted; create it again once it is gone: %w", opts.Name, ErrExists)
	}
	merge := map[string]string{}
	for k, v := range opts.Labels {
		if cur, ok := ns.Labels[k]; !ok || cur != v {
			merge[k] = v
		}
	}
	if len(merge) == 0 {
		return namespaceOf(ns, ResultUnchanged), nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": merge}})
	if err != nil {
		return nil, err
	}
	call.what = fmt.Sprintf("labelling namespace %q", opts.Name)
	ns, err = nss.Patch(ctx, opts.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: helm.FieldManager})
	if err != nil {
		return nil, call.err(err)
	}
	m.log.Info("namespace labelled", "cluster", id, "namespace", opts.Name, "labels", sortedKeys(merge))
	return namespaceOf(ns, ResultUpdated), nil
}

// DeleteNamespace deletes a namespace and everything in it (N2VC's delete_namespace). Kubernetes finishes the
// deletion in the background: the namespace is Terminating until its contents are gone. It is idempotent: a
// namespace that does not exist, or is being deleted already, is success. Kubernetes' own namespaces
// (default, kube-system, kube-public, kube-node-lease) are refused.
func (m *Manager) DeleteNamespace(ctx context.Context, clusterRef, name string) error {
	if err := kubespec.DeletableNamespace("name", name); err != nil {
		return err
	}
	cc, id, _, err := m.helperCluster(ctx, clusterRef)
	if err != nil {
		return err
	}
	ctx, cancel := helperContext(ctx)
	defer cancel()
	err = cc.conn.Clientset.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	switch {
	case err == nil:
		m.log.Info("namespace deleted", "cluster", id, "namespace", name)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err): // gone, or Terminating already
		return nil
	}
	return kubeCall{what: fmt.Sprintf("deleting namespace %q", name), field: "name"}.err(err)
}

// ---- cert-manager Certificates ----

// certificateGVR is cert-manager's Certificate resource, and certificateCRD its definition's name.
var certificateGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}

const certificateCRD = "certificates.cert-manager.io"

// CertificateOptions describe a cert-manager Certificate for CreateCertificate (N2VC's create_certificate).
type CertificateOptions struct {
	// Namespace holds the Certificate and its Secret; "" means the cluster's default namespace.
	Namespace string
	// Name is the Certificate's name.
	Name string
	// DNSPrefix gives the DNS names, N2VC's four: <prefix>.<namespace>, <prefix>.<namespace>.svc,
	// <prefix>.<namespace>.svc.cluster and <prefix>.<namespace>.svc.cluster.local. "*" covers every service
	// of the namespace. Required.
	DNSPrefix string
	// SecretName is the Secret cert-manager writes the key pair to; "" means Name.
	SecretName string
	// IssuerName is the issuer that signs the certificate; "" means DefaultIssuerName ("ca-issuer").
	IssuerName string
	// IssuerKind is api.IssuerKindClusterIssuer (the default, N2VC's) or api.IssuerKindIssuer.
	IssuerKind string
	// Usages are X.509 key usages as cert-manager names them ("server auth", ...); none means cert-manager's
	// default (digital signature, key encipherment).
	Usages []string
	// Duration is the certificate's lifetime (default one year) and RenewBefore how long before its expiry
	// cert-manager renews it (default 2208h).
	Duration, RenewBefore time.Duration
}

// resolve fills in the defaults (defaultNS for the namespace) and validates every field.
func (o CertificateOptions) resolve(defaultNS string) (CertificateOptions, error) {
	o.Namespace = firstNonEmpty(o.Namespace, defaultNS)
	o.SecretName = firstNonEmpty(o.SecretName, o.Name)
	o.IssuerName = firstNonEmpty(o.IssuerName, DefaultIssuerName)
	o.IssuerKind = firstNonEmpty(o.IssuerKind, DefaultIssuerKind)
	if o.Duration == 0 {
		o.Duration = DefaultCertificateDuration
	}
	if o.RenewBefore == 0 {
		o.RenewBefore = DefaultCertificateRenewBefore
	}
	o.Usages = slices.Clone(o.Usages)
	for _, check := range []func() error{
		func() error { return kubespec.Namespace("namespace", o.Namespace) },
		func() error { return kubespec.ObjectName("name", o.Name) },
		func() error { return kubespec.DNSPrefix(o.DNSPrefix, o.Namespace) },
		func() error { return kubespec.ObjectName("secretName", o.SecretName) },
		func() error { return kubespec.ObjectName("issuerName", o.IssuerName) },
		func() error { return kubespec.IssuerKind(o.IssuerKind) },
		func() error { return kubespec.Usages(o.Usages) },
		func() error { return kubespec.Lifetime(o.Duration, o.RenewBefore) },
	} {
		if err := check(); err != nil {
			return o, err
		}
	}
	return o, nil
}

// certificateSpecKeys are the fields of a Certificate's spec that kdu sets; others (set by someone else) are
// left alone.
var certificateSpecKeys = []string{"secretName", "privateKey", "duration", "renewBefore", "subject", "commonName",
	"isCA", "usages", "dnsNames", "issuerRef"}

// certificateSpec is the spec N2VC wrote: an ECDSA P-256 key rotated on every renewal, subject O=osm, CN=osm,
// not a CA, for the DNS names of the prefix.
func certificateSpec(o CertificateOptions) map[string]any {
	spec := map[string]any{
		"secretName":  o.SecretName,
		"privateKey":  map[string]any{"rotationPolicy": "Always", "algorithm": "ECDSA", "size": int64(256)},
		"duration":    kubespec.FormatDuration(o.Duration),
		"renewBefore": kubespec.FormatDuration(o.RenewBefore),
		"subject":     map[string]any{"organizations": []any{"osm"}},
		"commonName":  "osm",
		"isCA":        false,
		"dnsNames":    anySlice(kubespec.DNSNames(o.DNSPrefix, o.Namespace)),
		"issuerRef":   map[string]any{"name": o.IssuerName, "kind": o.IssuerKind, "group": certificateGVR.Group},
	}
	if len(o.Usages) > 0 {
		spec["usages"] = anySlice(o.Usages)
	}
	return spec
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func certificateOf(o CertificateOptions, r Result) *Certificate {
	return &Certificate{Namespace: o.Namespace, Name: o.Name, SecretName: o.SecretName,
		DNSNames: kubespec.DNSNames(o.DNSPrefix, o.Namespace), IssuerName: o.IssuerName, IssuerKind: o.IssuerKind,
		Usages: o.Usages, Duration: kubespec.FormatDuration(o.Duration), RenewBefore: kubespec.FormatDuration(o.RenewBefore),
		Result: r}
}

// certManagerServed checks, with the cluster's discovery (which any authenticated user may read), that the
// API server serves cert-manager's Certificates.
func certManagerServed(ctx context.Context, cc *clusterConn) error {
	gv := certificateGVR.GroupVersion().String()
	raw, err := cc.conn.Clientset.Discovery().RESTClient().Get().AbsPath("/apis/" + gv).Do(ctx).Raw()
	if apierrors.IsNotFound(err) {
		return &CRDNotInstalledError{CRD: certificateCRD, Needs: "cert-manager"}
	}
	if err != nil {
		return kubeCall{what: "looking for cert-manager's " + gv + " API", field: "cluster"}.err(err)
	}
	var list metav1.APIResourceList
	if err := json.Unmarshal(raw, &list); err != nil {
		return &wrapped{fmt.Errorf("looking for cert-manager's %s API: %w", gv, err), ErrUnreachable}
	}
	for _, r := range list.APIResources {
		if r.Name == certificateGVR.Resource {
			return nil
		}
	}
	return &CRDNotInstalledError{CRD: certificateCRD, Needs: "cert-manager"}
}

// CreateCertificate creates or updates a cert-manager Certificate (cert-manager.io/v1). The cluster must serve
// the CRD certificates.cert-manager.io (a *CRDNotInstalledError, ErrUnsupported, otherwise) and the namespace
// must exist (a NotFoundError). An existing Certificate of that name gets the fields kdu sets replaced by the
// request's (ResultUpdated), or is left as it is when they match already (ResultUnchanged); N2VC kept an
// existing one whatever it held.
func (m *Manager) CreateCertificate(ctx context.Context, clusterRef string, opts CertificateOptions) (*Certificate, error) {
	cc, id, defNS, err := m.helperCluster(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	o, err := opts.resolve(defNS)
	if err != nil {
		return nil, err
	}
	ctx, cancel := helperContext(ctx)
	defer cancel()
	if err := certManagerServed(ctx, cc); err != nil {
		return nil, err
	}
	desired := certificateSpec(o)
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": certificateGVR.GroupVersion().String(), "kind": "Certificate",
		"metadata": map[string]any{"name": o.Name, "namespace": o.Namespace},
		"spec":     desired,
	}}
	call := kubeCall{what: fmt.Sprintf("creating Certificate %q in namespace %q", o.Name, o.Namespace), field: "name",
		missingKind: "namespace", missing: fmt.Sprintf("namespace %q", o.Namespace), missingField: "namespace"}
	res := cc.conn.Dynamic.Resource(certificateGVR).Namespace(o.Namespace)
	result := ResultCreated
	if _, err = res.Create(ctx, obj, metav1.CreateOptions{FieldManager: helm.FieldManager}); apierrors.IsAlreadyExists(err) {
		call.what = fmt.Sprintf("updating Certificate %q in namespace %q", o.Name, o.Namespace)
		call.missingKind, call.missing, call.missingField = "certificate", fmt.Sprintf("Certificate %q in namespace %q", o.Name, o.Namespace), "name"
		result, err = updateCertificate(ctx, res, o.Name, desired)
	}
	if err != nil {
		return nil, call.err(err)
	}
	m.log.Info("certificate "+string(result), "cluster", id, "namespace", o.Namespace, "certificate", o.Name,
		"issuer", o.IssuerKind+"/"+o.IssuerName)
	return certificateOf(o, result), nil
}

// updateCertificate makes the fields kdu sets of an existing Certificate's spec the desired ones.
func updateCertificate(ctx context.Context, res dynamic.ResourceInterface, name string, desired map[string]any) (Result, error) {
	result := ResultUnchanged
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := res.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		spec, _ := cur.Object["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
		}
		same := true
		for _, k := range certificateSpecKeys {
			want, wanted := desired[k]
			got, has := spec[k]
			if wanted != has || (wanted && !reflect.DeepEqual(got, want)) {
				same = false
			}
			if wanted {
				spec[k] = want
			} else {
				delete(spec, k)
			}
		}
		if same {
			result = ResultUnchanged
			return nil
		}
		cur.Object["spec"] = spec
		if _, err := res.Update(ctx, cur, metav1.UpdateOptions{FieldManager: helm.FieldManager}); err != nil {
			return err
		}
		result = ResultUpdated
		return nil
	})
	return result, err
}

// DeleteCertificate deletes a cert-manager Certificate (N2VC's delete_certificate); namespace "" is the
// cluster's default namespace. It is idempotent: a Certificate that does not exist — its namespace missing,
// or cert-manager not installed, included — is success. The Secret cert-manager wrote stays (cert-manager
// leaves it unless told otherwise).
func (m *Manager) DeleteCertificate(ctx context.Context, clusterRef, namespace, name string) error {
	cc, id, defNS, err := m.helperCluster(ctx, clusterRef)
	if err != nil {
		return err
	}
	namespace = firstNonEmpty(namespace, defNS)
	if err := kubespec.Namespace("namespace", namespace); err != nil {
		return err
	}
	if err := kubespec.ObjectName("name", name); err != nil {
		return err
	}
	ctx, cancel := helperContext(ctx)
	defer cancel()
	err = cc.conn.Dynamic.Resource(certificateGVR).Namespace(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	switch {
	case err == nil:
		m.log.Info("certificate deleted", "cluster", id, "namespace", namespace, "certificate", name)
		return nil
	case apierrors.IsNotFound(err): // the Certificate, its namespace or the whole resource (no CRD)
		return nil
	}
	return kubeCall{what: fmt.Sprintf("deleting Certificate %q in namespace %q", name, namespace), field: "name"}.err(err)
}

// ---- Secret copies ----

// SecretCopyOptions describe CopySecret (N2VC's copy_secret_data): one key of a Secret copied into a new Opaque
// Secret.
type SecretCopyOptions struct {
	// Source names the Secret and key to copy. Its namespace defaults to the cluster's default namespace.
	Source SecretKeyRef
	// Target names the new Secret; its namespace defaults to the cluster's default namespace and its key to
	// the source key.
	Target SecretKeyRef
}

// resolve fills in the defaults and validates every field.
func (o SecretCopyOptions) resolve(defaultNS string) (SecretCopyOptions, error) {
	o.Source.Namespace = firstNonEmpty(o.Source.Namespace, defaultNS)
	o.Target.Namespace = firstNonEmpty(o.Target.Namespace, defaultNS)
	o.Target.Key = firstNonEmpty(o.Target.Key, o.Source.Key)
	for _, check := range []func() error{
		func() error { return kubespec.Namespace("source.namespace", o.Source.Namespace) },
		func() error { return kubespec.ObjectName("source.name", o.Source.Name) },
		func() error { return kubespec.SecretKey("source.key", o.Source.Key) },
		func() error { return kubespec.Namespace("target.namespace", o.Target.Namespace) },
		func() error { return kubespec.ObjectName("target.name", o.Target.Name) },
		func() error { return kubespec.SecretKey("target.key", o.Target.Key) },
	} {
		if err := check(); err != nil {
			return o, err
		}
	}
	return o, nil
}

// CopySecret copies one key of a Secret into a new Opaque Secret holding only that key. A source Secret or key
// that does not exist is a NotFoundError whose Field says which ("source.name", "source.key"); so is a missing
// target namespace ("target.namespace"). An existing target is never changed: if it already holds exactly that
// key and value in an Opaque Secret (a retried copy) the copy succeeds with ResultUnchanged, otherwise it is
// ErrExists. The value is never logged or returned.
func (m *Manager) CopySecret(ctx context.Context, clusterRef string, opts SecretCopyOptions) (*SecretCopy, error) {
	cc, id, defNS, err := m.helperCluster(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	o, err := opts.resolve(defNS)
	if err != nil {
		return nil, err
	}
	ctx, cancel := helperContext(ctx)
	defer cancel()
	src, tgt := o.Source, o.Target
	srcName := fmt.Sprintf("Secret %q in namespace %q", src.Name, src.Namespace)
	tgtName := fmt.Sprintf("Secret %q in namespace %q", tgt.Name, tgt.Namespace)
	core := cc.conn.Clientset.CoreV1()
	s, err := core.Secrets(src.Namespace).Get(ctx, src.Name, metav1.GetOptions{})
	if err != nil {
		return nil, kubeCall{what: "reading " + srcName, field: "source.name", missingKind: "secret", missing: srcName, missingField: "source.name"}.err(err)
	}
	value, ok := s.Data[src.Key]
	if !ok {
		return nil, &NotFoundError{Kind: "secret key", Field: "source.key",
			Msg: fmt.Sprintf("key %q not found in %s (its keys: %s)", src.Key, srcName, strings.Join(sortedKeys(s.Data), ", "))}
	}
	out := &SecretCopy{Source: src, Target: tgt, Result: ResultCreated}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: tgt.Name, Namespace: tgt.Namespace},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{tgt.Key: value}}
	_, err = core.Secrets(tgt.Namespace).Create(ctx, secret, metav1.CreateOptions{FieldManager: helm.FieldManager})
	if apierrors.IsAlreadyExists(err) {
		cur, gerr := core.Secrets(tgt.Namespace).Get(ctx, tgt.Name, metav1.GetOptions{})
		if gerr == nil && cur.Type == corev1.SecretTypeOpaque && maps.EqualFunc(cur.Data, secret.Data, bytes.Equal) {
			out.Result = ResultUnchanged
			return out, nil
		}
		return nil, fmt.Errorf("%s already exists and does not hold just that key and value; it is left unchanged (delete it, or copy to another name): %w",
			tgtName, ErrExists)
	}
	if err != nil {
		return nil, kubeCall{what: "creating " + tgtName, field: "target.name", missingKind: "namespace",
			missing: fmt.Sprintf("namespace %q", tgt.Namespace), missingField: "target.namespace"}.err(err)
	}
	m.log.Info("secret key copied", "cluster", id, "from", src.Namespace+"/"+src.Name, "key", src.Key,
		"to", tgt.Namespace+"/"+tgt.Name, "targetKey", tgt.Key)
	return out, nil
}

// ---- Roles and RoleBindings ----

// RBACOptions describe SetupRBAC (N2VC's setup_default_rbac): a Role and a RoleBinding of the same name that
// grants it to a service account of the namespace.
type RBACOptions struct {
	// Namespace holds the Role, the RoleBinding and the service account; "" means the cluster's default
	// namespace.
	Namespace string
	// Name is the Role's and the RoleBinding's.
	Name string
	// ServiceAccount is the service account the Role is granted to (it need not exist yet).
	ServiceAccount string
	// Rules are the Role's rules (N2VC gave one: api groups, resources and verbs).
	Rules []PolicyRule
}

// resolve fills in the defaults and validates every field.
func (o RBACOptions) resolve(defaultNS string) (RBACOptions, error) {
	o.Namespace = firstNonEmpty(o.Namespace, defaultNS)
	rules := make([]PolicyRule, len(o.Rules))
	for i, r := range o.Rules {
		rules[i] = PolicyRule{APIGroups: slices.Clone(r.APIGroups), Resources: slices.Clone(r.Resources), Verbs: slices.Clone(r.Verbs)}
	}
	o.Rules = rules
	for _, check := range []func() error{
		func() error { return kubespec.Namespace("namespace", o.Namespace) },
		func() error { return kubespec.RBACName("name", o.Name) },
		func() error { return kubespec.ObjectName("serviceAccount", o.ServiceAccount) },
		func() error { return kubespec.Rules(o.Rules) },
	} {
		if err := check(); err != nil {
			return o, err
		}
	}
	return o, nil
}

func policyRules(rules []PolicyRule) []rbacv1.PolicyRule {
	out := make([]rbacv1.PolicyRule, len(rules))
	for i, r := range rules {
		out[i] = rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: r.Resources, Verbs: r.Verbs}
	}
	return out
}

// SetupRBAC creates or updates a Role with the rules and a RoleBinding of the same name granting it to the
// service account, in the namespace. It is idempotent: an existing Role gets exactly these rules, an existing
// RoleBinding exactly this subject; each is reported created, updated or unchanged. A RoleBinding of that name
// that binds another role cannot be changed (Kubernetes forbids it): ErrExists. When the RoleBinding fails, the
// Role is put back as it was — deleted if this call created it, its rules restored if it updated them — so
// nothing is left half set up.
func (m *Manager) SetupRBAC(ctx context.Context, clusterRef string, opts RBACOptions) (*RBAC, error) {
	cc, id, defNS, err := m.helperCluster(ctx, clusterRef)
	if err != nil {
		return nil, err
	}
	o, err := opts.resolve(defNS)
	if err != nil {
		return nil, err
	}
	ctx, cancel := helperContext(ctx)
	defer cancel()
	rbac := cc.conn.Clientset.RbacV1()
	roles, bindings := rbac.Roles(o.Namespace), rbac.RoleBindings(o.Namespace)
	roleName := fmt.Sprintf("Role %q in namespace %q", o.Name, o.Namespace)
	rules := policyRules(o.Rules)

	// The Role.
	roleResult, oldRules := ResultCreated, []rbacv1.PolicyRule(nil)
	_, err = roles.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace}, Rules: rules},
		metav1.CreateOptions{FieldManager: helm.FieldManager})
	if apierrors.IsAlreadyExists(err) {
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := roles.Get(ctx, o.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if reflect.DeepEqual(cur.Rules, rules) {
				roleResult = ResultUnchanged
				return nil
			}
			old := cur.Rules
			cur.Rules = rules
			if _, err := roles.Update(ctx, cur, metav1.UpdateOptions{FieldManager: helm.FieldManager}); err != nil {
				return err
			}
			roleResult, oldRules = ResultUpdated, old
			return nil
		})
	}
	if err != nil {
		return nil, kubeCall{what: "setting up " + roleName, field: "rules", missingKind: "namespace",
			missing: fmt.Sprintf("namespace %q", o.Namespace), missingField: "namespace"}.err(err)
	}

	// The RoleBinding.
	bindingResult, err := setupRoleBinding(ctx, bindings, o)
	if err != nil {
		if undoErr := undoRole(ctx, roles, o.Name, roleResult, oldRules); undoErr != nil {
			err = fmt.Errorf("%w (and putting %s back as it was failed: %v)", err, roleName, undoErr)
		} else if roleResult != ResultUnchanged {
			m.log.Warn("role put back after its role binding failed", "cluster", id, "namespace", o.Namespace, "role", o.Name,
				"role_result", roleResult, "err", err)
		}
		return nil, err
	}
	m.log.Info("rbac set up", "cluster", id, "namespace", o.Namespace, "name", o.Name, "serviceAccount", o.ServiceAccount,
		"role", roleResult, "roleBinding", bindingResult)
	return &RBAC{Namespace: o.Namespace, Name: o.Name, ServiceAccount: o.ServiceAccount, Rules: o.Rules,
		Role: roleResult, RoleBinding: bindingResult}, nil
}

// setupRoleBinding creates or updates the RoleBinding of a SetupRBAC.
func setupRoleBinding(ctx context.Context, bindings rbacclient.RoleBindingInterface, o RBACOptions) (Result, error) {
	call := kubeCall{what: fmt.Sprintf("setting up RoleBinding %q in namespace %q", o.Name, o.Namespace), field: "serviceAccount",
		missingKind: "namespace", missing: fmt.Sprintf("namespace %q", o.Namespace), missingField: "namespace"}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: o.Name}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: o.ServiceAccount, Namespace: o.Namespace}}
	_, err := bindings.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace},
		RoleRef: ref, Subjects: subjects}, metav1.CreateOptions{FieldManager: helm.FieldManager})
	if !apierrors.IsAlreadyExists(err) {
		return ResultCreated, call.err(err)
	}
	var other *rbacv1.RoleRef
	result := ResultUnchanged
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := bindings.Get(ctx, o.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.RoleRef != ref {
			other = &cur.RoleRef
			return nil
		}
		if reflect.DeepEqual(cur.Subjects, subjects) {
			result = ResultUnchanged
			return nil
		}
		cur.Subjects = subjects
		if _, err := bindings.Update(ctx, cur, metav1.UpdateOptions{FieldManager: helm.FieldManager}); err != nil {
			return err
		}
		result = ResultUpdated
		return nil
	})
	if err != nil {
		call.missingKind, call.missing, call.missingField = "rolebinding", fmt.Sprintf("RoleBinding %q in namespace %q", o.Name, o.Namespace), "name"
		return "", call.err(err)
	}
	if other != nil {
		return "", fmt.Errorf("RoleBinding %q in namespace %q already exists and binds %s %q; the role of a binding cannot change (delete it first): %w",
			o.Name, o.Namespace, other.Kind, other.Name, ErrExists)
	}
	return result, nil
}

// undoRole puts a Role back as it was before SetupRBAC: deleted if the call created it, its old rules if it
// changed them. It runs even when ctx was cancelled (that may be why the binding failed).
func undoRole(ctx context.Context, roles rbacclient.RoleInterface, name string, done Result, oldRules []rbacv1.PolicyRule) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), helperTimeout)
	defer cancel()
	switch done {
	case ResultCreated:
		if err := roles.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	case ResultUpdated:
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := roles.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Rules = oldRules
			_, err = roles.Update(ctx, cur, metav1.UpdateOptions{FieldManager: helm.FieldManager})
			return err
		})
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
