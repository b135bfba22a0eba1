// Package kubespec holds the pure rules of kdu's Kubernetes helpers (namespaces, cert-manager Certificates,
// Secret copies, Roles and RoleBindings): which inputs are valid, by Kubernetes' own rules (package
// k8s.io/apimachinery's validation), and the DNS names a Certificate covers. Every error is an
// *api.FieldError naming the field as the API spells it (labels["app"], dnsPrefix, rules[0].verbs[1]), so
// the library, the service and the CLI reject bad input alike, before anything reaches a cluster.
package kubespec

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/naming"
)

// MetadataNameLabel is the label Kubernetes sets on every namespace to its name.
const MetadataNameLabel = "kubernetes.io/metadata.name"

// maxQuoted is how many bytes of an offending input an error message shows.
const maxQuoted = 80

// quote renders untrusted input for a message: Go-quoted, shortened if long.
func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q... (%d bytes)", s[:maxQuoted], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func fieldErr(field, format string, args ...any) error {
	return &api.FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// problems joins the messages of apimachinery's validators.
func problems(msgs []string) string { return strings.Join(msgs, "; ") }

// Namespace checks a namespace name (a DNS-1123 label of at most 63 characters).
func Namespace(field, ns string) error {
	if err := naming.ValidateNamespace(ns); err != nil {
		return &api.FieldError{Field: field, Reason: err.Error(), Err: err}
	}
	return nil
}

// systemNamespaces are the namespaces Kubernetes itself needs; kdu never deletes them.
var systemNamespaces = []string{"default", "kube-node-lease", "kube-public", "kube-system"}

// DeletableNamespace checks the name of a namespace to delete: valid, and not one of Kubernetes' own.
func DeletableNamespace(field, ns string) error {
	if err := Namespace(field, ns); err != nil {
		return err
	}
	if slices.Contains(systemNamespaces, ns) {
		return fieldErr(field, "namespace %q belongs to Kubernetes itself and is never deleted", ns)
	}
	return nil
}

// ObjectName checks the name of an object Kubernetes names with a DNS-1123 subdomain (Secrets, service
// accounts, custom resources such as Certificates and Issuers): at most 253 lower-case letters, digits, '-'
// and '.'.
func ObjectName(field, name string) error {
	if name == "" {
		return fieldErr(field, "is required")
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return fieldErr(field, "%s is not a valid name: %s", quote(name), problems(msgs))
	}
	return nil
}

// MaxRBACNameLen bounds Role and RoleBinding names. Kubernetes itself sets no bound on them (they need only be
// path segments); kdu keeps them to the length of other object names.
const MaxRBACNameLen = validation.DNS1123SubdomainMaxLength

// RBACName checks a Role or RoleBinding name by Kubernetes' rule for them (any path segment: not "." or
// "..", no '/' or '%'), at most MaxRBACNameLen bytes, and — kdu's own rule, for names that print and
// travel safely — without spaces or control characters.
func RBACName(field, name string) error {
	if name == "" {
		return fieldErr(field, "is required")
	}
	if len(name) > MaxRBACNameLen {
		return fieldErr(field, "%s is %d bytes long, the maximum is %d", quote(name), len(name), MaxRBACNameLen)
	}
	if msgs := content.IsPathSegmentName(name); len(msgs) > 0 {
		return fieldErr(field, "%s is not a valid name: %s", quote(name), problems(msgs))
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }); i >= 0 {
		return fieldErr(field, "%s contains a space or control character at position %d", quote(name), i)
	}
	return nil
}

// LabelField names one label of a request's labels in errors: labels["app.kubernetes.io/name"].
func LabelField(key string) string { return fmt.Sprintf("labels[%q]", key) }

// Labels checks labels for namespace ns: every key a qualified name ([prefix/]name) and every value a label
// value, as Kubernetes requires, and kubernetes.io/metadata.name, if given, equal to the namespace's name (the
// API server sets it so). Keys are checked in order, so the error is the same from run to run.
func Labels(ns string, labels map[string]string) error {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := labels[k]
		if k == "" {
			return fieldErr(LabelField(k), "a label key is required")
		}
		if msgs := content.IsLabelKey(k); len(msgs) > 0 {
			return fieldErr(LabelField(k), "key %s is not a valid label key: %s", quote(k), problems(msgs))
		}
		if msgs := content.IsLabelValue(v); len(msgs) > 0 {
			return fieldErr(LabelField(k), "value %s is not a valid label value: %s", quote(v), problems(msgs))
		}
		if k == MetadataNameLabel && v != ns {
			return fieldErr(LabelField(k), "Kubernetes sets %s to the namespace's name (%q), not %s", MetadataNameLabel, ns, quote(v))
		}
	}
	return nil
}

// ParseLabel reads one "key=value" label (the CLI's --label); the value may be empty ("key=") but the "=" is
// required. The key and value are checked by Labels, not here.
func ParseLabel(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", fmt.Errorf("label %s: want key=value", quote(s))
	}
	if key == "" {
		return "", "", fmt.Errorf("label %s: the key is empty", quote(s))
	}
	return key, value, nil
}

// ParseLabels reads "key=value" labels into a map; a key given twice is an error.
func ParseLabels(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(args))
	for _, a := range args {
		k, v, err := ParseLabel(a)
		if err != nil {
			return nil, err
		}
		if old, dup := out[k]; dup {
			return nil, fmt.Errorf("label %s is given twice (%s and %s)", quote(k), quote(old), quote(v))
		}
		out[k] = v
	}
	return out, nil
}

// ParseObjectRef reads "[namespace/]name" (the CLI's way of naming a Secret); without a namespace it returns
// "" for it. Neither part is checked here.
func ParseObjectRef(s string) (namespace, name string, err error) {
	switch n := strings.Count(s, "/"); {
	case n == 0:
		return "", s, nil
	case n == 1:
		namespace, name, _ = strings.Cut(s, "/")
		if namespace == "" || name == "" {
			return "", "", fmt.Errorf("%s: want NAME or NAMESPACE/NAME", quote(s))
		}
		return namespace, name, nil
	}
	return "", "", fmt.Errorf("%s: want NAME or NAMESPACE/NAME (one '/' at most)", quote(s))
}

// DNSNames are the names a Certificate for prefix in namespace covers, N2VC's four: the service's name in the
// namespace and its cluster-local forms. A prefix "*" gives wildcards for every service of the namespace.
func DNSNames(prefix, namespace string) []string {
	base := prefix + "." + namespace
	return []string{base, base + ".svc", base + ".svc.cluster", base + ".svc.cluster.local"}
}

// DNSPrefix checks that prefix makes valid DNS names in namespace (the namespace is checked by the caller): it
// is "*", "*.<subdomain>" or a subdomain (lower-case letters, digits, '-' and '.'), and the longest name it
// gives, "<prefix>.<namespace>.svc.cluster.local", fits 253 characters, each of its dot-separated parts 63.
func DNSPrefix(prefix, namespace string) error {
	const field = "dnsPrefix"
	if prefix == "" {
		return fieldErr(field, "is required: the first part of the certificate's DNS names (a service name, or * for every service of the namespace)")
	}
	for _, name := range DNSNames(prefix, namespace) {
		var msgs []string
		if strings.HasPrefix(name, "*.") {
			msgs = validation.IsWildcardDNS1123Subdomain(name)
		} else {
			msgs = validation.IsDNS1123Subdomain(name)
		}
		for _, label := range strings.Split(name, ".") {
			if len(label) > validation.DNS1123LabelMaxLength {
				msgs = append(msgs, fmt.Sprintf("a part is %d characters long, the maximum is %d", len(label), validation.DNS1123LabelMaxLength))
				break
			}
		}
		if len(msgs) > 0 {
			return fieldErr(field, "%s does not make valid DNS names (%s is not: %s); use a service name or *, optionally followed by .subdomain",
				quote(prefix), quote(name), problems(msgs))
		}
	}
	return nil
}

// KeyUsages are the X.509 usages cert-manager accepts in a Certificate's spec.usages.
var KeyUsages = []string{
	"signing", "digital signature", "content commitment", "key encipherment", "key agreement", "data encipherment",
	"cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth", "client auth", "code signing",
	"email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
	"microsoft sgc", "netscape sgc",
}

// Usages checks key usages: each one of KeyUsages, none twice.
func Usages(usages []string) error {
	for i, u := range usages {
		field := fmt.Sprintf("usages[%d]", i)
		if !slices.Contains(KeyUsages, u) {
			return fieldErr(field, "%s is not a key usage cert-manager knows; use one of %s", quote(u), strings.Join(KeyUsages, ", "))
		}
		if slices.Contains(usages[:i], u) {
			return fieldErr(field, "%s is given twice", quote(u))
		}
	}
	return nil
}

// IssuerKind checks an issuer kind: ClusterIssuer or Issuer.
func IssuerKind(kind string) error {
	if kind != api.IssuerKindClusterIssuer && kind != api.IssuerKindIssuer {
		return fieldErr("issuerKind", "%s must be %s or %s", quote(kind), api.IssuerKindClusterIssuer, api.IssuerKindIssuer)
	}
	return nil
}

// Certificate lifetime bounds, cert-manager's.
const (
	MinDuration    = time.Hour
	MinRenewBefore = 5 * time.Minute
)

// Lifetime checks a Certificate's duration and renewal time as cert-manager does: the duration at least an
// hour, renewal at least 5 minutes before expiry and before the certificate's start.
func Lifetime(duration, renewBefore time.Duration) error {
	if duration < MinDuration {
		return fieldErr("duration", "%s is shorter than cert-manager's minimum of %s", duration, MinDuration)
	}
	if renewBefore < MinRenewBefore {
		return fieldErr("renewBefore", "%s is shorter than cert-manager's minimum of %s", renewBefore, MinRenewBefore)
	}
	if renewBefore >= duration {
		return fieldErr("renewBefore", "%s must be less than the duration (%s)", renewBefore, duration)
	}
	return nil
}

// FormatDuration writes a duration the way cert-manager's examples do: "8760h" rather than "8760h0m0s".
func FormatDuration(d time.Duration) string {
	s := d.String()
	if d != 0 && d%time.Minute == 0 {
		s = strings.TrimSuffix(s, "0s") // 1h30m0s → 1h30m
		if d%time.Hour == 0 {
			s = strings.TrimSuffix(s, "0m") // 8760h0m → 8760h
		}
	}
	return s
}

// SecretKey checks a key of a Secret's data: at most 253 letters, digits, '-', '_' and '.', not "." or "..".
func SecretKey(field, key string) error {
	if key == "" {
		return fieldErr(field, "is required")
	}
	if msgs := validation.IsConfigMapKey(key); len(msgs) > 0 {
		return fieldErr(field, "%s is not a valid Secret key: %s", quote(key), problems(msgs))
	}
	return nil
}

// Rules checks a Role's rules: at least one; in each, at least one API group ("" is the core group, "*"
// every group; others are DNS subdomains), at least one resource ("pods", "pods/log", "*") and at least one
// verb; no empty or blank entries.
func Rules(rules []api.PolicyRule) error {
	if len(rules) == 0 {
		return fieldErr("rules", "at least one rule is required")
	}
	for i, r := range rules {
		f := fmt.Sprintf("rules[%d]", i)
		if len(r.APIGroups) == 0 {
			return fieldErr(f+".apiGroups", `at least one API group is required ("" is the core group: pods, secrets, services...; "*" is every group)`)
		}
		for j, g := range r.APIGroups {
			if g == "" || g == "*" {
				continue
			}
			if msgs := validation.IsDNS1123Subdomain(g); len(msgs) > 0 {
				return fieldErr(fmt.Sprintf("%s.apiGroups[%d]", f, j), "%s is not an API group: %s", quote(g), problems(msgs))
			}
		}
		if len(r.Resources) == 0 {
			return fieldErr(f+".resources", `at least one resource is required (for example "pods", or "*")`)
		}
		for j, res := range r.Resources {
			if err := word(fmt.Sprintf("%s.resources[%d]", f, j), "resource", res); err != nil {
				return err
			}
			if strings.Count(res, "/") > 1 || strings.HasPrefix(res, "/") || strings.HasSuffix(res, "/") {
				return fieldErr(fmt.Sprintf("%s.resources[%d]", f, j), "%s: want a resource or resource/subresource", quote(res))
			}
		}
		if len(r.Verbs) == 0 {
			return fieldErr(f+".verbs", `at least one verb is required (for example "get", "list", "watch", or "*")`)
		}
		for j, v := range r.Verbs {
			if err := word(fmt.Sprintf("%s.verbs[%d]", f, j), "verb", v); err != nil {
				return err
			}
		}
	}
	return nil
}

// word checks one resource or verb: not empty, at most 253 bytes, no spaces or control characters.
func word(field, what, s string) error {
	if s == "" {
		return fieldErr(field, "an empty %s", what)
	}
	if len(s) > validation.DNS1123SubdomainMaxLength {
		return fieldErr(field, "the %s is %d bytes long, the maximum is %d", what, len(s), validation.DNS1123SubdomainMaxLength)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ',' }); i >= 0 {
		return fieldErr(field, "%s %s contains a space, comma or control character at position %d", what, quote(s), i)
	}
	return nil
}
