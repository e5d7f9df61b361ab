package admin

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"time"

	"github.com/prometheus/common/expfmt"

	"wasmhttpd/host/http1"
)

// Handler serves the admin surfaces, for a listener of their own that is
// kept off the public ones:
//
//	/metrics      the Prometheus text exposition format
//	/healthz      200 while the process runs
//	/readyz       200 while ready() is true, else 503
//	/status       an HTML page that refreshes itself every 5 s
//	/status.json  the same as JSON, a Status
//
// m is required; ready may be nil, meaning always ready; events may be
// nil. Other paths get 404 and methods other than GET and HEAD 405.
func Handler(m *Metrics, events *Events, ready func() bool) http1.Handler {
	h := &handler{m: m, events: events, ready: ready}
	return http1.HandlerFunc(h.serve)
}

type handler struct {
	m      *Metrics
	events *Events
	ready  func() bool
}

func (h *handler) serve(ex *http1.Exchange) {
	w := ex.Response
	var serve func(*http1.ResponseWriter)
	switch string(ex.Request.Path) {
	case "/metrics":
		serve = h.metrics
	case "/healthz":
		serve = func(w *http1.ResponseWriter) { reply(w, 200, "text/plain; charset=utf-8", []byte("ok\n")) }
	case "/readyz":
		serve = h.readyz
	case "/status":
		serve = h.statusHTML
	case "/status.json":
		serve = h.statusJSON
	default:
		w.Error(404, fmt.Sprintf("no admin resource at %q", ex.Request.Path))
		return
	}
	if m := ex.Request.Method; m != "GET" && m != "HEAD" {
		w.Header().Set("Allow", "GET, HEAD")
		w.Error(405, fmt.Sprintf("method %q not allowed; the admin resources allow GET and HEAD", m))
		return
	}
	serve(w)
}

func (h *handler) isReady() bool { return h.ready == nil || h.ready() }

func (h *handler) readyz(w *http1.ResponseWriter) {
	if !h.isReady() {
		w.Error(503, "not ready")
		return
	}
	reply(w, 200, "text/plain; charset=utf-8", []byte("ready\n"))
}

// metrics gathers the registry and encodes it whole before answering, so
// that a failing collector yields a 500 naming it rather than a truncated
// exposition.
func (h *handler) metrics(w *http1.ResponseWriter) {
	families, err := h.m.reg.Gather()
	if err != nil {
		w.Error(500, "gathering metrics: "+err.Error())
		return
	}
	format := expfmt.NewFormat(expfmt.TypeTextPlain)
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, format)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			w.Error(500, "encoding metrics: "+err.Error())
			return
		}
	}
	reply(w, 200, string(format), buf.Bytes())
}

func (h *handler) statusJSON(w *http1.ResponseWriter) {
	body, err := json.MarshalIndent(h.m.Status(h.isReady(), h.events), "", "  ")
	if err != nil {
		w.Error(500, "encoding status: "+err.Error())
		return
	}
	reply(w, 200, "application/json", append(body, '\n'))
}

//go:embed status.html
var statusPage string

// statusTemplate escapes every value it prints: listener and policy names
// come from the config, and event details from guest error messages.
var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"duration": formatDuration,
	"bytes":    formatBytes,
	"percent":  func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"ms":       func(s float64) string { return fmt.Sprintf("%.1f ms", s*1000) },
	"rate":     func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"clock":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
}).Parse(statusPage))

func (h *handler) statusHTML(w *http1.ResponseWriter) {
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, h.m.Status(h.isReady(), h.events)); err != nil {
		w.Error(500, "rendering status: "+err.Error())
		return
	}
	// The page loads nothing: the policy forbids it anything but its own
	// inline style, so that an escaping mistake cannot turn into a script.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	reply(w, 200, "text/html; charset=utf-8", buf.Bytes())
}

// reply sends a complete response. Admin answers are never cached: each
// is the state of the moment.
func reply(w *http1.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.SetContentLength(int64(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// formatDuration prints an uptime the way a person reads it: "3d 4h 5m".
func formatDuration(seconds float64) string {
	d := time.Duration(seconds) * time.Second
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh %dm", days, d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm %ds", d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// formatBytes prints a size in binary units: "1.5 MiB".
func formatBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	exp := min(int(math.Log2(float64(n))/10), 6)
	return fmt.Sprintf("%.1f %ciB", float64(n)/math.Pow(1024, float64(exp)), "KMGTPE"[exp-1])
}
