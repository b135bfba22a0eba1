package chartsafe

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// maxNesting is how deep subchart archives (charts/*.tgz inside a chart
// archive) may nest. Helm itself recurses without a bound; real umbrella
// charts nest two or three levels.
const maxNesting = 8

// errStreamCap is returned by streamCounter once the decompressed stream has
// crossed MaxDecompressedSize; the checker reports it with context.
var errStreamCap = errors.New("decompressed stream over its limit")

// helmDrivePath is the drive-letter pattern Helm's loader refuses in an
// entry's path below the chart directory.
var helmDrivePath = regexp.MustCompile(`^[a-zA-Z]:/`)

// CheckArchive checks a chart archive (a gzipped tar, as `helm package`
// writes it) before Helm's loader reads it, and returns nil if the loader may
// have it. Zero fields of lim mean their defaults. Every rejection wraps
// ErrHostile and names the entry and the limit concerned.
//
// Sizes are counted on the bytes actually decompressed, never taken from
// headers: a gzip or tar bomb is stopped one byte past the limit, with memory
// use independent of its size. Files that are not YAML or subchart archives
// are counted and discarded, not buffered; Go's tar reader holds one pax
// header (at most 1 MiB) at a time, so a chain of them costs allocations of
// about 3 times the bytes read, not memory. Concatenated gzip members, which
// Go's gzip reader and so Helm read as one stream, count as one stream.
//
// Besides the limits, CheckArchive rejects: data that is not gzip; corrupt or
// truncated gzip or tar data; empty entry names; names that are absolute
// ("/x", "\x", "C:\x", "C:/x") or have a ".." segment, with backslashes read
// as separators; entries not all under one top-level directory, and files
// directly at the top level; character and block devices and FIFOs;
// subchart archives nested more than 8 deep; and YAML files that fail
// CheckYAML. Those are the chart's root *.yaml and *.yml files, Chart.lock,
// requirements.lock and crds/ manifests (.yaml, .yml, .json), in the chart
// and in every subchart, whether a directory under charts/ or a
// charts/*.tgz archive. Templates are not checked: they are only YAML once
// rendered.
//
// Links: Helm's loader turns symlinks and hard links into empty files, so no
// working chart needs them, but extraction by other tools would follow them.
// A link is accepted only if its target is relative and has no ".." segment
// (so a symlink points at or below its own directory, and no chain of
// symlinks can climb out of the chart), and a hard link's target is under the
// chart's top directory; every other link is rejected, including some whose
// target would resolve inside the chart, such as "../values.yaml".
//
// Accepted like Helm accepts them: directory entries, pax extended and global
// headers (git archive writes one), GNU long names, names with backslash
// separators, a top-level directory named "." ("./Chart.yaml"), and archives
// without any entry (Helm reports those itself).
func CheckArchive(data []byte, lim Limits) error {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxArchiveSize {
		return hostile("archive is %d bytes, over MaxArchiveSize (%d)", len(data), lim.MaxArchiveSize)
	}
	c := &checker{lim: lim}
	return c.archive("", data, 0)
}

// checker holds the budget shared by an archive and its subchart archives.
type checker struct {
	lim     Limits
	files   int   // file entries seen
	content int64 // file bytes read
	raw     int64 // decompressed stream bytes read
	rawOver bool  // raw crossed MaxDecompressedSize
}

// hostile returns an error wrapping ErrHostile.
func hostile(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrHostile}, args...)...)
}

// archive checks one gzipped tar archive. outer labels the subchart archive
// entry that data came from ("" for the archive CheckArchive was given).
func (c *checker) archive(outer string, data []byte, depth int) error {
	in := "archive"
	if outer != "" {
		in = "subchart archive " + outer
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return hostile("%s is not gzip data: %w", in, err)
	}
	defer zr.Close()
	tr := tar.NewReader(&streamCounter{r: zr, c: c})

	root, haveRoot := "", false
	for {
		hd, err := tr.Next()
		if err != nil {
			if c.rawOver {
				return c.overStream(in)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return hostile("%s is corrupt: %w", in, err)
		}
		// Helm skips pax global headers (git archive writes one, named
		// pax_global_header) before looking at their name.
		if hd.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		label := strconv.Quote(hd.Name)
		if outer != "" {
			label = outer + " > " + label
		}

		top, rest, err := entryPath(hd.Name)
		if err != nil {
			return hostile("entry %s: %w", label, err)
		}
		if !haveRoot {
			root, haveRoot = top, true
		} else if top != root {
			return hostile("entry %s is not under the chart's top-level directory %q: a chart archive has exactly one", label, root)
		}

		switch hd.Typeflag {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return hostile("entry %s is a %s, which a chart cannot contain", label, typeName(hd.Typeflag))
		case tar.TypeSymlink, tar.TypeLink:
			if err := checkLink(hd, root); err != nil {
				return hostile("entry %s: %w", label, err)
			}
			if err := c.countFile(label); err != nil {
				return err
			}
			continue
		}
		// Helm skips whatever tar calls a directory (the type flag or the
		// mode bits); tar.Next discards any body, which the stream cap
		// bounds.
		if hd.FileInfo().IsDir() {
			continue
		}
		if rest == "." {
			return hostile("entry %s is a file outside the chart's top-level directory", label)
		}
		if err := c.countFile(label); err != nil {
			return err
		}
		if err := c.file(tr, hd, label, classify(rest), depth); err != nil {
			return err
		}
	}
}

// countFile counts one more file entry against MaxFiles.
func (c *checker) countFile(label string) error {
	c.files++
	if c.files > c.lim.MaxFiles {
		return hostile("entry %s: more than MaxFiles (%d) files", label, c.lim.MaxFiles)
	}
	return nil
}

// file reads one file entry's contents, counting them, and checks them if
// they are YAML Helm parses or a subchart archive.
func (c *checker) file(tr *tar.Reader, hd *tar.Header, label string, k kind, depth int) error {
	// A header's size is an upper bound of what tar hands over (less is a
	// truncated archive), so refusing on it early is safe; the counts below
	// are what the limits rest on.
	if hd.Size > c.lim.MaxFileSize {
		return hostile("entry %s: header declares %d bytes, over MaxFileSize (%d)", label, hd.Size, c.lim.MaxFileSize)
	}
	if hd.Size > c.lim.MaxDecompressedSize-c.content {
		return hostile("entry %s: header declares %d bytes, which takes the files over MaxDecompressedSize (%d)", label, hd.Size, c.lim.MaxDecompressedSize)
	}

	// Read at most one byte past the tighter limit, so crossing it shows.
	limit := min(c.lim.MaxFileSize, c.lim.MaxDecompressedSize-c.content)
	if limit < math.MaxInt64 {
		limit++
	}
	var buf *bytes.Buffer
	dst := io.Discard
	if k != kindOther {
		buf = new(bytes.Buffer)
		dst = buf
	}
	n, err := io.CopyN(dst, tr, limit)
	c.content += n
	switch {
	case c.rawOver:
		return c.overStream("entry " + label)
	case err != nil && !errors.Is(err, io.EOF):
		return hostile("entry %s is corrupt: %w", label, err)
	case n > c.lim.MaxFileSize:
		return hostile("entry %s: more than MaxFileSize (%d) bytes", label, c.lim.MaxFileSize)
	case c.content > c.lim.MaxDecompressedSize:
		return hostile("entry %s: the files' contents exceed MaxDecompressedSize (%d bytes)", label, c.lim.MaxDecompressedSize)
	}

	switch k {
	case kindYAML:
		if int64(buf.Len()) > c.lim.MaxYAMLFileSize {
			return hostile("entry %s: a YAML file of more than MaxYAMLFileSize (%d) bytes", label, c.lim.MaxYAMLFileSize)
		}
		return CheckYAML(label, buf.Bytes(), c.lim.MaxYAMLNodes)
	case kindArchive:
		if depth+1 > maxNesting {
			return hostile("entry %s: subchart archives nested more than %d deep", label, maxNesting)
		}
		return c.archive(label, buf.Bytes(), depth+1)
	}
	return nil
}

// overStream reports the decompressed stream crossing its limit.
func (c *checker) overStream(where string) error {
	return hostile("%s: decompressed data exceeds MaxDecompressedSize (%d bytes)", where, c.lim.MaxDecompressedSize)
}

// streamCounter counts the decompressed bytes tar reads, across every
// archive of one check, and fails once they exceed MaxDecompressedSize.
type streamCounter struct {
	r io.Reader
	c *checker
}

// Read reads from the gzip stream, at most one byte past the limit.
func (s *streamCounter) Read(p []byte) (int, error) {
	c := s.c
	if c.rawOver {
		return 0, errStreamCap
	}
	room := c.lim.MaxDecompressedSize - c.raw
	if room < math.MaxInt64 {
		room++
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := s.r.Read(p)
	c.raw += int64(n)
	if over := c.raw - c.lim.MaxDecompressedSize; over > 0 {
		c.rawOver = true
		return n - int(over), errStreamCap
	}
	return n, err
}

// entryPath checks an entry name and splits it the way Helm's loader does:
// top is the top-level directory, rest the cleaned path below it ("." for
// the directory itself).
func entryPath(name string) (top, rest string, err error) {
	if name == "" {
		return "", "", errors.New("empty name")
	}
	norm := strings.ReplaceAll(name, `\`, "/")
	if strings.HasPrefix(norm, "/") || hasDrive(norm) {
		return "", "", errors.New("absolute name")
	}
	for seg := range strings.SplitSeq(norm, "/") {
		if seg == ".." {
			return "", "", errors.New(`name has a ".." segment`)
		}
	}
	// Helm splits on backslashes if the name has any, else on slashes, and
	// drops the first element.
	delim := "/"
	if strings.Contains(name, `\`) {
		delim = `\`
	}
	top, rest, _ = strings.Cut(name, delim)
	rest = strings.ReplaceAll(rest, delim, "/")
	if path.IsAbs(rest) {
		return "", "", errors.New("absolute name below the top-level directory")
	}
	rest = path.Clean(rest)
	if helmDrivePath.MatchString(rest) {
		return "", "", errors.New("drive letter below the top-level directory")
	}
	return top, rest, nil
}

// hasDrive reports whether a slash-separated name starts with a drive letter
// ("C:").
func hasDrive(name string) bool {
	return len(name) >= 2 && name[1] == ':' &&
		('a' <= name[0] && name[0] <= 'z' || 'A' <= name[0] && name[0] <= 'Z')
}

// checkLink checks a symlink's or hard link's target (see CheckArchive).
func checkLink(hd *tar.Header, root string) error {
	kind := "symlink"
	if hd.Typeflag == tar.TypeLink {
		kind = "hard link"
	}
	target := strings.ReplaceAll(hd.Linkname, `\`, "/")
	switch {
	case target == "":
		return fmt.Errorf("%s without a target", kind)
	case strings.HasPrefix(target, "/") || hasDrive(target):
		return fmt.Errorf("%s to absolute path %q", kind, hd.Linkname)
	}
	for seg := range strings.SplitSeq(target, "/") {
		if seg == ".." {
			return fmt.Errorf(`%s target %q has a ".." segment, which chart links may not have`, kind, hd.Linkname)
		}
	}
	if hd.Typeflag == tar.TypeLink {
		if top, _, _ := strings.Cut(target, "/"); top != root {
			return fmt.Errorf("%s target %q is outside the chart's top-level directory %q", kind, hd.Linkname, root)
		}
	}
	return nil
}

// typeName names the special entry types CheckArchive refuses.
func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	default:
		return "FIFO"
	}
}

// kind is what a file means to Helm's loader, as far as checks go.
type kind int

const (
	kindOther   kind = iota // not parsed before rendering, or not at all
	kindYAML                // parsed as YAML by the loader or at install
	kindArchive             // a subchart archive the loader unpacks
)

// classify tells which files of a chart get checked, given a path below the
// chart's top-level directory. It follows Helm's loader: subcharts are the
// directories and .tgz files directly in charts/ (recursively), except
// those whose name starts with "_" or "."; Helm parses Chart.yaml,
// values.yaml, requirements.yaml, Chart.lock and requirements.lock, and
// installs crds/ manifests without rendering them. Other root *.yaml and
// *.yml files are checked too, as users pass them as values.
func classify(rest string) kind {
	p := rest
	for {
		after, ok := strings.CutPrefix(p, "charts/")
		if !ok {
			break
		}
		sub, inner, nested := strings.Cut(after, "/")
		switch {
		case strings.IndexAny(sub, "_.") == 0:
			return kindOther
		case !nested && path.Ext(sub) == ".tgz":
			return kindArchive
		case !nested:
			return kindOther
		}
		p = inner
	}
	ext := path.Ext(p)
	switch {
	case !strings.Contains(p, "/"):
		if ext == ".yaml" || ext == ".yml" || p == "Chart.lock" || p == "requirements.lock" {
			return kindYAML
		}
	case strings.HasPrefix(p, "crds/"):
		if ext == ".yaml" || ext == ".yml" || ext == ".json" {
			return kindYAML
		}
	}
	return kindOther
}
