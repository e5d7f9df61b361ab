package admin

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"wasmhttpd/host/http1"
)

// Metrics counts exchanges as they finish and, at scrape time, reads the
// rest of the server's state through its Sources. It owns its registry:
// the process-wide default one would let any imported library add
// series to our /metrics.
type Metrics struct {
	reg   *prometheus.Registry
	src   Sources
	start time.Time

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec

	// series maps what Observe sees to the children it updates. It is
	// copied on write, so the hot path reads it without a lock; a write
	// happens once per new (listener, method, code).
	series    atomic.Pointer[map[seriesKey]*series]
	mu        sync.Mutex // serializes writers of series and listeners
	listeners map[string]*listenerSeries

	rate rateMeter
}

// seriesKey is an exchange reduced to its labels. method is one of
// knownMethods or "other", code is 0 for a status outside 100..599, so
// that a client cannot grow the key space.
type seriesKey struct {
	listener string
	method   string
	code     int
}

// series holds the resolved children for one seriesKey.
type series struct {
	requests prometheus.Counter
	l        *listenerSeries
}

// listenerSeries holds the per-listener children, shared by all the
// series of a listener.
type listenerSeries struct {
	duration prometheus.Observer
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
	count    atomic.Uint64 // requests, for the status page
}

// knownMethods are the methods that get their own label value; they are
// the ones http1 interns, so comparing them costs no allocation.
var knownMethods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PATCH", "PURGE"}

// otherLabel stands for any method outside knownMethods (a refused request
// may have none) and any status outside 100..599.
const otherLabel = "other"

// durationBuckets reach down to 100 µs: a static file or a cache hit is
// answered in well under the millisecond the default buckets start at.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// NewMetrics returns Metrics reading the server's state from src. Any
// field of src may be nil: its metrics are then left out.
func NewMetrics(src Sources) *Metrics {
	m := &Metrics{
		reg:   prometheus.NewRegistry(),
		src:   src,
		start: time.Now(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmhttpd_requests_total",
			Help: "Requests answered, by listener, method and status code.",
		}, []string{"listener", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wasmhttpd_request_duration_seconds",
			Help:    "Time from the complete request head to the end of the response, by listener.",
			Buckets: durationBuckets,
		}, []string{"listener"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmhttpd_request_body_bytes_total",
			Help: "Request body bytes declared by Content-Length, by listener (chunked bodies are not counted).",
		}, []string{"listener"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wasmhttpd_response_body_bytes_total",
			Help: "Response body bytes sent, by listener.",
		}, []string{"listener"}),
		listeners: make(map[string]*listenerSeries),
	}
	empty := make(map[seriesKey]*series)
	m.series.Store(&empty)
	m.reg.MustRegister(m.requests, m.duration, m.bytesIn, m.bytesOut,
		&sourceCollector{src: src, start: m.start},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry /metrics is gathered from, for a caller
// that wants to add its own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Observe counts a finished exchange. Its signature is that of
// server.Config.Observe; Observers combines it with the access log's.
// Once a (listener, method, code) has been seen, it allocates nothing.
func (m *Metrics) Observe(ex *http1.Exchange, elapsed time.Duration) {
	if m == nil || ex == nil {
		return
	}
	k := seriesKey{listener: ex.Listener, method: otherLabel}
	var in, out int64
	if r := ex.Request; r != nil {
		k.method = methodLabel(r.Method)
		in = max(r.ContentLength, 0) // -1 is a chunked body of unknown length
	}
	if w := ex.Response; w != nil {
		if s := w.Status(); s >= 100 && s <= 599 {
			k.code = s
		}
		out = w.Written()
	}
	s := (*m.series.Load())[k]
	if s == nil {
		s = m.resolve(k)
	}
	s.requests.Inc()
	s.l.count.Add(1)
	s.l.duration.Observe(elapsed.Seconds())
	if in > 0 {
		s.l.bytesIn.Add(float64(in))
	}
	if out > 0 {
		s.l.bytesOut.Add(float64(out))
	}
}

// methodLabel bounds the method label to knownMethods and "other".
func methodLabel(method string) string {
	for _, k := range knownMethods {
		if method == k {
			return k
		}
	}
	return otherLabel
}

// resolve creates the children for k on its first sight and publishes
// them in a new copy of the series map.
func (m *Metrics) resolve(k seriesKey) *series {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	if s := old[k]; s != nil {
		return s // another exchange resolved it while we waited
	}
	l := m.listeners[k.listener]
	if l == nil {
		l = &listenerSeries{
			duration: m.duration.WithLabelValues(k.listener),
			bytesIn:  m.bytesIn.WithLabelValues(k.listener),
			bytesOut: m.bytesOut.WithLabelValues(k.listener),
		}
		m.listeners[k.listener] = l
	}
	code := otherLabel
	if k.code != 0 {
		code = strconv.Itoa(k.code)
	}
	s := &series{requests: m.requests.WithLabelValues(k.listener, k.method, code), l: l}
	next := make(map[seriesKey]*series, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	next[k] = s
	m.series.Store(&next)
	return s
}

// requestCounts returns the requests counted so far, in all and by
// listener.
func (m *Metrics) requestCounts() (total uint64, byListener map[string]uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	byListener = make(map[string]uint64, len(m.listeners))
	for name, l := range m.listeners {
		n := l.count.Load()
		byListener[name] = n
		total += n
	}
	return total, byListener
}

// Observer is the signature of server.Config.Observe.
type Observer = func(ex *http1.Exchange, elapsed time.Duration)

// Observers returns an Observer that calls each non-nil one of obs in
// turn, so that a listener can feed both the access log and the metrics.
func Observers(obs ...Observer) Observer {
	var list []Observer
	for _, o := range obs {
		if o != nil {
			list = append(list, o)
		}
	}
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	return func(ex *http1.Exchange, elapsed time.Duration) {
		for _, o := range list {
			o(ex, elapsed)
		}
	}
}
