package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kdu-io/kdu/api"
)

// openAPI builds the OpenAPI 3.1 document from the route table and the Go types of bodies and responses.
func openAPI(routes []*route, version string) map[string]any {
	g := &schemaGen{defs: map[string]any{}, names: map[reflect.Type]string{}}
	errRef := g.schema(reflect.TypeOf(api.ErrorResponse{}))
	paths := map[string]any{}
	for _, rt := range routes {
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		op := map[string]any{"operationId": rt.ID, "summary": rt.Summary, "tags": []string{rt.Tag}}
		var params []any
		for _, s := range rt.segs {
			if s.param != "" {
				params = append(params, map[string]any{"name": s.param, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "required": q.Required, "description": q.Desc,
				"schema": map[string]any{"type": q.Type}})
		}
		if rt.Write && rt.Method == http.MethodPost && rt.Resp != nil && isOperation(rt.Resp) {
			params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "a retried request with the same key returns the same operation", "schema": map[string]any{"type": "string", "maxLength": 200}},
				map[string]any{"name": "wait", "in": "query", "required": false,
					"description": "block until the operation ends (or the server's wait limit): 200 with the finished operation", "schema": map[string]any{"type": "boolean"}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.Body != nil {
			op["requestBody"] = map[string]any{"required": !rt.BodyOptional, "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Body))}}}
		}
		resps := map[string]any{}
		ok := map[string]any{"description": http.StatusText(rt.Status)}
		switch {
		case rt.Stream:
			ok["content"] = map[string]any{"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.Text:
			ok["content"] = map[string]any{"text/plain": map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.Resp != nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Resp))}}
		}
		resps[strconv.Itoa(rt.Status)] = ok
		if rt.Status == http.StatusAccepted && rt.Resp != nil {
			// ?wait=true answers 200 with the finished operation.
			resps["200"] = map[string]any{"description": "the operation finished (with ?wait=true)", "content": map[string]any{
				"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.Resp))}}}
		}
		errs := append([]int{}, rt.Errors...)
		if !rt.Public {
			errs = append(errs, http.StatusUnauthorized)
		}
		errs = append(errs, http.StatusInternalServerError)
		for _, code := range errs {
			resps[strconv.Itoa(code)] = map[string]any{"description": http.StatusText(code), "content": map[string]any{
				"application/json": map[string]any{"schema": errRef}}}
		}
		op["responses"] = resps
		if !rt.Public {
			op["security"] = []any{map[string]any{"bearer": []string{}}}
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "kdu", "version": version,
			"description": "kdu deploys and manages KDUs (Helm charts) on Kubernetes clusters. Mutating KDU calls are " +
				"asynchronous: they answer 202 with an operation, followed at /v1/operations/{id} and its events."},
		"paths": paths,
		"components": map[string]any{
			"schemas":         g.defs,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}},
		},
	}
}

func isOperation(v any) bool { _, ok := v.(api.Operation); return ok }

type schemaGen struct {
	defs  map[string]any
	names map[reflect.Type]string
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	durationType = reflect.TypeOf(api.Duration(0))
	rawType      = reflect.TypeOf(json.RawMessage(nil))
	marshaler    = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	nonWord      = regexp.MustCompile(`[^A-Za-z0-9]+`)
)

// schema returns the JSON Schema of a Go type as encoding/json writes it; named structs become references
// to components.schemas.
func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "string", "description": "a duration such as \"90s\" or \"5m\" (a number is read as seconds)"}
	case rawType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) {
			return map[string]any{}
		}
		name := g.names[t]
		if name == "" {
			name = typeName(t)
			for other, n := range g.names {
				if n == name && other != t {
					panic(fmt.Sprintf("openapi: two types named %s: %v and %v", name, other, t))
				}
			}
			g.names[t] = name
			g.defs[name] = map[string]any{} // placeholder against recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	panic(fmt.Sprintf("openapi: no schema for %v", t))
}

func typeName(t reflect.Type) string {
	n := t.Name()
	if i := strings.IndexByte(n, '['); i >= 0 { // generic: List[github.com/.../api.Operation] → OperationList
		arg := n[i+1 : len(n)-1]
		arg = arg[strings.LastIndexByte(arg, '.')+1:]
		return nonWord.ReplaceAllString(arg, "") + n[:i]
	}
	return n
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required)
	sort.Strings(required)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

func (g *schemaGen) fields(t reflect.Type, props map[string]any, required *[]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s := g.schema(f.Type)
		if f.Type.Kind() == reflect.Pointer && !strings.Contains(opts, "omitempty") {
			s = map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
		}
		props[name] = s
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}
