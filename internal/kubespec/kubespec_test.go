package kubespec

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kdu-io/kdu/api"
)

// wantField checks that err is nil (field "") or a field error naming field whose message contains each of
// msg.
func wantField(t *testing.T, err error, field string, msg ...string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var fe *api.FieldError
	if !errors.As(err, &fe) || !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("error %v: want a field error naming %q", err, field)
	}
	if fe.Field != field {
		t.Fatalf("error %q names field %q, want %q", err, fe.Field, field)
	}
	for _, m := range msg {
		if !strings.Contains(err.Error(), m) {
			t.Fatalf("error %q does not say %q", err, m)
		}
	}
}

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 254)
	for _, tc := range []struct {
		name, in, field string
		check           func(field, s string) error
	}{
		{"namespace", "osm", "", Namespace},
		{"namespace upper", "OSM", "ns", Namespace},
		{"namespace dot", "a.b", "ns", Namespace},
		{"namespace long", strings.Repeat("a", 64), "ns", Namespace},
		{"namespace empty", "", "ns", Namespace},
		{"deletable", "ee-1", "", DeletableNamespace},
		{"deletable kube-system", "kube-system", "ns", DeletableNamespace},
		{"deletable default", "default", "ns", DeletableNamespace},
		{"deletable bad", "-x", "ns", DeletableNamespace},
		{"object", "ca.tls-1", "", ObjectName},
		{"object empty", "", "ns", ObjectName},
		{"object upper", "Cert", "ns", ObjectName},
		{"object underscore", "a_b", "ns", ObjectName},
		{"object long", long, "ns", ObjectName},
		{"rbac", "system:osm-ee", "", RBACName},
		{"rbac upper", "OSM_Role", "", RBACName},
		{"rbac slash", "a/b", "ns", RBACName},
		{"rbac percent", "a%b", "ns", RBACName},
		{"rbac dotdot", "..", "ns", RBACName},
		{"rbac space", "a b", "ns", RBACName},
		{"rbac control", "a\nb", "ns", RBACName},
		{"rbac empty", "", "ns", RBACName},
		{"rbac long", long, "ns", RBACName},
		{"key", "ca.crt", "", SecretKey},
		{"key upper", "TLS_KEY-1", "", SecretKey},
		{"key empty", "", "ns", SecretKey},
		{"key slash", "a/b", "ns", SecretKey},
		{"key dot", ".", "ns", SecretKey},
		{"key dotdot", "..", "ns", SecretKey},
		{"key dotdot prefix", "..a", "ns", SecretKey},
		{"key long", long, "ns", SecretKey},
	} {
		t.Run(tc.name, func(t *testing.T) { wantField(t, tc.check("ns", tc.in), tc.field) })
	}
}

func TestLabels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		field  string
		msg    string
	}{
		{"none", nil, "", ""},
		{"osm", map[string]string{"managed-by": "osm.etsi.org", "osm.etsi.org/ns-id": "0f3c-41"}, "", ""},
		{"empty value", map[string]string{"a": ""}, "", ""},
		{"own name", map[string]string{MetadataNameLabel: "ns1"}, "", ""},
		{"other name", map[string]string{MetadataNameLabel: "other"}, `labels["kubernetes.io/metadata.name"]`, "ns1"},
		{"empty key", map[string]string{"": "x"}, `labels[""]`, "required"},
		{"bad key", map[string]string{"a b": "x"}, `labels["a b"]`, "label key"},
		{"bad prefix", map[string]string{"Osm/x": "x"}, `labels["Osm/x"]`, "label key"},
		{"two slashes", map[string]string{"a/b/c": "x"}, `labels["a/b/c"]`, "label key"},
		{"long key", map[string]string{strings.Repeat("k", 64): "x"}, `labels["` + strings.Repeat("k", 64) + `"]`, "63"},
		{"bad value", map[string]string{"a": "x y"}, `labels["a"]`, "label value"},
		{"long value", map[string]string{"a": strings.Repeat("v", 64)}, `labels["a"]`, "63"},
		{"value dash end", map[string]string{"a": "v-"}, `labels["a"]`, "label value"},
		{"control", map[string]string{"a\x00": "v"}, `labels["a\x00"]`, "label key"},
		{"first bad in order", map[string]string{"z": "bad value", "b": "bad value"}, `labels["b"]`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) { wantField(t, Labels("ns1", tc.labels), tc.field, tc.msg) })
	}
}

func TestParseLabels(t *testing.T) {
	got, err := ParseLabels([]string{"a=1", "osm.etsi.org/ns-id=x=y", "empty="})
	if err != nil || len(got) != 3 || got["a"] != "1" || got["osm.etsi.org/ns-id"] != "x=y" || got["empty"] != "" {
		t.Fatalf("ParseLabels: %v %v", got, err)
	}
	if got, err := ParseLabels(nil); got != nil || err != nil {
		t.Fatalf("no labels: %v %v", got, err)
	}
	for _, bad := range [][]string{{"a"}, {"=v"}, {"a=1", "a=2"}} {
		if _, err := ParseLabels(bad); err == nil {
			t.Errorf("ParseLabels(%q): no error", bad)
		}
	}
}

func TestParseObjectRef(t *testing.T) {
	for _, tc := range []struct{ in, ns, name string }{
		{"ca", "", "ca"}, {"osm/ca", "osm", "ca"}, {"", "", ""},
	} {
		ns, name, err := ParseObjectRef(tc.in)
		if err != nil || ns != tc.ns || name != tc.name {
			t.Errorf("ParseObjectRef(%q) = %q, %q, %v", tc.in, ns, name, err)
		}
	}
	for _, bad := range []string{"/ca", "osm/", "a/b/c", "/"} {
		if _, _, err := ParseObjectRef(bad); err == nil {
			t.Errorf("ParseObjectRef(%q): no error", bad)
		}
	}
}

func TestDNSNames(t *testing.T) {
	got := strings.Join(DNSNames("*", "ns1"), ",")
	if want := "*.ns1,*.ns1.svc,*.ns1.svc.cluster,*.ns1.svc.cluster.local"; got != want {
		t.Fatalf("DNSNames: %s, want %s", got, want)
	}
	for _, tc := range []struct {
		prefix, field string
	}{
		{"*", ""},
		{"ee-vnf1", ""},
		{"api.ee-vnf1", ""},
		{"*.ee", ""},
		{"", "dnsPrefix"},
		{"*ee", "dnsPrefix"},
		{"ee*", "dnsPrefix"},
		{"*.*", "dnsPrefix"},
		{"a.*", "dnsPrefix"},
		{"EE", "dnsPrefix"},
		{"-ee", "dnsPrefix"},
		{"ee.", "dnsPrefix"},
		{".ee", "dnsPrefix"},
		{"a b", "dnsPrefix"},
		{strings.Repeat("a", 64), "dnsPrefix"},       // a label longer than 63
		{strings.Repeat("abcdefghi.", 23) + "a", ""}, // 231 + ".ns1.svc.cluster.local" = 253
		{strings.Repeat("abcdefghi.", 24) + "a", "dnsPrefix"}, // 263
	} {
		t.Run(tc.prefix, func(t *testing.T) { wantField(t, DNSPrefix(tc.prefix, "ns1"), tc.field) })
	}
}

// FuzzDNSPrefix: a prefix DNSPrefix accepts gives names that apimachinery accepts as DNS names (wildcard or
// not) — the check is the one the names are made with — and nothing panics.
func FuzzDNSPrefix(f *testing.F) {
	for _, s := range []string{"*", "ee-1", "*.a", "a.b.c", "", "*.*", "A", "a..b", strings.Repeat("a.", 120) + "a"} {
		f.Add(s, "ns1")
	}
	f.Fuzz(func(t *testing.T, prefix, ns string) {
		if Namespace("namespace", ns) != nil {
			return
		}
		names := DNSNames(prefix, ns)
		if len(names) != 4 {
			t.Fatalf("%d names", len(names))
		}
		if err := DNSPrefix(prefix, ns); err != nil {
			var fe *api.FieldError
			if !errors.As(err, &fe) || fe.Field != "dnsPrefix" {
				t.Fatalf("error %v does not name dnsPrefix", err)
			}
			return
		}
		for _, n := range names {
			if !strings.HasSuffix(n, "."+ns) && !strings.Contains(n, "."+ns+".svc") {
				t.Fatalf("%q is not in namespace %q", n, ns)
			}
			var msgs []string
			if strings.HasPrefix(n, "*.") {
				msgs = validation.IsWildcardDNS1123Subdomain(n)
			} else {
				msgs = validation.IsDNS1123Subdomain(n)
			}
			for _, label := range strings.Split(n, ".") {
				if len(label) > 63 {
					msgs = append(msgs, "a part longer than 63")
				}
			}
			if len(msgs) > 0 || len(n) > 253 || strings.Count(n, "*") > 1 {
				t.Fatalf("prefix %q accepted, but %q is not a DNS name: %v", prefix, n, msgs)
			}
		}
	})
}

// FuzzParseLabels: what ParseLabel reads back from "key=value" is the key and value, and nothing panics.
func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{"a=1", "a", "=", "a==", "osm.etsi.org/ns-id=x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := ParseLabel(s)
		if err != nil {
			return
		}
		if k == "" || strings.Contains(k, "=") || k+"="+v != s {
			t.Fatalf("ParseLabel(%q) = %q, %q", s, k, v)
		}
		_ = Labels("ns", map[string]string{k: v}) // must not panic
		ns, name, err := ParseObjectRef(s)
		if err == nil && (strings.Contains(name, "/") || (ns != "" && ns+"/"+name != s) || (ns == "" && name != s)) {
			t.Fatalf("ParseObjectRef(%q) = %q, %q", s, ns, name)
		}
	})
}

func TestUsagesAndIssuer(t *testing.T) {
	wantField(t, Usages(nil), "")
	wantField(t, Usages([]string{"server auth", "client auth", "digital signature"}), "")
	wantField(t, Usages([]string{"server auth", "serverAuth"}), "usages[1]", "server auth")
	wantField(t, Usages([]string{"server auth", "server auth"}), "usages[1]", "twice")
	wantField(t, IssuerKind("ClusterIssuer"), "")
	wantField(t, IssuerKind("Issuer"), "")
	wantField(t, IssuerKind("issuer"), "issuerKind")
	wantField(t, IssuerKind(""), "issuerKind")
}

func TestLifetime(t *testing.T) {
	wantField(t, Lifetime(8760*time.Hour, 2208*time.Hour), "")
	wantField(t, Lifetime(time.Hour, 5*time.Minute), "")
	wantField(t, Lifetime(59*time.Minute, 5*time.Minute), "duration", "1h")
	wantField(t, Lifetime(time.Hour, 4*time.Minute), "renewBefore", "5m")
	wantField(t, Lifetime(2*time.Hour, 2*time.Hour), "renewBefore", "less than")
	for d, want := range map[time.Duration]string{
		8760 * time.Hour: "8760h", 2208 * time.Hour: "2208h", 90 * time.Minute: "1h30m", 5 * time.Minute: "5m",
		10 * time.Minute: "10m", 90 * time.Second: "1m30s", time.Hour: "1h", 0: "0s", 1500 * time.Millisecond: "1.5s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("FormatDuration(%s) does not parse back: %v %v", d, back, err)
		}
	}
}

func TestRules(t *testing.T) {
	ok := api.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list"}}
	with := func(f func(r *api.PolicyRule)) []api.PolicyRule {
		r := ok
		f(&r)
		return []api.PolicyRule{ok, r}
	}
	for _, tc := range []struct {
		name  string
		rules []api.PolicyRule
		field string
	}{
		{"ok", []api.PolicyRule{ok}, ""},
		{"star", []api.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}, ""},
		{"groups", with(func(r *api.PolicyRule) { r.APIGroups = []string{"apps", "cert-manager.io", ""} }), ""},
		{"custom verb", with(func(r *api.PolicyRule) { r.Verbs = []string{"use", "escalate"} }), ""},
		{"subresource star", with(func(r *api.PolicyRule) { r.Resources = []string{"*/scale"} }), ""},
		{"none", nil, "rules"},
		{"no groups", with(func(r *api.PolicyRule) { r.APIGroups = nil }), "rules[1].apiGroups"},
		{"bad group", with(func(r *api.PolicyRule) { r.APIGroups = []string{"", "Apps"} }), "rules[1].apiGroups[1]"},
		{"no resources", with(func(r *api.PolicyRule) { r.Resources = []string{} }), "rules[1].resources"},
		{"empty resource", with(func(r *api.PolicyRule) { r.Resources = []string{"pods", ""} }), "rules[1].resources[1]"},
		{"resource space", with(func(r *api.PolicyRule) { r.Resources = []string{"pods log"} }), "rules[1].resources[0]"},
		{"resource comma", with(func(r *api.PolicyRule) { r.Resources = []string{"pods,secrets"} }), "rules[1].resources[0]"},
		{"resource slashes", with(func(r *api.PolicyRule) { r.Resources = []string{"a/b/c"} }), "rules[1].resources[0]"},
		{"resource slash end", with(func(r *api.PolicyRule) { r.Resources = []string{"pods/"} }), "rules[1].resources[0]"},
		{"no verbs", with(func(r *api.PolicyRule) { r.Verbs = nil }), "rules[1].verbs"},
		{"empty verb", with(func(r *api.PolicyRule) { r.Verbs = []string{"get", ""} }), "rules[1].verbs[1]"},
		{"verb tab", with(func(r *api.PolicyRule) { r.Verbs = []string{"get\t"} }), "rules[1].verbs[0]"},
		{"long verb", with(func(r *api.PolicyRule) { r.Verbs = []string{strings.Repeat("v", 254)} }), "rules[1].verbs[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantField(t, Rules(tc.rules), tc.field) })
	}
}
