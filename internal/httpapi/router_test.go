package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func testRoutes() []*route {
	rs := []*route{
		{Method: "GET", Path: "/v1/clusters"},
		{Method: "GET", Path: "/v1/clusters/{cluster}"},
		{Method: "POST", Path: "/v1/clusters/{cluster}:check"},
		{Method: "POST", Path: "/v1/clusters/{cluster}/repos:update"},
		{Method: "GET", Path: "/v1/clusters/{cluster}/repos"},
		{Method: "POST", Path: "/v1/clusters/{cluster}/repos:sync"},
		{Method: "GET", Path: "/v1/projects/{project}/repos"},
		{Method: "POST", Path: "/v1/projects/{project}/repos:update"},
		{Method: "DELETE", Path: "/v1/projects/{project}/repos/{repo}"},
		{Method: "POST", Path: "/v1/clusters/{cluster}/kdus/{name}:rollback"},
		{Method: "GET", Path: "/v1/clusters/{cluster}/kdus/{name}"},
	}
	for _, r := range rs {
		r.segs = parseTemplate(r.Path)
	}
	return rs
}

func TestRouting(t *testing.T) {
	rs := testRoutes()
	for _, tc := range []struct {
		method, path string
		want         string
		status       int
		params       map[string]string
	}{
		{"GET", "/v1/clusters", "/v1/clusters", 0, nil},
		{"GET", "/v1/clusters/dev", "/v1/clusters/{cluster}", 0, map[string]string{"cluster": "dev"}},
		{"POST", "/v1/clusters/dev:check", "/v1/clusters/{cluster}:check", 0, map[string]string{"cluster": "dev"}},
		{"POST", "/v1/clusters/dev/repos:update", "/v1/clusters/{cluster}/repos:update", 0, nil},
		{"POST", "/v1/clusters/dev/repos:sync", "/v1/clusters/{cluster}/repos:sync", 0, map[string]string{"cluster": "dev"}},
		{"POST", "/v1/clusters/dev/repos:explode", "", http.StatusNotFound, nil},
		{"GET", "/v1/clusters/dev/repos:sync", "", http.StatusMethodNotAllowed, nil},
		{"GET", "/v1/projects/-/repos", "/v1/projects/{project}/repos", 0, map[string]string{"project": "-"}},
		{"GET", "/v1/projects/osm/repos", "/v1/projects/{project}/repos", 0, map[string]string{"project": "osm"}},
		{"POST", "/v1/projects/osm/repos:update", "/v1/projects/{project}/repos:update", 0, map[string]string{"project": "osm"}},
		{"DELETE", "/v1/projects/-/repos/charts", "/v1/projects/{project}/repos/{repo}", 0, map[string]string{"project": "-", "repo": "charts"}},
		{"POST", "/v1/projects/osm:x/repos", "", http.StatusNotFound, nil}, // a project parameter takes no action
		{"GET", "/v1/projects//repos", "", http.StatusNotFound, nil},
		{"POST", "/v1/clusters/dev/kdus/web:rollback", "/v1/clusters/{cluster}/kdus/{name}:rollback", 0, map[string]string{"cluster": "dev", "name": "web"}},
		{"GET", "/v1/clusters/dev/kdus/web%2Dx", "/v1/clusters/{cluster}/kdus/{name}", 0, map[string]string{"name": "web-x"}},
		{"POST", "/v1/clusters/dev/kdus/web:explode", "", http.StatusNotFound, nil},
		{"GET", "/v1/clusters/dev:check", "", http.StatusMethodNotAllowed, nil},
		{"DELETE", "/v1/clusters", "", http.StatusMethodNotAllowed, nil},
		{"GET", "/v1/clusters/a%2Fb", "", http.StatusNotFound, nil},  // an escaped slash never reaches a handler
		{"GET", "/v1/clusters/:check", "", http.StatusNotFound, nil}, // an empty id matches nothing
		{"GET", "/v2/clusters", "", http.StatusNotFound, nil},
		{"HEAD", "/v1/clusters", "/v1/clusters", 0, nil},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		rt, params, status, _ := find(rs, r)
		got := ""
		if rt != nil {
			got = rt.Path
		}
		if got != tc.want || status != tc.status {
			t.Errorf("%s %s: route %q status %d, want %q %d", tc.method, tc.path, got, status, tc.want, tc.status)
		}
		for k, v := range tc.params {
			if params[k] != v {
				t.Errorf("%s %s: param %s = %q, want %q", tc.method, tc.path, k, params[k], v)
			}
		}
	}
}

func FuzzRouting(f *testing.F) {
	rs := testRoutes()
	for _, s := range []string{"/v1/clusters/dev/kdus/web:rollback", "/v1/clusters/%2e%2e", "/v1/clusters/a:b:check", "//", "/v1/clusters/x/repos:update"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, err := http.NewRequest("GET", "http://h"+path, nil)
		if err != nil {
			return
		}
		rt, params, _, _ := find(rs, r)
		if rt == nil {
			return
		}
		for _, v := range params {
			if v == "" {
				t.Fatalf("%q: empty parameter", path)
			}
			for i := 0; i < len(v); i++ {
				if v[i] == '/' {
					t.Fatalf("%q: parameter %q holds a slash", path, v)
				}
			}
		}
	})
}
