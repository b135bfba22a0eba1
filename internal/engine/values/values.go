// Package values builds the Helm values of a KDU operation from its sources:
// values files, OSM-style params (with the "!!yaml " prefix) and Helm's --set /
// --set-string expressions. It follows Helm's precedence rules and fixes N2VC's
// params bugs (docs/n2vc.md#params-and-values; bugs 4, 5 and 13 of
// docs/n2vc.md#n2vc-bugs-and-what-kdu-does): there are no temporary files, YAML
// is decoded as plain data only, and only string values that start with the
// "!!yaml" marker are decoded.
//
// The package is pure: no I/O, and every input is copied, never mutated.
package values

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"

	"helm.sh/helm/v4/pkg/strvals"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrInvalidValues reports values that cannot be parsed or have the wrong shape.
	ErrInvalidValues = errors.New("invalid values")
	// ErrValuesTooLarge reports a values document larger than MaxDocumentSize.
	ErrValuesTooLarge = errors.New("values too large")
)

// MaxDocumentSize is the largest YAML text accepted, in bytes, for one values
// file or one "!!yaml" param. It matches Helm's 5 MiB per-file limit in the
// chart loader, so kdu loads any file Helm would. Alias expansion inside a
// document is bounded separately by MaxAliasNodes.
const MaxDocumentSize = 5 << 20

// maxDepth bounds how deeply nested caller-supplied params may be (it also
// stops a self-referencing map from recursing forever).
const maxDepth = 1000

// YAMLPrefix is the marker that makes a string param a YAML document. The
// marker must be followed by whitespace (OSM writes "!!yaml "), or be the
// whole string, which decodes to null.
const YAMLPrefix = "!!yaml"

// File is one values document: its Name (used in error messages, e.g. the
// file path) and its Data.
type File struct {
	Name string
	Data []byte
}

// Options are the values sources of one operation. Build applies them in
// order of increasing precedence: Files (in order), Params, Set, SetString.
type Options struct {
	// Files are values files (-f/--values), later ones winning.
	Files []File
	// Params are OSM-style params (see FromParams).
	Params map[string]any
	// Set are --set expressions ("a.b=1,c=x").
	Set []string
	// SetString are --set-string expressions, whose values always stay strings.
	SetString []string
}

// Build merges all sources into one values map, applying them in this order,
// later ones winning: each file (deep-merged), the params (deep-merged), each
// --set expression, then each --set-string expression, just as Helm does for
// -f and --set. Every error wraps ErrInvalidValues (or ErrValuesTooLarge) and
// names its source: the file name, params["key"] or --set "expr". The result
// is never nil and shares no memory with the inputs.
func (o Options) Build() (map[string]any, error) {
	base := map[string]any{}
	for i, f := range o.Files {
		name := f.Name
		if name == "" {
			name = fmt.Sprintf("values file #%d", i+1)
		}
		m, err := ParseYAML(name, f.Data)
		if err != nil {
			return nil, err
		}
		base = mergeMaps(base, m)
	}
	if len(o.Params) > 0 {
		p, err := FromParams(o.Params)
		if err != nil {
			return nil, err
		}
		base = mergeMaps(base, p)
	}
	for _, s := range o.Set {
		if err := applySet("--set", s, base, strvals.ParseInto); err != nil {
			return nil, err
		}
	}
	for _, s := range o.SetString {
		if err := applySet("--set-string", s, base, strvals.ParseIntoString); err != nil {
			return nil, err
		}
	}
	return base, nil
}

// applySet applies one --set style expression. Helm's parser silently ignores some malformed expressions
// ("=1", "a.b[=1"); kdu refuses an expression that sets nothing, so a typo never passes unnoticed.
func applySet(flag, expr string, base map[string]any, parse func(string, map[string]any) error) error {
	probe := map[string]any{}
	if err := parse(expr, probe); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrInvalidValues, flag, quote(expr), err)
	}
	if len(probe) == 0 {
		return fmt.Errorf("%w: %s %s sets nothing: want key=value[,key=value]", ErrInvalidValues, flag, quote(expr))
	}
	if err := parse(expr, base); err != nil {
		return fmt.Errorf("%w: %s %s: %w", ErrInvalidValues, flag, quote(expr), err)
	}
	return nil
}

// FromParams converts OSM params to values (docs/n2vc.md#params-and-values, fixing bugs 4 and 5).
// Keys are kept literally: "a.b" stays one key and is not nested. A string
// value that starts with "!!yaml" followed by whitespace (or is exactly
// "!!yaml") is replaced by the YAML document after the marker, decoded as
// plain data (maps, lists, strings, float64 numbers, booleans, null); it may
// be any YAML value, not only a mapping. Every other value, including strings
// that merely contain "!!yaml", is kept as it is. The result is a deep copy:
// maps with string keys become map[string]any and slices become []any, so the
// input is never shared or mutated. An empty or nil params gives an empty map.
func FromParams(params map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(params))
	for _, k := range sortedKeys(params) {
		v := params[k]
		if s, ok := v.(string); ok {
			if doc, ok := yamlParam(s); ok {
				decoded, err := decodeParam(k, doc)
				if err != nil {
					return nil, err
				}
				out[k] = decoded
				continue
			}
		}
		c, ok := deepCopy(v, 0)
		if !ok {
			return nil, fmt.Errorf("%w: params[%s] is nested deeper than %d levels (or refers to itself)",
				ErrInvalidValues, quote(k), maxDepth)
		}
		out[k] = c
	}
	return out, nil
}

// yamlParam reports whether s carries the "!!yaml" marker and returns the
// YAML text after it.
func yamlParam(s string) (string, bool) {
	if len(s) < len(YAMLPrefix) || s[:len(YAMLPrefix)] != YAMLPrefix {
		return "", false
	}
	if len(s) == len(YAMLPrefix) {
		return "", true
	}
	switch s[len(YAMLPrefix)] {
	case ' ', '\t', '\n', '\r':
		return s[len(YAMLPrefix)+1:], true
	}
	return "", false
}

func decodeParam(key, doc string) (any, error) {
	src := fmt.Sprintf("params[%s]", quote(key))
	if len(doc) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %s: !!yaml document is %d bytes, the maximum is %d",
			ErrValuesTooLarge, src, len(doc), MaxDocumentSize)
	}
	docs, err := splitDocuments([]byte(doc))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidValues, src, err)
	}
	var out any
	nonEmpty := 0
	for _, doc := range docs {
		v, err := unmarshalDoc(doc)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: cannot parse the YAML after %q: %w", ErrInvalidValues, src, YAMLPrefix, err)
		}
		if v != nil {
			out = v
			nonEmpty++
		}
	}
	if nonEmpty > 1 {
		return nil, fmt.Errorf("%w: %s: !!yaml value holds %d non-empty YAML documents, only one is allowed",
			ErrInvalidValues, src, nonEmpty)
	}
	return out, nil
}

// ParseYAML parses a values document the way Helm reads a values file: the
// YAML documents it contains ("---"-separated) must each be a mapping or
// empty, and are merged in order. Empty input gives an empty map. Values are
// plain data (maps, lists, strings, float64 numbers, booleans, null). Input
// larger than MaxDocumentSize is refused with ErrValuesTooLarge; alias bombs
// are refused (see MaxAliasNodes). Errors wrap ErrInvalidValues and name the
// document by name.
func ParseYAML(name string, data []byte) (map[string]any, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, the maximum is %d",
			ErrValuesTooLarge, quote(name), len(data), MaxDocumentSize)
	}
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidValues, quote(name), err)
	}
	out := map[string]any{}
	for i, doc := range docs {
		v, err := unmarshalDoc(doc)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: document %d: %w", ErrInvalidValues, quote(name), i+1, err)
		}
		switch t := v.(type) {
		case nil:
		case map[string]any:
			out = mergeMaps(out, t)
		default:
			return nil, fmt.Errorf("%w: %s: document %d: top level must be a mapping of keys to values, not %s",
				ErrInvalidValues, quote(name), i+1, describe(v))
		}
	}
	return out, nil
}

// splitDocuments splits YAML text into its "---"-separated documents exactly
// as Helm's values loader does.
func splitDocuments(data []byte) ([][]byte, error) {
	if len(data) > 0 && data[len(data)-1] != '\n' {
		// Helm appends a newline too, to work around a reader bug (helm#32506).
		data = append(bytes.Clone(data), '\n')
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

// Merge returns a new map holding dst overlaid with src, with Helm's values
// precedence: keys of src win; when both sides hold a map the maps are merged
// recursively; any other value of src (including nil, a list or a scalar)
// replaces the value of dst. Neither input is modified and the result shares
// no maps or slices with them. A nil input counts as empty.
func Merge(dst, src map[string]any) map[string]any {
	return mergeMaps(copyMap(dst), copyMap(src))
}

// mergeMaps is Helm's loader.MergeMaps: it may reuse (but never modifies) the
// maps of a and b, so callers pass maps they own.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, bm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// Copy deep-copies a values map (nested maps and lists), so the copy can be changed without touching the
// original. A nil map gives an empty one.
func Copy(m map[string]any) map[string]any {
	if c := copyMap(m); c != nil {
		return c
	}
	return map[string]any{}
}

// copyMap deep-copies m; beyond maxDepth it shares instead of recursing.
func copyMap(m map[string]any) map[string]any {
	c, _ := deepCopy(m, 0)
	if cm, ok := c.(map[string]any); ok {
		return cm
	}
	return map[string]any{}
}

// deepCopy copies v, turning maps with string keys into map[string]any and
// slices and arrays into []any ([]byte is cloned as is). Other values
// (scalars, pointers, structs) are returned as they are. ok is false if the
// nesting exceeds maxDepth, in which case the deeper parts are shared.
func deepCopy(v any, depth int) (any, bool) {
	if depth > maxDepth {
		return v, false
	}
	switch t := v.(type) {
	case nil, string, bool, int, int64, float64:
		return v, true
	case map[string]any:
		if t == nil {
			return map[string]any(nil), true
		}
		out := make(map[string]any, len(t))
		ok := true
		for k, e := range t {
			var eok bool
			out[k], eok = deepCopy(e, depth+1)
			ok = ok && eok
		}
		return out, ok
	case []any:
		if t == nil {
			return []any(nil), true
		}
		out := make([]any, len(t))
		ok := true
		for i, e := range t {
			var eok bool
			out[i], eok = deepCopy(e, depth+1)
			ok = ok && eok
		}
		return out, ok
	case []byte:
		return bytes.Clone(t), true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return v, true
		}
		if rv.IsNil() {
			return map[string]any(nil), true
		}
		out := make(map[string]any, rv.Len())
		ok := true
		it := rv.MapRange()
		for it.Next() {
			var eok bool
			out[it.Key().String()], eok = deepCopy(it.Value().Interface(), depth+1)
			ok = ok && eok
		}
		return out, ok
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return []any(nil), true
		}
		out := make([]any, rv.Len())
		ok := true
		for i := range out {
			var eok bool
			out[i], eok = deepCopy(rv.Index(i).Interface(), depth+1)
			ok = ok && eok
		}
		return out, ok
	}
	return v, true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// describe names the YAML type of a decoded value for error messages.
func describe(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case float64, int64, int:
		return "a number"
	case bool:
		return "a boolean"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// maxQuoted is how many bytes of an offending input an error message shows.
const maxQuoted = 120

// quote renders untrusted input for an error message: Go-quoted and
// shortened if it is long.
func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q... (%d bytes)", s[:maxQuoted], len(s))
	}
	return fmt.Sprintf("%q", s)
}
