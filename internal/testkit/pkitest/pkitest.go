// Package pkitest generates, in memory, the X.509 material TLS tests need: a test CA, a server certificate for
// 127.0.0.1/localhost and a client certificate signed by that CA, plus an unrelated CA (and a client certificate it
// signed) for "wrong CA" tests. Keys are ECDSA P-256 and never touch the disk.
package pkitest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// PKI holds a test CA with a server and a client certificate it signed, and an unrelated CA with its own client
// certificate. All accessors return copies, so callers may modify what they get.
type PKI struct {
	ca, otherCA           *keyPair
	server, client, other *keyPair
}

// keyPair is a certificate with its private key, in parsed and PEM form.
type keyPair struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

// New generates a fresh PKI. Certificates are valid from one hour ago for 24 hours. The server certificate is valid
// for the names localhost, 127.0.0.1 and ::1; the client certificate's common name is "kdu-test-client".
func New(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{}
	p.ca = newCA(t, "kdu test CA")
	p.otherCA = newCA(t, "kdu unrelated test CA")
	p.server = issue(t, p.ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	client := func(ca *keyPair) *keyPair {
		return issue(t, ca, &x509.Certificate{
			Subject:     pkix.Name{CommonName: "kdu-test-client"},
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
	}
	p.client = client(p.ca)
	p.other = client(p.otherCA)
	return p
}

// CAPEM returns the PEM-encoded certificate of the CA that signed the server and client certificates.
func (p *PKI) CAPEM() []byte { return clone(p.ca.certPEM) }

// OtherCAPEM returns the PEM-encoded certificate of a CA unrelated to the server certificate: a client trusting
// only it must reject the server.
func (p *PKI) OtherCAPEM() []byte { return clone(p.otherCA.certPEM) }

// CertPool returns a pool holding only the CA of CAPEM.
func (p *PKI) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.cert)
	return pool
}

// ServerCertPEM returns the PEM-encoded server certificate.
func (p *PKI) ServerCertPEM() []byte { return clone(p.server.certPEM) }

// ClientCertPEM returns the PEM-encoded client certificate, signed by the CA of CAPEM.
func (p *PKI) ClientCertPEM() []byte { return clone(p.client.certPEM) }

// ClientKeyPEM returns the PEM-encoded (PKCS #8) private key of the client certificate.
func (p *PKI) ClientKeyPEM() []byte { return clone(p.client.keyPEM) }

// OtherClientCertPEM returns a PEM-encoded client certificate signed by the unrelated CA of OtherCAPEM: a server
// requiring client certificates (ServerTLS(true)) must reject it.
func (p *PKI) OtherClientCertPEM() []byte { return clone(p.other.certPEM) }

// OtherClientKeyPEM returns the PEM-encoded (PKCS #8) private key of OtherClientCertPEM.
func (p *PKI) OtherClientKeyPEM() []byte { return clone(p.other.keyPEM) }

// ServerTLS returns a server configuration presenting the server certificate. With requireClientCert, clients
// must present a certificate signed by the CA of CAPEM.
func (p *PKI) ServerTLS(requireClientCert bool) *tls.Config {
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.server.tlsCert()},
	}
	if requireClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = p.CertPool()
	}
	return cfg
}

// ClientTLS returns a client configuration trusting the CA of CAPEM and, with withClientCert, presenting the
// client certificate.
func (p *PKI) ClientTLS(withClientCert bool) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.CertPool()}
	if withClientCert {
		cfg.Certificates = []tls.Certificate{p.client.tlsCert()}
	}
	return cfg
}

func (k *keyPair) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{clone(k.cert.Raw)}, PrivateKey: k.key, Leaf: k.cert}
}

func newCA(t testing.TB, name string) *keyPair {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"kdu tests"}},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	return issue(t, nil, tmpl)
}

// issue completes tmpl (serial, validity, key) and signs it with parent, or self-signs it when parent is nil.
func issue(t testing.TB, parent *keyPair, tmpl *x509.Certificate) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpki: generating key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("testpki: generating serial: %v", err)
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(24 * time.Hour)
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatalf("testpki: creating certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testpki: parsing certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testpki: marshalling key: %v", err)
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
