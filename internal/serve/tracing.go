package serve

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// tracing is OpenTelemetry tracing, on when the standard OTLP environment variables ask for it
// (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
type tracing struct {
	tp *sdktrace.TracerProvider
}

func tracingWanted() bool {
	if v := os.Getenv("OTEL_SDK_DISABLED"); v == "true" {
		return false
	}
	if v := os.Getenv("OTEL_TRACES_EXPORTER"); v != "" && v != "none" {
		return true
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

func setupTracing(ctx context.Context, version string) (*tracing, error) {
	if !tracingWanted() {
		return &tracing{}, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName("kdu"), semconv.ServiceVersion(version)))
	if err != nil {
		res = resource.Default()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &tracing{tp: tp}, nil
}

func (t *tracing) tracer() trace.Tracer {
	if t.tp == nil {
		return noop.NewTracerProvider().Tracer("kdu")
	}
	return t.tp.Tracer("github.com/kdu-io/kdu")
}

func (t *tracing) wrap(h http.Handler) http.Handler {
	if t.tp == nil {
		return h
	}
	return otelhttp.NewHandler(h, "kdu", otelhttp.WithTracerProvider(t.tp),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method })) // the server renames it by route
}

func (t *tracing) shutdown() {
	if t.tp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.tp.Shutdown(ctx)
}
