package rfc9111

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseDirectives(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  Directives
	}{
		{"none", nil, nil},
		{"names lower-cased, spaces trimmed", []string{" Max-Age = 10 ,NO-CACHE"}, Directives{{"max-age", "10"}, {"no-cache", ""}}},
		{"quoted value unquoted", []string{`s-maxage="20"`}, Directives{{"s-maxage", "20"}}},
		{"comma inside quotes", []string{`private="set-cookie, x", no-store`}, Directives{{"private", "set-cookie, x"}, {"no-store", ""}}},
		{"quoted-pair", []string{`x="a\\b\"c, d", y`}, Directives{{"x", `a\b"c, d`}, {"y", ""}}},
		{"quoted-pair alone", []string{`x="a\"b"`}, Directives{{"x", `a"b`}}},
		{"empty items skipped", []string{",, public ,", ""}, Directives{{"public", ""}}},
		{"over several lines", []string{"max-age=10", "public"}, Directives{{"max-age", "10"}, {"public", ""}}},
		{"repeated with the same value", []string{"max-age=10", "Max-Age=10"}, Directives{{"max-age", "10"}}},
		{"repeated with another value conflicts", []string{"max-age=10, public", "max-age=20"}, Directives{{"max-age", Conflicting}, {"public", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ParseDirectives(nil, tc.lines))
		})
	}
}

// TestParseDirectivesReusesDst: parsing again into the result of an
// earlier parse neither allocates nor keeps the earlier directives.
func TestParseDirectivesReusesDst(t *testing.T) {
	d := ParseDirectives(nil, []string{"a, b, c, d"})
	d = ParseDirectives(d, []string{"no-store"})
	assert.Equal(t, Directives{{"no-store", ""}}, d)
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		d = ParseDirectives(d, []string{`max-age=60, private="x", must-revalidate`})
	}))
}

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		field string
		secs  int64
		ok    bool
	}{
		{"max-age=60", 60, true},
		{`max-age="60"`, 60, true},
		{"max-age=0", 0, true},
		{"max-age", 0, true},
		{"max-age=abc", 0, true},
		{"max-age=-5", 0, true},
		{"max-age=+5", 0, true},
		{"max-age=1.5", 0, true},
		{"max-age=2147483648", MaxDelta, true},
		{"max-age=99999999999", MaxDelta, true},
		{"max-age=99999999999999999999999", MaxDelta, true},
		{"max-age=60, max-age=30", 0, true},
		{"s-maxage=60", 0, false},
	} {
		secs, ok := ParseDirectives(nil, []string{tc.field}).Seconds("max-age")
		assert.Equal(t, tc.ok, ok, tc.field)
		assert.Equal(t, tc.secs, secs, tc.field)
	}
}

func TestGetHas(t *testing.T) {
	d := ParseDirectives(nil, []string{`private="set-cookie", no-cache`})
	v, ok := d.Get("private")
	assert.True(t, ok)
	assert.Equal(t, "set-cookie", v)
	v, ok = d.Get("no-cache")
	assert.True(t, ok)
	assert.Empty(t, v)
	_, ok = d.Get("public")
	assert.False(t, ok)
	assert.True(t, d.Has("no-cache"))
	assert.False(t, d.Has("no-store"))
}

func TestMaxAge(t *testing.T) {
	for _, tc := range []struct {
		field  string
		shared bool
		secs   int64
		ok     bool
	}{
		{"max-age=60, s-maxage=300", true, 300, true},
		{"max-age=60, s-maxage=300", false, 60, true},
		{"s-maxage=300", false, 0, false},
		{"s-maxage=x, max-age=60", true, 0, true},
		{"public", true, 0, false},
	} {
		secs, ok := ParseDirectives(nil, []string{tc.field}).MaxAge(tc.shared)
		assert.Equal(t, tc.ok, ok, "%s shared=%v", tc.field, tc.shared)
		assert.Equal(t, tc.secs, secs, "%s shared=%v", tc.field, tc.shared)
	}
}
