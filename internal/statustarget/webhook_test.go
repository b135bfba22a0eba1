package statustarget

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kdu-io/kdu/api"
)

func postCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWebhookRedirects(t *testing.T) {
	other := newHookServer(t, nil)
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Path {
		case "/same-307":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect)
		case "/same-302":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/other-307":
			http.Redirect(w, r, other.URL+"/final", http.StatusTemporaryRedirect)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusPermanentRedirect)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	wh := &Webhook{Client: NewHTTPClient()}
	t.Cleanup(wh.Client.CloseIdleConnections)
	target := func(path string) api.WebhookTarget {
		return api.WebhookTarget{URL: srv.URL + path, Headers: map[string]string{"Authorization": "Bearer t"}}
	}

	if err := wh.Post(postCtx(t), target("/same-307"), op("op", 7)); err != nil {
		t.Fatalf("same-origin 307: %v", err)
	}
	// The redirected request kept method, body and headers.
	srv.mu.Lock()
	last, lastH := srv.bodies[len(srv.bodies)-1], srv.headers[len(srv.headers)-1]
	srv.mu.Unlock()
	if last.Version != 7 || lastH.Get("Authorization") != "Bearer t" || lastH.Get(HeaderVersion) != "7" {
		t.Errorf("redirected request: body %+v, headers %v", last, lastH)
	}

	var he *HTTPStatusError
	if err := wh.Post(postCtx(t), target("/same-302"), op("op", 1)); !errors.As(err, &he) || he.StatusCode != http.StatusFound {
		t.Errorf("302 = %v, want an HTTPStatusError 302 (not followed)", err)
	}
	if err := wh.Post(postCtx(t), target("/other-307"), op("op", 1)); !errors.As(err, &he) || he.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("cross-host 307 = %v, want it not followed", err)
	}
	if n := len(other.got()); n != 0 {
		t.Errorf("the other host received %d requests", n)
	}
	if err := wh.Post(postCtx(t), target("/loop"), op("op", 1)); !errors.As(err, &he) || he.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("redirect loop = %v, want the 308 after %d redirects", err, maxRedirects)
	}
}

func TestWebhookErrorsHideURL(t *testing.T) {
	// Find a closed port: start a server and close it.
	s := httptest.NewServer(http.NotFoundHandler())
	url := s.URL
	s.Close()
	wh := &Webhook{}
	err := wh.Post(postCtx(t), api.WebhookTarget{URL: url + "/p4th?token=s3cret"}, op("op", 1))
	if err == nil {
		t.Fatal("Post to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "p4th") {
		t.Errorf("error shows the URL path or query: %v", err)
	}
	if !strings.Contains(err.Error(), strings.TrimPrefix(url, "http://")) {
		t.Errorf("error does not name the host: %v", err)
	}
	if err := wh.Post(postCtx(t), api.WebhookTarget{URL: "https://u:p@h/"}, op("op", 1)); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("Post with user-info = %v, want ErrInvalidTarget", err)
	}
}

func TestWebhookBoundedResponse(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	srv := newHookServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(big))
	})
	wh := &Webhook{MaxResponseBytes: 1024}
	err := wh.Post(postCtx(t), api.WebhookTarget{URL: srv.URL}, op("op", 1))
	var he *HTTPStatusError
	if !errors.As(err, &he) || he.StatusCode != http.StatusTooManyRequests || he.RetryAfter != 7*time.Second {
		t.Fatalf("Post = %v, want a 429 with Retry-After 7s", err)
	}
	if len(err.Error()) > 200 {
		t.Errorf("error carries the response body: %d bytes", len(err.Error()))
	}
}

func TestRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, " 10 ": 10 * time.Second, "-1": 0, "x": 0, "99999": time.Hour, "Wed, 21 Oct 2015 07:28:00 GMT": 0} {
		if got := retryAfter(in); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}
