// Package secret seals small secrets (kubeconfigs, repository passwords) with AES-256-GCM for storage at rest,
// and loads the key that does it.
//
// A sealed value is laid out as
//
//	version (1 byte, currently 1) | nonce (12 random bytes) | AES-GCM ciphertext and 16-byte tag
//
// The additional authenticated data (AAD) given to Seal and Open binds a ciphertext to the place it is stored,
// for example the row of one cluster, so a ciphertext copied to another row does not open. The version byte is
// authenticated too.
//
// Nothing in this package logs, and no error it returns contains key material, plaintext or ciphertext.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// KeySize is the length in bytes of a key: AES-256.
const KeySize = 32

// Version1 is the format version byte that Seal writes in front of every ciphertext.
const Version1 byte = 1

const (
	nonceSize = 12
	tagSize   = 16
	// Overhead is how many bytes longer a sealed value is than its plaintext.
	Overhead = 1 + nonceSize + tagSize
)

// ErrDecrypt is returned (wrapped) by Open when a ciphertext cannot be opened: it was sealed with another key or
// for another AAD, it was altered, it is truncated, or its version byte is unknown.
var ErrDecrypt = errors.New("secret: cannot decrypt: wrong key, wrong binding (AAD) or corrupted ciphertext")

// ErrKey is returned (wrapped) when a key is missing, malformed or stored insecurely.
var ErrKey = errors.New("secret: unusable key")

// Box seals and opens secrets with one AES-256-GCM key. A Box is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// NewBox returns a Box that uses key, which must be exactly KeySize bytes. The Box does not keep a reference to
// key; the caller may clear it afterwards.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: key is %d bytes, want %d", ErrKey, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext and binds it to aad. Each call uses a fresh random nonce, so sealing the same plaintext
// twice gives different ciphertexts. The result is Overhead bytes longer than plaintext.
func (b *Box) Seal(plaintext, aad []byte) ([]byte, error) {
	if b == nil || b.aead == nil {
		return nil, fmt.Errorf("%w: box has no key", ErrKey)
	}
	out := make([]byte, 1+nonceSize, Overhead+len(plaintext))
	out[0] = Version1
	if _, err := rand.Read(out[1 : 1+nonceSize]); err != nil {
		return nil, fmt.Errorf("secret: read random nonce: %w", err)
	}
	return b.aead.Seal(out, out[1:1+nonceSize], plaintext, fullAAD(Version1, aad)), nil
}

// Open decrypts a ciphertext made by Seal with the same key and aad. Any mismatch gives an error that wraps
// ErrDecrypt and says nothing about the contents.
func (b *Box) Open(ciphertext, aad []byte) ([]byte, error) {
	if b == nil || b.aead == nil {
		return nil, fmt.Errorf("%w: box has no key", ErrKey)
	}
	if len(ciphertext) < Overhead {
		return nil, fmt.Errorf("%w: ciphertext is %d bytes, shorter than the minimum %d", ErrDecrypt, len(ciphertext), Overhead)
	}
	if v := ciphertext[0]; v != Version1 {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrDecrypt, v)
	}
	nonce := ciphertext[1 : 1+nonceSize]
	plain, err := b.aead.Open(nil, nonce, ciphertext[1+nonceSize:], fullAAD(Version1, aad))
	if err != nil {
		return nil, fmt.Errorf("%w: message authentication failed", ErrDecrypt)
	}
	if len(plain) == 0 {
		return nil, nil
	}
	return plain, nil
}

// fullAAD prefixes the caller's AAD with the format version so the version byte is authenticated.
func fullAAD(version byte, aad []byte) []byte {
	a := make([]byte, 0, 1+len(aad))
	a = append(a, version)
	return append(a, aad...)
}
