package apiconv

import (
	"errors"
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
