package charts

import (
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

const sampleIndex = `apiVersion: v1
generated: "2026-01-01T00:00:00Z"
entries:
  webapp:
  - apiVersion: v2
    name: webapp
    version: 0.1.0
    urls: [webapp-0.1.0.tgz]
  - apiVersion: v2
    name: webapp
    version: 0.10.0
    urls: [webapp-0.10.0.tgz]
  - apiVersion: v2
    name: webapp
    version: 0.2.0
    urls: [webapp-0.2.0.tgz]
  - name: webapp
    urls: [no-version.tgz]
  - apiVersion: v2
    version: 9.9.9
    urls: [no-name.tgz]
  - apiVersion: v2
    name: webapp
    version: not-semver
  -
  db:
  - name: db
    version: 1.2.3
    appVersion: "15"
    urls: [db-1.2.3.tgz]
  - name: db
    version: 1.10.0
    urls: [db-1.10.0.tgz]
`

func TestParseIndex(t *testing.T) {
	cases := []struct {
		name    string
		data    string
		want    map[string][]string // chart -> versions, newest first
		wantErr string
	}{
		{name: "two charts, invalid entries skipped", data: sampleIndex, want: map[string][]string{
			"webapp": {"0.10.0", "0.2.0", "0.1.0"},
			"db":     {"1.10.0", "1.2.3"},
		}},
		{name: "no entries", data: "apiVersion: v1\nentries: {}\n", want: map[string][]string{}},
		{name: "json", data: `{"apiVersion":"v1","entries":{"x":[{"name":"x","version":"1.0.0","urls":["x.tgz"]}]}}`,
			want: map[string][]string{"x": {"1.0.0"}}},
		{name: "empty", data: "", wantErr: "empty"},
		{name: "whitespace", data: "\n  \n", wantErr: "empty"},
		{name: "no apiVersion", data: "entries:\n  x:\n  - name: x\n    version: 1.0.0\n", wantErr: "no apiVersion"},
		{name: "garbage", data: "{{{ not yaml", wantErr: "not a valid repository index"},
		{name: "html", data: "<html><body>Not Found</body></html>", wantErr: ""},
		{name: "entries of the wrong type", data: "apiVersion: v1\nentries: [1, 2]\n", wantErr: "not a valid repository index"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idx, err := parseIndex([]byte(tc.data))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("parseIndex succeeded with %d entries, want an error", len(idx.Entries))
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q does not contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseIndex: %v", err)
			}
			for name, want := range tc.want {
				var got []string
				for _, cv := range idx.Entries[name] {
					got = append(got, cv.Version)
				}
				if strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("%s versions = %v, want %v", name, got, want)
				}
			}
			if len(idx.Entries) != len(tc.want) {
				t.Errorf("got %d charts, want %d", len(idx.Entries), len(tc.want))
			}
			charts, versions := IndexCharts(idx)
			wantVersions := 0
			for _, v := range tc.want {
				wantVersions += len(v)
			}
			if charts != len(tc.want) || versions != wantVersions {
				t.Errorf("IndexCharts = %d, %d; want %d, %d", charts, versions, len(tc.want), wantVersions)
			}
		})
	}

	t.Run("lookup after parsing", func(t *testing.T) {
		idx, err := parseIndex([]byte(sampleIndex))
		if err != nil {
			t.Fatal(err)
		}
		cv, err := idx.Get("webapp", "")
		if err != nil || cv.Version != "0.10.0" {
			t.Errorf("latest webapp = %v, %v; want 0.10.0", cv, err)
		}
		cv, err = idx.Get("db", "~1.2")
		if err != nil || cv.Version != "1.2.3" || cv.APIVersion != "v1" {
			t.Errorf("db ~1.2 = %+v, %v; want 1.2.3 with apiVersion v1 defaulted", cv, err)
		}
	})
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(sampleIndex))
	f.Add([]byte("apiVersion: v1\nentries: {}\n"))
	f.Add([]byte(`{"apiVersion":"v1","entries":{"x":[{"name":"x","version":"1.0.0","urls":["x.tgz"]}]}}`))
	f.Add([]byte(""))
	f.Add([]byte("entries:\n  x:\n  - name: x\n    version: 1.0.0\n"))
	f.Add([]byte("{{{ not yaml"))
	f.Add([]byte("apiVersion: v1\nentries:\n  x:\n  - null\n  - {}\n  - {name: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := parseIndex(data)
		if err != nil {
			return
		}
		for name, cvs := range idx.Entries {
			for i, cv := range cvs {
				if cv == nil || cv.Metadata == nil {
					t.Fatalf("entry %s[%d] kept without metadata", name, i)
				}
				if err := cv.Validate(); err != nil {
					t.Fatalf("entry %s[%d] kept though invalid: %v", name, i, err)
				}
				if i > 0 {
					prev, err1 := semver.NewVersion(cvs[i-1].Version)
					cur, err2 := semver.NewVersion(cv.Version)
					if err1 == nil && err2 == nil && prev.LessThan(cur) {
						t.Fatalf("entry %s not sorted newest first: %s before %s", name, prev, cur)
					}
				}
			}
			_, _ = idx.Get(name, "")
		}
		_, _ = IndexCharts(idx)
	})
}
