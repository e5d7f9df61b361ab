package rfc9111

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// rfcExample is the instant of RFC 9110 5.6.7's examples.
var rfcExample = time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC).Unix()

func TestHTTPDate(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want int64 // -1: not a date
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", rfcExample},
		{"Sunday, 06-Nov-94 08:49:37 GMT", rfcExample},
		{"Sun Nov  6 08:49:37 1994", rfcExample},
		{" Sun Nov  6 08:49:37 1994 ", rfcExample},
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0},
		{"Fri, 31 Dec 9999 23:59:59 GMT", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()},
		{"Sun, 06 Nov 1994 08:49:37 UTC", -1},
		{"Sun, 06 Xyz 1994 08:49:37 GMT", -1},
		{"Sun, 6 Nov 1994 08:49:37 GMT", -1},
		{"Sun, 06 Nov 1994 25:49:37 GMT", -1},
		{"Sun, 06 Nov 19x4 08:49:37 GMT", -1},
		{"0", -1},
		{"", -1},
	} {
		got, ok := HTTPDate(tc.v)
		assert.Equal(t, tc.want >= 0, ok, "%q", tc.v)
		if tc.want >= 0 {
			assert.Equal(t, tc.want, got, "%q", tc.v)
		}
	}
}

// TestIMFFixdate: the hand-written parser takes the fixed layout alone,
// each part in range, without allocating.
func TestIMFFixdate(t *testing.T) {
	for v, ok := range map[string]bool{
		"Sun, 06 Nov 1994 08:49:37 GMT": true,
		"Sun, 06 Nov 1994 08:49:37 UTC": false,
		"Sun, 06 Xyz 1994 08:49:37 GMT": false,
		"Sun, 6 Nov 1994 08:49:37 GMT":  false,
		"Sun, 06 Nov 1994 25:49:37 GMT": false,
		"Sun, 06 Nov 1994 08:60:37 GMT": false,
		"Sun, 00 Nov 1994 08:49:37 GMT": false,
		"Sun, 06 Nov 19x4 08:49:37 GMT": false,
		"Sun; 06 Nov 1994 08:49:37 GMT": false,
	} {
		got, parsed := imfFixdate(v)
		assert.Equal(t, ok, parsed, v)
		if ok {
			assert.Equal(t, rfcExample, got, v)
		}
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _, _ = HTTPDate("Sun, 06 Nov 1994 08:49:37 GMT") }))
}

// TestDaysFromCivil: the hand-written date arithmetic agrees with
// time.Date, day overflow included, across leap years and centuries.
func TestDaysFromCivil(t *testing.T) {
	for _, d := range [][3]int{{1970, 1, 1}, {1994, 11, 6}, {2000, 2, 29}, {2100, 3, 1}, {1900, 2, 28},
		{2024, 12, 31}, {2025, 2, 31}, {9999, 12, 31}, {1600, 1, 1}, {1969, 12, 31}, {0, 1, 1}, {0, 3, 1}} {
		want := time.Date(d[0], time.Month(d[1]), d[2], 0, 0, 0, 0, time.UTC).Unix() / 86400
		assert.Equal(t, want, daysFromCivil(d[0], d[1], d[2]), "%v", d)
	}
}

func BenchmarkHTTPDate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := HTTPDate("Sun, 06 Nov 1994 08:49:37 GMT"); !ok {
			b.Fatal("not parsed")
		}
	}
}
