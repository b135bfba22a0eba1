// Package client is the Go client of kdu's REST API. It speaks the API's own types (package api) and depends
// on nothing but them and the standard library, so a Go program can drive a kdu server without pulling in
// Helm or client-go.
//
// Mutating KDU calls (Install, Upgrade, Scale, Rollback, Uninstall) submit an operation and follow its events
// until it ends, reporting progress; Submit returns at once instead. Errors unwrap to the API's sentinel
// errors (api.ErrNotFound, api.ErrInvalid, ...) — the same values the library's kdu.ErrNotFound, ... are — so
// errors.Is works alike against a server and the library.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kdu-io/kdu/api"
)

// Client talks to one kdu server.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
	// stream is hc without an overall timeout, for event streams.
	stream *http.Client
	ua     string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (for TLS settings, proxies). Its Timeout is ignored for event streams.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		c.hc = hc
		s := *hc
		s.Timeout = 0
		c.stream = &s
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// New returns a client of the server at baseURL (http:// or https://), authenticating with token ("" for
// none).
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host[:port]", baseURL)
	}
	if u.User != nil {
		return nil, errors.New("server URL: put the token in KDU_TOKEN, not in the URL")
	}
	c := &Client{base: u, token: token, ua: "kdu-client"}
	WithHTTPClient(&http.Client{Timeout: 5 * time.Minute})(c)
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// Error is an error answered by the server. It unwraps to the library's sentinel for its code.
type Error struct {
	// Status is the HTTP status (0 for the error of a failed operation).
	Status int
	// Code, Message and Field are the API error's.
	Code, Message, Field string
}

func errorOf(status int, e api.Error) *Error {
	return &Error{Status: status, Code: e.Code, Message: e.Message, Field: e.Field}
}

func (e *Error) Error() string {
	if e.Field != "" && !strings.HasPrefix(e.Message, e.Field) {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Unwrap returns the sentinel error of the code (api.ErrNotFound, ...), if any.
func (e *Error) Unwrap() error { return api.Sentinel(e.Code) }

// request is one API call.
type request struct {
	method, path string
	// rawPath, if set, is path already escaped (for parameters that may hold ':', which escapePath keeps for
	// actions such as {name}:upgrade).
	rawPath string
	query   url.Values
	body    any
	header  http.Header
}

func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	u := *c.base
	u.Path = c.base.Path + r.path
	u.RawPath = c.base.Path + escapePath(r.path)
	if r.rawPath != "" {
		u.RawPath = c.base.Path + r.rawPath
	}
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("User-Agent", c.ua)
	return req, nil
}

// escapePath escapes each segment of a path built from ids (which the server validates anyway).
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
		parts[i] = strings.ReplaceAll(parts[i], "%3A", ":")
	}
	return strings.Join(parts, "/")
}

// do performs a call and decodes a 2xx JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, r request, out any) (int, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("kdu server %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return resp.StatusCode, decodeError(resp)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("kdu server %s: reading the answer to %s %s: %w", c.base.Host, r.method, r.path, err)
		}
	}
	return resp.StatusCode, nil
}

func decodeError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var er api.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil || er.Error.Code == "" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
		return &Error{Status: resp.StatusCode, Code: codeOfStatus(resp.StatusCode), Message: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, msg)}
	}
	return errorOf(resp.StatusCode, er.Error)
}

func codeOfStatus(s int) string {
	switch s {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return api.CodeInvalid
	case http.StatusUnauthorized:
		return api.CodeUnauthorized
	case http.StatusForbidden:
		return api.CodeForbidden
	case http.StatusNotFound:
		return api.CodeNotFound
	case http.StatusConflict:
		return api.CodeConflict
	}
	return api.CodeInternal
}
