package pkitest_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kdu-io/kdu/internal/testkit/pkitest"
)

func TestHandshakes(t *testing.T) {
	p := pkitest.New(t)
	clientPair, err := tls.X509KeyPair(p.ClientCertPEM(), p.ClientKeyPEM())
	if err != nil {
		t.Fatalf("client key pair: %v", err)
	}
	otherPair, err := tls.X509KeyPair(p.OtherClientCertPEM(), p.OtherClientKeyPEM())
	if err != nil {
		t.Fatalf("other client key pair: %v", err)
	}
	pool := func(pemData []byte) *x509.CertPool {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			t.Fatal("no certificate in PEM")
		}
		return pool
	}
	tests := []struct {
		name       string
		mutual     bool
		host       string // replaces 127.0.0.1 in the URL when set
		roots      *x509.CertPool
		clientCert *tls.Certificate
		wantErr    string
	}{
		{name: "trusted CA", roots: pool(p.CAPEM())},
		{name: "trusted CA via localhost", host: "localhost", roots: pool(p.CAPEM())},
		{name: "CertPool", roots: p.CertPool()},
		{name: "unrelated CA", roots: pool(p.OtherCAPEM()), wantErr: "certificate signed by unknown authority"},
		{name: "mutual with client cert", mutual: true, roots: pool(p.CAPEM()), clientCert: &clientPair},
		{name: "mutual without client cert", mutual: true, roots: pool(p.CAPEM()), wantErr: "certificate required"},
		{name: "mutual with client cert of unrelated CA", mutual: true, roots: pool(p.CAPEM()), clientCert: &otherPair, wantErr: "unknown certificate authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.mutual && len(r.TLS.PeerCertificates) == 0 {
					t.Error("mutual TLS request without a peer certificate")
				}
				_, _ = io.WriteString(w, "ok")
			}))
			srv.TLS = p.ServerTLS(tt.mutual)
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			defer srv.Close()
			cfg := &tls.Config{RootCAs: tt.roots, MinVersion: tls.VersionTLS12}
			if tt.clientCert != nil {
				// Present the certificate even when the server's acceptable-CA list does not name its issuer
				// (crypto/tls would otherwise silently send none), so the server's own verification is tested.
				cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return tt.clientCert, nil }
			}
			url := srv.URL
			if tt.host != "" {
				url = strings.Replace(url, "127.0.0.1", tt.host, 1)
			}
			body, err := get(&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || body != "ok" {
				t.Fatalf("GET = %q, %v; want ok", body, err)
			}
		})
	}
}

func TestClientTLS(t *testing.T) {
	p := pkitest.New(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.TLS = p.ServerTLS(true)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	for _, withCert := range []bool{true, false} {
		_, err := get(&http.Client{Transport: &http.Transport{TLSClientConfig: p.ClientTLS(withCert)}}, srv.URL)
		if (err == nil) != withCert {
			t.Errorf("ClientTLS(%v): err = %v", withCert, err)
		}
	}
}

func TestCertificates(t *testing.T) {
	p := pkitest.New(t)
	roots := p.CertPool()
	parse := func(pemData []byte) *x509.Certificate {
		t.Helper()
		block, rest := pem.Decode(pemData)
		if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
			t.Fatalf("not a single PEM certificate: %q", pemData)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatalf("parsing certificate: %v", err)
		}
		return cert
	}
	server := parse(p.ServerCertPEM())
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := server.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	if err := server.VerifyHostname("example.com"); err == nil {
		t.Error("server certificate valid for example.com")
	}
	client := parse(p.ClientCertPEM())
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
		t.Error("client certificate accepted for server auth")
	}
	if string(p.CAPEM()) == string(p.OtherCAPEM()) || string(pkitest.New(t).CAPEM()) == string(p.CAPEM()) {
		t.Error("CAs are not distinct")
	}
	// Accessors return copies.
	b := p.CAPEM()
	b[0] = 'X'
	if p.CAPEM()[0] == 'X' {
		t.Error("CAPEM returned internal storage")
	}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
