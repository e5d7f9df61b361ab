package admin

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var fixedTime = time.Date(2026, time.November, 22, 18, 44, 17, 123_456_789, time.UTC)

func sampleEntry() Entry {
	return Entry{
		Time:       fixedTime,
		Duration:   1500 * time.Microsecond,
		RemoteAddr: "127.0.0.1:54321",
		Method:     "GET",
		Target:     []byte("/index.html?q=1"),
		Proto:      "HTTP/1.1",
		Status:     200,
		Bytes:      1234,
		Host:       []byte("example.com"),
		Referer:    []byte("https://example.com/"),
		UserAgent:  []byte("curl/8.5.0"),
		Listener:   "origin",
	}
}

func combined(e Entry) string {
	var lb lineBuf
	return string(lb.appendCombined(nil, &e))
}

func jsonLine(e Entry) string {
	var lb lineBuf
	return string(lb.appendJSON(nil, &e))
}

func TestCombinedFormat(t *testing.T) {
	tests := []struct {
		name string
		edit func(e *Entry)
		want string
	}{
		{"full", func(*Entry) {},
			`127.0.0.1 - - [22/Nov/2026:18:44:17 +0000] "GET /index.html?q=1 HTTP/1.1" 200 1234 "https://example.com/" "curl/8.5.0"`},
		{"no referer or agent, no body", func(e *Entry) { e.Referer, e.UserAgent, e.Bytes, e.Status = nil, nil, 0, 304 },
			`127.0.0.1 - - [22/Nov/2026:18:44:17 +0000] "GET /index.html?q=1 HTTP/1.1" 304 0 "-" "-"`},
		{"ipv6 with port", func(e *Entry) { e.RemoteAddr = "[2001:db8::1]:443" },
			`2001:db8::1 - - [22/Nov/2026:18:44:17 +0000] "GET /index.html?q=1 HTTP/1.1" 200 1234 "https://example.com/" "curl/8.5.0"`},
		{"bare ipv6", func(e *Entry) { e.RemoteAddr = "::1" },
			`::1 - - [22/Nov/2026:18:44:17 +0000] "GET /index.html?q=1 HTTP/1.1" 200 1234 "https://example.com/" "curl/8.5.0"`},
		{"no port", func(e *Entry) { e.RemoteAddr = "10.0.0.1" },
			`10.0.0.1 - - [22/Nov/2026:18:44:17 +0000] "GET /index.html?q=1 HTTP/1.1" 200 1234 "https://example.com/" "curl/8.5.0"`},
		{"no remote", func(e *Entry) { e.RemoteAddr = "" },
			`- - - [22/Nov/2026:18:44:17 +0000] "GET /index.html?q=1 HTTP/1.1" 200 1234 "https://example.com/" "curl/8.5.0"`},
		{"AddrPort wins, v4-mapped unmapped", func(e *Entry) { e.Addr = netip.MustParseAddrPort("[::ffff:192.0.2.7]:80") },
			`192.0.2.7 - - [22/Nov/2026:18:44:17 +0000] "GET /index.html?q=1 HTTP/1.1" 200 1234 "https://example.com/" "curl/8.5.0"`},
		{"refused before the request line", func(e *Entry) { e.Method, e.Target, e.Proto, e.Status, e.Bytes = "", nil, "", 400, 11 },
			`127.0.0.1 - - [22/Nov/2026:18:44:17 +0000] "-" 400 11 "https://example.com/" "curl/8.5.0"`},
		{"local zone", func(e *Entry) { e.Time = fixedTime.In(time.FixedZone("IST", 5*3600+1800)) },
			`127.0.0.1 - - [23/Nov/2026:00:14:17 +0530] "GET /index.html?q=1 HTTP/1.1" 200 1234 "https://example.com/" "curl/8.5.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEntry()
			tt.edit(&e)
			assert.Equal(t, tt.want+"\n", combined(e))
		})
	}
}

func TestJSONFormat(t *testing.T) {
	tests := []struct {
		name string
		edit func(e *Entry)
		want string
	}{
		{"full", func(*Entry) {},
			`{"time":"2026-11-22T18:44:17.123Z","remote":"127.0.0.1:54321","method":"GET","target":"/index.html?q=1","proto":"HTTP/1.1","status":200,"bytes":1234,"duration_ms":1.500,"host":"example.com","referer":"https://example.com/","user_agent":"curl/8.5.0","listener":"origin"}`},
		{"empty fields", func(e *Entry) {
			e.Referer, e.UserAgent, e.Host, e.Listener, e.Bytes, e.Duration = nil, nil, nil, "", 0, 0
		},
			`{"time":"2026-11-22T18:44:17.123Z","remote":"127.0.0.1:54321","method":"GET","target":"/index.html?q=1","proto":"HTTP/1.1","status":200,"bytes":0,"duration_ms":0.000,"host":"","referer":"","user_agent":"","listener":""}`},
		{"AddrPort and zone", func(e *Entry) {
			e.Addr = netip.MustParseAddrPort("[2001:db8::2]:8080")
			e.Time = time.Date(2026, 1, 2, 3, 4, 5, 7_000_000, time.FixedZone("", -4*3600))
			e.Duration = 2*time.Second + 345678*time.Nanosecond
		},
			`{"time":"2026-01-02T03:04:05.007-04:00","remote":"[2001:db8::2]:8080","method":"GET","target":"/index.html?q=1","proto":"HTTP/1.1","status":200,"bytes":1234,"duration_ms":2000.346,"host":"example.com","referer":"https://example.com/","user_agent":"curl/8.5.0","listener":"origin"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sampleEntry()
			tt.edit(&e)
			assert.Equal(t, tt.want+"\n", jsonLine(e))
		})
	}
}

// The cached second must not leak into the next second, zone or format.
func TestTimestampCache(t *testing.T) {
	var lb lineBuf
	e := sampleEntry()
	steps := []struct {
		t    time.Time
		clf  string
		json string
	}{
		{fixedTime, "[22/Nov/2026:18:44:17 +0000]", `"2026-11-22T18:44:17.123Z"`},
		{fixedTime.Add(800 * time.Millisecond), "[22/Nov/2026:18:44:17 +0000]", `"2026-11-22T18:44:17.923Z"`},
		{fixedTime.Add(900 * time.Millisecond), "[22/Nov/2026:18:44:18 +0000]", `"2026-11-22T18:44:18.023Z"`},
		{fixedTime.Add(900 * time.Millisecond).In(time.FixedZone("", 3600)), "[22/Nov/2026:19:44:18 +0100]", `"2026-11-22T19:44:18.023+01:00"`},
		{time.Date(12345, 1, 1, 0, 0, 0, 5e6, time.UTC), "[01/Jan/12345:00:00:00 +0000]", `"12345-01-01T00:00:00.005Z"`},
	}
	for _, s := range steps {
		e.Time = s.t
		assert.Contains(t, string(lb.appendCombined(nil, &e)), s.clf)
		assert.Contains(t, string(lb.appendJSON(nil, &e)), `"time":`+s.json)
	}
}

// hostile is a request built to forge log lines and break parsers.
func hostile() Entry {
	e := sampleEntry()
	e.Method = "GE\"T"
	e.Target = []byte("/a\"b\\c\r\n127.0.0.1 - - [forged] \"GET / HTTP/1.1\" 200 0\x00\x1b[31m\x7f\xff\xfeé")
	e.Referer = []byte("\" \"injected")
	e.UserAgent = []byte("ua\nnext\tline\u2028\xc3")
	e.Host = []byte("h\x00st")
	return e
}

var combinedLine = regexp.MustCompile(`^(\S+) - - \[[^\]]+\] "((?:[^"\\]|\\x[0-9A-F]{2})*)" (\d{3}) (\d+) "((?:[^"\\]|\\x[0-9A-F]{2})*)" "((?:[^"\\]|\\x[0-9A-F]{2})*)"\n$`)

func TestCombinedEscapesHostileBytes(t *testing.T) {
	line := combined(hostile())
	assert.Equal(t,
		`127.0.0.1 - - [22/Nov/2026:18:44:17 +0000] `+
			`"GE\x22T /a\x22b\x5Cc\x0D\x0A127.0.0.1 - - [forged] \x22GET / HTTP/1.1\x22 200 0\x00\x1B[31m\x7F\xFF\xFE\xC3\xA9 HTTP/1.1" `+
			`200 1234 "\x22 \x22injected" "ua\x0Anext\x09line\xE2\x80\xA8\xC3"`+"\n",
		line)
	assert.Regexp(t, combinedLine, line)
	assertOneSafeLine(t, line)
}

func assertOneSafeLine(t *testing.T, line string) {
	t.Helper()
	require.True(t, strings.HasSuffix(line, "\n"))
	for i := 0; i < len(line)-1; i++ {
		c := line[i]
		if c < 0x20 || c >= 0x7f {
			t.Fatalf("raw byte %#x at %d in %q", c, i, line)
		}
	}
}

func TestJSONEscapesHostileBytes(t *testing.T) {
	e := hostile()
	line := jsonLine(e)
	assertOneSafeJSONLine(t, line)

	var got struct {
		Time       time.Time `json:"time"`
		Remote     string    `json:"remote"`
		Method     string    `json:"method"`
		Target     string    `json:"target"`
		Proto      string    `json:"proto"`
		Status     int       `json:"status"`
		Bytes      int64     `json:"bytes"`
		DurationMS float64   `json:"duration_ms"`
		Host       string    `json:"host"`
		Referer    string    `json:"referer"`
		UserAgent  string    `json:"user_agent"`
		Listener   string    `json:"listener"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &got))
	assert.True(t, got.Time.Equal(e.Time.Truncate(time.Millisecond)))
	assert.Equal(t, e.RemoteAddr, got.Remote)
	assert.Equal(t, e.Method, got.Method)
	// Invalid UTF-8 cannot survive JSON; each bad byte becomes U+FFFD.
	assert.Equal(t, strings.ToValidUTF8(string(e.Target[:len(e.Target)-4]), "")+"\ufffd\ufffdé", got.Target)
	assert.Equal(t, e.Proto, got.Proto)
	assert.Equal(t, e.Status, got.Status)
	assert.Equal(t, e.Bytes, got.Bytes)
	assert.InDelta(t, 1.5, got.DurationMS, 1e-9)
	assert.Equal(t, string(e.Host), got.Host)
	assert.Equal(t, string(e.Referer), got.Referer)
	assert.Equal(t, "ua\nnext\tline\u2028\ufffd", got.UserAgent)
	assert.Equal(t, e.Listener, got.Listener)
}

// assertOneSafeJSONLine checks that line is one valid JSON object with no
// raw control byte that a line-oriented reader could trip on.
func assertOneSafeJSONLine(t *testing.T, line string) {
	t.Helper()
	require.True(t, strings.HasSuffix(line, "\n"))
	body := line[:len(line)-1]
	require.True(t, json.Valid([]byte(body)), "%q", line)
	require.True(t, utf8.ValidString(body))
	for i := 0; i < len(body); i++ {
		require.GreaterOrEqual(t, body[i], byte(0x20), "raw control byte in %q", line)
	}
	require.NotContains(t, body, "\u2028")
}

// encodingJSON is the reference our escaping must match byte for byte.
func encodingJSON(t testing.TB, s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(s))
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `"quoted"`, `back\slash`, "\x00\x01\x1f\x7f", "\b\f\n\r\t",
		"<html>&amp;", "é日本語🙂", "\xff", "\xc3", "a\xe2\x80", "\xed\xa0\x80", // a surrogate
		"\u2028\u2029", "\xf4\x90\x80\x80", // past U+10FFFF
	} {
		want := encodingJSON(t, s)
		assert.Equal(t, want, string(appendJSONString(nil, s)), "string %q", s)
		assert.Equal(t, want, string(appendJSONString(nil, []byte(s))), "bytes %q", s)
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00\xff", "é\u2028", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		assert.Equal(t, encodingJSON(t, s), string(appendJSONString(nil, []byte(s))))
	})
}

func FuzzCombinedLine(f *testing.F) {
	f.Add("GET", "/", "ref", "ua")
	f.Add("\"", "\r\n", "\\", "\x00\xff")
	f.Fuzz(func(t *testing.T, method, target, ref, ua string) {
		e := sampleEntry()
		e.Method, e.Target, e.Referer, e.UserAgent = method, []byte(target), []byte(ref), []byte(ua)
		line := combined(e)
		assertOneSafeLine(t, line)
		assert.Regexp(t, combinedLine, line)
		e.Host = []byte(target + ua)
		assertOneSafeJSONLine(t, jsonLine(e))
	})
}
