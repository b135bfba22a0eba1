package secret

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestLoadKeyFromEnv(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(0xF0 + i) // high bytes make the std and URL alphabets differ
	}
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	long := base64.StdEncoding.EncodeToString(make([]byte, 33))
	tests := []struct {
		name    string
		env     string
		wantErr string
	}{
		{"std padded", base64.StdEncoding.EncodeToString(key), ""},
		{"std raw", base64.RawStdEncoding.EncodeToString(key), ""},
		{"url padded", base64.URLEncoding.EncodeToString(key), ""},
		{"url raw", base64.RawURLEncoding.EncodeToString(key), ""},
		{"surrounding whitespace", "  " + base64.StdEncoding.EncodeToString(key) + "\n", ""},
		{"not base64", "this-is-not*base64!!", "not valid base64"},
		{"too short", short, "decodes to 16 bytes, want 32"},
		{"too long", long, "decodes to 33 bytes, want 32"},
		{"hex instead of base64", strings.Repeat("ab", 32), "decodes to 48 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			got, err := LoadKey(dir, tc.env)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want ErrKey mentioning %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), EnvKey) {
					t.Errorf("error %q does not name %s", err, EnvKey)
				}
				if v := strings.TrimSpace(tc.env); strings.Contains(err.Error(), v) {
					t.Errorf("error %q contains the variable's value", err)
				}
			} else {
				if err != nil {
					t.Fatalf("LoadKey: %v", err)
				}
				if !bytes.Equal(got, key) {
					t.Fatal("LoadKey returned a different key than the one encoded in the variable")
				}
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("LoadKey touched the data directory although %s was set (stat: %v)", EnvKey, err)
			}
		})
	}
}

func TestLoadKeyGeneratesStableFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "kdu")
	k1, err := LoadKey(dir, "")
	if err != nil {
		t.Fatalf("first LoadKey: %v", err)
	}
	if len(k1) != KeySize {
		t.Fatalf("key is %d bytes", len(k1))
	}
	path := filepath.Join(dir, KeyFileName)
	raw1, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw1))); err != nil || !bytes.Equal(dec, k1) {
		t.Fatalf("key file does not hold the base64 of the returned key (err %v)", err)
	}
	if runtime.GOOS != "windows" {
		assertMode(t, path, 0o600)
		assertMode(t, dir, 0o700)
	}

	k2, err := LoadKey(dir, "   ")
	if err != nil {
		t.Fatalf("second LoadKey: %v", err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second LoadKey returned a different key")
	}
	raw2, _ := os.ReadFile(path)
	if !bytes.Equal(raw1, raw2) {
		t.Fatal("second LoadKey rewrote the key file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only %s (temporary files left behind?)", len(entries), KeyFileName)
	}

	// A Box built by Load seals with the same key.
	t.Setenv(EnvKey, "")
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := b.Seal([]byte("x"), nil)
	if _, err := mustBox(t, k1).Open(ct, nil); err != nil {
		t.Fatalf("Load built a Box with another key: %v", err)
	}
}

func TestLoadKeyConcurrentGeneration(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadKey(dir, "")
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadKey %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("concurrent LoadKey calls returned different keys")
		}
	}
}

func TestLoadKeyRefusesBadFiles(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits are not meaningful on windows")
	}
	valid := base64.StdEncoding.EncodeToString(testKey(9)) + "\n"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		dirAt   bool
		wantErr []string
	}{
		{"group readable", valid, 0o640, false, []string{"accessible by group or others", "0640", "chmod 600"}},
		{"world readable", valid, 0o604, false, []string{"accessible by group or others", "0604", "chmod 600"}},
		{"group writable", valid, 0o620, false, []string{"accessible by group or others"}},
		{"malformed", "not a key at all\n", 0o600, false, []string{"not valid base64"}},
		{"wrong length", base64.StdEncoding.EncodeToString(make([]byte, 24)), 0o600, false, []string{"decodes to 24 bytes"}},
		{"empty", "", 0o600, false, []string{"decodes to 0 bytes"}},
		{"too large", strings.Repeat("A", maxKeyFile+10), 0o600, false, []string{"larger than"}},
		{"directory", "", 0o700, true, []string{"not a regular file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, KeyFileName)
			if tc.dirAt {
				if err := os.Mkdir(path, tc.mode); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.ReadFile(path)
			_, err := LoadKey(dir, "")
			if !errors.Is(err, ErrKey) {
				t.Fatalf("error = %v, want ErrKey", err)
			}
			msg := err.Error()
			for _, w := range append(tc.wantErr, path) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, strings.TrimSpace(valid)) {
				t.Errorf("error %q contains key material", msg)
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(before, after) {
				t.Error("LoadKey modified a key file it refused")
			}
		})
	}
}

func TestLoadKeyNeedsDataDir(t *testing.T) {
	if _, err := LoadKey("", ""); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), "data directory") {
		t.Fatalf("error = %v, want ErrKey about the data directory", err)
	}
}

func TestLoadKeyUnwritableDataDir(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs a non-root unix user for permission checks")
	}
	parent := t.TempDir()
	if err := os.Chmod(parent, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(parent, 0o700) })
	if _, err := LoadKey(filepath.Join(parent, "kdu"), ""); !errors.Is(err, ErrKey) {
		t.Fatalf("error = %v, want ErrKey", err)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %04o, want %04o", path, got, want)
	}
}

// FuzzParseKey checks that parseKey never panics, accepts only 32-byte keys, and never echoes its input.
func FuzzParseKey(f *testing.F) {
	key := testKey(0xFB)
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(key), base64.RawStdEncoding.EncodeToString(key),
		base64.URLEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key),
		"this-is-not*base64!!", base64.StdEncoding.EncodeToString(make([]byte, 16)), "", "====",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseKey(s)
		if err != nil {
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes the input")
			}
			return
		}
		if len(k) != KeySize {
			t.Fatalf("accepted a %d-byte key", len(k))
		}
	})
}
