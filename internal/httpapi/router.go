package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// route is one API endpoint. The route table is the single source of both request routing and the OpenAPI
// document, so the two cannot disagree.
type route struct {
	Method  string
	Path    string // OpenAPI path template; a last segment may end in an action, as in {name}:rollback
	ID      string // OpenAPI operationId
	Summary string
	Tag     string
	Query   []param
	// Body is a zero value of the JSON request body type; nil means none. BodyOptional allows an empty body.
	Body         any
	BodyOptional bool
	// Status is the success status; Resp a zero value of its JSON body type (nil: no body).
	Status int
	Resp   any
	// Errors lists the error statuses the endpoint documents (besides 401/403/500 common to all).
	Errors []int
	// Public endpoints need no token.
	Public bool
	// Stream endpoints answer text/event-stream; Text ones text/plain.
	Stream, Text bool
	// Write marks a mutating endpoint: another project's cluster is then 403 rather than 404.
	Write bool
	// MaxBody bounds the request body (default 1 MiB).
	MaxBody int64
	// Long endpoints may run past the default write deadline (waits, streams, forced cluster removal).
	Long bool

	h    func(c *call) error
	segs []segment
}

type param struct {
	Name, Type, Desc string
	Required         bool
}

type segment struct {
	literal string // a literal segment, or the action after ':' of a parameter segment
	param   string // the parameter's name, if any
}

func parseTemplate(path string) []segment {
	var out []segment
	for _, s := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if strings.HasPrefix(s, "{") {
			end := strings.IndexByte(s, '}')
			seg := segment{param: s[1:end]}
			if rest := s[end+1:]; rest != "" {
				seg.literal = rest // ":rollback"
			}
			out = append(out, seg)
			continue
		}
		out = append(out, segment{literal: s})
	}
	return out
}

// match reports whether an escaped request path matches the route, and its parameters (unescaped; a
// parameter may not contain '/').
func (rt *route) match(parts []string) (map[string]string, bool) {
	if len(parts) != len(rt.segs) {
		return nil, false
	}
	var params map[string]string
	for i, s := range rt.segs {
		p := parts[i]
		if s.param == "" {
			if p != s.literal {
				return nil, false
			}
			continue
		}
		if s.literal != "" {
			if !strings.HasSuffix(p, s.literal) {
				return nil, false
			}
			p = strings.TrimSuffix(p, s.literal)
		} else if strings.Contains(p, ":") {
			return nil, false // an action this route does not have
		}
		v, err := url.PathUnescape(p)
		if err != nil || v == "" || strings.Contains(v, "/") {
			return nil, false
		}
		if params == nil {
			params = map[string]string{}
		}
		params[s.param] = v
	}
	return params, true
}

// find returns the route for a request, or the status to answer (404, or 405 with the allowed methods).
func find(routes []*route, r *http.Request) (*route, map[string]string, int, []string) {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	var allowed []string
	for _, rt := range routes {
		params, ok := rt.match(parts)
		if !ok {
			continue
		}
		if rt.Method == r.Method || (r.Method == http.MethodHead && rt.Method == http.MethodGet) {
			return rt, params, 0, nil
		}
		allowed = append(allowed, rt.Method)
	}
	if len(allowed) > 0 {
		return nil, nil, http.StatusMethodNotAllowed, allowed
	}
	return nil, nil, http.StatusNotFound, nil
}
