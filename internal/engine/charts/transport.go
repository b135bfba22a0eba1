package charts

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kdu-io/kdu/internal/engine"
)

// Repository is what a chart loader needs to know of a chart repository or OCI registry. Credentials and TLS
// material are held in memory only; nothing here is ever written to disk or logged.
type Repository struct {
	// Name names the repository in errors; "" uses its URL.
	Name string
	// URL is the repository's base URL (http, https or oci).
	URL      string
	Username string
	Password string
	// CACert is a PEM bundle trusted instead of the system roots; nil means the system roots.
	CACert []byte
	// CertPEM and KeyPEM are a TLS client certificate and key (mutual TLS).
	CertPEM []byte
	KeyPEM  []byte
	// InsecureSkipVerify disables TLS verification of the server.
	InsecureSkipVerify bool
	// PassCredentials sends the credentials to every host the index points at, not only the repository's.
	PassCredentials bool
	// PlainHTTP lets an OCI registry be reached over plain HTTP.
	PlainHTTP bool
	// Keyring holds the PGP public keys provenance files must be signed with; nil uses the loader's keyring.
	Keyring []byte
}

// label names the repository in messages.
func (r Repository) label() string {
	if r.Name != "" {
		return fmt.Sprintf("repository %q", r.Name)
	}
	return "repository " + redactURL(r.URL)
}

func (r Repository) hasTLS() bool {
	return len(r.CACert) > 0 || len(r.CertPEM) > 0 || len(r.KeyPEM) > 0 || r.InsecureSkipVerify
}

// TLSConfig builds the TLS client configuration of a repository. It is exported so that callers can validate
// TLS material before they store it.
func (r Repository) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: r.InsecureSkipVerify} //nolint:gosec // opt-in per repository
	if len(r.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(r.CACert) {
			return nil, errors.New("the CA bundle holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	switch {
	case len(r.CertPEM) > 0 && len(r.KeyPEM) > 0:
		pair, err := tls.X509KeyPair(r.CertPEM, r.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("the client certificate and key do not form a pair: %w", errors.Unwrap(err))
		}
		cfg.Certificates = []tls.Certificate{pair}
	case len(r.CertPEM) > 0:
		return nil, errors.New("a client certificate needs its key")
	case len(r.KeyPEM) > 0:
		return nil, errors.New("a client key needs its certificate")
	}
	return cfg, nil
}

// tlsKey identifies a repository's TLS material, so that repositories sharing it share one transport.
func (r Repository) tlsKey() string {
	h := sha256.New()
	for _, b := range [][]byte{r.CACert, r.CertPEM, r.KeyPEM} {
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	if r.InsecureSkipVerify {
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// httpClient returns the HTTP client for a repository: the loader's default one, or one with the repository's
// TLS settings (built once per distinct TLS material and reused, so connections are pooled).
func (l *Loader) httpClient(r Repository) (*http.Client, error) {
	var c *http.Client
	if !r.hasTLS() {
		c = &http.Client{Timeout: 60 * time.Second}
		if l.HTTPClient != nil {
			cp := *l.HTTPClient
			c = &cp
		}
	} else {
		key := r.tlsKey()
		l.mu.Lock()
		t := l.transports[key]
		l.mu.Unlock()
		if t == nil {
			cfg, err := r.TLSConfig()
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", engine.ErrInvalidChart, r.label(), err)
			}
			base, _ := http.DefaultTransport.(*http.Transport)
			t = base.Clone()
			t.TLSClientConfig = cfg
			l.mu.Lock()
			if l.transports == nil {
				l.transports = map[string]*http.Transport{}
			}
			if prev := l.transports[key]; prev != nil {
				t = prev
			} else {
				l.transports[key] = t
			}
			l.mu.Unlock()
		}
		c = &http.Client{Timeout: 60 * time.Second, Transport: t}
	}
	c.CheckRedirect = sameOriginCredentials
	return c, nil
}

// sameOriginCredentials follows at most 10 redirects and drops the Authorization header whenever a redirect
// leaves the origin (scheme, host and port) of the first request. Go's client only compares host names, so
// credentials would otherwise follow a redirect to another port, or from https to http.
func sameOriginCredentials(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		req.Header.Del("Authorization")
	}
	return nil
}
