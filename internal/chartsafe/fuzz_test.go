package chartsafe

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
)

// fuzzLimits keeps fuzz iterations fast.
var fuzzLimits = Limits{MaxFiles: 64, MaxDecompressedSize: 1 << 20, MaxFileSize: 256 << 10, MaxYAMLNodes: 10_000}

var gzipWriters = sync.Pool{New: func() any { zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed); return zw }}

// FuzzCheckArchive feeds CheckArchive arbitrary data, either as given or, to
// let the fuzzer work on tar structure, gzipped first. CheckArchive must not
// panic, must wrap ErrHostile in every error, and what it accepts must pass
// an independent, plain reading of the same limits.
func FuzzCheckArchive(f *testing.F) {
	for _, tc := range archiveCases() {
		data := tc.data(f)
		if len(data) > 1<<20 {
			continue
		}
		f.Add(data, false)
		if tarData, err := gunzip(data, 1<<20); err == nil {
			f.Add(tarData, true)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, wrap bool) {
		if wrap {
			var buf bytes.Buffer
			zw := gzipWriters.Get().(*gzip.Writer)
			zw.Reset(&buf)
			_, _ = zw.Write(data)
			_ = zw.Close()
			gzipWriters.Put(zw)
			data = buf.Bytes()
		}
		err := CheckArchive(data, fuzzLimits)
		if err != nil {
			if !errors.Is(err, ErrHostile) {
				t.Fatalf("error not wrapping ErrHostile: %v", err)
			}
			return
		}
		if err := plainCheck(data, fuzzLimits); err != nil {
			t.Fatalf("CheckArchive accepted an archive that %v", err)
		}
	})
}

// gunzip decompresses at most limit bytes.
func gunzip(data []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(zr, limit))
}

// plainCheck re-reads an accepted archive the simple way and reports what
// CheckArchive should have refused (nested archives and YAML aside).
func plainCheck(data []byte, lim Limits) error {
	lim = lim.withDefaults()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	stream := &countReader{r: zr}
	tr := tar.NewReader(stream)
	var files int
	var total int64
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if hd.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := strings.ReplaceAll(hd.Name, `\`, "/")
		if name == "" || strings.HasPrefix(name, "/") || hasDrive(name) || strings.Contains("/"+name+"/", "/../") {
			return errors.New("has a bad name " + hd.Name)
		}
		switch hd.Typeflag {
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			return errors.New("has a device or FIFO")
		case tar.TypeSymlink, tar.TypeLink:
			target := strings.ReplaceAll(hd.Linkname, `\`, "/")
			if strings.HasPrefix(target, "/") || strings.Contains("/"+target+"/", "/../") {
				return errors.New("has a link out")
			}
		}
		if hd.FileInfo().IsDir() {
			continue
		}
		files++
		n, err := io.Copy(io.Discard, tr)
		if err != nil {
			return err
		}
		if n > lim.MaxFileSize {
			return errors.New("has a file over MaxFileSize")
		}
		total += n
	}
	switch {
	case files > lim.MaxFiles:
		return errors.New("has more than MaxFiles files")
	case total > lim.MaxDecompressedSize:
		return errors.New("has files over MaxDecompressedSize")
	case stream.n > lim.MaxDecompressedSize:
		return errors.New("decompresses to over MaxDecompressedSize")
	}
	return nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// FuzzCheckYAML feeds CheckYAML arbitrary YAML. It must not panic and must
// wrap ErrHostile and ErrAliasBudget in every error.
func FuzzCheckYAML(f *testing.F) {
	for _, tc := range yamlCases() {
		f.Add([]byte(tc.data), uint16(min(max(tc.maxNodes, 0), math.MaxUint16)))
	}
	f.Fuzz(func(t *testing.T, data []byte, maxNodes uint16) {
		if err := CheckYAML("f.yaml", data, int(maxNodes)); err != nil && (!errors.Is(err, ErrHostile) || !errors.Is(err, ErrAliasBudget)) {
			t.Fatalf("error not wrapping ErrHostile and ErrAliasBudget: %v", err)
		}
	})
}
