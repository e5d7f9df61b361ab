package rfc9111

import (
	"strings"
	"time"
)

// HTTPDate parses an HTTP-date into Unix seconds; ok is false when v is
// none. It accepts the three formats RFC 9110 5.6.7 says a recipient must:
// IMF-fixdate, which every current server sends, by hand and without
// allocating; the obsolete two with time.Parse.
func HTTPDate(v string) (unix int64, ok bool) {
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
