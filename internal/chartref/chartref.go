// Package chartref parses and validates KDU chart references ("kdu_model"
// in N2VC): repository charts, bare chart names, local directories and
// archives, chart archive URLs and OCI references.
//
// The rules accept everything N2VC accepts in practice but are stricter where
// N2VC was silently lenient: a reference with two ':' is an error rather than
// "no version", unknown URL schemes are refused, and shell metacharacters,
// whitespace, control characters and ".." path segments are always refused.
// kdu never builds command strings, so the character rules are defence in
// depth, not the only protection.
//
// The package is pure: it does no I/O (it never checks that a path exists).
package chartref

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Sentinel errors. Every error returned by Parse wraps ErrInvalidChartRef;
// WithVersion returns errors wrapping ErrVersionConflict or
// ErrVersionNotApplicable, or ErrInvalidChartRef for a malformed version.
var (
	// ErrInvalidChartRef reports a chart reference that kdu refuses.
	ErrInvalidChartRef = errors.New("invalid chart reference")
	// ErrVersionConflict reports a version option that differs from the
	// version written inline in the reference.
	ErrVersionConflict = errors.New("conflicting chart versions")
	// ErrVersionNotApplicable reports a version option given for a reference
	// that cannot carry one (local directories and archives, archive URLs).
	ErrVersionNotApplicable = errors.New("chart version not applicable")
)

// Error is the typed error returned for an invalid reference. It wraps
// ErrInvalidChartRef.
type Error struct {
	// Ref is the offending reference as given.
	Ref string
	// Reason says why it was refused.
	Reason string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("invalid chart reference %s: %s", quote(e.Ref), e.Reason)
}

// Unwrap returns ErrInvalidChartRef.
func (e *Error) Unwrap() error { return ErrInvalidChartRef }

// MaxLen is the longest chart reference accepted, in bytes.
const MaxLen = 1024

// maxOCITagLen is the OCI distribution spec's limit on tag length.
const maxOCITagLen = 128

// Kind tells what a reference points at.
type Kind int

// The kinds of chart reference.
const (
	// KindInvalid is the zero Kind; Parse never returns it without an error.
	KindInvalid Kind = iota
	// KindRepo is "repo/chart[:version]": a chart in a named repository.
	KindRepo
	// KindName is a bare "chart[:version]".
	KindName
	// KindDir is a local chart directory.
	KindDir
	// KindArchive is a local chart archive (.tgz or .tar.gz).
	KindArchive
	// KindURL is an http:// or https:// URL of a chart archive.
	KindURL
	// KindOCI is "oci://host[:port]/path/chart[:tag][@sha256:<hex>]".
	KindOCI
)

// String returns the lower-case name of the kind.
func (k Kind) String() string {
	switch k {
	case KindRepo:
		return "repo"
	case KindName:
		return "name"
	case KindDir:
		return "dir"
	case KindArchive:
		return "archive"
	case KindURL:
		return "url"
	case KindOCI:
		return "oci"
	default:
		return "invalid"
	}
}

// Ref is a parsed chart reference. Which fields are set depends on Kind:
//
//   - KindRepo: Repo, Chart and optionally Version.
//   - KindName: Chart and optionally Version.
//   - KindDir, KindArchive: Path (cleaned with filepath.Clean; relative paths
//     stay relative).
//   - KindURL: URL (canonical: lower-case scheme and host). The version is
//     never split off a URL.
//   - KindOCI: URL ("oci://host[:port]/path/chart", without tag or digest),
//     Chart (the last path segment), optionally Version (the tag) and Digest
//     ("sha256:<64 lower-case hex>").
type Ref struct {
	Kind    Kind
	Repo    string
	Chart   string
	Version string
	Path    string
	URL     string
	Digest  string
}

// IsLocal reports whether the reference names a local directory or archive.
func (r Ref) IsLocal() bool { return r.Kind == KindDir || r.Kind == KindArchive }

// String returns the canonical form of the reference. Parse(r.String())
// returns r for every r that Parse produced. Relative local paths are written
// with a leading "./" so that they parse as paths again. The zero Ref gives "".
func (r Ref) String() string {
	switch r.Kind {
	case KindRepo:
		return r.Repo + "/" + r.Chart + versionSuffix(r.Version)
	case KindName:
		return r.Chart + versionSuffix(r.Version)
	case KindDir, KindArchive:
		if filepath.IsAbs(r.Path) || strings.HasPrefix(r.Path, "./") {
			return r.Path
		}
		return "./" + r.Path
	case KindURL:
		return r.URL
	case KindOCI:
		s := r.URL + versionSuffix(r.Version)
		if r.Digest != "" {
			s += "@" + r.Digest
		}
		return s
	default:
		return ""
	}
}

func versionSuffix(v string) string {
	if v == "" {
		return ""
	}
	return ":" + v
}

// WithVersion applies a separately given version (the CLI's --version) to r.
// An empty v returns r unchanged. If r already carries a different inline
// version the error wraps ErrVersionConflict; for local paths and archive
// URLs it wraps ErrVersionNotApplicable. v must satisfy the same rules as an
// inline version (for OCI, the tag rules).
func (r Ref) WithVersion(v string) (Ref, error) {
	if v == "" {
		return r, nil
	}
	switch r.Kind {
	case KindRepo, KindName:
		if why := checkVersion(v); why != "" {
			return r, fmt.Errorf("%w: version %s %s", ErrInvalidChartRef, quote(v), why)
		}
	case KindOCI:
		if why := checkOCITag(v); why != "" {
			return r, fmt.Errorf("%w: version %s %s", ErrInvalidChartRef, quote(v), why)
		}
	default:
		return r, fmt.Errorf("%w: version %s given for %s reference %s, which cannot carry a version",
			ErrVersionNotApplicable, quote(v), r.Kind, quote(r.String()))
	}
	if r.Version != "" && r.Version != v {
		return r, fmt.Errorf("%w: version %s differs from version %s written in the reference %s",
			ErrVersionConflict, quote(v), quote(r.Version), quote(r.String()))
	}
	r.Version = v
	return r, nil
}

var (
	// nameRE is the rule for repository and chart names.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// ociComponentRE is the OCI distribution spec's rule for a repository path component.
	ociComponentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	// schemeRE is RFC 3986's rule for a URL scheme.
	schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)
	// digestRE is the only digest form accepted.
	digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
	// hostLabelRE is one DNS label of a host name.
	hostLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`)
)

// forbidden lists the ASCII characters refused anywhere in a reference:
// shell metacharacters, quoting and globbing characters.
const forbidden = ";|&$`<>(){}[]*?!'\"\\#"

// Parse parses and validates a chart reference. See the package
// documentation and Ref for the accepted forms. Every error is an *Error
// wrapping ErrInvalidChartRef that names the reference and the reason.
func Parse(s string) (Ref, error) {
	fail := func(format string, args ...any) (Ref, error) {
		return Ref{}, &Error{Ref: s, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail("reference is empty")
	}
	if len(s) > MaxLen {
		return fail("reference is %d bytes long, the maximum is %d", len(s), MaxLen)
	}
	if why := checkChars(s); why != "" {
		return fail("%s", why)
	}

	if i := strings.Index(s, "://"); i >= 0 {
		scheme := s[:i]
		if !schemeRE.MatchString(scheme) {
			return fail("has a malformed URL scheme %s", quote(scheme))
		}
		switch strings.ToLower(scheme) {
		case "oci":
			return parseOCI(s, s[i+3:], fail)
		case "http", "https":
			return parseURL(s, fail)
		default:
			return fail("has unsupported URL scheme %s (only oci, http and https are allowed)", quote(scheme))
		}
	}

	if isArchiveName(s) || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.Count(s, "/") > 1 {
		return parseLocal(s, fail)
	}

	kind := KindName
	repo, rest := "", s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		kind = KindRepo
		repo, rest = s[:i], s[i+1:]
		if repo == "" {
			return fail("repository name before '/' is empty")
		}
		if !nameRE.MatchString(repo) {
			return fail("repository name %s must start with an ASCII letter or digit and contain only letters, digits, '.', '_' and '-'", quote(repo))
		}
	}
	chart, version := rest, ""
	if n := strings.Count(rest, ":"); n > 1 {
		return fail("contains %d ':' characters; at most one (before the version) is allowed", n)
	} else if n == 1 {
		j := strings.IndexByte(rest, ':')
		chart, version = rest[:j], rest[j+1:]
		if version == "" {
			return fail("version after ':' is empty")
		}
		if why := checkVersion(version); why != "" {
			return fail("version %s %s", quote(version), why)
		}
	}
	if chart == "" {
		return fail("chart name is empty")
	}
	if !nameRE.MatchString(chart) {
		return fail("chart name %s must start with an ASCII letter or digit and contain only letters, digits, '.', '_' and '-'", quote(chart))
	}
	return Ref{Kind: kind, Repo: repo, Chart: chart, Version: version}, nil
}

// checkChars applies the character and ".." rules shared by every kind of
// reference. It returns "" if s passes, otherwise the reason.
func checkChars(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return fmt.Sprintf("contains a non-ASCII byte 0x%02x at position %d", c, i)
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			return fmt.Sprintf("contains whitespace %q at position %d", c, i)
		case c < 0x20 || c == 0x7f:
			return fmt.Sprintf("contains control character %q at position %d", c, i)
		case strings.IndexByte(forbidden, c) >= 0:
			return fmt.Sprintf("contains forbidden character %q at position %d", c, i)
		}
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == ".." {
			return `contains a ".." path segment`
		}
	}
	return ""
}

// checkVersion validates a repository chart version or version constraint.
// It returns "" if valid, otherwise the reason.
func checkVersion(v string) string {
	if v == "" {
		return "is empty"
	}
	if len(v) > maxOCITagLen {
		return fmt.Sprintf("is %d bytes long, the maximum is %d", len(v), maxOCITagLen)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isAlnum(c) || strings.IndexByte(".+-~^", c) >= 0 {
			continue
		}
		return fmt.Sprintf("contains %q at position %d; only ASCII letters, digits and '.', '+', '-', '~', '^' are allowed (use 'x' as a wildcard)", c, i)
	}
	if c := v[0]; !isAlnum(c) && c != '~' && c != '^' {
		return fmt.Sprintf("starts with %q; it must start with a letter, a digit, '~' or '^'", c)
	}
	if strings.Contains(v, "..") {
		return `contains ".."`
	}
	return ""
}

// checkOCITag validates an OCI tag. Helm stores the '+' of semver build
// metadata as '_' in OCI tags and accepts either, so both are allowed.
func checkOCITag(t string) string {
	if t == "" {
		return "is empty"
	}
	if len(t) > maxOCITagLen {
		return fmt.Sprintf("is %d bytes long, the maximum is %d", len(t), maxOCITagLen)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case isAlnum(c) || c == '_':
		case i > 0 && (c == '.' || c == '-' || c == '+'):
		default:
			return fmt.Sprintf("contains %q at position %d; an OCI tag is ASCII letters, digits, '_' and (not first) '.', '-', '+'", c, i)
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isArchiveName(s string) bool {
	return strings.HasSuffix(s, ".tgz") || strings.HasSuffix(s, ".tar.gz")
}

func parseLocal(s string, fail func(string, ...any) (Ref, error)) (Ref, error) {
	p := filepath.Clean(s)
	// Parse has already refused ".." segments; this keeps the guarantee if
	// that check ever changes.
	if p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
		return fail("path escapes its base directory")
	}
	if isArchiveName(p) {
		base := filepath.Base(p)
		if base == ".tgz" || base == ".tar.gz" {
			return fail("archive file name %s has no name before the extension", quote(base))
		}
		return Ref{Kind: KindArchive, Path: p}, nil
	}
	return Ref{Kind: KindDir, Path: p}, nil
}

func parseURL(s string, fail func(string, ...any) (Ref, error)) (Ref, error) {
	u, err := url.Parse(s)
	if err != nil {
		return fail("is not a valid URL: %v", unwrapURLError(err))
	}
	if u.User != nil {
		return fail("URL contains credentials; configure them on the repository instead")
	}
	if u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return fail("URL must be scheme://host/path with no query or fragment")
	}
	host, why := checkHost(u.Host)
	if why != "" {
		return fail("URL %s", why)
	}
	if u.Path == "" || u.Path == "/" {
		return fail("URL has no path to a chart archive")
	}
	// Percent-encoding must not smuggle in what the raw check refused.
	if why := checkChars(u.Path); why != "" {
		return fail("URL path, once decoded, %s", why)
	}
	path := u.EscapedPath()
	return Ref{Kind: KindURL, URL: strings.ToLower(u.Scheme) + "://" + host + path}, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// checkHost validates "host[:port]" and returns it in canonical (lower-case)
// form, or the reason it is invalid.
func checkHost(hp string) (string, string) {
	if hp == "" {
		return "", "has no host"
	}
	host, port := hp, ""
	if i := strings.LastIndexByte(hp, ':'); i >= 0 {
		host, port = hp[:i], hp[i+1:]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return "", fmt.Sprintf("has invalid port %s", quote(port))
		}
	}
	if host == "" {
		return "", "has no host"
	}
	if len(host) > 253 {
		return "", fmt.Sprintf("host is %d bytes long, the maximum is 253", len(host))
	}
	if net.ParseIP(host) == nil {
		for _, label := range strings.Split(host, ".") {
			if len(label) > 63 || !hostLabelRE.MatchString(label) {
				return "", fmt.Sprintf("has invalid host %s", quote(host))
			}
		}
	}
	host = strings.ToLower(host)
	if port != "" {
		return host + ":" + port, ""
	}
	return host, ""
}

func parseOCI(s, rest string, fail func(string, ...any) (Ref, error)) (Ref, error) {
	digest := ""
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		if slash := strings.IndexByte(rest, '/'); slash < 0 || i < slash {
			return fail("OCI reference contains credentials or '@' in the host; configure credentials on the repository instead")
		}
		rest, digest = rest[:i], rest[i+1:]
		if !digestRE.MatchString(digest) {
			return fail("digest %s must be sha256: followed by 64 lower-case hex digits", quote(digest))
		}
	}
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		return fail("OCI reference has no repository path after the host")
	}
	host, why := checkHost(rest[:slash])
	if why != "" {
		return fail("OCI reference %s", why)
	}
	repoPath := rest[slash+1:]
	tag := ""
	last := repoPath[strings.LastIndexByte(repoPath, '/')+1:]
	if i := strings.IndexByte(last, ':'); i >= 0 {
		tag = last[i+1:]
		repoPath = repoPath[:len(repoPath)-len(last)+i]
		if why := checkOCITag(tag); why != "" {
			return fail("OCI tag %s %s", quote(tag), why)
		}
	}
	if repoPath == "" {
		return fail("OCI reference has no repository path after the host")
	}
	segs := strings.Split(repoPath, "/")
	for _, seg := range segs {
		if seg == "" {
			return fail("OCI repository path %s has an empty segment", quote(repoPath))
		}
		if strings.Contains(seg, ":") {
			return fail("OCI repository path %s contains ':' outside the last segment", quote(repoPath))
		}
		if !ociComponentRE.MatchString(seg) {
			return fail("OCI repository path segment %s must be lower-case letters and digits separated by '.', '_', '__' or '-'", quote(seg))
		}
	}
	return Ref{
		Kind:    KindOCI,
		Chart:   segs[len(segs)-1],
		Version: tag,
		URL:     "oci://" + host + "/" + repoPath,
		Digest:  digest,
	}, nil
}

// maxQuoted is how many bytes of an offending input an error message shows.
const maxQuoted = 120

// quote renders untrusted input for an error message: Go-quoted (so control
// characters are escaped) and shortened if it is long.
func quote(s string) string {
	if len(s) > maxQuoted {
		return fmt.Sprintf("%q... (%d bytes)", s[:maxQuoted], len(s))
	}
	return fmt.Sprintf("%q", s)
}
