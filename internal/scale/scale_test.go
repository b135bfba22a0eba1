package scale

import (
	"encoding/json"
	"errors"
	vals "github.com/kdu-io/kdu/internal/engine/values"
	"math"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type m = map[string]any

// specValues are the chart values of N2VC's test_scale (docs/n2vc.md#scale).
func specValues() m {
	return m{"replicaCount": float64(1), "dummy-app": m{"replicas": float64(2)}}
}

func TestReplicaKey(t *testing.T) {
	cases := []struct {
		name     string
		defaults m
		resource string
		want     []string
		err      error
		errPart  string
	}{
		{"spec top level", specValues(), "", []string{"replicaCount"}, nil, ""},
		{"spec dummy-app", specValues(), "dummy-app", []string{"dummy-app", "replicas"}, nil, ""},
		{"resource with dots stays one segment", m{"a.b": m{"replicaCount": 1}}, "a.b", []string{"a.b", "replicaCount"}, nil, ""},
		{"replicas only at top", m{"replicas": 3}, "", []string{"replicas"}, nil, ""},
		{"null replicaCount falls back to replicas", m{"replicaCount": nil, "replicas": 3}, "", []string{"replicas"}, nil, ""},
		{"replicaCount zero is present", m{"replicaCount": 0}, "", []string{"replicaCount"}, nil, ""},
		{"unknown resource lists candidates", specValues(), "nope", nil, ErrUnknownResource,
			`resource "nope" not found in the chart values; resources with a replica key: "dummy-app"; the top level (resource "") has one`},
		{"null resource is unknown", m{"x": nil}, "x", nil, ErrUnknownResource, `resource "x" not found in the chart values; no resource has a replica key`},
		{"resource not a map", m{"x": "str"}, "x", nil, ErrNotAMap, `resource "x" in the chart values is a string`},
		{"neither at top", m{"image": "nginx"}, "", nil, ErrNoReplicaKey, "neither replicaCount nor replicas is set at the top level of the chart values; cannot scale"},
		{"neither in resource", m{"app": m{"image": "x"}}, "app", nil, ErrNoReplicaKey, `in resource "app"`},
		{"both nulls", m{"replicaCount": nil, "replicas": nil}, "", nil, ErrNoReplicaKey, "neither"},
		{"both at top", m{"replicaCount": 1, "replicas": 2}, "", nil, ErrBothReplicaKeys, "both replicaCount and replicas are set at the top level"},
		{"both in resource", m{"app": m{"replicaCount": 1, "replicas": 2}}, "app", nil, ErrBothReplicaKeys, `in resource "app"`},
		{"nil defaults", nil, "", nil, ErrNoReplicaKey, "neither"},
		{"nil defaults with resource", nil, "app", nil, ErrUnknownResource, `"app"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReplicaKey(tc.defaults, tc.resource)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.errPart) {
					t.Errorf("error %q does not contain %q", err, tc.errPart)
				}
				if got != nil {
					t.Errorf("path %v returned with an error", got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ReplicaKey = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

type countCase struct {
	name     string
	values   m
	resource string
	n        int
	found    bool
	err      error
	errPart  string
}

var countCases = []countCase{
	{"spec top level", specValues(), "", 1, true, nil, ""},
	{"spec dummy-app", specValues(), "dummy-app", 2, true, nil, ""},
	{"missing resource is not found, no top-level fallback (bug 15)", m{"replicaCount": 5}, "dummy-app", 0, false, nil, ""},
	{"null resource is not found", m{"app": nil, "replicaCount": 5}, "app", 0, false, nil, ""},
	{"empty values", m{}, "", 0, false, nil, ""},
	{"nil values", nil, "x", 0, false, nil, ""},
	{"replicaCount before replicas", m{"replicaCount": 3, "replicas": 4}, "", 3, true, nil, ""},
	{"null replicaCount then replicas", m{"replicaCount": nil, "replicas": 4}, "", 4, true, nil, ""},
	{"zero", m{"replicaCount": 0}, "", 0, true, nil, ""},
	{"int", m{"replicaCount": 7}, "", 7, true, nil, ""},
	{"int32", m{"replicaCount": int32(7)}, "", 7, true, nil, ""},
	{"int64", m{"replicaCount": int64(7)}, "", 7, true, nil, ""},
	{"uint8", m{"replicaCount": uint8(7)}, "", 7, true, nil, ""},
	{"float64 whole", m{"replicaCount": float64(7)}, "", 7, true, nil, ""},
	{"float32 whole", m{"replicaCount": float32(7)}, "", 7, true, nil, ""},
	{"json.Number", m{"replicaCount": json.Number("7")}, "", 7, true, nil, ""},
	{"json.Number float", m{"replicaCount": json.Number("7.0")}, "", 7, true, nil, ""},
	{"json.Number exponent", m{"replicaCount": json.Number("7e0")}, "", 7, true, nil, ""},
	{"numeric string", m{"app": m{"replicas": "3"}}, "app", 3, true, nil, ""},
	{"max", m{"replicaCount": MaxReplicas}, "", MaxReplicas, true, nil, ""},
	{"float fraction", m{"replicaCount": 1.5}, "", 0, false, ErrInvalidCount, "replicaCount is 1.5, not a whole number"},
	{"NaN", m{"replicaCount": math.NaN()}, "", 0, false, ErrInvalidCount, "NaN"},
	{"Inf", m{"replicaCount": math.Inf(1)}, "", 0, false, ErrInvalidCount, "+Inf"},
	{"negative int", m{"replicaCount": -1}, "", 0, false, ErrInvalidCount, "replicaCount is -1, outside 0 to 1000000"},
	{"negative float", m{"replicas": float64(-2)}, "", 0, false, ErrInvalidCount, "replicas is -2"},
	{"too large", m{"replicaCount": MaxReplicas + 1}, "", 0, false, ErrInvalidCount, "1000001"},
	{"too large uint64", m{"replicaCount": uint64(math.MaxUint64)}, "", 0, false, ErrInvalidCount, "outside"},
	{"huge float", m{"replicaCount": 1e300}, "", 0, false, ErrInvalidCount, "outside"},
	{"bad string", m{"app": m{"replicas": "three"}}, "app", 0, false, ErrInvalidCount, `app.replicas is the string "three"`},
	{"bad json.Number", m{"replicaCount": json.Number("x")}, "", 0, false, ErrInvalidCount, `"x", not a number`},
	{"bool", m{"replicaCount": true}, "", 0, false, ErrInvalidCount, "replicaCount is a boolean, not a number"},
	{"list", m{"replicaCount": []any{1}}, "", 0, false, ErrInvalidCount, "a list"},
	{"resource not a map", m{"app": 3}, "app", 0, false, ErrNotAMap, `resource "app" in the values is a number`},
}

func TestCountFromValues(t *testing.T) {
	for _, tc := range countCases {
		t.Run(tc.name, func(t *testing.T) {
			n, found, err := CountFromValues(tc.values, tc.resource)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.errPart) {
					t.Errorf("error %q does not contain %q", err, tc.errPart)
				}
				if found || n != 0 {
					t.Errorf("got %d, %v with an error", n, found)
				}
				return
			}
			if err != nil || n != tc.n || found != tc.found {
				t.Errorf("CountFromValues = %d, %v, %v; want %d, %v", n, found, err, tc.n, tc.found)
			}
		})
	}
}

func TestSetCount(t *testing.T) {
	cases := []struct {
		name   string
		values m
		path   []string
		n      int
		want   m
	}{
		{"spec top level to 2", specValues(), []string{"replicaCount"}, 2,
			m{"replicaCount": int64(2), "dummy-app": m{"replicas": float64(2)}}},
		{"spec dummy-app to 3", specValues(), []string{"dummy-app", "replicas"}, 3,
			m{"replicaCount": float64(1), "dummy-app": m{"replicas": int64(3)}}},
		{"creates intermediate maps", m{}, []string{"a.b", "c", "replicas"}, 1,
			m{"a.b": m{"c": m{"replicas": int64(1)}}}},
		{"replaces non-map intermediate", m{"app": "x"}, []string{"app", "replicas"}, 4,
			m{"app": m{"replicas": int64(4)}}},
		{"nil values", nil, []string{"replicaCount"}, 0, m{"replicaCount": int64(0)}},
		{"empty path copies", m{"a": 1}, nil, 5, m{"a": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := vals.Copy(tc.values)
			got := SetCount(tc.values, tc.path, tc.n)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			if tc.values != nil && !reflect.DeepEqual(tc.values, before) {
				t.Errorf("input mutated: %#v", tc.values)
			}
		})
	}

	// No sharing: changing the result's nested maps and lists leaves the input alone.
	in := m{"app": m{"replicas": 1, "l": []any{m{"k": 1}}}}
	out := SetCount(in, []string{"app", "replicas"}, 2)
	out["app"].(m)["l"].([]any)[0].(m)["k"] = 99
	if in["app"].(m)["replicas"] != 1 || in["app"].(m)["l"].([]any)[0].(m)["k"] != 1 {
		t.Errorf("input shared with result: %#v", in)
	}
}

// TestScaleFlow runs N2VC's test_scale scenario (docs/n2vc.md#scale) end to end: find the key in
// the chart defaults, set the count, read it back.
func TestScaleFlow(t *testing.T) {
	defaults := specValues()
	for _, tc := range []struct {
		resource string
		n        int
	}{{"", 2}, {"dummy-app", 3}} {
		path, err := ReplicaKey(defaults, tc.resource)
		if err != nil {
			t.Fatal(err)
		}
		userValues := SetCount(m{}, path, tc.n)
		got, found, err := CountFromValues(userValues, tc.resource)
		if err != nil || !found || got != tc.n {
			t.Errorf("resource %q: read back %d, %v, %v; want %d", tc.resource, got, found, err, tc.n)
		}
	}
}

type replicasCase struct {
	in      string
	want    int
	errPart string
}

var replicasCases = []replicasCase{
	{"0", 0, ""},
	{"3", 3, ""},
	{"007", 7, ""},
	{"1000000", 1000000, ""},
	{"0000000000001000000", 1000000, ""},
	{"", 0, "replicas is empty"},
	{"-1", 0, `replicas "-1" is negative`},
	{"+1", 0, `replicas "+1" is not a whole number (character '+' at position 0)`},
	{" 1", 0, "not a whole number"},
	{"1 ", 0, "not a whole number"},
	{"1.0", 0, "not a whole number"},
	{"1e3", 0, "not a whole number"},
	{"three", 0, `replicas "three"`},
	{"1000001", 0, `replicas "1000001" is larger than the maximum 1000000`},
	{"99999999999999999999999", 0, "larger than the maximum"},
	{"٣", 0, "not a whole number"},
}

func TestParseReplicas(t *testing.T) {
	for _, tc := range replicasCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseReplicas(tc.in)
			if tc.errPart != "" {
				if !errors.Is(err, ErrInvalidCount) || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("ParseReplicas(%q) = %d, %v; want ErrInvalidCount containing %q", tc.in, got, err, tc.errPart)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseReplicas(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func FuzzParseReplicas(f *testing.F) {
	for _, tc := range replicasCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseReplicas(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCount) {
				t.Fatalf("error %v does not wrap ErrInvalidCount", err)
			}
			return
		}
		if n < 0 || n > MaxReplicas || strings.TrimLeft(s, "0123456789") != "" {
			t.Fatalf("ParseReplicas(%q) accepted %d", s, n)
		}
	})
}

// FuzzScaleValues feeds arbitrary YAML values and resource names through
// ReplicaKey, CountFromValues and SetCount: no panics, sentinel errors only,
// and a count set at the key ReplicaKey chose reads back.
func FuzzScaleValues(f *testing.F) {
	f.Add("replicaCount: 1\ndummy-app:\n  replicas: 2\n", "")
	f.Add("replicaCount: 1\ndummy-app:\n  replicas: 2\n", "dummy-app")
	f.Add("replicaCount: 1\nreplicas: 2\n", "")
	f.Add("app: x\n", "app")
	f.Add("app: {replicas: \"3\"}\n", "app")
	f.Add("a.b: {replicaCount: 1.5}\n", "a.b")
	f.Fuzz(func(t *testing.T, doc, resource string) {
		var values map[string]any
		if err := yaml.Unmarshal([]byte(doc), &values); err != nil {
			return
		}
		if _, _, err := CountFromValues(values, resource); err != nil &&
			!errors.Is(err, ErrInvalidCount) && !errors.Is(err, ErrNotAMap) {
			t.Fatalf("CountFromValues: unexpected error %v", err)
		}
		path, err := ReplicaKey(values, resource)
		if err != nil {
			for _, s := range []error{ErrUnknownResource, ErrNotAMap, ErrNoReplicaKey, ErrBothReplicaKeys} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("ReplicaKey: unexpected error %v", err)
		}
		set := SetCount(values, path, 4)
		n, found, err := CountFromValues(set, resource)
		if err != nil || !found || n != 4 {
			t.Fatalf("after SetCount(%v, 4): %d, %v, %v", path, n, found, err)
		}
	})
}
