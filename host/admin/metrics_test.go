package admin

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// exchange builds a finished exchange as the server hands it to Observe:
// method and declared request length in, status and body bytes out.
func exchange(t testing.TB, listener, method string, reqLen int64, status int, body string) *http1.Exchange {
	t.Helper()
	req := &http1.Request{Method: method, ContentLength: reqLen, KeepAlive: true}
	w := http1.NewResponseWriter(bufio.NewWriter(io.Discard), io.Discard)
	w.Reset(req)
	if status != 0 {
		w.SetContentLength(int64(len(body)))
		w.WriteHeader(status)
		_, err := w.WriteString(body)
		require.NoError(t, err)
	}
	return &http1.Exchange{Request: req, Response: w, Listener: listener, Start: time.Now()}
}

// families gathers m's registry by family name.
func families(t testing.TB, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fs, err := m.Registry().Gather()
	require.NoError(t, err)
	out := make(map[string]*dto.MetricFamily, len(fs))
	for _, f := range fs {
		out[f.GetName()] = f
	}
	return out
}

// sample returns the metric of family f whose labels are exactly labels,
// failing the test when there is none.
func sample(t testing.TB, f *dto.MetricFamily, labels map[string]string) *dto.Metric {
	t.Helper()
	require.NotNil(t, f, "family missing")
	for _, m := range f.GetMetric() {
		got := make(map[string]string, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if assert.ObjectsAreEqual(labels, got) {
			return m
		}
	}
	require.Failf(t, "no sample", "%s has no sample labelled %v", f.GetName(), labels)
	return nil
}

// value reads a counter's, gauge's or untyped sample's value.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return m.GetUntyped().GetValue()
}

func TestObserveCountsByListenerMethodAndCode(t *testing.T) {
	m := NewMetrics(Sources{})
	for range 3 {
		m.Observe(exchange(t, "origin", "GET", 0, 200, "hello"), time.Millisecond)
	}
	m.Observe(exchange(t, "origin", "POST", 10, 201, ""), time.Millisecond)
	m.Observe(exchange(t, "proxy", "GET", -1, 404, "missing"), time.Millisecond) // chunked: length unknown
	m.Observe(exchange(t, "origin", "BREW", 0, 418, ""), time.Millisecond)       // unknown method
	m.Observe(exchange(t, "origin", "", 0, 0, ""), time.Millisecond)             // refused before a request line or status
	m.Observe(nil, time.Millisecond)

	fs := families(t, m)
	req := fs["wasmhttpd_requests_total"]
	for _, c := range []struct {
		listener, method, code string
		want                   float64
	}{
		{"origin", "GET", "200", 3},
		{"origin", "POST", "201", 1},
		{"proxy", "GET", "404", 1},
		{"origin", "other", "418", 1},
		{"origin", "other", "other", 1},
	} {
		got := value(sample(t, req, map[string]string{"listener": c.listener, "method": c.method, "code": c.code}))
		assert.Equal(t, c.want, got, "%s %s %s", c.listener, c.method, c.code)
	}
	assert.Len(t, req.GetMetric(), 5, "no other series")

	in := fs["wasmhttpd_request_body_bytes_total"]
	assert.Equal(t, 10.0, value(sample(t, in, map[string]string{"listener": "origin"})))
	assert.Zero(t, value(sample(t, in, map[string]string{"listener": "proxy"})), "a chunked body adds nothing")
	out := fs["wasmhttpd_response_body_bytes_total"]
	assert.Equal(t, 15.0, value(sample(t, out, map[string]string{"listener": "origin"})))
	assert.Equal(t, 7.0, value(sample(t, out, map[string]string{"listener": "proxy"})))

	total, byListener := m.requestCounts()
	assert.Equal(t, uint64(7), total)
	assert.Equal(t, map[string]uint64{"origin": 6, "proxy": 1}, byListener)
}

func TestObserveHistogramBuckets(t *testing.T) {
	m := NewMetrics(Sources{})
	for _, d := range []time.Duration{50 * time.Microsecond, 3 * time.Millisecond, 4 * time.Millisecond, 20 * time.Second} {
		m.Observe(exchange(t, "origin", "GET", 0, 200, ""), d)
	}
	h := sample(t, families(t, m)["wasmhttpd_request_duration_seconds"], map[string]string{"listener": "origin"}).GetHistogram()
	require.NotNil(t, h)
	assert.Equal(t, uint64(4), h.GetSampleCount())
	assert.InDelta(t, 20.00705, h.GetSampleSum(), 1e-9)
	cumulative := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cumulative[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	assert.Equal(t, uint64(1), cumulative[0.0001])
	assert.Equal(t, uint64(1), cumulative[0.0025])
	assert.Equal(t, uint64(3), cumulative[0.005])
	assert.Equal(t, uint64(3), cumulative[10])
	assert.Equal(t, uint64(4), cumulative[30])
	assert.Len(t, h.GetBucket(), len(durationBuckets))
}

func TestObserveAllocatesNothingOnceSeen(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	m := NewMetrics(Sources{})
	ex := exchange(t, "origin", "GET", 100, 200, "hello")
	m.Observe(ex, time.Millisecond)
	assert.Zero(t, testing.AllocsPerRun(100, func() { m.Observe(ex, time.Millisecond) }))
}

func TestObserveConcurrentFirstSight(t *testing.T) {
	m := NewMetrics(fakeSources())
	done := make(chan struct{})
	const workers, each = 8, 50
	go func() { // scrapes and views race the requests
		defer func() { done <- struct{}{} }()
		for range 20 {
			_, err := m.Registry().Gather()
			assert.NoError(t, err)
			m.Status(true, nil)
		}
	}()
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				code := 200 + (w+i)%5
				m.Observe(exchange(t, "origin", "GET", 0, code, ""), time.Millisecond)
			}
		}()
	}
	for range workers + 1 {
		<-done
	}
	var sum float64
	for _, s := range families(t, m)["wasmhttpd_requests_total"].GetMetric() {
		sum += value(s)
	}
	assert.Equal(t, float64(workers*each), sum, "no count lost while series were being resolved")
	assert.Len(t, *m.series.Load(), 5)
}

func TestObservers(t *testing.T) {
	var calls []string
	obs := func(name string) Observer {
		return func(*http1.Exchange, time.Duration) { calls = append(calls, name) }
	}
	assert.Nil(t, Observers(nil, nil))
	Observers(nil, obs("only"))(nil, 0)
	Observers(obs("a"), nil, obs("b"))(nil, 0)
	assert.Equal(t, []string{"only", "a", "b"}, calls)
}

func TestMethodLabelIsBounded(t *testing.T) {
	for _, m := range knownMethods {
		assert.Equal(t, m, methodLabel(m))
	}
	for _, m := range []string{"", "get", "BREW", strings.Repeat("X", 100)} {
		assert.Equal(t, otherLabel, methodLabel(m))
	}
}

func BenchmarkObserve(b *testing.B) {
	m := NewMetrics(Sources{})
	ex := exchange(b, "origin", "GET", 100, 200, "hello")
	m.Observe(ex, time.Millisecond)
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Observe(ex, time.Millisecond)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Observe(ex, time.Millisecond)
			}
		})
	})
}

// BenchmarkGather is the cost of a scrape over the fake sources, before
// encoding.
func BenchmarkGather(b *testing.B) {
	m := NewMetrics(fakeSources())
	m.Observe(exchange(b, "origin", "GET", 100, 200, "hello"), time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Registry().Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
