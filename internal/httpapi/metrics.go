package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kdu-io/kdu/api"
)

// Metrics are the service's Prometheus metrics, on their own registry.
type Metrics struct {
	reg          *prometheus.Registry
	opsTotal     *prometheus.CounterVec
	opsDuration  *prometheus.HistogramVec
	opsQueue     *prometheus.HistogramVec
	inFlight     *prometheus.GaugeVec
	httpDuration *prometheus.HistogramVec
	targetErrors *prometheus.CounterVec
}

// NewMetrics registers kdu's metrics and the Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		opsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kdu_operations_total", Help: "Operations finished, by kind and final state.",
		}, []string{"kind", "state"}),
		opsDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kdu_operation_duration_seconds", Help: "Time from start to end of operations, by kind and final state.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"kind", "state"}),
		opsQueue: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kdu_operation_queue_seconds", Help: "Time operations waited from submission to start (first attempts), by kind.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"kind"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kdu_operations_in_flight", Help: "Operations this replica is running, by cluster.",
		}, []string{"cluster"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kdu_http_request_duration_seconds", Help: "API request latency, by method, route and status code.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10},
		}, []string{"method", "route", "code"}),
		targetErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kdu_status_target_errors_total", Help: "Status target writes that failed (including writes matching no document), by target type.",
		}, []string{"type"}),
	}
	m.reg.MustRegister(m.opsTotal, m.opsDuration, m.opsQueue, m.inFlight, m.httpDuration, m.targetErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *Metrics) request(method, route string, code int, d time.Duration) {
	m.httpDuration.WithLabelValues(method, route, strconv.Itoa(code)).Observe(d.Seconds())
}

// Started implements ops.Observer.
func (m *Metrics) Started(op *api.Operation) {
	m.inFlight.WithLabelValues(op.Target.Cluster).Inc()
	if op.Attempts == 1 && op.StartedAt != nil { // a takeover's wait is the lease's, not the queue's
		m.opsQueue.WithLabelValues(op.Kind).Observe(op.StartedAt.Sub(op.CreatedAt).Seconds())
	}
}

// Finished implements ops.Observer.
func (m *Metrics) Finished(op *api.Operation, d time.Duration) {
	m.inFlight.WithLabelValues(op.Target.Cluster).Dec()
	m.opsTotal.WithLabelValues(op.Kind, string(op.State)).Inc()
	m.opsDuration.WithLabelValues(op.Kind, string(op.State)).Observe(d.Seconds())
}

// TargetError counts a failed status target write.
func (m *Metrics) TargetError(kind string) {
	m.targetErrors.WithLabelValues(kind).Inc()
}
