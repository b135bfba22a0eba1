package apiconv

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
)

func ptr[T any](v T) *T { return &v }

func TestInstallOptionsDefaultsFollowN2VC(t *testing.T) {
	o, err := Install(api.InstallRequest{Name: "a", ChartSource: api.ChartSource{Chart: "r/c"}})
	if err != nil {
		t.Fatal(err)
	}
	if !o.Atomic || !o.Wait.Wait || !o.CreateNamespace || o.Timeout != 0 {
		t.Fatalf("defaults: %+v", o)
	}
	d := api.Duration(90 * time.Second)
	o, err = Install(api.InstallRequest{Name: "a", CreateNamespace: ptr(false),
		Wait: api.Wait{Atomic: ptr(false), Wait: ptr(false), Timeout: &d}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Atomic || o.Wait.Wait || o.CreateNamespace || o.Timeout != 90*time.Second {
		t.Fatalf("explicit: %+v", o)
	}
}

func TestValuesOrder(t *testing.T) {
	v, err := Values(api.Values{
		Files:  []api.ValuesFile{{Name: "", Content: "a: 1"}, {Name: "b.yaml", Content: "b: 2"}},
		Values: map[string]any{"c": 3}, Params: map[string]any{"d": 4}, Set: []string{"e=5"}, SetString: []string{"f=6"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Files) != 3 || v.Files[0].Name != "valuesFiles[0]" || v.Files[1].Name != "b.yaml" || v.Files[2].Name != "values" ||
		string(v.Files[2].Data) != `{"c":3}` || v.Params["d"] != 4 || v.Set[0] != "e=5" || v.SetString[0] != "f=6" {
		t.Fatalf("values: %+v", v)
	}
}

func TestOptionErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		field string
	}{
		{"valuesMode", func() error { _, err := Upgrade(api.UpgradeRequest{ValuesMode: "sideways"}); return err }(), "valuesMode"},
		{"replicas missing", func() error { _, err := Scale(api.ScaleRequest{}); return err }(), "replicas"},
		{"replicas negative", func() error { _, err := Scale(api.ScaleRequest{Replicas: ptr(-1)}); return err }(), "replicas"},
		{"revision", func() error { _, err := Rollback(api.RollbackRequest{Revision: -1}); return err }(), "revision"},
		{"timeout", func() error {
			d := api.Duration(-time.Second)
			_, err := Uninstall(api.UninstallRequest{Timeout: &d})
			return err
		}(), "timeout"},
		{"certificate duration", func() error {
			_, err := Certificate("ns", "c", api.CertificateRequest{DNSPrefix: "*", Duration: "a year"})
			return err
		}(), "duration"},
		{"certificate renewBefore", func() error {
			_, err := Certificate("ns", "c", api.CertificateRequest{DNSPrefix: "*", RenewBefore: "90"})
			return err
		}(), "renewBefore"},
	} {
		var fe *kdu.FieldError
		if !errors.As(tc.err, &fe) || fe.Field != tc.field || !errors.Is(tc.err, kdu.ErrInvalid) {
			t.Errorf("%s: error %v, want a field error on %s", tc.name, tc.err, tc.field)
		}
	}
	for mode, want := range map[string]kdu.ValuesMode{"": kdu.ReuseValues, "reset": kdu.ResetValues, "reset-then-reuse": kdu.ResetThenReuseValues} {
		o, err := Upgrade(api.UpgradeRequest{ValuesMode: mode})
		if err != nil || o.ValuesMode != want {
			t.Errorf("mode %q: %v %v", mode, o.ValuesMode, err)
		}
	}
}

// TestRoundTrip sends library options to the API form and back (what the CLI's remote backend and the server
// do between them): every field arrives as it was sent.
func TestRoundTrip(t *testing.T) {
	vals := kdu.Values{
		Files:  []kdu.ValuesFile{{Name: "a.yaml", Data: []byte("x: 1\n")}, {Name: "b.yaml", Data: []byte("y: [2]\n")}},
		Params: map[string]any{"k": "!!yaml {a: 1}"}, Set: []string{"a=1", "b.c=2"}, SetString: []string{"s=007"},
	}
	wait := kdu.Wait{Wait: true, Atomic: true, Timeout: 90 * time.Second}
	check := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s round trip:\n got %#v\nwant %#v", name, got, want)
		}
	}

	in := kdu.InstallOptions{Name: "web", Chart: "repo/web", Version: "1.2.3", RepoURL: "https://charts.example.com",
		ChartArchive: []byte("tgz"), Verify: true, Namespace: "ns", CreateNamespace: false, Values: vals,
		Description: "first", Wait: wait}
	gotIn, err := Install(InstallRequest(in))
	if err != nil {
		t.Fatal(err)
	}
	check("install", gotIn, in)

	for _, mode := range []kdu.ValuesMode{kdu.ReuseValues, kdu.ResetValues, kdu.ResetThenReuseValues} {
		up := kdu.UpgradeOptions{Chart: "oci://r.example.com/web", Version: "2.0.0", ChartArchive: []byte("tgz"), Verify: true,
			Values: vals, ValuesMode: mode, ForceConflicts: true, Description: "second", Wait: kdu.Wait{Wait: true}}
		gotUp, err := Upgrade(UpgradeRequest("ns", up))
		if err != nil {
			t.Fatal(err)
		}
		check("upgrade", gotUp, up)
	}

	sc := kdu.ScaleOptions{Replicas: 3, Resource: "backend", Wait: kdu.Wait{Atomic: true, Wait: true, Timeout: time.Minute}}
	gotSc, err := Scale(ScaleRequest("ns", sc))
	if err != nil {
		t.Fatal(err)
	}
	check("scale", gotSc, sc)

	rb := kdu.RollbackOptions{Revision: 2, Wait: kdu.Wait{Wait: true, Timeout: time.Minute}}
	gotRb, err := Rollback(RollbackRequest("ns", rb))
	if err != nil {
		t.Fatal(err)
	}
	check("rollback", gotRb, rb)

	un := kdu.UninstallOptions{Wait: true, Timeout: 2 * time.Minute}
	gotUn, err := Uninstall(UninstallRequest("ns", un))
	if err != nil {
		t.Fatal(err)
	}
	check("uninstall", gotUn, un)

	cl := kdu.ClusterSpec{ID: "edge-1", Kubeconfig: []byte("apiVersion: v1\n"), Context: "c", Namespace: "n", Project: "p",
		Flavour: "helm2", TillerNamespace: "tiller", TillerAddress: "127.0.0.1:44134", Replace: true}
	check("cluster", Cluster(ClusterRequest(cl), cl.Project), cl)

	rp := kdu.RepoSpec{ID: "r1", Name: "stable", URL: "https://charts.example.com", Type: "helm", Username: "u", Password: "p",
		CACert: []byte("ca"), CertPEM: []byte("cert"), KeyPEM: []byte("key"), InsecureSkipVerify: true, PassCredentials: true,
		PlainHTTP: true, Keyring: []byte("keyring")}
	check("repo", Repo(RepoRequest(rp)), rp)

	nsOpts := kdu.NamespaceOptions{Name: "ee", Labels: map[string]string{"osm.etsi.org/ns-id": "0f3c"}}
	check("namespace", Namespace(nsOpts.Name, NamespaceRequest(nsOpts)), nsOpts)

	for _, cert := range []kdu.CertificateOptions{
		{Namespace: "ee", Name: "ee-tls", DNSPrefix: "*", SecretName: "ee-tls-secret", IssuerName: "ca", IssuerKind: "Issuer",
			Usages: []string{"server auth", "client auth"}, Duration: 90 * time.Minute, RenewBefore: 10 * time.Minute},
		{Namespace: "ee", Name: "ee-tls", DNSPrefix: "svc"}, // defaults stay unset
		{Namespace: "ee", Name: "ee-tls", DNSPrefix: "svc", Duration: 8760 * time.Hour, RenewBefore: 1500 * time.Millisecond},
	} {
		got, err := Certificate(cert.Namespace, cert.Name, CertificateRequest(cert))
		if err != nil {
			t.Fatal(err)
		}
		check("certificate", got, cert)
	}

	cp := kdu.SecretCopyOptions{Source: kdu.SecretKeyRef{Namespace: "osm", Name: "ca", Key: "ca.crt"},
		Target: kdu.SecretKeyRef{Namespace: "ee", Name: "ee-ca", Key: "root.crt"}}
	check("secret copy", SecretCopy(SecretCopyRequest(cp)), cp)

	rbac := kdu.RBACOptions{Namespace: "ee", Name: "ee-role", ServiceAccount: "ee-sa",
		Rules: []kdu.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}}}}
	check("rbac", RBAC(rbac.Namespace, rbac.Name, RBACRequest(rbac)), rbac)

	sh := kdu.ShowOptions{Cluster: "edge-1", Chart: "stable/web", Version: "1.0.0", RepoURL: "https://x", ChartArchive: []byte("t"), Verify: true}
	check("show", Show(ShowRequest(sh)), sh)
}
