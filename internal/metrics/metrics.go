// Package metrics holds Violet's Prometheus metrics: one registry per
// server (never the client's global default, so that two servers in one
// process, as in tests, count apart) with the collectors of request
// durations, the database pool, the Go runtime and the process, catalogue
// syncs, library imports and evidence uploads, and the handler that
// exposes them in the Prometheus text format.
package metrics

import (
	"database/sql"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values with a bounded set of values: whatever a client sends
// that is not one of ours is folded into these, so no request can add a
// series.
const (
	// Unmatched is the route label of requests that matched no route.
	Unmatched = "unmatched"
	// OtherMethod is the method label of methods Violet never routes.
	OtherMethod = "OTHER"
)

// Outcomes of syncs, imports and uploads.
const (
	OutcomeOK       = "ok"
	OutcomeFailed   = "failed"
	OutcomeAccepted = "accepted"
	OutcomeRefused  = "refused"
)

// Import kinds.
const (
	ImportAtomic  = "atomic"
	ImportLibrary = "library"
	ImportSigma   = "sigma"
)

// Metrics is a server's registry and the collectors Violet updates.
type Metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.HistogramVec
	syncs           *prometheus.HistogramVec
	imports         *prometheus.HistogramVec
	evidenceBytes   prometheus.Counter
	evidenceUploads *prometheus.CounterVec
	handler         http.Handler
	// statuses holds the label of every status code from 100 to 599,
	// built once so that labelling a request allocates nothing
	// (strconv.Itoa allocates above 99).
	statuses [600]string
}

// New registers the collectors in a new registry; db is the pool whose
// statistics are exported (nil leaves them out), errorLog receives the
// errors of gathering (nil discards them).
func New(db *sql.DB, errorLog *log.Logger) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "violet_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by method, route template and status (event streams excluded).",
			// Pages are budgeted in milliseconds (docs/ARCHITECTURE.md); the
			// upper buckets catch uploads and exports.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route", "status"}),
		syncs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "violet_attack_sync_duration_seconds",
			Help: "Time an ATT&CK catalogue sync job took from its start to its end (download included), by outcome.",
			// A sync of the full enterprise bundle takes tens of seconds.
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 12), // 0.25 s to 512 s
		}, []string{"outcome"}),
		imports: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "violet_library_import_duration_seconds",
			Help:    "Time a library import took, by kind (atomic, library) and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14), // 50 ms to 410 s
		}, []string{"kind", "outcome"}),
		evidenceBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "violet_evidence_uploaded_bytes_total",
			Help: "Bytes of evidence files accepted by uploads (committed to the store and the database).",
		}),
		evidenceUploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "violet_evidence_uploads_total",
			Help: "Evidence upload requests by outcome: accepted, refused (a file refused or over the limit) or failed.",
		}, []string{"outcome"}),
	}
	for code := 100; code < len(m.statuses); code++ {
		m.statuses[code] = strconv.Itoa(code)
	}
	m.registry.MustRegister(
		m.requests, m.syncs, m.imports, m.evidenceBytes, m.evidenceUploads,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if db != nil {
		m.registry.MustRegister(collectors.NewDBStatsCollector(db, "violet"))
	}
	// Outcomes are known in advance: their series exist (at zero) from the
	// start, so a rate over them never starts from nothing.
	for _, o := range []string{OutcomeOK, OutcomeFailed} {
		m.syncs.WithLabelValues(o)
		for _, k := range []string{ImportAtomic, ImportLibrary, ImportSigma} {
			m.imports.WithLabelValues(k, o)
		}
	}
	for _, o := range []string{OutcomeAccepted, OutcomeRefused, OutcomeFailed} {
		m.evidenceUploads.WithLabelValues(o)
	}
	// OpenMetrics only when the scraper asks for it (Prometheus does);
	// anything else gets the classic text format.
	opts := promhttp.HandlerOpts{EnableOpenMetrics: true}
	if errorLog != nil {
		opts.ErrorLog = errorLog
	}
	m.handler = promhttp.HandlerFor(m.registry, opts)
	return m
}

// Gatherer is the registry, for tests and tools that read the metrics
// without going through HTTP.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.registry }

// Handler serves the metrics in the format the scraper asks for (the
// Prometheus text format unless it negotiates OpenMetrics).
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveRequest records one answered request. route must be a route
// template (or Unmatched), never the request's path: the label set must
// stay bounded and paths carry ids and tokens.
func (m *Metrics) ObserveRequest(method, route string, status int, took time.Duration) {
	code := "other"
	if status >= 100 && status < len(m.statuses) {
		code = m.statuses[status]
	}
	m.requests.WithLabelValues(Method(method), route, code).Observe(took.Seconds())
}

// Method folds a request method into the bounded set of label values.
func Method(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return OtherMethod
}

// ObserveSync records a finished ATT&CK sync job.
func (m *Metrics) ObserveSync(ok bool, took time.Duration) {
	m.syncs.WithLabelValues(outcome(ok)).Observe(took.Seconds())
}

// ObserveImport records a finished library import of a kind (ImportAtomic,
// ImportLibrary or ImportSigma).
func (m *Metrics) ObserveImport(kind string, ok bool, took time.Duration) {
	m.imports.WithLabelValues(kind, outcome(ok)).Observe(took.Seconds())
}

// EvidenceUpload records an upload request's outcome and, when accepted,
// the bytes of the files it stored.
func (m *Metrics) EvidenceUpload(outcome string, bytes int64) {
	m.evidenceUploads.WithLabelValues(outcome).Inc()
	if outcome == OutcomeAccepted && bytes > 0 {
		m.evidenceBytes.Add(float64(bytes))
	}
}

func outcome(ok bool) string {
	if ok {
		return OutcomeOK
	}
	return OutcomeFailed
}
