// Package naming holds kdu's rules for the names it generates and accepts:
// Helm release names, Kubernetes namespaces and cluster identifiers.
//
// The package is pure: it performs no I/O apart from reading the random source
// handed to it, and every function returns an error instead of panicking on bad
// input.
package naming

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can branch with errors.Is.
var (
	// ErrInvalidReleaseName reports a release name that Helm would refuse.
	ErrInvalidReleaseName = errors.New("invalid release name")
	// ErrInvalidNamespace reports a namespace that is not a DNS-1123 label.
	ErrInvalidNamespace = errors.New("invalid namespace")
	// ErrInvalidClusterID reports a cluster id that is not a safe key.
	ErrInvalidClusterID = errors.New("invalid cluster id")
	// ErrInvalidModel reports a KDU model from which no release name can be derived.
	ErrInvalidModel = errors.New("invalid kdu model")
	// ErrNoUniqueName reports that GenerateUnique ran out of attempts because
	// every candidate name was already taken.
	ErrNoUniqueName = errors.New("no unique release name")
)

const (
	// MaxReleaseNameLen is Helm's limit on the length of a release name.
	MaxReleaseNameLen = 53
	// MaxNamespaceLen is the Kubernetes limit on the length of a namespace (a DNS-1123 label).
	MaxNamespaceLen = 63
	// MaxClusterIDLen is the limit on the length of a cluster id.
	MaxClusterIDLen = 63

	// maxModelPartLen is how many characters of the model a generated name keeps (N2VC: 35).
	maxModelPartLen = 35
	// maxRandom is the largest random suffix (N2VC: randint(1, 99999999)).
	maxRandom = 99999999
	// DefaultAttempts is the number of names GenerateUnique tries when asked for zero or fewer attempts.
	DefaultAttempts = 10
)

// GenerateReleaseName derives a Helm release name from a KDU model the way
// N2VC's generate_kdu_instance_name does, with its bugs fixed:
//
//  1. If the model starts with "/" or contains "://", only the part after the
//     last "/" is kept.
//  2. Every character that is not an ASCII letter or digit becomes "-"
//     (N2VC kept non-ASCII letters, which are invalid in Kubernetes names).
//  3. The result is truncated to 35 characters and prefixed with "a" if it
//     does not start with an ASCII letter.
//  4. "-" and a 10-digit zero-padded random number in [1, 99999999] are
//     appended and everything is lower-cased.
//
// For example "stable/openldap:1.2.4" gives "stable-openldap-1-2-4-0005399828".
// rnd is the source of randomness; nil means crypto/rand. An empty model is an
// error (ErrInvalidModel). The result always passes ValidateReleaseName.
func GenerateReleaseName(model string, rnd io.Reader) (string, error) {
	if model == "" {
		return "", fmt.Errorf("%w: model is empty, cannot derive a release name from it", ErrInvalidModel)
	}
	base := model
	if strings.HasPrefix(base, "/") || strings.Contains(base, "://") {
		base = base[strings.LastIndex(base, "/")+1:]
	}

	var b strings.Builder
	n := 0
	for _, r := range base {
		if n == maxModelPartLen {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
		default:
			b.WriteByte('-')
		}
		n++
	}
	prefix := b.String()
	if prefix == "" || prefix[0] < 'a' || prefix[0] > 'z' {
		prefix = "a" + prefix
	}

	num, err := randomSuffix(rnd)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s-%010d", prefix, num), nil
}

// randomSuffix returns a uniformly distributed number in [1, maxRandom].
func randomSuffix(rnd io.Reader) (uint64, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	// Rejection sampling keeps the distribution uniform: accept only values
	// below the largest multiple of maxRandom that fits in a uint64.
	const limit = (^uint64(0) / maxRandom) * maxRandom
	var buf [8]byte
	for range 64 {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return 0, fmt.Errorf("read random release name suffix: %w", err)
		}
		v := binary.BigEndian.Uint64(buf[:])
		if v < limit {
			return v%maxRandom + 1, nil
		}
	}
	return 0, errors.New("read random release name suffix: random source keeps returning out-of-range values")
}

// GenerateUnique generates release names from model (see GenerateReleaseName,
// using crypto/rand) until exists reports one as free, trying at most attempts
// names (DefaultAttempts if attempts < 1). An error from exists or a cancelled
// ctx stops the loop and is returned wrapped; running out of attempts returns
// an error wrapping ErrNoUniqueName.
func GenerateUnique(ctx context.Context, model string, exists func(ctx context.Context, name string) (bool, error), attempts int) (string, error) {
	if exists == nil {
		return "", errors.New("generate unique release name: exists callback is nil")
	}
	if attempts < 1 {
		attempts = DefaultAttempts
	}
	for range attempts {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("generate unique release name for model %q: %w", model, err)
		}
		name, err := GenerateReleaseName(model, nil)
		if err != nil {
			return "", err
		}
		taken, err := exists(ctx, name)
		if err != nil {
			return "", fmt.Errorf("check whether release %q exists: %w", name, err)
		}
		if !taken {
			return name, nil
		}
	}
	return "", fmt.Errorf("%w: all %d names generated from model %q are taken", ErrNoUniqueName, attempts, model)
}

// ValidateReleaseName checks Helm's release name rule: at most 53 characters,
// matching ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$
// (a DNS-1123 subdomain). The error wraps ErrInvalidReleaseName and says why.
func ValidateReleaseName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: release name is empty", ErrInvalidReleaseName)
	}
	if len(name) > MaxReleaseNameLen {
		return fmt.Errorf("%w: release name %s is %d characters long, the maximum is %d",
			ErrInvalidReleaseName, quote(name), len(name), MaxReleaseNameLen)
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			continue
		}
		if why := checkLabel(name[start:i], start); why != "" {
			return fmt.Errorf("%w: release name %s %s; it must be lower-case letters, digits, '-' and '.', "+
				"with each dot-separated part starting and ending with a letter or digit",
				ErrInvalidReleaseName, quote(name), why)
		}
		start = i + 1
	}
	return nil
}

// ValidateNamespace checks that ns is a Kubernetes namespace name: a DNS-1123
// label of at most 63 characters, ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$. The error
// wraps ErrInvalidNamespace and says why.
func ValidateNamespace(ns string) error {
	if ns == "" {
		return fmt.Errorf("%w: namespace is empty", ErrInvalidNamespace)
	}
	if len(ns) > MaxNamespaceLen {
		return fmt.Errorf("%w: namespace %s is %d characters long, the maximum is %d",
			ErrInvalidNamespace, quote(ns), len(ns), MaxNamespaceLen)
	}
	if why := checkLabel(ns, 0); why != "" {
		return fmt.Errorf("%w: namespace %s %s; it must be lower-case letters, digits and '-', "+
			"starting and ending with a letter or digit", ErrInvalidNamespace, quote(ns), why)
	}
	return nil
}

// checkLabel checks one DNS-1123 label that starts at offset off of the whole
// name. It returns "" if the label is valid, otherwise the reason.
func checkLabel(label string, off int) string {
	if label == "" {
		return fmt.Sprintf("has an empty part at position %d", off)
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if i == 0 {
				return fmt.Sprintf("has a part starting with '-' at position %d", off+i)
			}
			if i == len(label)-1 {
				return fmt.Sprintf("has a part ending with '-' at position %d", off+i)
			}
		case c >= 'A' && c <= 'Z':
			return fmt.Sprintf("contains upper-case letter %q at position %d", c, off+i)
		default:
			return fmt.Sprintf("contains invalid character %s at position %d", describeByte(label, i), off+i)
		}
	}
	return ""
}

// ParseClusterID splits a cluster reference into its optional namespace and
// its id. Both the plain id and N2VC's legacy "namespace:cluster_id" form are
// accepted; the split is at the last ':' and an empty namespace part means no
// namespace (the caller then looks it up). The id is checked with
// ValidateClusterID and a non-empty namespace with ValidateNamespace.
func ParseClusterID(s string) (namespace, id string, err error) {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		namespace, id = s[:i], s[i+1:]
	} else {
		id = s
	}
	if err := ValidateClusterID(id); err != nil {
		if strings.Contains(s, ":") {
			return "", "", fmt.Errorf("cluster reference %s: %w", quote(s), err)
		}
		return "", "", err
	}
	if namespace != "" {
		if err := ValidateNamespace(namespace); err != nil {
			return "", "", fmt.Errorf("%w: cluster reference %s has a bad namespace part: %w",
				ErrInvalidClusterID, quote(s), err)
		}
	}
	return namespace, id, nil
}

// ValidateClusterID checks that id is safe to use as a key (and never as a
// path): 1 to 63 characters, the first an ASCII letter or digit, the rest
// ASCII letters, digits, '.', '_' or '-', and no "..". UUIDs pass. The error
// wraps ErrInvalidClusterID and says why.
func ValidateClusterID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: cluster id is empty", ErrInvalidClusterID)
	}
	if len(id) > MaxClusterIDLen {
		return fmt.Errorf("%w: cluster id %s is %d characters long, the maximum is %d",
			ErrInvalidClusterID, quote(id), len(id), MaxClusterIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("%w: cluster id %s must start with an ASCII letter or digit, not %s",
				ErrInvalidClusterID, quote(id), describeByte(id, i))
		}
		if !alnum && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: cluster id %s contains invalid character %s at position %d; "+
				"only ASCII letters, digits, '.', '_' and '-' are allowed", ErrInvalidClusterID, quote(id), describeByte(id, i), i)
		}
	}
	if strings.Contains(id, "..") {
		return fmt.Errorf("%w: cluster id %s contains \"..\"", ErrInvalidClusterID, quote(id))
	}
	return nil
}

// maxQuoted is how many bytes of an offending input an error message shows.
const maxQuoted = 80

// quote renders untrusted input for an error message: Go-quoted (so control
// characters are escaped) and shortened if it is long.
func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q... (%d bytes)", s[:maxQuoted], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// describeByte renders the character at byte offset i of s for an error message.
func describeByte(s string, i int) string {
	c := s[i]
	if c < 0x80 {
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("non-ASCII byte 0x%02x", c)
}

// ErrInvalidProject is wrapped by ValidateProject's errors.
var ErrInvalidProject = errors.New("invalid project")

// ValidateProject checks a project name: the same rules as a cluster id (1 to 63 ASCII letters, digits, '.',
// '_' or '-', starting with a letter or digit, no "..").
func ValidateProject(p string) error {
	if err := ValidateClusterID(p); err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidProject, strings.Replace(strings.TrimPrefix(err.Error(), ErrInvalidClusterID.Error()+": "), "cluster id", "project", 1))
	}
	return nil
}
