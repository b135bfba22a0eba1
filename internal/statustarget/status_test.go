package statustarget

import (
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kdu-io/kdu/api"
)

func okMongo() *api.MongoTarget {
	return &api.MongoTarget{Collection: "nsrs", Filter: map[string]any{"_id": "0b6f-nsr"}, Path: "_admin.deployed.K8s.1"}
}

func okWebhook() *api.WebhookTarget {
	return &api.WebhookTarget{URL: "https://osm.example:8443/hooks/kdu?x=1", Headers: map[string]string{"Authorization": "Bearer abc", "X-Trace": "t\tv"}}
}

func TestValidateTarget(t *testing.T) {
	mongo := func(f func(m *api.MongoTarget)) api.StatusTarget {
		m := okMongo()
		f(m)
		return api.StatusTarget{Mongo: m}
	}
	hook := func(f func(w *api.WebhookTarget)) api.StatusTarget {
		w := okWebhook()
		f(w)
		return api.StatusTarget{Webhook: w}
	}
	long := func(n int) string { return strings.Repeat("a", n) }

	tests := []struct {
		name   string
		target api.StatusTarget
		field  string // "" = valid
		reason string // substring of the reason
	}{
		{"mongo ok", api.StatusTarget{Mongo: okMongo()}, "", ""},
		{"webhook ok", api.StatusTarget{Webhook: okWebhook()}, "", ""},
		{"neither", api.StatusTarget{}, "mongo", "one of mongo and webhook"},
		{"both", api.StatusTarget{Mongo: okMongo(), Webhook: okWebhook()}, "mongo", "exactly one"},

		// collection
		{"collection empty", mongo(func(m *api.MongoTarget) { m.Collection = "" }), "mongo.collection", "required"},
		{"collection dollar", mongo(func(m *api.MongoTarget) { m.Collection = "ns$rs" }), "mongo.collection", "'$'"},
		{"collection NUL", mongo(func(m *api.MongoTarget) { m.Collection = "ns\x00rs" }), "mongo.collection", "NUL"},
		{"collection system", mongo(func(m *api.MongoTarget) { m.Collection = "system.users" }), "mongo.collection", "system."},
		{"collection dot end", mongo(func(m *api.MongoTarget) { m.Collection = "nsrs." }), "mongo.collection", "'.'"},
		{"collection too long", mongo(func(m *api.MongoTarget) { m.Collection = long(MaxCollectionLen + 1) }), "mongo.collection", "at most"},
		{"collection bad utf8", mongo(func(m *api.MongoTarget) { m.Collection = "n\xffs" }), "mongo.collection", "UTF-8"},
		{"collection dotted ok", mongo(func(m *api.MongoTarget) { m.Collection = "osm.nsrs" }), "", ""},

		// filter
		{"filter nil", mongo(func(m *api.MongoTarget) { m.Filter = nil }), "mongo.filter", "required"},
		{"filter empty", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{} }), "mongo.filter", "required"},
		{"filter $where", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"$where": "1"} }), "mongo.filter.$where", "'$'"},
		{"filter $expr", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"$expr": "x"} }), "mongo.filter.$expr", "'$'"},
		{"filter operator value", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"_id": map[string]any{"$ne": nil}} }), "mongo.filter._id", "no objects"},
		{"filter array value", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"_id": []any{"a"}} }), "mongo.filter._id", "no objects"},
		{"filter null value", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"_id": nil} }), "mongo.filter._id", "null"},
		{"filter NaN", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"n": math.NaN()} }), "mongo.filter.n", "finite"},
		{"filter nested dollar", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"a.$id": "x"} }), "mongo.filter.a.$id", "'$'"},
		{"filter empty segment", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"a..b": "x"} }), "mongo.filter.a..b", "empty segments"},
		{"filter empty key", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"": "x"} }), "mongo.filter.", "empty segments"},
		{"filter NUL key", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"a\x00": "x"} }), "mongo.filter", "NUL"},
		{"filter long string", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"_id": long(MaxFilterStringLen + 1)} }), "mongo.filter._id", "at most"},
		{"filter too many keys", mongo(func(m *api.MongoTarget) {
			m.Filter = map[string]any{}
			for i := range MaxFilterKeys + 1 {
				m.Filter["k"+strconv.Itoa(i)] = i
			}
		}), "mongo.filter", "at most"},
		{"filter scalars ok", mongo(func(m *api.MongoTarget) {
			m.Filter = map[string]any{"_id": "x", "n": 1.5, "b": true, "i": 3, "j": json.Number("12"), "_admin.nsState": "READY"}
		}), "", ""},
		{"filter bad json.Number", mongo(func(m *api.MongoTarget) { m.Filter = map[string]any{"n": json.Number("1e999")} }), "mongo.filter.n", "finite"},

		// path
		{"path empty", mongo(func(m *api.MongoTarget) { m.Path = "" }), "mongo.path", "required"},
		{"path only dot", mongo(func(m *api.MongoTarget) { m.Path = "." }), "mongo.path", "required"},
		{"path trailing dot ok", mongo(func(m *api.MongoTarget) { m.Path = "_admin.deployed.K8s.1." }), "", ""},
		{"path two trailing dots", mongo(func(m *api.MongoTarget) { m.Path = "_admin.K8s.." }), "mongo.path", "empty segments"},
		{"path leading dot", mongo(func(m *api.MongoTarget) { m.Path = ".a" }), "mongo.path", "empty segments"},
		{"path double dot", mongo(func(m *api.MongoTarget) { m.Path = "a..b" }), "mongo.path", "empty segments"},
		{"path dollar", mongo(func(m *api.MongoTarget) { m.Path = "_admin.K8s.$" }), "mongo.path", "'$'"},
		{"path dollar inside", mongo(func(m *api.MongoTarget) { m.Path = "_admin.K8s.a$b" }), "mongo.path", "'$'"},
		{"path positional all", mongo(func(m *api.MongoTarget) { m.Path = "_admin.K8s.$[]" }), "mongo.path", "'$'"},
		{"path NUL", mongo(func(m *api.MongoTarget) { m.Path = "_admin\x00.K8s" }), "mongo.path", "NUL"},
		{"path too long", mongo(func(m *api.MongoTarget) { m.Path = long(MaxPathLen + 1) }), "mongo.path", "at most"},
		{"path max ok", mongo(func(m *api.MongoTarget) { m.Path = long(MaxPathLen) }), "", ""},
		{"path _id", mongo(func(m *api.MongoTarget) { m.Path = "_id" }), "mongo.path", "_id"},
		{"path bad utf8", mongo(func(m *api.MongoTarget) { m.Path = "a.\xff" }), "mongo.path", "UTF-8"},

		// webhook url
		{"url empty", hook(func(w *api.WebhookTarget) { w.URL = "" }), "webhook.url", "required"},
		{"url relative", hook(func(w *api.WebhookTarget) { w.URL = "/hooks" }), "webhook.url", "absolute http or https"},
		{"url ftp", hook(func(w *api.WebhookTarget) { w.URL = "ftp://h/x" }), "webhook.url", "absolute http or https"},
		{"url file", hook(func(w *api.WebhookTarget) { w.URL = "file:///etc/passwd" }), "webhook.url", "absolute http or https"},
		{"url no host", hook(func(w *api.WebhookTarget) { w.URL = "http:///x" }), "webhook.url", "host"},
		{"url opaque", hook(func(w *api.WebhookTarget) { w.URL = "http:h" }), "webhook.url", "host"},
		{"url port only", hook(func(w *api.WebhookTarget) { w.URL = "http://:80/" }), "webhook.url", "host"},
		{"url userinfo", hook(func(w *api.WebhookTarget) { w.URL = "https://u:p@h/x" }), "webhook.url", "user-info"},
		{"url user only", hook(func(w *api.WebhookTarget) { w.URL = "https://u@h/x" }), "webhook.url", "user-info"},
		{"url bad port", hook(func(w *api.WebhookTarget) { w.URL = "http://h:99999/" }), "webhook.url", "port"},
		{"url unparsable", hook(func(w *api.WebhookTarget) { w.URL = "http://h/%zz" }), "webhook.url", "not a valid URL"},
		{"url too long", hook(func(w *api.WebhookTarget) { w.URL = "http://h/" + long(MaxURLLen) }), "webhook.url", "at most"},
		{"url HTTP upper ok", hook(func(w *api.WebhookTarget) { w.URL = "HTTP://127.0.0.1:8080/x" }), "", ""},
		{"url ipv6 ok", hook(func(w *api.WebhookTarget) { w.URL = "http://[::1]:8080/x" }), "", ""},

		// webhook headers
		{"header bad name", hook(func(w *api.WebhookTarget) { w.Headers = map[string]string{"Bad Name": "v"} }), "webhook.headers", "tokens"},
		{"header colon name", hook(func(w *api.WebhookTarget) { w.Headers = map[string]string{"X-A:": "v"} }), "webhook.headers", "tokens"},
		{"header empty name", hook(func(w *api.WebhookTarget) { w.Headers = map[string]string{"": "v"} }), "webhook.headers", "tokens"},
		{"header CR", hook(func(w *api.WebhookTarget) { w.Headers = map[string]string{"X-A": "v\rX-B: 1"} }), "webhook.headers.X-A", "CR or LF"},
		{"header LF", hook(func(w *api.WebhookTarget) { w.Headers = map[string]string{"X-A": "v\nX-B: 1"} }), "webhook.headers.X-A", "CR or LF"},
		{"header NUL", hook(func(w *api.WebhookTarget) { w.Headers = map[string]string{"X-A": "v\x00"} }), "webhook.headers.X-A", "control"},
		{"header reserved", hook(func(w *api.WebhookTarget) { w.Headers = map[string]string{"content-type": "text/plain"} }), "webhook.headers.content-type", "set by kdu"},
		{"header reserved kdu", hook(func(w *api.WebhookTarget) { w.Headers = map[string]string{"X-Kdu-Version": "9"} }), "webhook.headers.X-Kdu-Version", "set by kdu"},
		{"header value too long", hook(func(w *api.WebhookTarget) { w.Headers = map[string]string{"X-A": long(MaxHeaderValueLen + 1)} }), "webhook.headers.X-A", "at most"},
		{"too many headers", hook(func(w *api.WebhookTarget) {
			w.Headers = map[string]string{}
			for i := range MaxHeaders + 1 {
				w.Headers["X-H"+strconv.Itoa(i)] = "v"
			}
		}), "webhook.headers", "at most"},
		{"no headers ok", hook(func(w *api.WebhookTarget) { w.Headers = nil }), "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTarget(tc.target)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("ValidateTarget: %v", err)
				}
				return
			}
			var te *TargetError
			if !errors.As(err, &te) {
				t.Fatalf("ValidateTarget = %v, want *TargetError", err)
			}
			if !errors.Is(err, ErrInvalidTarget) {
				t.Errorf("error does not wrap ErrInvalidTarget")
			}
			if te.Field != tc.field {
				t.Errorf("Field = %q, want %q (reason %q)", te.Field, tc.field, te.Reason)
			}
			if !strings.Contains(te.Reason, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", te.Reason, tc.reason)
			}
			if !strings.Contains(err.Error(), te.Field) {
				t.Errorf("Error() = %q does not name the field", err.Error())
			}
		})
	}
}

func TestValidateTargetsPrefixesField(t *testing.T) {
	bad := okMongo()
	bad.Path = "a.$"
	err := ValidateTargets([]api.StatusTarget{{Webhook: okWebhook()}, {Mongo: bad}})
	var te *TargetError
	if !errors.As(err, &te) || te.Field != "statusTargets[1].mongo.path" {
		t.Fatalf("ValidateTargets = %v, want field statusTargets[1].mongo.path", err)
	}
	if err := ValidateTargets(nil); err != nil {
		t.Fatalf("ValidateTargets(nil) = %v", err)
	}
	many := make([]api.StatusTarget, MaxTargets+1)
	for i := range many {
		many[i] = api.StatusTarget{Webhook: okWebhook()}
	}
	if err := ValidateTargets(many); !errors.As(err, &te) || te.Field != "statusTargets" {
		t.Fatalf("ValidateTargets(too many) = %v", err)
	}
}

func TestValidateTargetDoesNotEchoSecrets(t *testing.T) {
	const secret = "Bearer s3cr3t-token"
	w := okWebhook()
	w.Headers = map[string]string{"Authorization": secret + "\n"}
	err := ValidateTarget(api.StatusTarget{Webhook: w})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %v: want an error without the header value", err)
	}
	w = okWebhook()
	w.URL = "https://user:s3cr3t@h/x?token=s3cr3t"
	err = ValidateTarget(api.StatusTarget{Webhook: w})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %v: want an error without the password", err)
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		in   string
		want string // segments joined by "|"; "" = error
	}{
		{"_admin.deployed.K8s.1", "_admin|deployed|K8s|1"},
		{"_admin.deployed.K8s.1.", "_admin|deployed|K8s|1"},
		{"a", "a"},
		{"a.", "a"},
		{"a..", ""},
		{"", ""},
		{".", ""},
		{"a.$", ""},
		{"_id.x", ""},
		{"x._id", "x|_id"},
		{strings.Repeat("a.", 64) + "a", ""}, // 65 segments
	}
	for _, tc := range tests {
		segs, err := ParsePath(tc.in)
		got := strings.Join(segs, "|")
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParsePath(%q) = %q, want error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestStatusTime(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1700000000, 123456000), "1700000000.123456"},
		{time.Unix(1700000000, 500000000), "1700000000.5"},
		{time.Unix(1700000000, 0), "1700000000.0"},
		{time.Unix(1700000000, 999), "1700000000.0"}, // below a microsecond
	}
	for _, tc := range tests {
		if got := statusTime(tc.t); got != tc.want {
			t.Errorf("statusTime(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

// FuzzParsePath checks that every accepted path is made of clean segments that rebuild the input.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"_admin.deployed.K8s.1", "_admin.deployed.K8s.1.", "a..b", "a.$", "$where", ".", "", "_id", "a\x00b", "a.\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		segs, err := ParsePath(p)
		if err != nil {
			var te *TargetError
			if !errors.As(err, &te) || te.Field != "mongo.path" || te.Reason == "" {
				t.Fatalf("ParsePath(%q) error %v is not a mongo.path *TargetError", p, err)
			}
			return
		}
		if len(p) > MaxPathLen || !utf8.ValidString(p) {
			t.Fatalf("ParsePath(%q) accepted an over-long or invalid path", p)
		}
		if got := strings.Join(segs, "."); got != strings.TrimSuffix(p, ".") {
			t.Fatalf("ParsePath(%q) segments rebuild %q", p, got)
		}
		if segs[0] == "_id" {
			t.Fatalf("ParsePath(%q) accepted _id", p)
		}
		for _, s := range segs {
			if s == "" || strings.ContainsAny(s, "$.\x00") {
				t.Fatalf("ParsePath(%q) gave bad segment %q", p, s)
			}
		}
	})
}

// FuzzValidateTarget checks invariants of accepted targets and that errors are well-formed and never echo
// header values.
func FuzzValidateTarget(f *testing.F) {
	f.Add("nsrs", "_id", "abc", "_admin.deployed.K8s.0", "https://h/x", "Authorization", "Bearer x")
	f.Add("system.js", "$where", "1", "a.$", "http://u:p@h", "Bad Name", "v\r\nX: y")
	f.Add("n$", "a..b", "", ".", "ftp://h", "", "\x00")
	f.Fuzz(func(t *testing.T, coll, key, val, path, rawURL, hname, hval string) {
		m := api.MongoTarget{Collection: coll, Filter: map[string]any{key: val}, Path: path}
		if err := ValidateTarget(api.StatusTarget{Mongo: &m}); err != nil {
			checkTargetError(t, err, "mongo")
		} else {
			if coll == "" || strings.ContainsAny(coll, "$\x00") || strings.HasPrefix(coll, "system.") {
				t.Fatalf("accepted collection %q", coll)
			}
			if strings.HasPrefix(key, "$") || strings.ContainsAny(key, "$\x00") {
				t.Fatalf("accepted filter key %q", key)
			}
			if _, err := ParsePath(path); err != nil {
				t.Fatalf("accepted path %q that ParsePath refuses: %v", path, err)
			}
		}

		w := api.WebhookTarget{URL: rawURL, Headers: map[string]string{hname: hval}}
		err := ValidateTarget(api.StatusTarget{Webhook: &w})
		if err != nil {
			checkTargetError(t, err, "webhook")
			if len(hval) >= 4 && strings.Contains(err.Error(), hval) {
				t.Fatalf("error %q echoes the header value", err)
			}
			return
		}
		if strings.ContainsAny(hval, "\r\n\x00") || !isToken(hname) {
			t.Fatalf("accepted header %q: %q", hname, hval)
		}
		u, perr := url.Parse(rawURL)
		if perr != nil || u.User != nil || u.Hostname() == "" ||
			(!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
			t.Fatalf("accepted URL %q", rawURL)
		}
	})
}

func checkTargetError(t *testing.T, err error, prefix string) {
	t.Helper()
	var te *TargetError
	if !errors.As(err, &te) || !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("error %v is not a *TargetError", err)
	}
	if !strings.HasPrefix(te.Field, prefix) || te.Reason == "" {
		t.Fatalf("bad TargetError %+v", te)
	}
}
