// Package httpapi is kdu's REST API (/v1): routing, authentication and project scoping, request limits,
// JSON errors, events, metrics and the OpenAPI document. It serves the library (package kdu) and the
// operation runner (internal/ops); the SDKs are never touched here.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/apierr"
	"github.com/kdu-io/kdu/internal/ops"
	"github.com/kdu-io/kdu/internal/store"
)

// Limits and timeouts.
const (
	defaultMaxBody = 1 << 20  // 1 MiB: every JSON body but those carrying a chart archive
	chartMaxBody   = 32 << 20 // a 20 MiB chart archive, base64-encoded, plus values
	// repoSyncMaxBody bounds a repos:sync list: many repositories, each with its CA bundle, client certificate
	// and keyring.
	repoSyncMaxBody = 8 << 20
	// defaultWriteTimeout bounds ordinary responses; Long routes get longWriteTimeout.
	defaultWriteTimeout = time.Minute
	longWriteTimeout    = time.Hour
	// MaxWait bounds ?wait=true.
	MaxWait = 30 * time.Minute
)

// Config configures a Server.
type Config struct {
	Manager *kdu.Manager
	Store   store.Store
	Runner  *ops.Runner
	// Tokens authenticates requests; nil means every request is an anonymous admin (for loopback use).
	Tokens  *Tokens
	Metrics *Metrics
	Logger  *slog.Logger
	Version string
	// ValidateTarget checks a status target named in a request; nil accepts none (no status targets).
	ValidateTarget func(i int, t api.StatusTarget) error
	// Wrap, if set, wraps the finished handler (tracing).
	Wrap func(http.Handler) http.Handler
}

// Server is the HTTP API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	routes   []*route
	doc      []byte
	handler  http.Handler
	projects projectCache
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.routes = s.table()
	for _, rt := range s.routes {
		rt.segs = parseTemplate(rt.Path)
	}
	doc, err := json.MarshalIndent(openAPI(s.routes, cfg.Version), "", "  ")
	if err != nil {
		panic(err)
	}
	s.doc = doc
	var h http.Handler = http.HandlerFunc(s.serve)
	if cfg.Wrap != nil {
		h = cfg.Wrap(h)
	}
	s.handler = h
	return s
}

// Handler returns the API's http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// OpenAPI returns the OpenAPI document.
func (s *Server) OpenAPI() []byte { return s.doc }

// call is one request being served.
type call struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	p      *Principal
	rt     *route
	params map[string]string
	log    *slog.Logger
	status int
}

type ctxKey struct{}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := r.Header.Get("X-Request-Id")
	if !validRequestID(reqID) {
		reqID = newID("req")
	}
	w.Header().Set("X-Request-Id", reqID)
	c := &call{s: s, w: w, r: r, log: s.log.With("request_id", reqID)}
	rt, params, status, allowed := find(s.routes, r)
	routeName := "unmatched"
	if rt != nil {
		routeName = rt.Path
	}
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic serving request", "panic", v)
			c.fail(fmt.Errorf("internal error"))
		}
		d := time.Since(start)
		s.cfg.Metrics.request(r.Method, routeName, c.status, d)
		level := slog.LevelInfo
		if c.status >= 500 {
			level = slog.LevelError
		}
		principal := ""
		if c.p != nil {
			principal = c.p.Name
		}
		c.log.Log(r.Context(), level, "request", "method", r.Method, "route", routeName, "status", c.status,
			"duration_ms", float64(d.Microseconds())/1000, "principal", principal)
	}()
	if rt == nil {
		if status == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			c.fail(apierr.New(status, apierr.CodeMalformed, "", "method %s is not allowed here (allowed: %s)", r.Method, strings.Join(allowed, ", ")))
			return
		}
		c.fail(apierr.New(http.StatusNotFound, apierr.CodeNotFound, "", "no such endpoint: %s %s", r.Method, r.URL.Path))
		return
	}
	c.rt, c.params = rt, params
	// Name the request's span (if tracing) by its route template, not by its path with ids in it.
	trace.SpanFromContext(r.Context()).SetName(r.Method + " " + rt.Path)
	rc := http.NewResponseController(w)
	if rt.Long {
		_ = rc.SetWriteDeadline(time.Now().Add(longWriteTimeout))
	} else {
		_ = rc.SetWriteDeadline(time.Now().Add(defaultWriteTimeout))
	}
	if !rt.Public {
		if s.cfg.Tokens == nil {
			c.p = anonymousAdmin
		} else if c.p = s.cfg.Tokens.Authenticate(r); c.p == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kdu"`)
			c.fail(apierr.New(http.StatusUnauthorized, apierr.CodeUnauthorized, "", "a valid bearer token is required (Authorization: Bearer <token>)"))
			return
		}
	}
	max := rt.MaxBody
	if max == 0 {
		max = defaultMaxBody
	}
	r.Body = http.MaxBytesReader(w, r.Body, max)
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, reqID))
	c.r = r
	if err := rt.h(c); err != nil {
		c.fail(err)
	}
}

func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return false
		}
	}
	return true
}

func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// decode reads the JSON body into v: unknown fields, trailing data and oversize bodies are errors naming
// what is wrong. An empty body is accepted when the route says so.
func (c *call) decode(v any) error {
	data, err := io.ReadAll(c.r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apierr.New(http.StatusRequestEntityTooLarge, apierr.CodeTooLarge, "", "the request body is larger than %d bytes", mbe.Limit)
		}
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, "", "reading the request body: %v", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		if c.rt.BodyOptional {
			return nil
		}
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, "", "a JSON request body is required")
	}
	if ct := c.r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return apierr.New(http.StatusUnsupportedMediaType, apierr.CodeMalformed, "", "the request body must be application/json, not %q", ct)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, "", "the request body has data after its JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var de *api.DurationError
	switch {
	case errors.As(err, &de):
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, "timeout", "timeout: %v", de)
	case errors.As(err, &te):
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, te.Field, "%s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
	case errors.As(err, &se):
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, "", "the request body is not valid JSON (at byte %d): %v", se.Offset, err)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		f = strings.Trim(f, `"`)
		return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, f, "unknown field %q", f)
	}
	// Errors of custom decoders (durations) say "json: cannot unmarshal ... into Go struct field X.timeout ...".
	field := ""
	if i := strings.Index(msg, "Go struct field "); i >= 0 {
		rest := msg[i+len("Go struct field "):]
		if j := strings.IndexByte(rest, ' '); j >= 0 {
			rest = rest[:j]
		}
		if k := strings.IndexByte(rest, '.'); k >= 0 {
			field = rest[k+1:]
		}
	}
	return apierr.New(http.StatusBadRequest, apierr.CodeMalformed, field, "the request body is not valid: %v", err)
}

func (c *call) json(status int, v any) error {
	c.status = status
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	if c.r.Method == http.MethodHead {
		return nil
	}
	enc := json.NewEncoder(c.w)
	return enc.Encode(v)
}

// noContent answers 204.
func (c *call) noContent() error {
	c.status = http.StatusNoContent
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// fail answers an error as {"error": {code, message, field}}, with the status apierr gives it.
func (c *call) fail(err error) {
	status, e := apierr.From(err)
	if status >= 500 {
		c.log.Error("request failed", "err", err)
	}
	if c.status != 0 { // already answering (a stream)
		return
	}
	_ = c.json(status, api.ErrorResponse{Error: e})
}

func (c *call) query(name string) string { return c.r.URL.Query().Get(name) }

func (c *call) boolQuery(name string) (bool, error) {
	switch v := strings.ToLower(c.query(name)); v {
	case "", "false", "0", "no":
		return false, nil
	case "true", "1", "yes":
		return true, nil
	default:
		return false, apierr.New(http.StatusBadRequest, apierr.CodeMalformed, name, "%s must be true or false, not %q", name, v)
	}
}
