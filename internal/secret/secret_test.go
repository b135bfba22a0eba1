package secret

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func mustBox(t testing.TB, key []byte) *Box {
	t.Helper()
	b, err := NewBox(key)
	if err != nil {
		t.Fatalf("NewBox: %v", err)
	}
	return b
}

func TestNewBoxKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewBox(make([]byte, n)); !errors.Is(err, ErrKey) {
			t.Errorf("NewBox(%d bytes) error = %v, want ErrKey", n, err)
		}
	}
	if _, err := NewBox(make([]byte, KeySize)); err != nil {
		t.Errorf("NewBox(32 bytes): %v", err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := mustBox(t, testKey(1))
	tests := []struct {
		name  string
		plain []byte
		aad   []byte
	}{
		{"empty", nil, []byte("cluster/x/kubeconfig")},
		{"short", []byte("hunter2"), []byte("repo/c/r/password")},
		{"binary", []byte{0, 1, 2, 255, 0}, nil},
		{"large", bytes.Repeat([]byte("apiVersion: v1\n"), 70000), []byte("cluster/big/kubeconfig")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := b.Seal(tc.plain, tc.aad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(ct) != len(tc.plain)+Overhead {
				t.Errorf("len(ciphertext) = %d, want %d", len(ct), len(tc.plain)+Overhead)
			}
			if ct[0] != Version1 {
				t.Errorf("version byte = %d, want %d", ct[0], Version1)
			}
			if len(tc.plain) >= 4 && bytes.Contains(ct, tc.plain) {
				t.Error("ciphertext contains the plaintext")
			}
			got, err := b.Open(ct, tc.aad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.plain) {
				t.Errorf("Open returned %d bytes that differ from the %d sealed", len(got), len(tc.plain))
			}
		})
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	b := mustBox(t, testKey(1))
	a, _ := b.Seal([]byte("same"), []byte("aad"))
	c, _ := b.Seal([]byte("same"), []byte("aad"))
	if bytes.Equal(a, c) {
		t.Fatal("sealing the same plaintext twice gave identical ciphertexts")
	}
}

func TestOpenFailures(t *testing.T) {
	secretText := []byte("kubeconfig-plaintext-marker")
	b := mustBox(t, testKey(1))
	other := mustBox(t, testKey(2))
	ct, err := b.Seal(secretText, []byte("cluster/a/kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		return c
	}
	tests := []struct {
		name string
		box  *Box
		ct   []byte
		aad  string
	}{
		{"wrong aad (other row)", b, ct, "cluster/b/kubeconfig"},
		{"empty aad", b, ct, ""},
		{"wrong key", other, ct, "cluster/a/kubeconfig"},
		{"tampered version", b, flip(0), "cluster/a/kubeconfig"},
		{"tampered nonce", b, flip(3), "cluster/a/kubeconfig"},
		{"tampered body", b, flip(1 + nonceSize + 2), "cluster/a/kubeconfig"},
		{"tampered tag", b, flip(len(ct) - 1), "cluster/a/kubeconfig"},
		{"truncated", b, ct[:len(ct)-1], "cluster/a/kubeconfig"},
		{"too short", b, ct[:Overhead-1], "cluster/a/kubeconfig"},
		{"empty", b, nil, "cluster/a/kubeconfig"},
		{"appended", b, append(bytes.Clone(ct), 0), "cluster/a/kubeconfig"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.box.Open(tc.ct, []byte(tc.aad))
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open error = %v, want ErrDecrypt", err)
			}
			if got != nil {
				t.Errorf("Open returned %d bytes alongside an error", len(got))
			}
			if strings.Contains(err.Error(), string(secretText)) {
				t.Errorf("error %q leaks the plaintext", err)
			}
		})
	}
}

func TestNilBox(t *testing.T) {
	var b *Box
	if _, err := b.Seal([]byte("x"), nil); !errors.Is(err, ErrKey) {
		t.Errorf("nil Box Seal error = %v, want ErrKey", err)
	}
	if _, err := b.Open(make([]byte, 40), nil); !errors.Is(err, ErrKey) {
		t.Errorf("nil Box Open error = %v, want ErrKey", err)
	}
	if _, err := (&Box{}).Seal([]byte("x"), nil); !errors.Is(err, ErrKey) {
		t.Errorf("zero Box Seal error = %v, want ErrKey", err)
	}
}

// FuzzOpen checks that Open never panics and never accepts input that Seal did not produce for that AAD.
func FuzzOpen(f *testing.F) {
	b := mustBox(f, testKey(7))
	good, _ := b.Seal([]byte("payload"), []byte("aad"))
	f.Add(good, []byte("other"))
	f.Add([]byte{}, []byte("aad"))
	f.Add([]byte{Version1}, []byte(nil))
	f.Add(bytes.Repeat([]byte{1}, Overhead), []byte("aad"))
	f.Add(append([]byte{2}, good[1:]...), []byte("aad"))
	f.Fuzz(func(t *testing.T, ct, aad []byte) {
		got, err := b.Open(ct, aad)
		if err == nil {
			// Only genuine ciphertexts open (this key only ever seals "payload" under "aad", with a random
			// nonce per run), and only for their own AAD.
			if string(aad) != "aad" || string(got) != "payload" || len(ct) != len(good) {
				t.Fatalf("Open accepted forged input (%d bytes)", len(ct))
			}
			return
		}
		if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("Open error %v does not wrap ErrDecrypt", err)
		}
	})
}
