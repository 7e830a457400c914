// Package metrics exposes Prometheus metrics of the HTTP API: requests by
// route, method and status, their latency, bytes in and out, and the bytes
// stored.
package metrics

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors of one server (never package globals, so
// tests and several servers in one process do not share them).
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
}

// New registers the collectors. storedBytes is read at each scrape.
func New(storedBytes func(context.Context) (int64, error)) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cssc_http_requests_total", Help: "HTTP requests by API route, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cssc_http_request_duration_seconds", Help: "HTTP request latency by API route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route", "method"}),
		bytesIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "cssc_http_received_bytes_total", Help: "Request body bytes received."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "cssc_http_sent_bytes_total", Help: "Response body bytes sent."}),
	}
	stored := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cssc_storage_bytes", Help: "Bytes stored: distinct blobs held by repositories plus manifests.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := storedBytes(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	reg.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, stored,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Done describes a finished request, for access logs.
type Done struct {
	Route    string
	Status   int
	Written  int64
	Duration time.Duration
}

// Wrap counts the requests next serves; routeOf names a request's route
// (a small fixed set, never the raw path, to keep label cardinality low).
// onDone, if not nil, is told of each finished request.
func (m *Metrics) Wrap(next http.Handler, routeOf func(*http.Request) string, onDone func(*http.Request, Done)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &recorder{ResponseWriter: w, status: http.StatusOK}
		if r.Body != nil {
			r.Body = &countingBody{ReadCloser: r.Body, n: m.bytesIn}
		}
		next.ServeHTTP(rw, r)
		route := routeOf(r)
		elapsed := time.Since(start)
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(rw.status)).Inc()
		m.latency.WithLabelValues(route, r.Method).Observe(elapsed.Seconds())
		m.bytesOut.Add(float64(rw.written))
		if onDone != nil {
			onDone(r, Done{Route: route, Status: rw.status, Written: rw.written, Duration: elapsed})
		}
	})
}

type recorder struct {
	http.ResponseWriter
	status  int
	written int64
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	n, err := r.ResponseWriter.Write(p)
	r.written += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type countingBody struct {
	io.ReadCloser
	n prometheus.Counter
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if n > 0 {
		c.n.Add(float64(n))
	}
	return n, err
}
