package secret

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// EnvKey is the environment variable that, when set to a non-empty value, supplies the key as the base64
// encoding (standard or URL alphabet, padded or not) of exactly KeySize bytes.
const EnvKey = "KDU_SECRET_KEY"

// KeyFileName is the name of the key file inside the data directory, used when EnvKey is not set.
const KeyFileName = "secret.key"

// maxKeyFile bounds how much of a key file is read; a valid one is 45 bytes.
const maxKeyFile = 4096

// Load returns a Box whose key comes from LoadKey(dataDir, os.Getenv(EnvKey)).
func Load(dataDir string) (*Box, error) {
	key, err := LoadKey(dataDir, os.Getenv(EnvKey))
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return NewBox(key)
}

// Resolve returns the Box of a store: the key keyText gives (base64, as in EnvKey) if it is not empty, else
// LoadKey(dataDir, $EnvKey). A store that several processes share (shared: PostgreSQL) must be given the same
// key in every one of them, so it never generates a key file: without keyText or EnvKey it is an error.
func Resolve(dataDir, keyText string, shared bool) (*Box, error) {
	if v := strings.TrimSpace(keyText); v != "" {
		key, err := parseKey(v)
		if err != nil {
			return nil, fmt.Errorf("%w: the secret key %v", ErrKey, err)
		}
		defer clear(key)
		return NewBox(key)
	}
	if shared && strings.TrimSpace(os.Getenv(EnvKey)) == "" {
		return nil, fmt.Errorf("%w: with a shared PostgreSQL store every replica needs the same secret key: set %s or --secret-key-file", ErrKey, EnvKey)
	}
	return Load(dataDir)
}

// LoadKey returns the KeySize-byte key.
//
// If envValue (the value of EnvKey) is non-empty after trimming spaces, it is decoded and used, and the data
// directory is not touched. Otherwise the key is read from <dataDir>/secret.key. When that file does not exist,
// dataDir is created with mode 0700 if needed and a new random key is written to the file with mode 0600; the
// file appears atomically, and if several processes race, all of them end up with the key that landed first.
// A key file that is not a regular file, is accessible by group or others, or does not hold a valid key is
// refused. Errors wrap ErrKey and never contain key material.
func LoadKey(dataDir, envValue string) ([]byte, error) {
	if v := strings.TrimSpace(envValue); v != "" {
		key, err := parseKey(v)
		if err != nil {
			return nil, fmt.Errorf("%w: environment variable %s %v (generate one with: head -c 32 /dev/urandom | base64)", ErrKey, EnvKey, err)
		}
		return key, nil
	}
	if dataDir == "" {
		return nil, fmt.Errorf("%w: data directory is empty and %s is not set", ErrKey, EnvKey)
	}
	path := filepath.Join(dataDir, KeyFileName)
	key, err := readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: create data directory: %v", ErrKey, err)
	}
	if err := writeNewKeyFile(dataDir, path); err != nil {
		return nil, err
	}
	return readKeyFile(path)
}

// parseKey decodes s as base64 in any of the four common variants and checks the length. Its errors describe the
// problem without quoting s.
func parseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != KeySize {
			clear(key)
			return nil, fmt.Errorf("decodes to %d bytes, want %d", len(key), KeySize)
		}
		return key, nil
	}
	return nil, errors.New("is not valid base64 (standard or URL-safe alphabet)")
}

// readKeyFile reads and checks an existing key file. A missing file gives an error wrapping fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: open key file: %v", ErrKey, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: stat key file: %v", ErrKey, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: key file %s is not a regular file (mode %s)", ErrKey, path, fi.Mode())
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: key file %s is accessible by group or others (mode %04o); restrict it with: chmod 600 %s",
			ErrKey, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read key file %s: %v", ErrKey, path, err)
	}
	defer clear(data)
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("%w: key file %s is larger than %d bytes; it must hold one base64-encoded %d-byte key", ErrKey, path, maxKeyFile, KeySize)
	}
	key, err := parseKey(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: key file %s %v; restore it from a backup (deleting it makes stored secrets unreadable)", ErrKey, path, err)
	}
	return key, nil
}

// writeNewKeyFile writes a fresh random key to a private temporary file and hard-links it to path, which fails
// rather than overwrites if another process created path in the meantime; in that case the other key wins.
func writeNewKeyFile(dir, path string) error {
	key := make([]byte, KeySize)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("%w: generate key: %v", ErrKey, err)
	}
	buf := make([]byte, base64.StdEncoding.EncodedLen(KeySize)+1)
	defer clear(buf)
	base64.StdEncoding.Encode(buf, key)
	buf[len(buf)-1] = '\n'

	tmp, err := os.CreateTemp(dir, ".secret.key.tmp-*") // CreateTemp uses mode 0600.
	if err != nil {
		return fmt.Errorf("%w: create key file: %v", ErrKey, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("%w: chmod key file: %v", ErrKey, err)
	}
	if _, err := tmp.Write(buf); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: write key file: %v", ErrKey, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: sync key file: %v", ErrKey, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: close key file: %v", ErrKey, err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return fmt.Errorf("%w: install key file %s: %v", ErrKey, path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a new directory entry durable where the platform allows it; failure is harmless.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
