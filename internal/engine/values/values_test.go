package values

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
)

type m = map[string]any

// billionLaughs is the classic alias bomb: 10 levels of 9 references each,
// about 3.9e9 nodes once expanded, written in under 500 bytes.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// wideAliases anchors a map of n keys and references it r times.
func wideAliases(n, r int) string {
	var b strings.Builder
	b.WriteString("base: &b\n")
	for i := range n {
		fmt.Fprintf(&b, "  k%d: v\n", i)
	}
	for i := range r {
		fmt.Fprintf(&b, "r%d: *b\n", i)
	}
	return b.String()
}

type yamlCase struct {
	name    string
	doc     string
	want    m
	err     error  // sentinel the error must wrap
	errPart string // substring the error must contain
}

var yamlCases = []yamlCase{
	{name: "empty", doc: "", want: m{}},
	{name: "comment only", doc: "# nothing\n", want: m{}},
	{name: "null", doc: "null", want: m{}},
	{name: "tilde", doc: "~\n", want: m{}},
	{name: "separator only", doc: "---\n", want: m{}},
	{name: "vertical tab", doc: "\v", err: ErrInvalidValues, errPart: "control characters"},
	{name: "scale test values", doc: "replicaCount: 1\ndummy-app:\n  replicas: 2\n",
		want: m{"replicaCount": float64(1), "dummy-app": m{"replicas": float64(2)}}},
	{name: "types", doc: "s: x\nnum: 1.5\nb: true\nz: null\nl: [1, a]\nq: \"1\"\n",
		want: m{"s": "x", "num": 1.5, "b": true, "z": nil, "l": []any{float64(1), "a"}, "q": "1"}},
	{name: "yaml 1.1 booleans, as in helm", doc: "n: 1\ny: [yes, no, on, off]\n",
		want: m{"false": float64(1), "true": []any{true, false, true, false}}},
	{name: "non-string keys become strings", doc: "1: a\ntrue: b\n", want: m{"1": "a", "true": "b"}},
	{name: "crlf", doc: "a: 1\r\nb: 2\r\n", want: m{"a": float64(1), "b": float64(2)}},
	{name: "no final newline", doc: "a: 1", want: m{"a": float64(1)}},
	{name: "documents merged in order", doc: "a: 1\nb: {x: 1, w: 1}\n---\nb: {w: 2}\nc: 3\n",
		want: m{"a": float64(1), "b": m{"x": float64(1), "w": float64(2)}, "c": float64(3)}},
	{name: "empty document between", doc: "a: 1\n---\n---\nb: 2\n", want: m{"a": float64(1), "b": float64(2)}},
	{name: "anchors and merge keys", doc: "base: &b {cpu: 1}\nx: *b\nw: {<<: *b, mem: 2}\n",
		want: m{"base": m{"cpu": float64(1)}, "x": m{"cpu": float64(1)}, "w": m{"cpu": float64(1), "mem": float64(2)}}},
	{name: "moderate alias reuse", doc: wideAliases(100, 50), want: nil},
	{name: "list at top", doc: "- a\n- b\n", err: ErrInvalidValues, errPart: `"values.yaml": document 1: top level must be a mapping of keys to values, not a list`},
	{name: "scalar at top", doc: "hello\n", err: ErrInvalidValues, errPart: "not a string"},
	{name: "number at top", doc: "5\n", err: ErrInvalidValues, errPart: "not a number"},
	{name: "second document a list", doc: "a: 1\n---\n- x\n", err: ErrInvalidValues, errPart: "document 2: top level"},
	{name: "syntax error", doc: "a: [1, 2\n", err: ErrInvalidValues, errPart: `"values.yaml": document 1`},
	{name: "bad indentation", doc: "a:\n  b: 1\n c: 2\n", err: ErrInvalidValues, errPart: `"values.yaml"`},
	{name: "bad separator", doc: "a: 1\n--- b: 2\n", err: ErrInvalidValues, errPart: "invalid Yaml document separator"},
	{name: "unknown alias", doc: "a: *nope\n", err: ErrInvalidValues, errPart: "nope"},
	{name: "billion laughs", doc: billionLaughs(), err: ErrValuesTooLarge, errPart: "YAML alias expansion exceeds 100000 nodes"},
	{name: "wide alias expansion", doc: wideAliases(2000, 95), err: ErrValuesTooLarge, errPart: "YAML alias expansion exceeds 100000 nodes"},
	{name: "self reference", doc: "a: &a [*a]\n", err: ErrInvalidValues},
	{name: "too large", doc: strings.Repeat("#", MaxDocumentSize+1), err: ErrValuesTooLarge, errPart: "5242881 bytes, the maximum is 5242880"},
	{name: "too deep", doc: "a: " + strings.Repeat("[", 20000), err: ErrInvalidValues},
}

func TestParseYAML(t *testing.T) {
	for _, tc := range yamlCases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			got, err := ParseYAML("values.yaml", []byte(tc.doc))
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v", d)
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if !errors.Is(err, ErrInvalidValues) && !errors.Is(err, ErrValuesTooLarge) {
					t.Errorf("err %v wraps no sentinel", err)
				}
				if !strings.Contains(err.Error(), tc.errPart) || !strings.Contains(err.Error(), `"values.yaml"`) {
					t.Errorf("error %q does not contain %q and the document name", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("nil map")
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestParseYAMLMatchesHelm checks every accepted table document against
// Helm's own values loader.
func TestParseYAMLMatchesHelm(t *testing.T) {
	for _, tc := range yamlCases {
		if tc.err != nil {
			continue
		}
		want, err := loader.LoadValues(strings.NewReader(tc.doc))
		if err != nil {
			t.Fatalf("%s: helm: %v", tc.name, err)
		}
		got, err := ParseYAML(tc.name, []byte(tc.doc))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, helm gives %#v", tc.name, got, want)
		}
	}
}

func TestAliasBudgetBoundary(t *testing.T) {
	// 2n literal nodes under the anchor; r aliases add r*(2n+1)-r extra nodes.
	ok := wideAliases(1000, MaxAliasNodes/2000)
	if _, err := ParseYAML("ok", []byte(ok)); err != nil {
		t.Errorf("document at the alias budget refused: %v", err)
	}
	over := wideAliases(1000, MaxAliasNodes/2000+1)
	if _, err := ParseYAML("over", []byte(over)); !errors.Is(err, ErrValuesTooLarge) {
		t.Errorf("document over the alias budget: err = %v", err)
	}
}

type paramsCase struct {
	name    string
	in      m
	want    m
	errPart string
}

var paramsCases = []paramsCase{
	{name: "nil", in: nil, want: m{}},
	{name: "plain values kept", in: m{"a": "x", "n": 3, "f": 1.5, "b": true, "z": nil},
		want: m{"a": "x", "n": 3, "f": 1.5, "b": true, "z": nil}},
	{name: "dotted key stays literal", in: m{"a.b": 1}, want: m{"a.b": 1}},
	{name: "yaml map", in: m{"cfg": "!!yaml {b: 1, c: [x, z]}"}, want: m{"cfg": m{"b": float64(1), "c": []any{"x", "z"}}}},
	{name: "yaml with newline marker", in: m{"cfg": "!!yaml\nb: 1\nc: two\n"}, want: m{"cfg": m{"b": float64(1), "c": "two"}}},
	{name: "yaml with tab marker", in: m{"cfg": "!!yaml\t[1]"}, want: m{"cfg": []any{float64(1)}}},
	{name: "yaml list", in: m{"l": "!!yaml\n- a\n- b\n"}, want: m{"l": []any{"a", "b"}}},
	{name: "yaml scalar", in: m{"n": "!!yaml 5"}, want: m{"n": float64(5)}},
	{name: "yaml string", in: m{"s": "!!yaml hello"}, want: m{"s": "hello"}},
	{name: "bare marker is null", in: m{"z": "!!yaml"}, want: m{"z": nil}},
	{name: "marker and space is null", in: m{"z": "!!yaml "}, want: m{"z": nil}},
	{name: "leading document separator", in: m{"c": "!!yaml ---\na: 1\n"}, want: m{"c": m{"a": float64(1)}}},
	{name: "marker without whitespace is literal (bug 5)", in: m{"s": "!!yamlx: 1"}, want: m{"s": "!!yamlx: 1"}},
	{name: "marker inside is literal (bug 5)", in: m{"s": "x !!yaml y"}, want: m{"s": "x !!yaml y"}},
	{name: "non-string containing marker is kept (bug 5)", in: m{"d": m{"x": "!!yaml {a: 1}"}, "l": []any{"!!yaml 1"}},
		want: m{"d": m{"x": "!!yaml {a: 1}"}, "l": []any{"!!yaml 1"}}},
	{name: "typed containers normalised", in: m{"ms": map[string]string{"a": "b"}, "ss": []string{"x"}, "arr": [2]int{1, 2}, "bs": []byte("hi")},
		want: m{"ms": m{"a": "b"}, "ss": []any{"x"}, "arr": []any{1, 2}, "bs": []byte("hi")}},
	{name: "python object tag yields plain data only (bug 4)", in: m{"p": "!!yaml !!python/object/apply:os.system [ls]"}, want: m{"p": []any{"ls"}}},
	{name: "yaml syntax error names key", in: m{"bad.key": "!!yaml {a: [}"}, errPart: `params["bad.key"]: cannot parse the YAML after "!!yaml"`},
	{name: "two documents", in: m{"k": "!!yaml a: 1\n---\nb: 2\n"}, errPart: `params["k"]: !!yaml value holds 2 non-empty YAML documents`},
	{name: "empty documents around one", in: m{"k": "!!yaml \n# c\n---\na: 1\n---\n~\n"}, want: m{"k": m{"a": float64(1)}}},
	{name: "vertical tab is not whitespace in yaml", in: m{"k": "!!yaml \v"}, errPart: `params["k"]: cannot parse`},
	{name: "alias bomb", in: m{"k": "!!yaml " + billionLaughs()}, errPart: `params["k"]: cannot parse the YAML after "!!yaml": values too large`},
	{name: "too large", in: m{"k": "!!yaml " + strings.Repeat("#", MaxDocumentSize+1)}, errPart: `params["k"]: !!yaml document is 5242881 bytes`},
}

func TestFromParams(t *testing.T) {
	for _, tc := range paramsCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromParams(tc.in)
			if tc.errPart != "" {
				if err == nil {
					t.Fatalf("got %#v, want error containing %q", got, tc.errPart)
				}
				if !errors.Is(err, ErrInvalidValues) && !errors.Is(err, ErrValuesTooLarge) {
					t.Errorf("err %v wraps no sentinel", err)
				}
				if !strings.Contains(err.Error(), tc.errPart) {
					t.Errorf("error %q does not contain %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestFromParamsDoesNotShare(t *testing.T) {
	inner := m{"x": 1}
	list := []any{m{"y": 2}}
	ss := []string{"a"}
	in := m{"inner": inner, "list": list, "ss": ss}
	out, err := FromParams(in)
	if err != nil {
		t.Fatal(err)
	}
	out["inner"].(m)["x"] = 99
	out["list"].([]any)[0].(m)["y"] = 99
	out["ss"].([]any)[0] = "changed"
	out["new"] = true
	if inner["x"] != 1 || list[0].(m)["y"] != 2 || ss[0] != "a" || len(in) != 3 {
		t.Errorf("input was mutated through the result: %#v", in)
	}
}

func TestFromParamsCycle(t *testing.T) {
	cyc := m{}
	cyc["self"] = cyc
	if _, err := FromParams(m{"c": cyc}); !errors.Is(err, ErrInvalidValues) || !strings.Contains(err.Error(), `params["c"]`) {
		t.Errorf("cyclic params: err = %v", err)
	}
}

func TestMerge(t *testing.T) {
	cases := []struct {
		name           string
		dst, src, want m
	}{
		{"both nil", nil, nil, m{}},
		{"src only", nil, m{"a": 1}, m{"a": 1}},
		{"dst only", m{"a": 1}, nil, m{"a": 1}},
		{"later wins, maps merged deeply",
			m{"a": 1, "b": m{"x": 1, "y": 1, "n": m{"p": 1}}},
			m{"b": m{"y": 2, "z": 3, "n": m{"q": 2}}, "c": 3},
			m{"a": 1, "b": m{"x": 1, "y": 2, "z": 3, "n": m{"p": 1, "q": 2}}, "c": 3}},
		{"scalar replaces map", m{"a": m{"x": 1}}, m{"a": "s"}, m{"a": "s"}},
		{"map replaces scalar", m{"a": "s"}, m{"a": m{"x": 1}}, m{"a": m{"x": 1}}},
		{"nil replaces", m{"a": m{"x": 1}}, m{"a": nil}, m{"a": nil}},
		{"list replaces list", m{"l": []any{1, 2}}, m{"l": []any{3}}, m{"l": []any{3}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(tc.dst, tc.src)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
			if tc.dst != nil && tc.src != nil {
				if helm := loader.MergeMaps(tc.dst, tc.src); !reflect.DeepEqual(got, helm) {
					t.Errorf("got %#v, helm's MergeMaps gives %#v", got, helm)
				}
			}
		})
	}
}

func TestMergeDoesNotShare(t *testing.T) {
	dst := m{"a": m{"x": 1}, "l": []any{1}}
	src := m{"a": m{"y": 2}, "b": m{"z": 3}}
	out := Merge(dst, src)
	out["a"].(m)["x"] = 99
	out["a"].(m)["y"] = 99
	out["b"].(m)["z"] = 99
	out["l"].([]any)[0] = 99
	if !reflect.DeepEqual(dst, m{"a": m{"x": 1}, "l": []any{1}}) || !reflect.DeepEqual(src, m{"a": m{"y": 2}, "b": m{"z": 3}}) {
		t.Errorf("inputs mutated: dst=%#v src=%#v", dst, src)
	}
}

func TestBuild(t *testing.T) {
	f1 := File{Name: "f1.yaml", Data: []byte("a: 1\nb: 1\nc: 1\nd: 1\ne: 1\nnest: {keep: 1, over: 1}\n")}
	f2 := File{Name: "f2.yaml", Data: []byte("b: 2\nc: 2\nd: 2\ne: 2\nnest: {over: 2}\n")}
	params := m{"c": 3, "d": 3, "e": 3, "p.q": "literal", "yml": "!!yaml {k: v}"}
	o := Options{
		Files:     []File{f1, f2},
		Params:    params,
		Set:       []string{"d=4,e=4", "s.t=1", "replicaCount=2", "dummy-app.replicas=3"},
		SetString: []string{"e=5"},
	}
	got, err := o.Build()
	if err != nil {
		t.Fatal(err)
	}
	want := m{
		"a": float64(1), "b": float64(2), "c": 3, "d": int64(4), "e": "5",
		"nest": m{"keep": float64(1), "over": float64(2)},
		"p.q":  "literal", "yml": m{"k": "v"},
		"s":            m{"t": int64(1)},
		"replicaCount": int64(2), "dummy-app": m{"replicas": int64(3)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
	if len(params) != 5 || params["c"] != 3 {
		t.Errorf("params mutated: %#v", params)
	}

	empty, err := Options{}.Build()
	if err != nil || empty == nil || len(empty) != 0 {
		t.Errorf("empty options: %#v, %v", empty, err)
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name    string
		o       Options
		errPart string
	}{
		{"bad file", Options{Files: []File{{Name: "ok.yaml"}, {Name: "bad.yaml", Data: []byte("- x\n")}}}, `"bad.yaml": document 1`},
		{"unnamed file", Options{Files: []File{{}, {Data: []byte("a: [")}}}, `"values file #2"`},
		{"bad param", Options{Params: m{"k": "!!yaml [1"}}, `params["k"]`},
		{"set without value", Options{Set: []string{"a"}}, `--set "a": key "a" has no value`},
		{"set into string", Options{Params: m{"x": "s"}, Set: []string{"x.y=1"}}, `--set "x.y=1"`},
		{"set huge index", Options{Set: []string{"a[99999999]=1"}}, `--set "a[99999999]=1"`},
		{"set-string error", Options{SetString: []string{"a,b"}}, `--set-string "a,b"`},
		{"set that sets nothing", Options{Set: []string{"=1"}}, `--set "=1" sets nothing`},
		{"set with an unclosed index", Options{Set: []string{"a.b[=1"}}, `--set "a.b[=1" sets nothing`},
		{"set-string that sets nothing", Options{SetString: []string{"=x"}}, `--set-string "=x" sets nothing`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.o.Build()
			if err == nil {
				t.Fatalf("got %#v, want error", got)
			}
			if !errors.Is(err, ErrInvalidValues) {
				t.Errorf("err %v does not wrap ErrInvalidValues", err)
			}
			if !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("error %q does not contain %q", err, tc.errPart)
			}
		})
	}
}

// FuzzParseYAML checks that ParseYAML never panics and agrees with Helm's
// loader whenever it accepts a document.
func FuzzParseYAML(f *testing.F) {
	for _, tc := range yamlCases {
		if len(tc.doc) < 64<<10 {
			f.Add([]byte(tc.doc))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseYAML("fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrInvalidValues) && !errors.Is(err, ErrValuesTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if got == nil {
			t.Fatal("nil map without error")
		}
		// Keys that collide once converted to strings (0 and 0.0 both become
		// "0") make Helm's own result depend on map order, so a mismatch is
		// only a failure if no Helm run reproduces our result.
		var want map[string]any
		for range 20 {
			var herr error
			want, herr = loader.LoadValues(bytes.NewReader(data))
			if herr != nil {
				t.Fatalf("accepted %q which helm rejects: %v", data, herr)
			}
			if reflect.DeepEqual(got, want) {
				return
			}
		}
		t.Fatalf("ParseYAML(%q) = %#v, helm gives %#v", data, got, want)
	})
}

// FuzzFromParams checks string params: no panics, and only marked strings change.
func FuzzFromParams(f *testing.F) {
	for _, tc := range paramsCases {
		for k, v := range tc.in {
			if s, ok := v.(string); ok && len(s) < 64<<10 {
				f.Add(k, s)
			}
		}
	}
	f.Fuzz(func(t *testing.T, key, val string) {
		out, err := FromParams(m{key: val})
		if err != nil {
			if !errors.Is(err, ErrInvalidValues) && !errors.Is(err, ErrValuesTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if !strings.Contains(err.Error(), quote(key)) {
				t.Fatalf("error %q does not name the key %q", err, key)
			}
			return
		}
		if len(out) != 1 {
			t.Fatalf("FromParams gave %d keys for one", len(out))
		}
		if _, marked := yamlParam(val); !marked && out[key] != val {
			t.Fatalf("unmarked value %q changed to %#v", val, out[key])
		}
	})
}

// FuzzBuildSet checks that --set and --set-string expressions never panic and
// that errors name the expression.
func FuzzBuildSet(f *testing.F) {
	for _, s := range []string{"a=1", "a.b=2,c=x", "a[0]=1", "a[1].b=2", "a", "a,b", "x.y=1", "a[99999999]=1", `a=b\,c`, "a={1,2}", "replicaCount=2", "dummy-app.replicas=3"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, expr string, asString bool) {
		o := Options{Params: m{"x": "s", "l": []any{1}}}
		if asString {
			o.SetString = []string{expr}
		} else {
			o.Set = []string{expr}
		}
		out, err := o.Build()
		if err != nil {
			if !errors.Is(err, ErrInvalidValues) || !strings.Contains(err.Error(), quote(expr)) {
				t.Fatalf("error %q does not wrap ErrInvalidValues or name %q", err, expr)
			}
			return
		}
		if out == nil {
			t.Fatal("nil map without error")
		}
	})
}
