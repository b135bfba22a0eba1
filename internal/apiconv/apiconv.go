// Package apiconv is the one place where the REST API's wire types (package api) and the library's option
// types (package kdu) meet. Requests go API → library in the server and the operation runner (Install, ...);
// the CLI's remote backend sends library options to a server the other way (InstallRequest, ...).
//
// The API's defaults for fields a request leaves out (atomic, wait, create the namespace, timeouts) live next
// to the types, in package api; the conversions apply them here.
package apiconv

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/kubespec"
)

// Values turns API values into the library's value sources: files first, then the values object (as one more
// document), params, set, set-string.
func Values(v api.Values) (kdu.Values, error) {
	out := kdu.Values{Params: v.Params, Set: v.Set, SetString: v.SetString}
	for i, f := range v.Files {
		name := f.Name
		if name == "" {
			name = fmt.Sprintf("valuesFiles[%d]", i)
		}
		out.Files = append(out.Files, kdu.ValuesFile{Name: name, Data: []byte(f.Content)})
	}
	if len(v.Values) > 0 {
		b, err := json.Marshal(v.Values)
		if err != nil {
			return kdu.Values{}, &kdu.FieldError{Field: "values", Reason: err.Error(), Err: err}
		}
		out.Files = append(out.Files, kdu.ValuesFile{Name: "values", Data: b})
	}
	return out, nil
}

// ValuesOf is Values the other way: every library source is sent as it is.
func ValuesOf(v kdu.Values) api.Values {
	out := api.Values{Params: v.Params, Set: v.Set, SetString: v.SetString}
	for _, f := range v.Files {
		out.Files = append(out.Files, api.ValuesFile{Name: f.Name, Content: string(f.Data)})
	}
	return out
}

// Wait applies the API's defaults (atomic, wait) to a request's wait settings.
func Wait(w api.Wait) kdu.Wait {
	return kdu.Wait{Atomic: w.IsAtomic(), Wait: w.Waits(), Timeout: w.Timeout.Std(0)}
}

// WaitOf is Wait the other way; every flag is sent explicitly.
func WaitOf(w kdu.Wait) api.Wait {
	atomic, wait := w.Atomic, w.Wait
	return api.Wait{Atomic: &atomic, Wait: &wait, Timeout: durationOf(w.Timeout)}
}

// Install turns an install request into library options.
func Install(r api.InstallRequest) (kdu.InstallOptions, error) {
	vals, err := Values(r.Values)
	if err != nil {
		return kdu.InstallOptions{}, err
	}
	return kdu.InstallOptions{
		Name: r.Name, Chart: r.Chart, Version: r.Version, RepoURL: r.RepoURL, ChartArchive: r.ChartArchive, Verify: r.Verify,
		Namespace: r.Namespace, CreateNamespace: r.CreatesNamespace(),
		Values: vals, Description: r.Description, PostRender: PostRender(r.PostRender), Wait: Wait(r.Wait),
	}, nil
}

// InstallRequest is Install the other way. The chart fields are sent as they are: a local chart must be
// packaged into ChartArchive first (the server does not read the caller's files).
func InstallRequest(o kdu.InstallOptions) api.InstallRequest {
	create := o.CreateNamespace
	return api.InstallRequest{Name: o.Name,
		ChartSource: api.ChartSource{Chart: o.Chart, Version: o.Version, RepoURL: o.RepoURL, ChartArchive: o.ChartArchive, Verify: o.Verify},
		Namespace:   o.Namespace, CreateNamespace: &create, Description: o.Description, Values: ValuesOf(o.Values),
		PostRender: PostRenderOf(o.PostRender), Wait: WaitOf(o.Wait)}
}

// valuesModes maps the API's values modes to the library's; "" is reuse.
var valuesModes = map[string]kdu.ValuesMode{
	"": kdu.ReuseValues, "reuse": kdu.ReuseValues, "reset": kdu.ResetValues, "reset-then-reuse": kdu.ResetThenReuseValues,
}

// ValuesModeOf names a library values mode as the API does.
func ValuesModeOf(m kdu.ValuesMode) string {
	switch m {
	case kdu.ResetValues:
		return "reset"
	case kdu.ResetThenReuseValues:
		return "reset-then-reuse"
	}
	return "reuse"
}

// Upgrade turns an upgrade request into library options.
func Upgrade(r api.UpgradeRequest) (kdu.UpgradeOptions, error) {
	mode, ok := valuesModes[r.ValuesMode]
	if !ok {
		return kdu.UpgradeOptions{}, &kdu.FieldError{Field: "valuesMode",
			Reason: fmt.Sprintf("%q is not one of reuse, reset, reset-then-reuse", r.ValuesMode)}
	}
	vals, err := Values(r.Values)
	if err != nil {
		return kdu.UpgradeOptions{}, err
	}
	return kdu.UpgradeOptions{
		Chart: r.Chart, Version: r.Version, RepoURL: r.RepoURL, ChartArchive: r.ChartArchive, Verify: r.Verify, Values: vals,
		ValuesMode: mode, ForceConflicts: r.ForceConflicts, ForceReplace: r.ForceReplace, Description: r.Description,
		PostRender: PostRender(r.PostRender), Wait: Wait(r.Wait),
	}, nil
}

// UpgradeRequest is Upgrade the other way, for the release in namespace ns.
func UpgradeRequest(ns string, o kdu.UpgradeOptions) api.UpgradeRequest {
	return api.UpgradeRequest{Namespace: ns,
		ChartSource: api.ChartSource{Chart: o.Chart, Version: o.Version, RepoURL: o.RepoURL, ChartArchive: o.ChartArchive, Verify: o.Verify},
		ValuesMode:  ValuesModeOf(o.ValuesMode), ForceConflicts: o.ForceConflicts, ForceReplace: o.ForceReplace,
		Description: o.Description, Values: ValuesOf(o.Values), PostRender: PostRenderOf(o.PostRender), Wait: WaitOf(o.Wait)}
}

// Scale turns a scale request into library options, validated.
func Scale(r api.ScaleRequest) (kdu.ScaleOptions, error) {
	if r.Replicas == nil {
		return kdu.ScaleOptions{}, &kdu.FieldError{Field: "replicas", Reason: "is required"}
	}
	o := kdu.ScaleOptions{Replicas: *r.Replicas, Resource: r.Resource, ForceReplace: r.ForceReplace,
		PostRender: PostRender(r.PostRender), Wait: Wait(r.Wait)}
	return o, o.Validate()
}

// ScaleRequest is Scale the other way.
func ScaleRequest(ns string, o kdu.ScaleOptions) api.ScaleRequest {
	n := o.Replicas
	return api.ScaleRequest{Namespace: ns, Replicas: &n, Resource: o.Resource, ForceReplace: o.ForceReplace,
		PostRender: PostRenderOf(o.PostRender), Wait: WaitOf(o.Wait)}
}

// PostRender turns a request's post-render settings into the library's; absent fields stay nil (keep).
func PostRender(p api.PostRender) kdu.PostRender {
	return kdu.PostRender{PodLabels: p.PodLabels, NodeSelector: p.NodeSelector}
}

// PostRenderOf is PostRender the other way.
func PostRenderOf(p kdu.PostRender) api.PostRender {
	return api.PostRender{PodLabels: p.PodLabels, NodeSelector: p.NodeSelector}
}

// Migrate turns a migrate request into library options, validated. A migrate always waits and is atomic.
func Migrate(r api.MigrateRequest) (kdu.MigrateOptions, error) {
	o := kdu.MigrateOptions{NodeSelector: r.NodeSelector, Wait: kdu.Wait{Wait: true, Atomic: true, Timeout: r.Timeout.Std(0)}}
	return o, o.Validate()
}

// MigrateRequest is Migrate the other way.
func MigrateRequest(ns string, o kdu.MigrateOptions) api.MigrateRequest {
	return api.MigrateRequest{Namespace: ns, NodeSelector: o.NodeSelector, Timeout: durationOf(o.Timeout)}
}

// Rollback turns a rollback request into library options, validated. A rollback waits by default and is
// never atomic (there is nothing to roll back to).
func Rollback(r api.RollbackRequest) (kdu.RollbackOptions, error) {
	o := kdu.RollbackOptions{Revision: r.Revision, Wait: kdu.Wait{Wait: r.Waits(), Timeout: r.Timeout.Std(0)}}
	return o, o.Validate()
}

// RollbackRequest is Rollback the other way. Atomic, which a rollback does not have, asks to wait.
func RollbackRequest(ns string, o kdu.RollbackOptions) api.RollbackRequest {
	w := o.Wait.Wait || o.Atomic
	return api.RollbackRequest{Namespace: ns, Revision: o.Revision, Wait: &w, Timeout: durationOf(o.Timeout)}
}

// Uninstall turns an uninstall request into library options, validated.
func Uninstall(r api.UninstallRequest) (kdu.UninstallOptions, error) {
	o := kdu.UninstallOptions{Wait: r.Wait, Timeout: r.Timeout.Std(0)}
	return o, o.Validate()
}

// UninstallRequest is Uninstall the other way.
func UninstallRequest(ns string, o kdu.UninstallOptions) api.UninstallRequest {
	return api.UninstallRequest{Namespace: ns, Wait: o.Wait, Timeout: durationOf(o.Timeout)}
}

// Cluster turns a cluster registration into the library's spec, in project (the server decides the project
// from the request and the caller's token).
func Cluster(r api.ClusterRequest, project string) kdu.ClusterSpec {
	return kdu.ClusterSpec{ID: r.ID, Kubeconfig: []byte(r.Kubeconfig), Context: r.Context, Namespace: r.Namespace,
		Project: project, Flavour: r.Flavour, TillerNamespace: r.TillerNamespace, TillerAddress: r.TillerAddress,
		Replace: r.Replace}
}

// ClusterRequest is Cluster the other way.
func ClusterRequest(s kdu.ClusterSpec) api.ClusterRequest {
	return api.ClusterRequest{ID: s.ID, Kubeconfig: string(s.Kubeconfig), Context: s.Context, Namespace: s.Namespace,
		Project: s.Project, Flavour: s.Flavour, TillerNamespace: s.TillerNamespace, TillerAddress: s.TillerAddress,
		Replace: s.Replace}
}

// Repo turns a repository request into the library's spec.
func Repo(r api.RepoRequest) kdu.RepoSpec {
	return kdu.RepoSpec{ID: r.ID, Name: r.Name, URL: r.URL, Type: r.Type, Username: r.Username, Password: r.Password,
		CACert: []byte(r.CACert), CertPEM: []byte(r.ClientCert), KeyPEM: []byte(r.ClientKey),
		InsecureSkipVerify: r.InsecureSkipVerify, PassCredentials: r.PassCredentials, PlainHTTP: r.PlainHTTP,
		Keyring: []byte(r.Keyring)}
}

// RepoRequest is Repo the other way; secrets are sent (over the connection only).
func RepoRequest(s kdu.RepoSpec) api.RepoRequest {
	return api.RepoRequest{ID: s.ID, Name: s.Name, URL: s.URL, Type: s.Type, Username: s.Username, Password: s.Password,
		CACert: string(s.CACert), ClientCert: string(s.CertPEM), ClientKey: string(s.KeyPEM),
		InsecureSkipVerify: s.InsecureSkipVerify, PassCredentials: s.PassCredentials, PlainHTTP: s.PlainHTTP,
		Keyring: string(s.Keyring)}
}

// Show turns a chart show request into library options.
func Show(r api.ShowRequest) kdu.ShowOptions {
	return kdu.ShowOptions{Cluster: r.Cluster, Chart: r.Chart, Version: r.Version, RepoURL: r.RepoURL,
		ChartArchive: r.ChartArchive, Verify: r.Verify}
}

// ShowRequest is Show the other way.
func ShowRequest(o kdu.ShowOptions) api.ShowRequest {
	return api.ShowRequest{Cluster: o.Cluster, ChartSource: api.ChartSource{Chart: o.Chart, Version: o.Version,
		RepoURL: o.RepoURL, ChartArchive: o.ChartArchive, Verify: o.Verify}}
}

func durationOf(d time.Duration) *api.Duration {
	if d == 0 {
		return nil
	}
	v := api.Duration(d)
	return &v
}

// Namespace turns the request for namespace name into library options.
func Namespace(name string, r api.NamespaceRequest) kdu.NamespaceOptions {
	return kdu.NamespaceOptions{Name: name, Labels: r.Labels}
}

// NamespaceRequest is Namespace the other way (the name goes in the path).
func NamespaceRequest(o kdu.NamespaceOptions) api.NamespaceRequest {
	return api.NamespaceRequest{Labels: o.Labels}
}

// Certificate turns the request for Certificate name in namespace into library options. Its durations are Go
// durations ("8760h"); "" means the default.
func Certificate(namespace, name string, r api.CertificateRequest) (kdu.CertificateOptions, error) {
	o := kdu.CertificateOptions{Namespace: namespace, Name: name, DNSPrefix: r.DNSPrefix, SecretName: r.SecretName,
		IssuerName: r.IssuerName, IssuerKind: r.IssuerKind, Usages: r.Usages}
	for _, d := range []struct {
		field, in string
		out       *time.Duration
	}{{"duration", r.Duration, &o.Duration}, {"renewBefore", r.RenewBefore, &o.RenewBefore}} {
		if d.in == "" {
			continue
		}
		v, err := time.ParseDuration(d.in)
		if err != nil {
			return kdu.CertificateOptions{}, &kdu.FieldError{Field: d.field, Reason: fmt.Sprintf("%q is not a duration such as \"8760h\" or \"90m\"", d.in)}
		}
		*d.out = v
	}
	return o, nil
}

// CertificateRequest is Certificate the other way (the namespace and name go in the path).
func CertificateRequest(o kdu.CertificateOptions) api.CertificateRequest {
	r := api.CertificateRequest{DNSPrefix: o.DNSPrefix, SecretName: o.SecretName, IssuerName: o.IssuerName,
		IssuerKind: o.IssuerKind, Usages: o.Usages}
	if o.Duration != 0 {
		r.Duration = kubespec.FormatDuration(o.Duration)
	}
	if o.RenewBefore != 0 {
		r.RenewBefore = kubespec.FormatDuration(o.RenewBefore)
	}
	return r
}

// SecretCopy turns a copy request into library options.
func SecretCopy(r api.SecretCopyRequest) kdu.SecretCopyOptions {
	return kdu.SecretCopyOptions{Source: r.Source, Target: r.Target}
}

// SecretCopyRequest is SecretCopy the other way.
func SecretCopyRequest(o kdu.SecretCopyOptions) api.SecretCopyRequest {
	return api.SecretCopyRequest{Source: o.Source, Target: o.Target}
}

// RBAC turns the request for the Role and RoleBinding name in namespace into library options.
func RBAC(namespace, name string, r api.RBACRequest) kdu.RBACOptions {
	return kdu.RBACOptions{Namespace: namespace, Name: name, ServiceAccount: r.ServiceAccount, Rules: r.Rules}
}

// RBACRequest is RBAC the other way (the namespace and name go in the path).
func RBACRequest(o kdu.RBACOptions) api.RBACRequest {
	return api.RBACRequest{ServiceAccount: o.ServiceAccount, Rules: o.Rules}
}
