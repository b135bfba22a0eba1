// Package scale holds kdu's rules for scaling a KDU (docs/n2vc.md#scale and
// docs/n2vc.md#get_scale_count): which values key holds a chart's replica
// count, how to read the current count from release values and how to set a new
// one.
//
// A resource name selects a sub-chart or component: its replica key lives
// under values[resource]. The empty resource name means the top level.
// Paths are returned as segments, never as dotted strings, because resource
// names may contain dots.
//
// Fixes relative to N2VC: the version-stripping of scale (bug 14) is the
// caller's concern, but a resource missing from the user values is reported
// as "not found" instead of silently reading the top-level count (bug 15).
//
// The package is pure: no I/O, and inputs are never mutated.
package scale

import (
	"encoding/json"
	"errors"
	"fmt"
	vals "github.com/kdu-io/kdu/internal/engine/values"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The names of the two replica keys, in order of preference.
const (
	KeyReplicaCount = "replicaCount"
	KeyReplicas     = "replicas"
)

// MaxReplicas is the largest replica count accepted.
const MaxReplicas = 1_000_000

// Sentinel errors; every error returned by this package wraps one of them.
var (
	// ErrUnknownResource reports a resource name that is not a key of the values.
	ErrUnknownResource = errors.New("unknown resource")
	// ErrNotAMap reports a resource whose value is not a mapping.
	ErrNotAMap = errors.New("resource values are not a map")
	// ErrNoReplicaKey reports values with neither replicaCount nor replicas.
	ErrNoReplicaKey = errors.New("no replica key")
	// ErrBothReplicaKeys reports values with both replicaCount and replicas.
	ErrBothReplicaKeys = errors.New("both replica keys present")
	// ErrInvalidCount reports a replica count that is not a whole number in [0, MaxReplicas].
	ErrInvalidCount = errors.New("invalid replica count")
)

// ReplicaKey finds the key that holds the replica count in a chart's default
// values: with resource == "" it looks at the top level, otherwise inside
// defaults[resource], which must exist (else ErrUnknownResource, listing the
// resources that do have a replica key) and be a map (else ErrNotAMap). It
// picks replicaCount if present and not null, else replicas if present and
// not null; neither gives ErrNoReplicaKey and both give ErrBothReplicaKeys.
// The result is the path to the key: [key] or [resource, key].
func ReplicaKey(defaults map[string]any, resource string) ([]string, error) {
	level := defaults
	where := "at the top level of the chart values"
	if resource != "" {
		v, ok := defaults[resource]
		if !ok || v == nil {
			return nil, fmt.Errorf("%w: resource %s not found in the chart values%s",
				ErrUnknownResource, quote(resource), candidateList(defaults))
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: resource %s in the chart values is %s, not a map of values",
				ErrNotAMap, quote(resource), describe(v))
		}
		level = m
		where = fmt.Sprintf("in resource %s of the chart values", quote(resource))
	}
	key, err := pickKey(level)
	if err != nil {
		return nil, fmt.Errorf("%w %s; cannot scale", err, where)
	}
	if resource == "" {
		return []string{key}, nil
	}
	return []string{resource, key}, nil
}

// errNeither and errBoth carry the sentinels for pickKey.
var (
	errNeither = fmt.Errorf("%w: neither %s nor %s is set", ErrNoReplicaKey, KeyReplicaCount, KeyReplicas)
	errBoth    = fmt.Errorf("%w: both %s and %s are set", ErrBothReplicaKeys, KeyReplicaCount, KeyReplicas)
)

func pickKey(level map[string]any) (string, error) {
	rc := level[KeyReplicaCount] != nil
	r := level[KeyReplicas] != nil
	switch {
	case rc && r:
		return "", errBoth
	case rc:
		return KeyReplicaCount, nil
	case r:
		return KeyReplicas, nil
	default:
		return "", errNeither
	}
}

// candidateList describes the resources of values that have exactly one
// replica key, for the ErrUnknownResource message.
func candidateList(values map[string]any) string {
	var names []string
	for k, v := range values {
		if m, ok := v.(map[string]any); ok {
			if _, err := pickKey(m); err == nil {
				names = append(names, quote(k))
			}
		}
	}
	sort.Strings(names)
	top := ""
	if _, err := pickKey(values); err == nil {
		top = "; the top level (resource \"\") has one"
	}
	if len(names) == 0 {
		return "; no resource has a replica key" + top
	}
	return "; resources with a replica key: " + strings.Join(names, ", ") + top
}

// CountFromValues reads the replica count from values (typically the user
// values of a release): replicaCount, then replicas, at the top level when
// resource == "" and inside values[resource] otherwise. found is false when
// neither key is set (null counts as not set) and when values has no entry
// for resource: there is no fallback to the top level (bug 15). A resource
// entry that is not a map gives ErrNotAMap; a count that is not a whole
// number in [0, MaxReplicas] gives ErrInvalidCount naming the key. Numbers may
// be any Go integer or float type (whole floats only), json.Number or a
// decimal string.
func CountFromValues(values map[string]any, resource string) (n int, found bool, err error) {
	level := values
	prefix := ""
	if resource != "" {
		v := values[resource]
		if v == nil {
			return 0, false, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false, fmt.Errorf("%w: resource %s in the values is %s, not a map of values",
				ErrNotAMap, quote(resource), describe(v))
		}
		level = m
		prefix = resource + "."
	}
	for _, key := range []string{KeyReplicaCount, KeyReplicas} {
		v := level[key]
		if v == nil {
			continue
		}
		n, err := toCount(v)
		if err != nil {
			return 0, false, fmt.Errorf("%w: %s%s is %s", ErrInvalidCount, prefix, key, err)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// toCount converts a decoded values number to a replica count. The error
// text completes "<key> is ...".
func toCount(v any) (int, error) {
	var f float64
	switch t := v.(type) {
	case int:
		return intCount(int64(t))
	case int8:
		return intCount(int64(t))
	case int16:
		return intCount(int64(t))
	case int32:
		return intCount(int64(t))
	case int64:
		return intCount(t)
	case uint:
		return uintCount(uint64(t))
	case uint8:
		return uintCount(uint64(t))
	case uint16:
		return uintCount(uint64(t))
	case uint32:
		return uintCount(uint64(t))
	case uint64:
		return uintCount(t)
	case float32:
		f = float64(t)
	case float64:
		f = t
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return intCount(i)
		}
		pf, err := t.Float64()
		if err != nil {
			return 0, fmt.Errorf("%q, not a number", t.String())
		}
		f = pf
	case string:
		n, err := ParseReplicas(t)
		if err != nil {
			return 0, fmt.Errorf("the string %s, not a whole number from 0 to %d", quote(t), MaxReplicas)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s, not a number", describe(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
		return 0, fmt.Errorf("%v, not a whole number", f)
	}
	if f < 0 || f > MaxReplicas {
		return 0, fmt.Errorf("%v, outside 0 to %d", f, MaxReplicas)
	}
	return int(f), nil
}

func intCount(i int64) (int, error) {
	if i < 0 || i > MaxReplicas {
		return 0, fmt.Errorf("%d, outside 0 to %d", i, MaxReplicas)
	}
	return int(i), nil
}

func uintCount(u uint64) (int, error) {
	if u > MaxReplicas {
		return 0, fmt.Errorf("%d, outside 0 to %d", u, MaxReplicas)
	}
	return int(u), nil
}

// SetCount returns a deep copy of values with the count n stored at path,
// creating intermediate maps as needed and replacing any intermediate value
// that is not a map (as Helm's --set does). The count is stored as int64,
// the type --set gives it. values is not modified; an empty path returns an
// unchanged copy.
func SetCount(values map[string]any, path []string, n int) map[string]any {
	out := vals.Copy(values)
	if len(path) == 0 {
		return out
	}
	level := out
	for _, seg := range path[:len(path)-1] {
		next, ok := level[seg].(map[string]any)
		if !ok {
			next = map[string]any{}
			level[seg] = next
		}
		level = next
	}
	level[path[len(path)-1]] = int64(n)
	return out
}

// ParseReplicas parses a replica count given by a user (for example a CLI
// flag): a decimal number from 0 to MaxReplicas, without sign or spaces.
// Errors wrap ErrInvalidCount and name the value.
func ParseReplicas(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: replicas is empty, want a whole number from 0 to %d", ErrInvalidCount, MaxReplicas)
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("%w: replicas %s is negative", ErrInvalidCount, quote(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: replicas %s is not a whole number (character %q at position %d)",
				ErrInvalidCount, quote(s), s[i], i)
		}
	}
	trimmed := strings.TrimLeft(s, "0")
	if len(trimmed) > 7 {
		return 0, fmt.Errorf("%w: replicas %s is larger than the maximum %d", ErrInvalidCount, quote(s), MaxReplicas)
	}
	n := 0
	for i := 0; i < len(trimmed); i++ {
		n = n*10 + int(trimmed[i]-'0')
	}
	if n > MaxReplicas {
		return 0, fmt.Errorf("%w: replicas %s is larger than the maximum %d", ErrInvalidCount, quote(s), MaxReplicas)
	}
	return n, nil
}

// describe names the type of a values entry for error messages.
func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	case float32, float64, int, int64, json.Number:
		return "a number"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// maxQuoted is how many bytes of an offending input an error message shows.
const maxQuoted = 40

func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q... (%d bytes)", s[:maxQuoted], len(s))
	}
	return strconv.Quote(s)
}
