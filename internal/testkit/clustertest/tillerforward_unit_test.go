package clustertest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseTillerForward(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"devcluster's line", "kdu-tiller-pf 127.0.0.1:21010\n", "127.0.0.1:21010"},
		{"other port base", "kdu-tiller-pf 127.0.0.1:23010", "127.0.0.1:23010"},
		{"empty", "", ""},
		{"other namespace", "kube-system 127.0.0.1:21010", ""},
		{"no address", "kdu-tiller-pf", ""},
		{"not loopback", "kdu-tiller-pf 10.0.0.1:21010", ""},
		{"bad port", "kdu-tiller-pf 127.0.0.1:99999", ""},
		{"extra field", "kdu-tiller-pf 127.0.0.1:21010 x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTillerForward(tc.in)
			if tc.want == "" {
				if !errors.Is(err, ErrNoTillerForward) {
					t.Fatalf("parseTillerForward(%q) = %q, %v; want ErrNoTillerForward", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseTillerForward(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestReadTillerForwardMissingFile(t *testing.T) {
	_, err := readTillerForward(filepath.Join(t.TempDir(), tillerForwardFile))
	if !errors.Is(err, ErrNoTillerForward) {
		t.Fatalf("readTillerForward of a missing file: %v, want ErrNoTillerForward", err)
	}
	if err != nil && errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the error %q leaks the file error instead of saying what to do", err)
	}
}
