// Package statustarget writes an operation's live status to where the caller asked for it: OSM-style MongoDB
// locations (as N2VC's write_app_status_to_db did) and HTTP webhooks.
//
// Update is what one write says. ValidateTarget and ValidateTargets check targets coming from API input.
// Mongo performs the OSM write. Dispatcher fans updates out to an operation's targets in the background,
// coalescing to the latest update and retrying, without ever blocking the operation.
package statustarget

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kdu-io/kdu/api"
)

// Update is what one status write says.
type Update struct {
	// Operation is the operation kind: api.KindInstall, KindUpgrade, KindScale, KindRollback or KindUninstall.
	Operation string
	// Status is a short text: the release description ("Install complete") or a phase ("waiting: 2/3 ready").
	Status string
	// Detailed is the detailed status; it must marshal to JSON. Mongo stores it as a compact JSON string.
	Detailed any
	// Time is when the status was observed; the zero Time means the time of the write.
	Time time.Time
}

// Limits applied by ValidateTarget and ValidateTargets.
const (
	MaxTargets          = 8    // status targets per operation
	MaxCollectionLen    = 120  // bytes in a Mongo collection name
	MaxFilterKeys       = 16   // keys in a Mongo filter
	MaxFilterKeyLen     = 256  // bytes in a filter key
	MaxFilterStringLen  = 1024 // bytes in a filter string value
	MaxPathLen          = 512  // bytes in a Mongo path, trailing '.' included
	MaxURLLen           = 2048 // bytes in a webhook URL
	MaxHeaders          = 32   // webhook headers
	MaxHeaderNameLen    = 256  // bytes in a header name
	MaxHeaderValueLen   = 8192 // bytes in a header value
	maxPathSegmentCount = 64
)

// ErrInvalidTarget is wrapped by every *TargetError.
var ErrInvalidTarget = errors.New("invalid status target")

// TargetError says which field of a status target is invalid and why. Field is a dotted JSON path relative to
// the request body when it comes from ValidateTargets ("statusTargets[0].mongo.path") and relative to the
// target when it comes from ValidateTarget ("mongo.path"). Reason is a lower-case phrase meant to follow the
// field name ("must not contain '$'"); it never quotes header values, URL queries or other possibly secret
// input. Callers map it onto their own field errors: errors.As(err, &te) then use te.Field and te.Reason.
// It wraps ErrInvalidTarget.
type TargetError struct {
	Field  string
	Reason string
}

func (e *TargetError) Error() string { return "status target " + e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalidTarget.
func (e *TargetError) Unwrap() error { return ErrInvalidTarget }

func fieldErr(field, format string, args ...any) *TargetError {
	return &TargetError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidateTargets validates the statusTargets of a request: at most MaxTargets, each valid per ValidateTarget.
// Errors are *TargetError with Field "statusTargets" or "statusTargets[i].…".
func ValidateTargets(ts []api.StatusTarget) error {
	if len(ts) > MaxTargets {
		return fieldErr("statusTargets", "must have at most %d entries, has %d", MaxTargets, len(ts))
	}
	for i, t := range ts {
		if err := ValidateTarget(t); err != nil {
			var te *TargetError
			if errors.As(err, &te) {
				return &TargetError{Field: fmt.Sprintf("statusTargets[%d].%s", i, te.Field), Reason: te.Reason}
			}
			return err
		}
	}
	return nil
}

// ValidateTarget checks one status target; errors are *TargetError naming the field relative to the target
// ("mongo", "mongo.collection", "mongo.filter.<key>", "mongo.path", "webhook.url", "webhook.headers.<name>").
//
// Rules: exactly one of mongo and webhook is set.
//
// Mongo: collection is non-empty, at most MaxCollectionLen bytes, valid UTF-8, without '$' or NUL, and does not
// start with "system.". Filter is non-empty (at most MaxFilterKeys keys): keys are dotted paths as for path
// (so no key starts with '$': plain equality only, no $where/$expr/$or), values are JSON scalars only —
// strings, finite numbers and booleans; null, objects (which could carry operators such as {"$ne": ...}) and
// arrays are refused. Path is a dotted path (see ParsePath), at most MaxPathLen bytes, one trailing '.'
// allowed, and does not start at "_id" (immutable).
//
// Webhook: url is an absolute http or https URL with a host, at most MaxURLLen bytes, without user-info
// (credentials go in headers). Headers (at most MaxHeaders) have token names (RFC 9110) that kdu does not
// set itself (Host, Content-Type, Content-Length, Transfer-Encoding, Connection, X-Kdu-Operation,
// X-Kdu-Version) and values without CR, LF, NUL or other control characters except tab.
func ValidateTarget(t api.StatusTarget) error {
	switch {
	case t.Mongo != nil && t.Webhook != nil:
		return fieldErr("mongo", "must not be set together with webhook (exactly one of mongo and webhook)")
	case t.Mongo != nil:
		return validateMongo(t.Mongo)
	case t.Webhook != nil:
		return validateWebhook(t.Webhook)
	default:
		return fieldErr("mongo", "one of mongo and webhook is required")
	}
}

func validateMongo(m *api.MongoTarget) error {
	c := m.Collection
	switch {
	case c == "":
		return fieldErr("mongo.collection", "is required")
	case len(c) > MaxCollectionLen:
		return fieldErr("mongo.collection", "must be at most %d bytes", MaxCollectionLen)
	case !utf8.ValidString(c):
		return fieldErr("mongo.collection", "must be valid UTF-8")
	case strings.ContainsRune(c, 0):
		return fieldErr("mongo.collection", "must not contain NUL")
	case strings.Contains(c, "$"):
		return fieldErr("mongo.collection", "must not contain '$'")
	case strings.HasPrefix(c, "system."):
		return fieldErr("mongo.collection", "must not start with \"system.\"")
	case strings.HasPrefix(c, ".") || strings.HasSuffix(c, "."):
		return fieldErr("mongo.collection", "must not start or end with '.'")
	}

	if len(m.Filter) == 0 {
		return fieldErr("mongo.filter", "is required (the document to update, e.g. {\"_id\": \"<nsr id>\"})")
	}
	if len(m.Filter) > MaxFilterKeys {
		return fieldErr("mongo.filter", "must have at most %d keys", MaxFilterKeys)
	}
	for _, k := range sortedKeys(m.Filter) {
		field := "mongo.filter." + k
		if !utf8.ValidString(k) || strings.ContainsRune(k, 0) || len(k) > MaxFilterKeyLen {
			// Do not echo a key that cannot be printed safely.
			field = "mongo.filter"
		}
		if len(k) > MaxFilterKeyLen {
			return fieldErr(field, "keys must be at most %d bytes", MaxFilterKeyLen)
		}
		if strings.HasPrefix(k, "$") {
			return fieldErr(field, "keys must not start with '$' (only plain equality filters are allowed)")
		}
		if _, err := parseSegments(k); err != nil {
			return fieldErr(field, "key %s", err.Reason)
		}
		if err := checkScalar(m.Filter[k]); err != "" {
			return fieldErr(field, "%s", err)
		}
	}

	if _, err := ParsePath(m.Path); err != nil {
		var te *TargetError
		if errors.As(err, &te) {
			return fieldErr("mongo.path", "%s", te.Reason)
		}
		return err
	}
	return nil
}

// checkScalar returns why v is not an acceptable filter value, or "".
func checkScalar(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > MaxFilterStringLen {
			return fmt.Sprintf("string values must be at most %d bytes", MaxFilterStringLen)
		}
		if !utf8.ValidString(x) {
			return "string values must be valid UTF-8"
		}
		return ""
	case bool, int, int8, int16, int32, int64, uint8, uint16, uint32:
		return ""
	case uint:
		if uint64(x) > math.MaxInt64 {
			return "number is out of range"
		}
		return ""
	case uint64:
		if x > math.MaxInt64 {
			return "number is out of range"
		}
		return ""
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return "numbers must be finite"
		}
		return ""
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "numbers must be finite"
		}
		return ""
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return ""
		}
		f, err := x.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "number is not a finite number"
		}
		return ""
	case nil:
		return "value must be a string, number or boolean, not null"
	default:
		return "value must be a string, number or boolean (no objects, arrays or operators)"
	}
}

// ParsePath parses an OSM status path such as "_admin.deployed.K8s.1" into its segments. One trailing '.' is
// stripped first (OSM appends one; "a.b." and "a.b" are the same path). The path must be non-empty, at most
// MaxPathLen bytes and valid UTF-8; every segment must be non-empty and free of '$' and NUL; the first segment
// must not be "_id". Errors are *TargetError with Field "mongo.path".
func ParsePath(p string) ([]string, error) {
	if len(p) > MaxPathLen {
		return nil, fieldErr("mongo.path", "must be at most %d bytes", MaxPathLen)
	}
	p = strings.TrimSuffix(p, ".")
	if p == "" {
		return nil, fieldErr("mongo.path", "is required (e.g. \"_admin.deployed.K8s.0\")")
	}
	segs, te := parseSegments(p)
	if te != nil {
		te.Field = "mongo.path"
		return nil, te
	}
	if segs[0] == "_id" {
		return nil, fieldErr("mongo.path", "must not start at _id (it cannot be modified)")
	}
	return segs, nil
}

// parseSegments splits a dotted path and checks every segment.
func parseSegments(p string) ([]string, *TargetError) {
	if !utf8.ValidString(p) {
		return nil, fieldErr("", "must be valid UTF-8")
	}
	if strings.ContainsRune(p, 0) {
		return nil, fieldErr("", "must not contain NUL")
	}
	if strings.Contains(p, "$") {
		return nil, fieldErr("", "must not contain '$'")
	}
	segs := strings.Split(p, ".")
	if len(segs) > maxPathSegmentCount {
		return nil, fieldErr("", "must have at most %d segments", maxPathSegmentCount)
	}
	for _, s := range segs {
		if s == "" {
			return nil, fieldErr("", "must not have empty segments (\"..\", or a leading or doubled '.')")
		}
	}
	return segs, nil
}

func validateWebhook(w *api.WebhookTarget) error {
	if w.URL == "" {
		return fieldErr("webhook.url", "is required")
	}
	if len(w.URL) > MaxURLLen {
		return fieldErr("webhook.url", "must be at most %d bytes", MaxURLLen)
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		return fieldErr("webhook.url", "is not a valid URL")
	}
	switch {
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		return fieldErr("webhook.url", "must be an absolute http or https URL")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return fieldErr("webhook.url", "must have a host")
	case u.User != nil:
		return fieldErr("webhook.url", "must not contain user-info (put credentials in headers)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fieldErr("webhook.url", "has an invalid port")
		}
	}

	if len(w.Headers) > MaxHeaders {
		return fieldErr("webhook.headers", "must have at most %d entries", MaxHeaders)
	}
	for _, name := range sortedKeys(w.Headers) {
		if name == "" || len(name) > MaxHeaderNameLen || !isToken(name) {
			return fieldErr("webhook.headers", "names must be HTTP tokens of at most %d bytes", MaxHeaderNameLen)
		}
		field := "webhook.headers." + name
		if reservedHeaders[strings.ToLower(name)] {
			return fieldErr(field, "is set by kdu and cannot be given")
		}
		v := w.Headers[name]
		if len(v) > MaxHeaderValueLen {
			return fieldErr(field, "value must be at most %d bytes", MaxHeaderValueLen)
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
				if c == '\r' || c == '\n' {
					return fieldErr(field, "value must not contain CR or LF")
				}
				return fieldErr(field, "value must not contain control characters")
			}
		}
	}
	return nil
}

// reservedHeaders are set by the webhook sender (or by net/http) and cannot be given in a target.
var reservedHeaders = map[string]bool{
	"host":              true,
	"content-type":      true,
	"content-length":    true,
	"transfer-encoding": true,
	"connection":        true,
	"x-kdu-operation":   true,
	"x-kdu-version":     true,
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// statusTime formats t like Python's str(time.time()): epoch seconds with a fractional part, shortest
// representation, microsecond resolution ("1700000000.123456", "1700000000.5", "1700000000.0").
func statusTime(t time.Time) string {
	s := strconv.FormatFloat(float64(t.UnixMicro())/1e6, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
