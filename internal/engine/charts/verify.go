package charts

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"helm.sh/helm/v4/pkg/provenance"

	"github.com/kdu-io/kdu/internal/engine"
)

// ParseKeyring reads PGP public keys: one or more ASCII-armored blocks (as `gpg --export --armor` writes them,
// concatenated) or a binary keyring (pubring.gpg). It is exported so that callers can validate a keyring before
// they store it.
func ParseKeyring(data []byte) (openpgp.EntityList, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("the keyring is empty")
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN ")) {
		ring, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("not a PGP keyring: %w", err)
		}
		return ring, nil
	}
	// Decode each armored block on its own: a decoder may read past the end of its block.
	var ring openpgp.EntityList
	begin := []byte("-----BEGIN ")
	for off := bytes.Index(data, begin); off >= 0; {
		rest := data[off:]
		next := bytes.Index(rest[len(begin):], begin)
		if next >= 0 {
			rest, off = rest[:len(begin)+next], off+len(begin)+next
		} else {
			off = -1
		}
		block, err := armor.Decode(bytes.NewReader(rest))
		if err != nil {
			return nil, fmt.Errorf("not an armored PGP keyring: %w", err)
		}
		if block.Type != openpgp.PublicKeyType {
			return nil, fmt.Errorf("expected a PGP public key block, got %q (never give kdu a private key)", block.Type)
		}
		es, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("reading a PGP public key block: %w", err)
		}
		ring = append(ring, es...)
	}
	if len(ring) == 0 {
		return nil, errors.New("the keyring holds no key")
	}
	return ring, nil
}

// fetchProvenance downloads the provenance file that sits next to a chart archive (<archive URL>.prov).
func (l *Loader) fetchProvenance(ctx context.Context, archiveURL string, r Repository) ([]byte, error) {
	prov, err := l.fetch(ctx, archiveURL+".prov", r, 1<<20)
	if errors.Is(err, engine.ErrChartNotFound) {
		return nil, fmt.Errorf("%w: %s is not signed: %s has no provenance file", engine.ErrVerification, redactURL(archiveURL), r.label())
	}
	return prov, err
}

// verifyProvenance checks that prov is a provenance file signed by a key of the repository's keyring (or the
// loader's) and that it holds the sha256 of the archive under its file name.
func (l *Loader) verifyProvenance(r Repository, filename string, archive, prov []byte) error {
	keys := r.Keyring
	if len(keys) == 0 {
		keys = l.Keyring
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: %s: no keyring to verify %s against: give the repository a keyring, or the server one", engine.ErrVerification, r.label(), filename)
	}
	ring, err := ParseKeyring(keys)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", engine.ErrVerification, r.label(), err)
	}
	sig := &provenance.Signatory{KeyRing: ring}
	if _, err := sig.Verify(archive, prov, filename); err != nil {
		return fmt.Errorf("%w: %s: %s does not verify: %w", engine.ErrVerification, r.label(), filename, err)
	}
	return nil
}
