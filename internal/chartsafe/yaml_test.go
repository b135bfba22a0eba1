package chartsafe

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"unicode/utf16"

	yaml "go.yaml.in/yaml/v3"
)

// doublings is n levels of anchors each aliased twice by the next: 2^n
// nodes expanded, which only memoisation counts in reasonable time.
func doublings(n int) string {
	var b strings.Builder
	b.WriteString("d0: &d0 [x]\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "d%d: &d%d [*d%d, *d%d]\n", i, i, i-1, i-1)
	}
	return b.String()
}

// yamlCase is a CheckYAML table case; its data also seeds FuzzCheckYAML.
type yamlCase struct {
	name     string
	data     string
	maxNodes int
	want     string // error substring; "" means accepted
}

func yamlCases() []yamlCase {
	laughs := billionLaughs()
	return []yamlCase{
		{name: "billion laughs", data: laughs, want: "hostile chart: values.yaml: YAML alias expansion exceeds 100000 nodes"},
		{name: "billion laughs, maxNodes 0 means the default", data: laughs, maxNodes: 0, want: "exceeds 100000 nodes"},
		{name: "billion laughs, negative maxNodes means the default", data: laughs, maxNodes: -5, want: "exceeds 100000 nodes"},
		{name: "billion laughs under a huge limit", data: laughs, maxNodes: 2_000_000_000},
		{name: "legitimate aliases and merge keys", data: legitAliases},
		// 30 nodes written, 40 once expanded.
		{name: "legitimate aliases at a tiny limit", data: legitAliases, maxNodes: 10},
		{name: "legitimate aliases over a tiny limit", data: legitAliases, maxNodes: 9, want: "exceeds 9 nodes"},
		// Only what the aliases add counts: document, mapping, key and value are written.
		{name: "nodes written do not count", data: "a: 1\n", maxNodes: 1},
		// Written: document, mapping, a, [1, 2] (3), b, *x; the alias stands for 3 nodes: 2 more.
		{name: "alias counts as its anchor's value", data: "a: &x [1, 2]\nb: *x\n", maxNodes: 2},
		{name: "alias counts as its anchor's value, one over", data: "a: &x [1, 2]\nb: *x\n", maxNodes: 1, want: "exceeds 1 nodes"},
		{name: "alias of a scalar adds nothing", data: "a: &x 1\nb: *x\n", maxNodes: 1},
		{name: "merge key counts as its anchor's value", data: "a: &x {k: v}\nb: {<<: *x}\n", maxNodes: 2},
		{name: "merge key counts as its anchor's value, one over", data: "a: &x {k: v}\nb: {<<: *x}\n", maxNodes: 1, want: "exceeds 1 nodes"},
		{name: "2^62 nodes", data: doublings(62), maxNodes: math.MaxInt, want: fmt.Sprintf("exceeds %d nodes", math.MaxInt)},
		{name: "2^40 nodes", data: doublings(40), maxNodes: 1 << 43},
		{name: "anchor containing an alias to itself", data: "a: &a [1, *a]\n", want: `YAML anchor "a" contains an alias to itself`},
		{name: "anchor merging itself", data: "a: &a {k: v, <<: *a}\n", want: `YAML anchor "a" contains an alias to itself`},
		// Written: document, mapping, a, [1] (2), b, [1, 2, 3] (4), c, [*a, *a] (3): 14; expanded 20.
		{name: "alias to a redefined anchor", data: "a: &a [1]\nb: &a [1, 2, 3]\nc: [*a, *a]\n", maxNodes: 6},
		{name: "alias to a redefined anchor, over", data: "a: &a [1]\nb: &a [1, 2, 3]\nc: [*a, *a]\n", maxNodes: 5, want: "exceeds 5 nodes"},
		// The parsers (yaml.v3 here, yaml.v2 in Helm) refuse or ignore a
		// document after "..." without "---".
		{name: "billion laughs after a bare document end marker", data: "a: 1\n...\n" + laughs},
		{name: "billion laughs in the second document", data: "a: 1\n---\n" + laughs, want: "YAML alias expansion exceeds"},
		{name: "billion laughs after a document that does not parse", data: "a: [1\n---\n" + laughs, want: "YAML alias expansion exceeds"},
		{name: "billion laughs after a directive", data: "%TAG !x! tag:example.com,2000:\n--- !x!laughs\n" + laughs, want: "YAML alias expansion exceeds"},
		{name: "billion laughs after a document end marker", data: "a: 1\n...\n---\n" + laughs, want: "YAML alias expansion exceeds"},
		{name: "syntax error", data: "a: [1, 2\nb: }\n"},
		{name: "unknown alias", data: "a: *nowhere\n"},
		{name: "tab indentation", data: "a:\n\t- *x\n"},
		{name: "empty", data: ""},
		{name: "comments only", data: "# nothing\n---\n# still nothing\n"},
		{name: "JSON", data: `{"a": [1, 2, {"b": null}], "c": "*d"}`},
		{name: "nested 10000 deep", data: strings.Repeat("[", 10000) + strings.Repeat("]", 10000)},
		{name: "nested 10001 deep does not parse", data: strings.Repeat("[", 10001) + strings.Repeat("]", 10001)},
		{name: "aliases of a value nested 9000 deep", data: "a: &a " + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "\nb: [*a, *a]\n", maxNodes: 17998},
		{name: "aliases of a value nested 9000 deep, over", data: "a: &a " + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "\nb: [*a, *a]\n", maxNodes: 17997, want: "exceeds 17997 nodes"},
		{name: "block nesting 5000 deep", data: blockNest(5000)},
		// It parses: 19005 nodes written, 28004 expanded.
		{name: "flow nesting 9000 deep inside block nesting 5000 deep", data: deepMixed, maxNodes: 8999},
		{name: "flow nesting 9000 deep inside block nesting 5000 deep, over", data: deepMixed, maxNodes: 8998, want: "exceeds 8998 nodes"},
		{name: "dense flow mapping of more nodes than the limit, without aliases", data: "{" + strings.Repeat("a,", 600) + "}", maxNodes: 1000},
		{name: "dense flow mapping within the limit without aliases", data: "{" + strings.Repeat("a,", 400) + "}", maxNodes: 1000},
		{name: "UTF-16 with BOM", data: utf16LE("a: &x [1, 2]\nb: *x\n"), maxNodes: 2},
		{name: "UTF-16 with BOM, over", data: utf16LE("a: &x [1, 2]\nb: *x\n"), maxNodes: 1, want: "exceeds 1 nodes"},
	}
}

// utf16LE encodes s as UTF-16, little-endian, with a byte order mark.
func utf16LE(s string) string {
	var b strings.Builder
	b.WriteString("\xff\xfe")
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(u))
		b.WriteByte(byte(u >> 8))
	}
	return b.String()
}

// deepMixed nests a flow sequence 9000 deep, and an alias of it, in a block
// mapping nested 5000 deep.
var deepMixed = blockNest(5000) + strings.Repeat(" ", 5000) + "k: &a " + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "\n" +
	strings.Repeat(" ", 5000) + "l: *a\n"

// blockNest is a block mapping nested depth deep.
func blockNest(depth int) string {
	var b strings.Builder
	for i := range depth {
		b.WriteString(strings.Repeat(" ", i))
		b.WriteString("k:\n")
	}
	return b.String()
}

// TestCountIsLinear checks that counting visits each written node about
// once, however large the expansion: 2^20 nodes expanded from under 100
// written. (Without memoisation the 2^40 and 2^62 cases of TestCheckYAML
// would not end.)
func TestCountIsLinear(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(doublings(20)), &doc); err != nil {
		t.Fatal(err)
	}
	c := counter{max: math.MaxInt64}
	n, err := c.size(&doc)
	if err != nil {
		t.Fatal(err)
	}
	written := literalNodes(&doc)
	if n < 1<<20 {
		t.Fatalf("counted %d nodes, want over 2^20", n)
	}
	if c.steps > 2*int(written) {
		t.Fatalf("counting took %d steps for %d written nodes", c.steps, written)
	}
}

// TestCountIsLinearAcrossDocuments checks that an anchor aliased by many
// later documents of the stream is counted once.
func TestCountIsLinearAcrossDocuments(t *testing.T) {
	data := "a: &a [" + strings.Repeat("x, ", 1000) + "x]\n" + strings.Repeat("--- *a\n", 1000)
	c := &counter{max: 2000}
	complete, err := checkStream("values.yaml", []byte(data), c)
	if err != nil || !complete {
		t.Fatalf("checkStream = %v, %v", complete, err)
	}
	if c.steps > 2*3005 {
		t.Fatalf("counting took %d steps for 3005 written nodes", c.steps)
	}
}

func TestCheckYAML(t *testing.T) {
	for _, tt := range yamlCases() {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckYAML("values.yaml", []byte(tt.data), tt.maxNodes)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrHostile) {
				t.Fatalf("err = %v, want one wrapping ErrHostile", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{in: "", want: []string{""}},
		{in: "a: 1\n", want: []string{"a: 1\n"}},
		{in: "---\na: 1\n", want: []string{"---\na: 1\n"}},
		{in: "a: 1\n---\nb: 2\n--- # c\nc: 3", want: []string{"a: 1\n", "---\nb: 2\n", "--- # c\nc: 3"}},
		{in: "a: 1\n---", want: []string{"a: 1\n", "---"}},
		{in: "a: 1\n----\nb: ---\n ---\n", want: []string{"a: 1\n----\nb: ---\n ---\n"}},
		{in: "a: 1\r\n---\r\nb: 2\r\n", want: []string{"a: 1\r\n", "---\r\nb: 2\r\n"}},
	}
	for _, tt := range tests {
		var got []string
		for _, d := range splitDocuments([]byte(tt.in)) {
			got = append(got, string(d))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
			t.Errorf("splitDocuments(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
