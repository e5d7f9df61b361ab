package main

import (
	"strconv"
	"strings"
	"time"
)

// directive is one Cache-Control directive (RFC 9111 5.2): the name
// lower-cased, the value unquoted.
type directive struct{ name, value string }

// directives is a parsed Cache-Control field. A directive given twice with
// different values is conflicting, which for delta-seconds means "stale".
// It is a slice, not a map, and parsing appends to one the caller reuses:
// a field holds a handful of directives, and every allocation costs a
// standard-Go guest about a microsecond.
type directives []directive

// conflicting marks a directive whose occurrences disagree.
const conflicting = "\x00conflict"

// parseDirectives appends the directives of every Cache-Control line to
// dst[:0]. Names and values are substrings of the lines.
func parseDirectives(dst directives, lines []string) directives {
	d := dst[:0]
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
			if i := d.index(name); i >= 0 {
				if d[i].value != value {
					d[i].value = conflicting
				}
				continue
			}
			d = append(d, directive{name, value})
		}
	}
	return d
}

func (d directives) index(name string) int {
	for i := range d {
		if d[i].name == name {
			return i
		}
	}
	return -1
}

// get returns a directive's value and whether it is present.
func (d directives) get(name string) (string, bool) {
	if i := d.index(name); i >= 0 {
		return d[i].value, true
	}
	return "", false
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
	if !strings.Contains(v, `\\`) {
		return v[1 : len(v)-1]
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
func (d directives) has(name string) bool { return d.index(name) >= 0 }

// maxDelta is 2^31 s, the value RFC 9111 1.2.2 says a larger delta-seconds
// is to be taken as.
const maxDelta = 1 << 31

// seconds returns a delta-seconds directive (RFC 9111 1.2.2): ok is false
// when it is absent. A value that is malformed or conflicting is 0, so a
// response carrying it is stale (RFC 9111 4.2.1); a value too large is
// 2^31.
func (d directives) seconds(name string) (secs int64, ok bool) {
	v, present := d.get(name)
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
// must accept, into Unix seconds: IMF-fixdate, which every current server
// sends, by hand and without allocating; the obsolete two with time.Parse.
func httpDate(v string) (int64, bool) {
	if t, ok := imfFixdate(v); ok {
		return t, true
	}
	for _, layout := range [...]string{
		"Mon, 02 Jan 2006 15:04:05 GMT",  // IMF-fixdate
		"Monday, 02-Jan-06 15:04:05 GMT", // RFC 850
		"Mon Jan _2 15:04:05 2006",       // asctime
	} {
		if t, err := time.Parse(layout, strings.TrimSpace(v)); err == nil {
			return t.Unix(), true
		}
	}
	return 0, false
}

// imfFixdate parses "Sun, 06 Nov 1994 08:49:37 GMT" into Unix seconds.
func imfFixdate(v string) (int64, bool) {
	if len(v) != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' || v[16] != ' ' ||
		v[19] != ':' || v[22] != ':' || v[25:] != " GMT" {
		return 0, false
	}
	month := monthOf(v[8:11])
	day, ok1 := digits(v[5:7])
	year, ok2 := digits(v[12:16])
	hour, ok3 := digits(v[17:19])
	minute, ok4 := digits(v[20:22])
	sec, ok5 := digits(v[23:25])
	if month == 0 || !(ok1 && ok2 && ok3 && ok4 && ok5) || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	return daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec), true
}

// daysFromCivil counts the days from 1970-01-01 to a date of the
// proleptic Gregorian calendar (a day past its month's end runs into the
// next month, as time.Date has it), by the era arithmetic of Howard
// Hinnant's "chrono-compatible low-level date algorithms": time.Date
// does the same and more, at several times the cost in a guest.
func daysFromCivil(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := year
	if era < 0 { // year 0000 in January or February
		era -= 399
	}
	era /= 400
	yearOfEra := year - era*400
	m := month + 9 // March is month 0
	if month > 2 {
		m = month - 3
	}
	dayOfYear := (153*m+2)/5 + day - 1
	dayOfEra := yearOfEra*365 + yearOfEra/4 - yearOfEra/100 + dayOfYear
	return int64(era*146097+dayOfEra) - 719468
}

// monthOf is the number (1-12) of an English three-letter month name, 0
// for anything else.
func monthOf(name string) int {
	switch name {
	case "Jan":
		return 1
	case "Feb":
		return 2
	case "Mar":
		return 3
	case "Apr":
		return 4
	case "May":
		return 5
	case "Jun":
		return 6
	case "Jul":
		return 7
	case "Aug":
		return 8
	case "Sep":
		return 9
	case "Oct":
		return 10
	case "Nov":
		return 11
	case "Dec":
		return 12
	}
	return 0
}

// digits parses a run of decimal digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// stored is what the freshness rules read of a response. Times are Unix
// seconds, durations seconds: HTTP has nothing finer.
type stored struct {
	status       uint32
	cc           directives
	date         int64 // Date, or the response time when absent or invalid
	age          int64 // Age, 0 when absent or invalid
	expires      string
	lastModified string
	hasValidator bool
}

// currentAge is RFC 9111 4.2.3.
func (s *stored) currentAge(requestTime, responseTime, now int64) int64 {
	apparent := max(0, responseTime-s.date)
	delay := responseTime - requestTime
	correctedAgeValue := s.age + delay
	correctedInitial := max(apparent, correctedAgeValue)
	resident := now - responseTime
	return correctedInitial + resident
}

// heuristicallyCacheable reports the status codes RFC 9110 15.1 defines
// as heuristically cacheable. A switch rather than a map: it is asked on
// every lookup, and a map lookup costs a standard-Go guest more.
func heuristicallyCacheable(status uint32) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// freshnessLifetime is RFC 9111 4.2.1 for a shared cache (s-maxage
// first), or a private one, then 4.2.2's heuristic; explicit says whether
// it came from the response rather than the heuristic.
func (s *stored) freshnessLifetime(shared bool, heuristic float64, maxHeuristic int64) (lifetime int64, explicit bool) {
	if shared {
		if v, ok := s.cc.seconds("s-maxage"); ok {
			return v, true
		}
	}
	if v, ok := s.cc.seconds("max-age"); ok {
		return v, true
	}
	if s.expires != "" {
		exp, ok := httpDate(s.expires)
		if !ok {
			return 0, true // an invalid Expires means already expired
		}
		return max(0, exp-s.date), true
	}
	// A 304 refreshes a response that was stored already: the heuristic
	// applies as it did to that one.
	if !heuristicallyCacheable(s.status) && s.status != 304 && !s.cc.has("public") {
		return 0, false
	}
	if lm, ok := httpDate(s.lastModified); ok && lm < s.date {
		return min(int64(float64(s.date-lm)*heuristic), maxHeuristic), false
	}
	return 0, false
}

// mustRevalidate reports whether a stale response may never be served
// stale (RFC 9111 5.2.2.2, 5.2.2.8, 5.2.2.10: s-maxage implies
// proxy-revalidate in a shared cache).
func (s *stored) mustRevalidate(shared bool) bool {
	return s.cc.has("must-revalidate") || shared && (s.cc.has("proxy-revalidate") || s.cc.has("s-maxage"))
}
