package cluster

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const versionJSON = `{"major":"1","minor":"37","gitVersion":"v1.37.2","gitCommit":"abc","platform":"linux/amd64"}`

// fakeAPIServer serves /version on 127.0.0.1 over TLS, answering 401 unless the bearer token is testToken.
func fakeAPIServer(t *testing.T, body string) (*httptest.Server, *atomic.Value) {
	t.Helper()
	var ua atomic.Value
	ua.Store("")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua.Store(r.UserAgent())
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`))
			return
		}
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake failures are expected in some tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &ua
}

func serverCAPEM(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func connect(t *testing.T, data string, opts Options) *Conn {
	t.Helper()
	kc, err := ParseKubeconfig([]byte(data), "")
	if err != nil {
		t.Fatalf("ParseKubeconfig: %v", err)
	}
	c, err := Connect(kc, opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

func checkCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConnectCheck(t *testing.T) {
	p := newTestPKI(t)
	secrets := p.secrets()

	t.Run("success", func(t *testing.T) {
		srv, ua := fakeAPIServer(t, versionJSON)
		c := connect(t, tokenKubeconfig(srv.URL, serverCAPEM(srv)), Options{})
		v, err := c.Check(checkCtx(t))
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if v != "v1.37.2" {
			t.Errorf("version = %q, want v1.37.2", v)
		}
		if got := ua.Load().(string); got != "kdu" {
			t.Errorf("User-Agent = %q, want kdu", got)
		}
		if c.Server() != srv.URL || c.DefaultNamespace() != "default" {
			t.Errorf("Server() = %q, DefaultNamespace() = %q", c.Server(), c.DefaultNamespace())
		}
		rc, _ := c.ToRESTConfig()
		if rc.QPS != DefaultQPS || rc.Burst != DefaultBurst || rc.RateLimiter == nil {
			t.Errorf("default QPS/Burst = %v/%v (limiter %v), want %v/%v with one shared limiter", rc.QPS, rc.Burst, rc.RateLimiter, DefaultQPS, DefaultBurst)
		}
		if rc2, _ := c.ToRESTConfig(); rc2.RateLimiter != rc.RateLimiter {
			t.Error("clients of one cluster do not share a rate limiter")
		}
	})

	t.Run("options", func(t *testing.T) {
		srv, ua := fakeAPIServer(t, versionJSON)
		c := connect(t, tokenKubeconfig(srv.URL, serverCAPEM(srv)), Options{QPS: 7, Burst: 9, UserAgent: "kdu-test/1"})
		if _, err := c.Check(checkCtx(t)); err != nil {
			t.Fatal(err)
		}
		if got := ua.Load().(string); got != "kdu-test/1" {
			t.Errorf("User-Agent = %q", got)
		}
		rc, _ := c.ToRESTConfig()
		if rc.QPS != 7 || rc.Burst != 9 {
			t.Errorf("QPS/Burst = %v/%v, want 7/9", rc.QPS, rc.Burst)
		}
	})

	t.Run("credentials rejected", func(t *testing.T) {
		srv, _ := fakeAPIServer(t, versionJSON)
		data := strings.Replace(tokenKubeconfig(srv.URL, serverCAPEM(srv)), testToken, "wrong-"+testToken[:8], 1)
		c := connect(t, data, Options{})
		_, err := c.Check(checkCtx(t))
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
		t.Logf("error: %v", err)
		if !strings.Contains(err.Error(), "credentials rejected") {
			t.Errorf("error %q does not say the credentials were rejected", err)
		}
		assertNoSecrets(t, err, append(secrets, "wrong-"+testToken[:8]))
	})

	t.Run("certificate from another CA", func(t *testing.T) {
		srv, _ := fakeAPIServer(t, versionJSON)
		c := connect(t, tokenKubeconfig(srv.URL, p.caPEM), Options{}) // trusts p's CA, not httptest's
		_, err := c.Check(checkCtx(t))
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
		t.Logf("error: %v", err)
		if !strings.Contains(err.Error(), "not signed by the kubeconfig's certificate authority") {
			t.Errorf("error %q does not explain the TLS trust failure", err)
		}
		assertNoSecrets(t, err, secrets)
	})

	t.Run("server certificate signed by the kubeconfig CA", func(t *testing.T) {
		certPEM, keyPEM := p.issueServer(t)
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(versionJSON))
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		c := connect(t, tokenKubeconfig(srv.URL, p.caPEM), Options{})
		if v, err := c.Check(checkCtx(t)); err != nil || v != "v1.37.2" {
			t.Fatalf("Check = %q, %v", v, err)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		c := connect(t, tokenKubeconfig("https://"+addr, p.caPEM), Options{})
		start := time.Now()
		_, err = c.Check(checkCtx(t))
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
		t.Logf("error: %v", err)
		if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("error %q does not name the server and say the connection was refused", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Check took %v to report a refused connection", d)
		}
		assertNoSecrets(t, err, secrets)
	})

	t.Run("version is garbage", func(t *testing.T) {
		for _, body := range []string{"<html>hello</html>", `{"gitVersion":""}`, `[]`} {
			srv, _ := fakeAPIServer(t, body)
			c := connect(t, tokenKubeconfig(srv.URL, serverCAPEM(srv)), Options{})
			v, err := c.Check(checkCtx(t))
			if err == nil {
				t.Errorf("body %q: Check = %q, want an error", body, v)
				continue
			}
			if !strings.Contains(err.Error(), "did not return a Kubernetes version") {
				t.Errorf("body %q: error %q", body, err)
			}
		}
	})

	t.Run("deadline", func(t *testing.T) {
		block := make(chan struct{})
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(func() { close(block); srv.Close() })
		c := connect(t, tokenKubeconfig(srv.URL, serverCAPEM(srv)), Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := c.Check(ctx)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("got %v, want ErrUnreachable saying it timed out", err)
		}
	})

	t.Run("client key is not a key", func(t *testing.T) {
		data := strings.Replace(kubeconfigCases(p)[0].data, b64(p.keyPEM), b64([]byte("not a key "+testToken)), 1)
		kc, err := ParseKubeconfig([]byte(data), "")
		if err != nil {
			t.Fatalf("ParseKubeconfig: %v", err)
		}
		_, err = Connect(kc, Options{})
		if err == nil {
			t.Fatal("Connect accepted a client key that is not PEM")
		}
		assertNoSecrets(t, err, append(secrets, "not a key"))
	})
}
