package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseTokens(t *testing.T) {
	_, h, _ := NewToken()
	for _, tc := range []struct{ name, file, wantErr string }{
		{"ok", "tokens:\n  - {name: a, sha256: " + h + ", projects: [p]}\n", ""},
		{"admin", "tokens:\n  - {name: a, sha256: " + h + ", admin: true}\n", ""},
		{"no name", "tokens:\n  - {sha256: " + h + ", admin: true}\n", "name is required"},
		{"short hash", "tokens:\n  - {name: a, sha256: abc, admin: true}\n", "64 hex digits"},
		{"no scope", "tokens:\n  - {name: a, sha256: " + h + "}\n", "projects, or admin"},
		{"bad project", "tokens:\n  - {name: a, sha256: " + h + ", projects: [../x]}\n", "project"},
		{"twice", "tokens:\n  - {name: a, sha256: " + h + ", admin: true}\n  - {name: b, sha256: " + h + ", admin: true}\n", "twice"},
		{"dup name", "tokens:\n  - {name: a, sha256: " + h + ", admin: true}\n  - {name: a, sha256: " + strings.Repeat("0", 64) + ", admin: true}\n", "used twice"},
		{"unknown field", "tokens:\n  - {name: a, sha256: " + h + ", admin: true, token: plain}\n", "unknown field"},
		{"empty", "tokens: []\n", "no tokens"},
	} {
		_, err := ParseTokens([]byte(tc.file))
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), h) {
			t.Errorf("%s: the error repeats the hash", tc.name)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	tok, h, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := ParseTokens([]byte("tokens:\n  - {name: a, sha256: " + h + ", projects: [p1, p2]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	for hdr, ok := range map[string]bool{"Bearer " + tok: true, "bearer " + tok: true, "Bearer " + tok + "x": false, tok: false, "": false, "Basic " + tok: false} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", hdr)
		p := ts.Authenticate(r)
		if (p != nil) != ok {
			t.Errorf("%q: principal %v, want ok=%v", hdr, p, ok)
		}
		if p != nil && (!p.Sees("p2") || p.Sees("p3") || p.Sees("") || p.Admin) {
			t.Errorf("scopes wrong: %+v", p)
		}
	}
	if !anonymousAdmin.Sees("") || !anonymousAdmin.Sees("x") {
		t.Error("admin must see everything")
	}
}
