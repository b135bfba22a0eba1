package ops

import (
	"encoding/json"
	"fmt"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/values"
)

// N2VC's defaults for API requests that leave a flag out: install and upgrade are atomic and wait, and an
// install creates its namespace.
const (
	defaultAtomic          = true
	defaultWait            = true
	defaultCreateNamespace = true
)

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// Values turns API values into the library's value sources: files first, then the values object (as one more
// document), params, set, set-string.
func Values(v api.Values) (kdu.Values, error) {
	out := kdu.Values{Params: v.Params, Set: v.Set, SetString: v.SetString}
	for i, f := range v.Files {
		name := f.Name
		if name == "" {
			name = fmt.Sprintf("valuesFiles[%d]", i)
		}
		out.Files = append(out.Files, values.File{Name: name, Data: []byte(f.Content)})
	}
	if len(v.Values) > 0 {
		b, err := json.Marshal(v.Values)
		if err != nil {
			return kdu.Values{}, &kdu.FieldError{Field: "values", Reason: err.Error(), Err: err}
		}
		out.Files = append(out.Files, values.File{Name: "values", Data: b})
	}
	return out, nil
}

func wait(w api.Wait) kdu.Wait {
	out := kdu.Wait{Atomic: boolOr(w.Atomic, defaultAtomic), Wait: boolOr(w.Wait, defaultWait)}
	if w.Timeout != nil {
		out.Timeout = w.Timeout.Std(0)
	}
	return out
}

// InstallOptions turns an install request into library options.
func InstallOptions(r api.InstallRequest) (kdu.InstallOptions, error) {
	vals, err := Values(r.Values)
	if err != nil {
		return kdu.InstallOptions{}, err
	}
	return kdu.InstallOptions{
		Name: r.Name, Chart: r.Chart, Version: r.Version, RepoURL: r.RepoURL, ChartArchive: r.ChartArchive, Verify: r.Verify,
		Namespace: r.Namespace, CreateNamespace: boolOr(r.CreateNamespace, defaultCreateNamespace),
		Values: vals, Description: r.Description, Wait: wait(r.Wait),
	}, nil
}

// ValuesModes maps the API's values modes to the library's.
var ValuesModes = map[string]kdu.ValuesMode{
	"": kdu.ReuseValues, "reuse": kdu.ReuseValues, "reset": kdu.ResetValues, "reset-then-reuse": kdu.ResetThenReuseValues,
}

// UpgradeOptions turns an upgrade request into library options.
func UpgradeOptions(r api.UpgradeRequest) (kdu.UpgradeOptions, error) {
	mode, ok := ValuesModes[r.ValuesMode]
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
		ValuesMode: mode, ForceConflicts: r.ForceConflicts, Description: r.Description, Wait: wait(r.Wait),
	}, nil
}

// ScaleOptions turns a scale request into library options.
func ScaleOptions(r api.ScaleRequest) (kdu.ScaleOptions, error) {
	if r.Replicas == nil {
		return kdu.ScaleOptions{}, &kdu.FieldError{Field: "replicas", Reason: "is required"}
	}
	o := kdu.ScaleOptions{Replicas: *r.Replicas, Resource: r.Resource, Wait: wait(r.Wait)}
	return o, o.Validate()
}

// RollbackOptions turns a rollback request into library options. A rollback waits by default.
func RollbackOptions(r api.RollbackRequest) (kdu.RollbackOptions, error) {
	o := kdu.RollbackOptions{Revision: r.Revision, Wait: kdu.Wait{Wait: boolOr(r.Wait, defaultWait), Timeout: r.Timeout.Std(0)}}
	return o, o.Validate()
}

// UninstallOptions turns an uninstall request into library options.
func UninstallOptions(r api.UninstallRequest) (kdu.UninstallOptions, error) {
	o := kdu.UninstallOptions{Wait: r.Wait, Timeout: r.Timeout.Std(0)}
	return o, o.Validate()
}
