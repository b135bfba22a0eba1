package chartrepotest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/provenance"
	"sigs.k8s.io/yaml"
)

// Signer is an in-memory PGP key that signs chart archives the way `helm package --sign` does.
type Signer struct {
	entity  *openpgp.Entity
	keyring []byte
}

// NewSigner generates a fresh, unencrypted EdDSA (Ed25519) PGP key with the identity
// "kdu test signer <signer@kdu.test>".
func NewSigner(t testing.TB) *Signer {
	t.Helper()
	e, err := openpgp.NewEntity("kdu test signer", "", "signer@kdu.test",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519})
	if err != nil {
		t.Fatalf("chartrepotest: generating PGP key: %v", err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err == nil {
		err = e.Serialize(w)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatalf("chartrepotest: armoring public key: %v", err)
	}
	return &Signer{entity: e, keyring: buf.Bytes()}
}

// Keyring returns the ASCII-armored public key, a keyring helm can verify provenance files with.
func (s *Signer) Keyring() []byte { return bytes.Clone(s.keyring) }

// KeyringFile writes Keyring to a file in a test temporary directory and returns its path.
func (s *Signer) KeyringFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pubring.asc")
	if err := os.WriteFile(path, s.keyring, 0o600); err != nil {
		t.Fatalf("chartrepotest: writing keyring: %v", err)
	}
	return path
}

// Sign returns the provenance file `helm package --sign` would write for archive saved as filename (the base name
// the verifier looks up, e.g. "webapp-0.1.0.tgz"): the chart's metadata (Chart.yaml as loaded by helm, marshalled
// to YAML), "...", and the archive's sha256, clear-signed. The test fails if helm cannot load archive as a chart.
func (s *Signer) Sign(t testing.TB, archive []byte, filename string) []byte {
	t.Helper()
	return s.sign(t, archive, archive, filename)
}

// sign is Sign with the metadata taken from the chart archive metaFrom, and the sha256 of archive.
func (s *Signer) sign(t testing.TB, archive, metaFrom []byte, filename string) []byte {
	t.Helper()
	ch, err := loader.LoadArchive(bytes.NewReader(metaFrom))
	if err != nil {
		t.Fatalf("chartrepotest: loading chart to sign %s: %v", filename, err)
	}
	metadata, err := yaml.Marshal(ch.Metadata)
	if err != nil {
		t.Fatalf("chartrepotest: marshalling chart metadata: %v", err)
	}
	sig, err := (&provenance.Signatory{Entity: s.entity}).ClearSign(archive, filename, metadata)
	if err != nil {
		t.Fatalf("chartrepotest: signing %s: %v", filename, err)
	}
	return []byte(sig)
}
