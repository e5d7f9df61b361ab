package rfc9111

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// fields is a Header for the tests. Like guest.Header it is a struct
// that is not pointer-shaped, so an interface holding one would be
// allocated (TestAllocations); read, when not nil, records the names
// read.
type fields struct {
	list []field
	read *[]string
}

type field struct {
	name   string
	values []string
}

// header returns the fields of lines "Name: value".
func header(lines ...string) fields {
	var f fields
	for _, line := range lines {
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		i := 0
		for i < len(f.list) && !strings.EqualFold(f.list[i].name, name) {
			i++
		}
		if i == len(f.list) {
			f.list = append(f.list, field{name: name})
		}
		f.list[i].values = append(f.list[i].values, value)
	}
	return f
}

func (f fields) Values(name string) []string {
	if f.read != nil {
		*f.read = append(*f.read, name)
	}
	for _, fl := range f.list {
		if strings.EqualFold(fl.name, name) {
			return fl.values
		}
	}
	return nil
}

func (f fields) Get(name string) (string, bool) {
	if v := f.Values(name); len(v) > 0 {
		return v[0], true
	}
	return "", false
}

// t0 is when the responses below were received.
var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).Unix()

// date is unix as an IMF-fixdate.
func date(unix int64) string { return time.Unix(unix, 0).UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT") }

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  Response
	}{
		{"nothing: Date is the response time", nil, Response{Status: 200, Date: t0}},
		{"all", []string{"Cache-Control: max-age=60", "Cache-Control: public", "Date: " + date(t0-5), "Age: 7",
			"Expires: x", "Last-Modified: " + date(t0-100), `ETag: "v"`},
			Response{Status: 200, CC: Directives{{"max-age", "60"}, {"public", ""}}, Date: t0 - 5, Age: 7,
				Expires: "x", LastModified: date(t0 - 100), HasValidator: true}},
		{"invalid Date and Age ignored", []string{"Date: yesterday", "Age: -3"}, Response{Status: 200, Date: t0}},
		{"Age with spaces", []string{"Age:  12 "}, Response{Status: 200, Date: t0, Age: 12}},
		{"Age capped", []string{"Age: 99999999999"}, Response{Status: 200, Date: t0, Age: MaxDelta}},
		{"Age past int64 capped (RFC 9111 1.2.2)", []string{"Age: 99999999999999999999"}, Response{Status: 200, Date: t0, Age: MaxDelta}},
		{"Age with a sign ignored", []string{"Age: +5"}, Response{Status: 200, Date: t0}},
		{"first Date", []string{"Date: " + date(t0-1), "Date: " + date(t0-2)}, Response{Status: 200, Date: t0 - 1}},
		{"ETag alone is a validator", []string{`ETag: W/"v"`}, Response{Status: 200, Date: t0, HasValidator: true}},
		{"Last-Modified alone is a validator", []string{"Last-Modified: x"}, Response{Status: 200, Date: t0, LastModified: "x", HasValidator: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			ReadResponse(&r, 200, header(tc.lines...), t0)
			assert.Equal(t, tc.want, r)
		})
	}
}

// TestReadResponseResets: a Response read again keeps nothing of the
// response read before but its CC array.
func TestReadResponseResets(t *testing.T) {
	var r Response
	ReadResponse(&r, 200, header("Cache-Control: a, b, c", "Age: 9", `ETag: "v"`, "Expires: x"), t0)
	backing := &r.CC[:1][0]
	ReadResponse(&r, 404, header("Cache-Control: no-store"), t0+1)
	assert.Equal(t, Response{Status: 404, CC: Directives{{"no-store", ""}}, Date: t0 + 1}, r)
	assert.Same(t, backing, &r.CC[0])
}

func TestCurrentAge(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		date, age              int64 // relative to the response time
		request, response, now int64 // relative to t0
		want                   int64
	}{
		{"resident time only", 0, 0, 0, 0, 30, 30},
		{"Age adds", 0, 55, 0, 0, 10, 65},
		{"the request's delay is added to Age", 0, 5, -2, 0, 0, 7},
		{"apparent age from an old Date", -20, 0, 0, 0, 10, 30},
		{"the larger of apparent and corrected Age", -20, 5, -1, 0, 0, 20},
		{"the larger of corrected Age and apparent", -3, 10, -1, 0, 0, 11},
		{"a Date in the future gives no apparent age", 50, 0, 0, 0, 10, 10},
	} {
		r := Response{Date: t0 + tc.date, Age: tc.age}
		assert.Equal(t, tc.want, r.CurrentAge(t0+tc.request, t0+tc.response, t0+tc.now), tc.name)
	}
}

func TestFreshnessLifetime(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   uint32
		lines    []string
		shared   bool
		lifetime int64
		explicit bool
	}{
		{"s-maxage first in a shared cache", 200, []string{"Cache-Control: max-age=60, s-maxage=300"}, true, 300, true},
		{"max-age in a private cache", 200, []string{"Cache-Control: max-age=60, s-maxage=300"}, false, 60, true},
		{"max-age before Expires", 200, []string{"Cache-Control: max-age=60", "Date: " + date(t0), "Expires: " + date(t0+90)}, true, 60, true},
		{"malformed max-age is stale", 200, []string{"Cache-Control: max-age=soon"}, true, 0, true},
		{"Expires from Date", 200, []string{"Date: " + date(t0-10), "Expires: " + date(t0+90)}, true, 100, true},
		{"Expires before Date", 200, []string{"Date: " + date(t0), "Expires: " + date(t0-90)}, true, 0, true},
		{"invalid Expires is stale", 200, []string{"Expires: 0", "Last-Modified: " + date(t0-1000)}, true, 0, true},
		{"heuristic: a fraction of the Last-Modified age", 200, []string{"Date: " + date(t0), "Last-Modified: " + date(t0-1000)}, true, 100, false},
		{"heuristic capped", 200, []string{"Date: " + date(t0), "Last-Modified: " + date(t0-100*86400)}, true, 86400, false},
		{"heuristic for a 304", 304, []string{"Last-Modified: " + date(t0-1000)}, true, 100, false},
		{"heuristic for public", 302, []string{"Cache-Control: public", "Last-Modified: " + date(t0-1000)}, true, 100, false},
		{"no heuristic for a 302", 302, []string{"Last-Modified: " + date(t0-1000)}, true, 0, false},
		{"no heuristic from a future Last-Modified", 200, []string{"Last-Modified: " + date(t0+1000)}, true, 0, false},
		{"no heuristic without Last-Modified", 200, []string{`ETag: "v"`}, true, 0, false},
	} {
		var r Response
		ReadResponse(&r, tc.status, header(tc.lines...), t0)
		lifetime, explicit := r.FreshnessLifetime(tc.shared, 0.1, 86400)
		assert.Equal(t, tc.lifetime, lifetime, tc.name)
		assert.Equal(t, tc.explicit, explicit, tc.name)
	}
}

func TestMustRevalidate(t *testing.T) {
	for _, tc := range []struct {
		cc              string
		shared, private bool
	}{
		{"max-age=60", false, false},
		{"must-revalidate", true, true},
		{"proxy-revalidate", true, false},
		{"s-maxage=60", true, false},
		{"max-age=60, stale-if-error=600", false, false},
	} {
		r := Response{CC: ParseDirectives(nil, []string{tc.cc})}
		assert.Equal(t, tc.shared, r.MustRevalidate(true), "%s, shared", tc.cc)
		assert.Equal(t, tc.private, r.MustRevalidate(false), "%s, private", tc.cc)
	}
}

func TestHeuristicallyCacheable(t *testing.T) {
	var got []uint32
	for status := uint32(100); status < 600; status++ {
		if HeuristicallyCacheable(status) {
			got = append(got, status)
		}
	}
	assert.Equal(t, []uint32{200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501}, got)
}

func TestRequestNoCache(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  bool
		read  []string // the names read besides Cache-Control
	}{
		{"no-cache", []string{"Cache-Control: no-cache", "Pragma: no-cache"}, true, nil},
		{"Cache-Control without no-cache hides Pragma", []string{"Cache-Control: max-age=0", "Pragma: no-cache"}, false, nil},
		{"Pragma without Cache-Control", []string{"Pragma: No-Cache"}, true, []string{"Pragma"}},
		{"Pragma among others", []string{"Pragma: x", "Pragma: y, no-cache"}, true, []string{"Pragma"}},
		{"neither", []string{"Pragma: x"}, false, []string{"Pragma"}},
		{"a longer token is not no-cache", []string{"Pragma: x-no-cache-y"}, false, []string{"Pragma"}},
		{"nor is a quoted value", []string{`Pragma: x="a, no-cache"`}, false, []string{"Pragma"}},
	} {
		h := header(tc.lines...)
		var read []string
		h.read = &read
		assert.Equal(t, tc.want, RequestNoCache(ParseDirectives(nil, h.Values("Cache-Control")), h), tc.name)
		assert.Equal(t, append([]string{"Cache-Control"}, tc.read...), read, tc.name)
	}
}

// TestAllocations: reading a response into a Response kept across calls,
// and computing its age and lifetime, allocates nothing once the CC array
// has grown.
func TestAllocations(t *testing.T) {
	h := header("Cache-Control: max-age=60, stale-while-revalidate=30", "Date: "+date(t0), "Age: 3",
		"Last-Modified: "+date(t0-1000), `ETag: "v"`)
	var r Response
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		ReadResponse(&r, 200, h, t0)
		_ = r.CurrentAge(t0, t0, t0+10)
		_, _ = r.FreshnessLifetime(true, 0.1, 86400)
		_ = RequestNoCache(r.CC, h)
	}))
}

func BenchmarkReadResponse(b *testing.B) {
	h := header("Cache-Control: public, max-age=60, stale-while-revalidate=30", "Date: "+date(t0), "Age: 3",
		"Last-Modified: "+date(t0-1000), `ETag: "v"`)
	var r Response
	b.ReportAllocs()
	for b.Loop() {
		ReadResponse(&r, 200, h, t0)
		if life, _ := r.FreshnessLifetime(true, 0.1, 86400); r.CurrentAge(t0, t0, t0+10) >= life {
			b.Fatal("stale")
		}
	}
}
