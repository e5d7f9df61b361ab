package main

import (
	"strconv"
	"strings"
	"time"
)

// directives is a parsed Cache-Control field (RFC 9111 5.2): names
// lower-cased, values unquoted; a directive given twice with different
// values is conflicting, which for delta-seconds means "stale".
type directives map[string]string

// conflicting marks a directive whose occurrences disagree.
const conflicting = "\x00conflict"

// parseDirectives parses every Cache-Control line given.
func parseDirectives(lines []string) directives {
	d := directives{}
	for _, line := range lines {
		for len(line) > 0 {
			var item string
			item, line = nextItem(line)
			name, value, _ := strings.Cut(item, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			value = unquote(strings.TrimSpace(value))
			if old, ok := d[name]; ok && old != value {
				value = conflicting
			}
			d[name] = value
		}
	}
	return d
}

// nextItem splits at the first comma outside a quoted string.
func nextItem(s string) (item, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func unquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' && i+1 < len(v)-1 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// has reports whether the directive is present, with or without a value.
func (d directives) has(name string) bool {
	_, ok := d[name]
	return ok
}

// maxDelta is 2^31 s, the value RFC 9111 1.2.2 says a larger delta-seconds
// is to be taken as.
const maxDelta = 1 << 31

// seconds returns a delta-seconds directive (RFC 9111 1.2.2): ok is false
// when it is absent. A value that is malformed or conflicting is 0, so a
// response carrying it is stale (RFC 9111 4.2.1); a value too large is
// 2^31.
func (d directives) seconds(name string) (secs int64, ok bool) {
	v, present := d[name]
	if !present {
		return 0, false
	}
	if v == "" || v == conflicting {
		return 0, true
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, true
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > maxDelta {
		return maxDelta, true
	}
	return n, true
}

// httpDate parses the three date formats RFC 9110 5.6.7 says a recipient
// must accept.
func httpDate(v string) (time.Time, bool) {
	for _, layout := range [...]string{
		"Mon, 02 Jan 2006 15:04:05 GMT",  // IMF-fixdate
		"Monday, 02-Jan-06 15:04:05 GMT", // RFC 850
		"Mon Jan _2 15:04:05 2006",       // asctime
	} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// stored is what the freshness rules read of a response.
type stored struct {
	status       uint32
	cc           directives
	date         time.Time // Date, or the response time when absent or invalid
	age          int64     // Age, 0 when absent or invalid
	expires      string
	lastModified string
	hasValidator bool
}

// currentAge is RFC 9111 4.2.3.
func (s *stored) currentAge(requestTime, responseTime, now time.Time) time.Duration {
	apparent := max(0, responseTime.Sub(s.date))
	delay := responseTime.Sub(requestTime)
	correctedAgeValue := time.Duration(s.age)*time.Second + delay
	correctedInitial := max(apparent, correctedAgeValue)
	resident := now.Sub(responseTime)
	return correctedInitial + resident
}

// heuristicStatuses are the status codes RFC 9110 15.1 defines as
// heuristically cacheable.
var heuristicStatuses = map[uint32]bool{200: true, 203: true, 204: true, 206: true, 300: true, 301: true,
	308: true, 404: true, 405: true, 410: true, 414: true, 501: true}

// freshnessLifetime is RFC 9111 4.2.1 for a shared cache (s-maxage
// first), or a private one, then 4.2.2's heuristic; explicit says whether
// it came from the response rather than the heuristic.
func (s *stored) freshnessLifetime(shared bool, heuristic float64, maxHeuristic time.Duration) (lifetime time.Duration, explicit bool) {
	if shared {
		if v, ok := s.cc.seconds("s-maxage"); ok {
			return time.Duration(v) * time.Second, true
		}
	}
	if v, ok := s.cc.seconds("max-age"); ok {
		return time.Duration(v) * time.Second, true
	}
	if s.expires != "" {
		exp, ok := httpDate(s.expires)
		if !ok {
			return 0, true // an invalid Expires means already expired
		}
		return max(0, exp.Sub(s.date)), true
	}
	if !heuristicStatuses[s.status] && !s.cc.has("public") {
		return 0, false
	}
	if lm, ok := httpDate(s.lastModified); ok && lm.Before(s.date) {
		return min(time.Duration(float64(s.date.Sub(lm))*heuristic), maxHeuristic), false
	}
	return 0, false
}

// mustRevalidate reports whether a stale response may never be served
// stale (RFC 9111 5.2.2.2, 5.2.2.8, 5.2.2.10: s-maxage implies
// proxy-revalidate in a shared cache).
func (s *stored) mustRevalidate(shared bool) bool {
	return s.cc.has("must-revalidate") || shared && (s.cc.has("proxy-revalidate") || s.cc.has("s-maxage"))
}
