package static

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPDates(t *testing.T) {
	for _, sec := range []int64{0, 784111777, 1700000000, 253402300799} {
		got := string(appendHTTPDate(nil, sec))
		assert.Equal(t, time.Unix(sec, 0).UTC().Format(http.TimeFormat), got)
		back, ok := parseHTTPDate([]byte(got))
		assert.True(t, ok)
		assert.Equal(t, sec, back)
	}
	for in, want := range map[string]int64{
		"Sun, 06 Nov 1994 08:49:37 GMT":  784111777,
		"Sunday, 06-Nov-94 08:49:37 GMT": 784111777, // RFC 850
		"Sun Nov  6 08:49:37 1994":       784111777, // asctime
	} {
		got, ok := parseHTTPDate([]byte(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "yesterday", "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT"} {
		_, ok := parseHTTPDate([]byte(bad))
		assert.False(t, ok, bad)
	}
}

func TestConditionalPrecedence(t *testing.T) {
	root := makeRoot(t)
	mtime := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	touch(t, root, "about.html", mtime)
	h := newHandler(t, Config{Root: root}, false)
	base := get(t, h, "GET", "/about.html")
	etag := base.Header.Get("ETag")
	lm := base.Header.Get("Last-Modified")
	require.Equal(t, mtime.Format(http.TimeFormat), lm)
	past := mtime.Add(-time.Hour).Format(http.TimeFormat)
	future := mtime.Add(time.Hour).Format(http.TimeFormat)

	tests := []struct {
		name    string
		method  string
		headers []string
		status  int
	}{
		{"no conditions", "GET", nil, 200},
		{"if-match hit", "GET", []string{"If-Match: " + etag}, 200},
		{"if-match star", "GET", []string{"If-Match: *"}, 200},
		{"if-match list", "GET", []string{`If-Match: "a", ` + etag + `, "b"`}, 200},
		{"if-match across fields", "GET", []string{`If-Match: "a"`, "If-Match: " + etag}, 200},
		{"if-match miss", "GET", []string{`If-Match: "nope"`}, 412},
		{"if-match weak never matches", "GET", []string{"If-Match: W/" + etag}, 412},
		{"if-match comma in tag", "GET", []string{`If-Match: "a,b", ` + etag}, 200},
		{"if-match malformed", "GET", []string{"If-Match: garbage"}, 412},
		{"ius past", "GET", []string{"If-Unmodified-Since: " + past}, 412},
		{"ius equal", "GET", []string{"If-Unmodified-Since: " + lm}, 200},
		{"ius future", "GET", []string{"If-Unmodified-Since: " + future}, 200},
		{"ius malformed ignored", "GET", []string{"If-Unmodified-Since: whenever"}, 200},
		{"if-match wins over ius", "GET", []string{"If-Match: " + etag, "If-Unmodified-Since: " + past}, 200},
		{"inm hit", "GET", []string{"If-None-Match: " + etag}, 304},
		{"inm hit head", "HEAD", []string{"If-None-Match: " + etag}, 304},
		{"inm weak", "GET", []string{"If-None-Match: W/" + etag}, 304},
		{"inm list", "GET", []string{`If-None-Match: "x", W/"y", ` + etag}, 304},
		{"inm star", "GET", []string{"If-None-Match: *"}, 304},
		{"inm miss", "GET", []string{`If-None-Match: "nope"`}, 200},
		{"ims equal", "GET", []string{"If-Modified-Since: " + lm}, 304},
		{"ims future", "GET", []string{"If-Modified-Since: " + future}, 304},
		{"ims past", "GET", []string{"If-Modified-Since: " + past}, 200},
		{"ims malformed ignored", "GET", []string{"If-Modified-Since: yesterday"}, 200},
		{"ims rfc850", "GET", []string{"If-Modified-Since: Wednesday, 01-May-24 12:00:00 GMT"}, 304},
		{"inm miss beats ims hit", "GET", []string{`If-None-Match: "nope"`, "If-Modified-Since: " + lm}, 200},
		{"inm hit beats ims past", "GET", []string{"If-None-Match: " + etag, "If-Modified-Since: " + past}, 304},
		{"if-match fails before inm", "GET", []string{`If-Match: "nope"`, "If-None-Match: " + etag}, 412},
		{"ius fails before ims", "GET", []string{"If-Unmodified-Since: " + past, "If-Modified-Since: " + lm}, 412},
		{"if-match passes, inm hits", "GET", []string{"If-Match: " + etag, "If-None-Match: " + etag}, 304},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, tt.method, "/about.html", tt.headers...)
			assert.Equal(t, tt.status, res.StatusCode, res.body)
			switch tt.status {
			case 304:
				assert.Empty(t, res.body)
				assert.Equal(t, etag, res.Header.Get("ETag"), "304 carries the validators")
				assert.Equal(t, lm, res.Header.Get("Last-Modified"))
				assert.Empty(t, res.Header.Get("Content-Length"))
			case 200:
				if tt.method == "GET" {
					assert.Equal(t, fixture["about.html"], res.body)
				}
			case 412:
				assert.Contains(t, res.body, "precondition failed")
			}
		})
	}
}

func TestNotModifiedCarriesVary(t *testing.T) {
	h := newHandler(t, Config{Compress: true}, false)
	res := get(t, h, "GET", "/css/site.css")
	require.Equal(t, 200, res.StatusCode)
	res = get(t, h, "GET", "/css/site.css", "If-None-Match: "+res.Header.Get("ETag"))
	assert.Equal(t, 304, res.StatusCode)
	assert.Equal(t, "Accept-Encoding", res.Header.Get("Vary"))
}

func TestMatchETags(t *testing.T) {
	etag := []byte(`"abc"`)
	for _, tt := range []struct {
		value       string
		weak, match bool
	}{
		{`"abc"`, false, true},
		{`W/"abc"`, false, false},
		{`W/"abc"`, true, true},
		{` , ,"x" ,  "abc"`, false, true},
		{`"ab"`, true, false},
		{`abc`, true, false},
		{`"x" garbage "abc"`, true, false},
		{`*`, false, true},
		{`"unterminated`, true, false},
	} {
		req := parseRequest(t, "If-Match: "+tt.value)
		assert.Equal(t, tt.match, matchETags(&req.Header, "If-Match", etag, tt.weak), "%s weak=%v", tt.value, tt.weak)
	}
}
