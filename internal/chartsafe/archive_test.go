package chartsafe

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kdu-io/kdu/internal/testkit/chartrepotest"
)

// ent is one tar entry for tgz. typ defaults to a regular file.
type ent struct {
	name string
	body string
	typ  byte
	link string
	pax  map[string]string // PAX records (forces the PAX format)
}

func file(name, body string) ent       { return ent{name: name, body: body} }
func dir(name string) ent              { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, target string) ent  { return ent{name: name, typ: tar.TypeSymlink, link: target} }
func hardlink(name, target string) ent { return ent{name: name, typ: tar.TypeLink, link: target} }

// tarball writes entries as an uncompressed tar stream.
func tarball(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		if e.typ == tar.TypeXGlobalHeader {
			if err := tw.WriteHeader(&tar.Header{Typeflag: e.typ, PAXRecords: e.pax}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, ModTime: time.Unix(0, 0), PAXRecords: e.pax}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.pax != nil {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gz gzips data as one member.
func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tgz(t testing.TB, ents ...ent) []byte { t.Helper(); return gz(t, tarball(t, ents...)) }

// rawHeader returns one ustar header block for name (at most 100 bytes)
// with the given type and declared size, whatever tar.Writer would allow.
func rawHeader(t testing.TB, name string, typ byte, size int64) []byte {
	t.Helper()
	blk, err := rawHeaderBlock(name, typ, size)
	if err != nil {
		t.Fatal(err)
	}
	return blk
}

func rawHeaderBlock(name string, typ byte, size int64) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "placeholder", Typeflag: tar.TypeReg, Size: size, Mode: 0o644, Format: tar.FormatUSTAR}); err != nil {
		return nil, err
	}
	blk := bytes.Clone(buf.Bytes()[:512])
	copy(blk[:100], make([]byte, 100))
	copy(blk[:100], name)
	blk[156] = typ
	copy(blk[148:156], "        ")
	sum := 0
	for _, b := range blk {
		sum += int(b)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return blk, nil
}

// billionLaughs is a values.yaml of 9 levels of 10 aliases each: 10^9 nodes
// expanded, under 1 KiB written.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 8; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

const legitAliases = `defaults: &defaults
  cpu: 100m
  memory: 64Mi
web:
  resources: *defaults
worker:
  resources:
    <<: *defaults
    cpu: 200m
hosts: &hosts [a.example.com, b.example.com]
ingress: {hosts: *hosts}
schedule: "*/5 * * * *"
`

// normalChart is laid out like `helm package` output, plus what other
// packagers add: directory entries.
func normalChart() []ent {
	return []ent{
		dir("mychart/"),
		file("mychart/Chart.yaml", "apiVersion: v2\nname: mychart\nversion: 0.1.0\ndependencies:\n  - name: sub\n    version: 0.1.0\n"),
		file("mychart/values.yaml", "replicaCount: 1\nimage:\n  repository: nginx\n  tag: \"1.27\"\n"),
		file("mychart/values.schema.json", `{"type": "object"}`),
		file("mychart/.helmignore", ".git/\n*.swp\n"),
		dir("mychart/templates/"),
		file("mychart/templates/deployment.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  replicas: {{ .Values.replicaCount }}\n"),
		file("mychart/templates/_helpers.tpl", `{{- define "mychart.name" -}}{{ .Chart.Name }}{{- end }}`),
		file("mychart/templates/NOTES.txt", "Thanks for installing {{ .Chart.Name }}.\n"),
		file("mychart/crds/crd.yaml", "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"),
		file("mychart/charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 0.1.0\n"),
		file("mychart/charts/sub/values.yaml", "enabled: true\n"),
		file("mychart/charts/sub/templates/cm.yaml", "kind: ConfigMap\n"),
	}
}

// withFile returns the normal chart plus extra entries.
func withFile(extra ...ent) []ent { return append(normalChart(), extra...) }

// nest wraps a chart archive as charts/sub.tgz of a new chart, depth times.
func nest(t testing.TB, inner []byte, depth int) []byte {
	t.Helper()
	for range depth {
		inner = tgz(t, file("outer/Chart.yaml", "name: outer\n"), file("outer/charts/sub-0.1.0.tgz", string(inner)))
	}
	return inner
}

// lie writes a tar header declaring size, then body, then tail, without
// tar's own checks.
func lie(t testing.TB, size int64, body, tail string) []byte {
	t.Helper()
	raw := append(rawHeader(t, "mychart/values.yaml", tar.TypeReg, size), body...)
	return gz(t, append(raw, tail...))
}

func webappArchive(t testing.TB) []byte {
	t.Helper()
	return chartrepotest.Package(t, "../../examples/charts/webapp", "0.1.0")
}

// archiveCase is a CheckArchive table case; its archives also seed
// FuzzCheckArchive.
type archiveCase struct {
	name string
	data func(t testing.TB) []byte
	lim  Limits
	want string // error substring; "" means accepted
}

func archiveCases() []archiveCase {
	small := Limits{MaxArchiveSize: 4096, MaxFiles: 12, MaxDecompressedSize: 64 << 10, MaxFileSize: 8 << 10, MaxYAMLNodes: 1000}
	laughs := billionLaughs()
	return []archiveCase{
		// Accepted.
		{name: "normal chart", data: func(t testing.TB) []byte { return tgz(t, normalChart()...) }},
		{name: "normal chart within small limits", lim: small, data: func(t testing.TB) []byte { return tgz(t, normalChart()...) }},
		{name: "YAML file at MaxYAMLFileSize", lim: Limits{MaxYAMLFileSize: 64}, data: func(t testing.TB) []byte {
			return tgz(t, file("mychart/Chart.yaml", "apiVersion: v2\nname: mychart\nversion: 0.1.0\n"), file("mychart/values.yaml", "a: "+strings.Repeat("x", 61)))
		}},
		{name: "YAML file over MaxYAMLFileSize", lim: Limits{MaxYAMLFileSize: 64}, want: "MaxYAMLFileSize (64)", data: func(t testing.TB) []byte {
			return tgz(t, file("mychart/Chart.yaml", "apiVersion: v2\nname: mychart\nversion: 0.1.0\n"), file("mychart/values.yaml", "a: "+strings.Repeat("x", 62)))
		}},
		{name: "large non-YAML file under MaxYAMLFileSize's reach", lim: Limits{MaxYAMLFileSize: 64}, data: func(t testing.TB) []byte {
			return tgz(t, file("mychart/Chart.yaml", "apiVersion: v2\nname: mychart\nversion: 0.1.0\n"), file("mychart/files/big.txt", strings.Repeat("x", 500)))
		}},
		{name: "webapp example chart", data: webappArchive},
		{name: "pax global header, pax records, long names", data: func(t testing.TB) []byte {
			return tgz(t, append([]ent{{name: "pax_global_header", typ: tar.TypeXGlobalHeader, pax: map[string]string{"comment": "0123abcd"}}},
				withFile(
					ent{name: "mychart/templates/" + strings.Repeat("long-name-", 20) + ".yaml", body: "kind: x\n", pax: map[string]string{"mtime": "1.5"}},
					ent{name: "mychart/files/" + strings.Repeat("n", 150), body: "x"},
				)...)...)
		}},
		{name: "chart tarred from inside its directory (./)", data: func(t testing.TB) []byte {
			return tgz(t, dir("./"), file("./Chart.yaml", "name: c\n"), file("./values.yaml", "a: 1\n"), dir("./templates/"))
		}},
		{name: "windows backslash names", data: func(t testing.TB) []byte {
			return tgz(t, file(`mychart\Chart.yaml`, "name: c\n"), file(`mychart\templates\cm.yaml`, "kind: x\n"), file(`mychart\values.yaml`, "a: 1\n"))
		}},
		{name: "two gzip members", data: func(t testing.TB) []byte {
			tb := tarball(t, normalChart()...)
			return append(gz(t, tb[:1000]), gz(t, tb[1000:])...)
		}},
		{name: "subchart archive", data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/charts/dep-1.0.0.tgz", string(tgz(t, file("dep/Chart.yaml", "name: dep\n"), file("dep/values.yaml", legitAliases)))))...)
		}},
		{name: "subchart archives nested 8 deep", data: func(t testing.TB) []byte { return nest(t, tgz(t, normalChart()...), 8) }},
		{name: "links inside the chart", data: func(t testing.TB) []byte {
			return tgz(t, withFile(symlink("mychart/values-dev.yaml", "values.yaml"), symlink("mychart/tpl", "templates/deployment.yaml"), hardlink("mychart/values-prod.yaml", "mychart/values.yaml"))...)
		}},
		{name: "legitimate YAML aliases", data: func(t testing.TB) []byte {
			return tgz(t, file("mychart/Chart.yaml", "name: c\n"), file("mychart/values.yaml", legitAliases))
		}},
		{name: "YAML syntax error is Helm's to report", data: func(t testing.TB) []byte {
			return tgz(t, file("mychart/Chart.yaml", "name: c\n"), file("mychart/values.yaml", "a: [1, 2\nb: *nowhere\n"))
		}},
		{name: "aliases in templates are not checked", data: func(t testing.TB) []byte { return tgz(t, withFile(file("mychart/templates/laughs.yaml", laughs))...) }},
		{name: "subcharts Helm ignores (_x, .x) are not checked", data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/charts/_ignored/values.yaml", laughs), file("mychart/charts/.hidden.tgz", "not gzip"))...)
		}},
		{name: "no entries", data: func(t testing.TB) []byte { return tgz(t) }},
		{name: "tar end marker followed by zeros is not read", data: func(t testing.TB) []byte {
			return gz(t, append(tarball(t, normalChart()...), make([]byte, 1<<20)...))
		}},

		// Size limits.
		{name: "archive over MaxArchiveSize", lim: small, want: "archive is 5000 bytes, over MaxArchiveSize (4096)", data: func(testing.TB) []byte { return make([]byte, 5000) }},
		{name: "archive over default MaxArchiveSize", want: "over MaxArchiveSize (20971520)", data: func(testing.TB) []byte { return make([]byte, 20<<20+1) }},
		{name: "file over MaxFileSize", lim: small, want: `"mychart/big.txt": header declares 8193 bytes, over MaxFileSize (8192)`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/big.txt", strings.Repeat("x", 8<<10+1)))...)
		}},
		{name: "header over default MaxFileSize", want: "header declares 16777217 bytes, over MaxFileSize (16777216)", data: func(t testing.TB) []byte {
			return gz(t, rawHeader(t, "mychart/big.bin", tar.TypeReg, 16<<20+1))
		}},
		{name: "decompressed stream over MaxDecompressedSize", lim: small, want: `entry "mychart/f7": decompressed data exceeds MaxDecompressedSize (65536 bytes)`, data: func(t testing.TB) []byte {
			var ents []ent
			for i := range 9 {
				ents = append(ents, file(fmt.Sprintf("mychart/f%d", i), strings.Repeat("x", 8000)))
			}
			return tgz(t, ents...)
		}},
		{name: "files over MaxDecompressedSize", lim: Limits{MaxDecompressedSize: 64 << 10}, want: `entry "mychart/f2": header declares 30000 bytes, which takes the files over MaxDecompressedSize (65536)`, data: func(t testing.TB) []byte {
			return tgz(t, file("mychart/f1", strings.Repeat("x", 40000)), file("mychart/f2", strings.Repeat("x", 30000)))
		}},
		{name: "more than MaxFiles", lim: small, want: `entry "mychart/extra2": more than MaxFiles (12) files`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/extra1", ""), file("mychart/extra2", ""))...)
		}},
		{name: "links count as files", lim: Limits{MaxFiles: 1}, want: `entry "c/l": more than MaxFiles (1) files`, data: func(t testing.TB) []byte {
			return tgz(t, file("c/Chart.yaml", "name: c\n"), symlink("c/l", "Chart.yaml"))
		}},

		// Not a (sound) archive.
		{name: "not gzip: plain tar", want: "archive is not gzip data", data: func(t testing.TB) []byte { return tarball(t, normalChart()...) }},
		{name: "not gzip: yaml", want: "archive is not gzip data", data: func(testing.TB) []byte { return []byte("apiVersion: v2\n") }},
		{name: "not gzip: empty", want: "archive is not gzip data", data: func(testing.TB) []byte { return nil }},
		{name: "corrupt tar", want: "archive is corrupt", data: func(t testing.TB) []byte { return gz(t, bytes.Repeat([]byte("garbage!"), 200)) }},
		{name: "truncated gzip", want: "corrupt", data: func(t testing.TB) []byte { a := tgz(t, normalChart()...); return a[:len(a)/2] }},
		{name: "corrupt gzip data", want: "archive is corrupt", data: func(t testing.TB) []byte {
			a := tgz(t, normalChart()...)
			a[20] ^= 0xff
			return a
		}},
		{name: "header size larger than the data", want: `entry "mychart/values.yaml" is corrupt: unexpected EOF`, data: func(t testing.TB) []byte {
			return lie(t, 1000, "a: 1\n", "")
		}},
		{name: "header size smaller than the data", want: "archive is corrupt: archive/tar: invalid tar header", data: func(t testing.TB) []byte {
			return lie(t, 5, "a: 1\n"+strings.Repeat("\x00", 507), "b: 2\nthis is not a tar header"+strings.Repeat("!", 600))
		}},

		// Names.
		{name: "absolute name", want: `entry "/etc/passwd": absolute name`, data: func(t testing.TB) []byte { return tgz(t, file("/etc/passwd", "x")) }},
		{name: "absolute name after the first entry", want: `entry "/mychart/x": absolute name`, data: func(t testing.TB) []byte { return tgz(t, withFile(file("/mychart/x", "x"))...) }},
		{name: "backslash absolute name", want: `entry "\\x": absolute name`, data: func(t testing.TB) []byte { return tgz(t, file(`\x`, "x")) }},
		{name: "drive letter name", want: `entry "C:\\x\\Chart.yaml": absolute name`, data: func(t testing.TB) []byte { return tgz(t, file(`C:\x\Chart.yaml`, "x")) }},
		{name: "drive letter name with slashes", want: `entry "c:/x/Chart.yaml": absolute name`, data: func(t testing.TB) []byte { return tgz(t, file(`c:/x/Chart.yaml`, "x")) }},
		{name: "absolute below the top directory", want: `absolute name below the top-level directory`, data: func(t testing.TB) []byte { return tgz(t, withFile(file("mychart//etc/passwd", "x"))...) }},
		{name: "drive letter below the top directory", want: `drive letter below the top-level directory`, data: func(t testing.TB) []byte { return tgz(t, withFile(file(`mychart\C:/x`, "x"))...) }},
		{name: "dot-dot segment", want: `entry "mychart/../x": name has a ".." segment`, data: func(t testing.TB) []byte { return tgz(t, withFile(file("mychart/../x", "x"))...) }},
		{name: "leading dot-dot", want: `entry "../x": name has a ".." segment`, data: func(t testing.TB) []byte { return tgz(t, file("../x", "x")) }},
		{name: "backslash dot-dot", want: `entry "mychart\\..\\..\\x": name has a ".." segment`, data: func(t testing.TB) []byte { return tgz(t, withFile(file(`mychart\..\..\x`, "x"))...) }},
		{name: "dot-dot directory", want: `name has a ".." segment`, data: func(t testing.TB) []byte { return tgz(t, withFile(dir("mychart/../"))...) }},
		{name: "empty name", want: `entry "": empty name`, data: func(t testing.TB) []byte {
			return gz(t, append(rawHeader(t, "", tar.TypeReg, 0), make([]byte, 1024)...))
		}},
		{name: "two top-level directories", want: `entry "other/values.yaml" is not under the chart's top-level directory "mychart"`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("other/values.yaml", "a: 1\n"))...)
		}},
		{name: "directory outside the top-level directory", want: `entry "other/" is not under`, data: func(t testing.TB) []byte { return tgz(t, withFile(dir("other/"))...) }},
		{name: "mixed separators hide a second top directory", want: `entry "mychart/x\\values.yaml" is not under`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file(`mychart/x\values.yaml`, "a: 1\n"))...)
		}},
		{name: "file at the top level", want: `entry "Chart.yaml" is a file outside the chart's top-level directory`, data: func(t testing.TB) []byte {
			return tgz(t, file("Chart.yaml", "name: c\n"))
		}},

		// Links and special files.
		{name: "symlink to an absolute path", want: `entry "mychart/values.yaml": symlink to absolute path "/etc/passwd"`, data: func(t testing.TB) []byte {
			return tgz(t, file("mychart/Chart.yaml", "name: c\n"), symlink("mychart/values.yaml", "/etc/passwd"))
		}},
		{name: "symlink to a drive path", want: `symlink to absolute path "C:\\Windows"`, data: func(t testing.TB) []byte { return tgz(t, withFile(symlink("mychart/w", `C:\Windows`))...) }},
		{name: "symlink escaping the chart", want: `symlink target "../../etc/passwd" has a ".." segment`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(symlink("mychart/templates/x", "../../etc/passwd"))...)
		}},
		{name: "symlink up inside the chart (documented)", want: `symlink target "../values.yaml" has a ".." segment`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(symlink("mychart/templates/v", "../values.yaml"))...)
		}},
		{name: "symlink without a target", want: "symlink without a target", data: func(t testing.TB) []byte { return tgz(t, withFile(symlink("mychart/l", ""))...) }},
		{name: "hard link outside the chart", want: `hard link target "other/values.yaml" is outside the chart's top-level directory "mychart"`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(hardlink("mychart/v", "other/values.yaml"))...)
		}},
		{name: "hard link to an absolute path", want: `hard link to absolute path "/etc/shadow"`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(hardlink("mychart/v", "/etc/shadow"))...)
		}},
		{name: "hard link climbing", want: `hard link target "mychart/../../x" has a ".." segment`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(hardlink("mychart/v", "mychart/../../x"))...)
		}},
		{name: "character device", want: `entry "mychart/null" is a character device`, data: func(t testing.TB) []byte { return tgz(t, withFile(ent{name: "mychart/null", typ: tar.TypeChar})...) }},
		{name: "block device", want: `entry "mychart/sda" is a block device`, data: func(t testing.TB) []byte { return tgz(t, withFile(ent{name: "mychart/sda", typ: tar.TypeBlock})...) }},
		{name: "fifo", want: `entry "mychart/pipe" is a FIFO`, data: func(t testing.TB) []byte { return tgz(t, withFile(ent{name: "mychart/pipe", typ: tar.TypeFifo})...) }},

		// YAML.
		{name: "billion laughs in values.yaml", want: `"mychart/values.yaml": YAML alias expansion exceeds 100000 nodes`, data: func(t testing.TB) []byte {
			return tgz(t, file("mychart/Chart.yaml", "name: c\n"), file("mychart/values.yaml", laughs))
		}},
		{name: "billion laughs within small limits", lim: small, want: "YAML alias expansion exceeds 1000 nodes", data: func(t testing.TB) []byte {
			return tgz(t, file("mychart/Chart.yaml", "name: c\n"), file("mychart/values.yaml", laughs))
		}},
		{name: "billion laughs in Chart.yaml", want: `"mychart/Chart.yaml": YAML alias`, data: func(t testing.TB) []byte { return tgz(t, file("mychart/Chart.yaml", laughs)) }},
		{name: "billion laughs in Chart.lock", want: `"mychart/Chart.lock": YAML alias`, data: func(t testing.TB) []byte { return tgz(t, withFile(file("mychart/Chart.lock", laughs))...) }},
		{name: "billion laughs in requirements.yaml", want: `"mychart/requirements.yaml": YAML alias`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/requirements.yaml", laughs))...)
		}},
		{name: "billion laughs in another root yaml", want: `"mychart/values-prod.yml": YAML alias`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/values-prod.yml", laughs))...)
		}},
		{name: "billion laughs in crds", want: `"mychart/crds/nested/crd.json": YAML alias`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/crds/nested/crd.json", laughs))...)
		}},
		{name: "billion laughs in a subchart directory", want: `"mychart/charts/sub/charts/subsub/values.yaml": YAML alias`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/charts/sub/charts/subsub/values.yaml", laughs))...)
		}},
		{name: "billion laughs in a subchart archive", want: `"outer/charts/sub-0.1.0.tgz" > "mychart/values.yaml": YAML alias`, data: func(t testing.TB) []byte {
			return nest(t, tgz(t, file("mychart/Chart.yaml", "name: c\n"), file("mychart/values.yaml", laughs)), 1)
		}},
		{name: "billion laughs in the second document", want: "YAML alias expansion", data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/crds/two.yaml", "kind: A\n---\n"+laughs))...)
		}},

		// Subchart archives.
		{name: "subchart archives nested 9 deep", want: "subchart archives nested more than 8 deep", data: func(t testing.TB) []byte {
			return nest(t, tgz(t, normalChart()...), 9)
		}},
		{name: "subchart archive is not gzip", want: `subchart archive "mychart/charts/x.tgz" is not gzip data`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/charts/x.tgz", "apiVersion: v2\n"))...)
		}},
		{name: "subchart archive escapes", want: `entry "mychart/charts/x.tgz" > "/etc/passwd": absolute name`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/charts/x.tgz", string(tgz(t, file("/etc/passwd", "x")))))...)
		}},
		{name: "subchart archives share the file budget", lim: small, want: `"mychart/charts/x.tgz" > "x/f1": more than MaxFiles (12) files`, data: func(t testing.TB) []byte {
			return tgz(t, withFile(file("mychart/charts/x.tgz", string(tgz(t, file("x/f1", ""), file("x/f2", ""), file("x/f3", "")))))...)
		}},
	}
}

func TestCheckArchive(t *testing.T) {
	for _, tt := range archiveCases() {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckArchive(tt.data(t), tt.lim)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("rejected a valid chart: %v", err)
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

// TestDefaultLimits checks that zero fields mean the defaults.
func TestDefaultLimits(t *testing.T) {
	want := Limits{MaxArchiveSize: 20 << 20, MaxFiles: 5000, MaxDecompressedSize: 64 << 20, MaxFileSize: 16 << 20, MaxYAMLNodes: 100_000, MaxYAMLFileSize: 5 << 20}
	if got := DefaultLimits(); got != want {
		t.Fatalf("DefaultLimits() = %+v, want %+v", got, want)
	}
	if got := (Limits{}).withDefaults(); got != want {
		t.Fatalf("Limits{}.withDefaults() = %+v, want %+v", got, want)
	}
	if got := (Limits{MaxFiles: -1, MaxYAMLNodes: 7}).withDefaults(); got.MaxFiles != 5000 || got.MaxYAMLNodes != 7 {
		t.Fatalf("withDefaults kept %+v", got)
	}
	var ents []ent
	for i := range 5001 {
		ents = append(ents, file(fmt.Sprintf("c/f%d", i), ""))
	}
	if err := CheckArchive(tgz(t, ents...), Limits{}); err == nil || !strings.Contains(err.Error(), "more than MaxFiles (5000)") {
		t.Fatalf("5001 files: err = %v", err)
	}
	if err := CheckArchive(tgz(t, ents[:5000]...), Limits{}); err != nil {
		t.Fatalf("5000 files: %v", err)
	}
}

// bombs are archives whose decompressed size (200 MiB or more) the
// checker must not read, let alone hold.
var bombs = sync.OnceValues(func() (map[string][]byte, error) {
	bombs := map[string][]byte{}

	// A 200 MiB file of zeros, one gzip member of about 200 KiB.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "mychart/zeros.bin", Typeflag: tar.TypeReg, Size: 200 << 20, Mode: 0o644}); err != nil {
		return nil, err
	}
	chunk := make([]byte, 1<<20)
	for range 200 {
		if _, err := tw.Write(chunk); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	bombs["file"] = buf.Bytes()

	// 240 pax global headers of almost 1 MiB each (as much as Go's tar
	// reader takes), each in a gzip member of its own, then a chart. Helm
	// skips global headers, but tar reads them.
	buf = bytes.Buffer{}
	zw, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw = tar.NewWriter(zw)
	pax := map[string]string{"comment": strings.Repeat("0", 1<<20-64)}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: pax}); err != nil {
		return nil, err
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	member := buf.Bytes()
	var chain []byte
	for range 240 {
		chain = append(chain, member...)
	}
	var chart bytes.Buffer
	zw = gzip.NewWriter(&chart)
	tw = tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "mychart/Chart.yaml", Size: 8, Mode: 0o644}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte("name: c\n")); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	bombs["pax headers in gzip members"] = append(chain, chart.Bytes()...)
	return bombs, nil
})

// TestBombs checks that decompression bombs are stopped at the limit with
// memory use independent of their size.
func TestBombs(t *testing.T) {
	bs, err := bombs()
	if err != nil {
		t.Fatal(err)
	}
	// maxAlloc bounds the bytes allocated while checking. Decompressing
	// costs gzip's window and tables and tar's blocks, well under 1 MiB.
	// Go's tar reader buffers and parses each pax header (up to 1 MiB),
	// about 3 bytes allocated, and collectable at once, per byte read: so
	// pax bombs cost at most 4 times MaxDecompressedSize.
	tests := []struct {
		bomb     string
		lim      Limits
		want     string // "" means accepted
		maxAlloc uint64
	}{
		{bomb: "file", want: "header declares 209715200 bytes, over MaxFileSize (16777216)", maxAlloc: 1 << 20},
		{bomb: "file", lim: Limits{MaxFileSize: 1 << 30, MaxDecompressedSize: 1 << 30}, want: "", maxAlloc: 1 << 20},
		{bomb: "file", lim: Limits{MaxFileSize: 1 << 30, MaxDecompressedSize: 100 << 20}, want: `header declares 209715200 bytes, which takes the files over MaxDecompressedSize (104857600)`, maxAlloc: 1 << 20},
		{bomb: "pax headers in gzip members", want: `archive: decompressed data exceeds MaxDecompressedSize (67108864 bytes)`, maxAlloc: 4 * 64 << 20},
		{bomb: "pax headers in gzip members", lim: Limits{MaxDecompressedSize: 1 << 20}, want: "decompressed data exceeds MaxDecompressedSize (1048576 bytes)", maxAlloc: 4 << 20},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %+v", tt.bomb, tt.lim), func(t *testing.T) {
			data := bs[tt.bomb]
			if len(data) > 1<<20 {
				t.Fatalf("bomb is %d bytes compressed, want it small", len(data))
			}
			var err error
			alloc := allocated(func() { err = CheckArchive(data, tt.lim) })
			t.Logf("checking the %d-byte bomb allocated %d bytes", len(data), alloc)
			if alloc > tt.maxAlloc {
				t.Errorf("checking a %d-byte bomb allocated %d bytes, want at most %d", len(data), alloc, tt.maxAlloc)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("within raised limits: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrHostile) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestStreamStopsAtLimit checks that no more than one byte past
// MaxDecompressedSize is decompressed, and nothing after tar's end marker.
func TestStreamStopsAtLimit(t *testing.T) {
	bs, err := bombs()
	if err != nil {
		t.Fatal(err)
	}
	lim := Limits{MaxDecompressedSize: 3<<20 + 17}.withDefaults()
	c := &checker{lim: lim}
	if err := c.archive("", bs["pax headers in gzip members"], 0); !errors.Is(err, ErrHostile) {
		t.Fatalf("err = %v", err)
	}
	if c.raw != lim.MaxDecompressedSize+1 {
		t.Fatalf("decompressed %d bytes, want exactly the limit %d plus one", c.raw, lim.MaxDecompressedSize)
	}

	chart := tarball(t, normalChart()...)
	c = &checker{lim: DefaultLimits()}
	if err := c.archive("", gz(t, append(bytes.Clone(chart), make([]byte, 8<<20)...)), 0); err != nil {
		t.Fatal(err)
	}
	if c.raw > int64(len(chart)) {
		t.Fatalf("decompressed %d bytes of a %d-byte tar followed by zeros", c.raw, len(chart))
	}
}

func TestEntryPath(t *testing.T) {
	tests := []struct{ name, top, rest, err string }{
		{name: "mychart/templates/a.yaml", top: "mychart", rest: "templates/a.yaml"},
		{name: "mychart/", top: "mychart", rest: "."},
		{name: "mychart", top: "mychart", rest: "."},
		{name: "./Chart.yaml", top: ".", rest: "Chart.yaml"},
		{name: `mychart\templates\a.yaml`, top: "mychart", rest: "templates/a.yaml"},
		{name: `mychart/a\b`, top: "mychart/a", rest: "b"},
		{name: "mychart/./x//y", top: "mychart", rest: "x/y"},
		{name: "mychart/..x", top: "mychart", rest: "..x"},
		{name: "", err: "empty name"},
		{name: "/x", err: "absolute name"},
		{name: `\x`, err: "absolute name"},
		{name: `Z:x`, err: "absolute name"},
		{name: "..", err: `".." segment`},
		{name: "a/b/..", err: `".." segment`},
		{name: `a\..`, err: `".." segment`},
		{name: "a//x", err: "absolute name below"},
		{name: "a/c:/x", err: "drive letter below"},
	}
	for _, tt := range tests {
		top, rest, err := entryPath(tt.name)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("entryPath(%q) err = %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || top != tt.top || rest != tt.rest {
			t.Errorf("entryPath(%q) = %q, %q, %v; want %q, %q", tt.name, top, rest, err, tt.top, tt.rest)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]kind{
		"Chart.yaml":                             kindYAML,
		"values.yaml":                            kindYAML,
		"values-prod.yml":                        kindYAML,
		"requirements.yaml":                      kindYAML,
		"Chart.lock":                             kindYAML,
		"requirements.lock":                      kindYAML,
		"crds/a.yaml":                            kindYAML,
		"crds/x/a.json":                          kindYAML,
		"crds/README.md":                         kindOther,
		"values.schema.json":                     kindOther,
		"templates/deployment.yaml":              kindOther,
		"files/config.yaml":                      kindOther,
		"README.md":                              kindOther,
		"charts/sub/values.yaml":                 kindYAML,
		"charts/sub/templates/x.yaml":            kindOther,
		"charts/sub/crds/x.yaml":                 kindYAML,
		"charts/sub/charts/subsub/Chart.yaml":    kindYAML,
		"charts/sub/charts/subsub-1.0.0.tgz":     kindArchive,
		"charts/sub-1.0.0.tgz":                   kindArchive,
		"charts/sub-1.0.0.tgz.prov":              kindOther,
		"charts/_skipped/values.yaml":            kindOther,
		"charts/.hidden/values.yaml":             kindOther,
		"charts/_skipped.tgz":                    kindOther,
		"charts/values.yaml":                     kindOther,
		"charts/sub/charts/subsub/files/a.yaml":  kindOther,
		"charts/sub/charts/subsub/nested/x.tgz":  kindOther,
		"charts/sub/charts/subsub/charts/y.tgz":  kindArchive,
		"charts/sub/charts/subsub/charts/.y.tgz": kindOther,
	}
	for p, want := range tests {
		if got := classify(p); got != want {
			t.Errorf("classify(%q) = %d, want %d", p, got, want)
		}
	}
}

func BenchmarkCheckArchive(b *testing.B) {
	data := webappArchive(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckArchive(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
