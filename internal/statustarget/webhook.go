package statustarget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kdu-io/kdu/api"
)

// Webhook header names set on every POST.
const (
	HeaderOperation = "X-Kdu-Operation" // the operation id
	HeaderVersion   = "X-Kdu-Version"   // api.Operation.Version of the body; receivers drop older versions
)

// Defaults of the webhook sender.
const (
	DefaultWebhookTimeout   = 15 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	maxRedirects            = 3
)

// HTTPStatusError is the error of a webhook POST answered with a non-2xx status.
type HTTPStatusError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// URL is the target URL reduced to scheme and host (paths and queries may hold tokens).
	URL string
	// RetryAfter is the delay asked for by a Retry-After header in seconds, or 0.
	RetryAfter time.Duration
}

func (e *HTTPStatusError) Error() string {
	return fmt.Sprintf("status: webhook %s answered HTTP %d", e.URL, e.StatusCode)
}

// NewHTTPClient returns the HTTP client webhooks use by default: an overall timeout of DefaultWebhookTimeout,
// dial, TLS and response-header timeouts, proxies from the environment, and redirects followed only when they
// are 307 or 308 (which keep the POST and its body) to the same scheme and host, at most 3 times. Other
// redirects are not followed: the 3xx answer counts as a failed delivery.
func NewHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 5 * time.Second
	tr.ResponseHeaderTimeout = 10 * time.Second
	tr.ExpectContinueTimeout = time.Second
	tr.IdleConnTimeout = 30 * time.Second
	tr.MaxIdleConnsPerHost = 4
	return &http.Client{
		Transport:     tr,
		Timeout:       DefaultWebhookTimeout,
		CheckRedirect: sameOriginRedirect,
	}
}

// sameOriginRedirect follows only 307/308 redirects to the same scheme and host.
func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	if len(via) > maxRedirects {
		return http.ErrUseLastResponse
	}
	first := via[0].URL
	if req.Response == nil ||
		(req.Response.StatusCode != http.StatusTemporaryRedirect && req.Response.StatusCode != http.StatusPermanentRedirect) ||
		!strings.EqualFold(req.URL.Scheme, first.Scheme) || !strings.EqualFold(req.URL.Host, first.Host) {
		return http.ErrUseLastResponse
	}
	return nil
}

// Webhook POSTs operations to webhook targets. The zero value uses NewHTTPClient's client (made on first use,
// so set Client before sharing a Webhook between goroutines, or use the zero value only from one).
type Webhook struct {
	// Client sends the requests; nil means a client from NewHTTPClient.
	Client *http.Client
	// MaxResponseBytes bounds how much of a response body is read (and discarded); 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Post sends op as JSON to t.URL: Content-Type application/json, t.Headers, X-Kdu-Operation: op.ID and
// X-Kdu-Version: op.Version. A 2xx answer is a delivery; anything else is an error (*HTTPStatusError for a
// non-2xx status). An invalid target gives a *TargetError. Errors never show header values, URL paths or
// queries.
func (w *Webhook) Post(ctx context.Context, t api.WebhookTarget, op api.Operation) error {
	if err := validateWebhook(&t); err != nil {
		return err
	}
	body, err := json.Marshal(op)
	if err != nil {
		return fmt.Errorf("status: marshal operation: %w", err)
	}
	return w.post(ctx, t, op.ID, op.Version, body)
}

func (w *Webhook) client() *http.Client {
	if w.Client == nil {
		w.Client = NewHTTPClient()
	}
	return w.Client
}

// post sends body, the JSON of an operation, to t.
func (w *Webhook) post(ctx context.Context, t api.WebhookTarget, opID string, version int64, body []byte) error {
	short := redactURL(t.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("status: webhook %s: invalid request", short)
	}
	for k, v := range t.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kdu")
	req.Header.Set(HeaderOperation, opID)
	req.Header.Set(HeaderVersion, strconv.FormatInt(version, 10))

	resp, err := w.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// *url.Error quotes the full URL, query included.
			ue.URL = short
		}
		return fmt.Errorf("status: webhook: %w", err)
	}
	defer resp.Body.Close()
	limit := w.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	// Read a bounded amount so that small answers let the connection be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, limit))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	return &HTTPStatusError{StatusCode: resp.StatusCode, URL: short, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
}

// retryAfter parses a Retry-After header given in seconds (HTTP dates are ignored).
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	if n > 3600 {
		n = 3600
	}
	return time.Duration(n) * time.Second
}

// redactURL reduces a URL to scheme://host for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host
}
