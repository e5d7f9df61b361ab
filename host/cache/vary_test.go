package cache

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVaryMatching(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vary    []string // the response's Vary field lines
		stored  []string // the storing request's fields
		request []string // the looking-up request's fields
		match   bool
	}{
		{"no Vary matches anything", nil, nil, []string{"Accept-Encoding", "br"}, true},
		{"same value", []string{"Accept-Encoding"}, []string{"Accept-Encoding", "gzip, br"}, []string{"Accept-Encoding", "gzip, br"}, true},
		{"whitespace and case of codings", []string{"Accept-Encoding"}, []string{"Accept-Encoding", "gzip, br"},
			[]string{"Accept-Encoding", "GZIP ,\tBr"}, true},
		{"several field lines combine", []string{"Accept-Encoding"}, []string{"Accept-Encoding", "gzip, br"},
			[]string{"Accept-Encoding", "gzip", "Accept-Encoding", "br"}, true},
		{"empty members dropped", []string{"Accept-Encoding"}, []string{"Accept-Encoding", "gzip, br"},
			[]string{"Accept-Encoding", ", gzip,, br,"}, true},
		{"parameters' whitespace", []string{"Accept"}, []string{"Accept", "text/html;q=0.9"},
			[]string{"Accept", "Text/HTML ; q=0.9"}, true},
		{"order matters", []string{"Accept-Encoding"}, []string{"Accept-Encoding", "gzip, br"}, []string{"Accept-Encoding", "br, gzip"}, false},
		{"different value", []string{"Accept-Encoding"}, []string{"Accept-Encoding", "gzip"}, []string{"Accept-Encoding", "br"}, false},
		{"case kept for other fields", []string{"X-Token"}, []string{"X-Token", "abc"}, []string{"X-Token", "ABC"}, false},
		{"field names are case-insensitive", []string{"accept-LANGUAGE"}, []string{"Accept-Language", "fr"}, []string{"ACCEPT-LANGUAGE", "fr"}, true},
		{"quoted whitespace kept", []string{"X-Q"}, []string{"X-Q", `a="x y"`}, []string{"X-Q", `a="xy"`}, false},
		{"quoted whitespace compared", []string{"X-Q"}, []string{"X-Q", `a = "x y"`}, []string{"X-Q", `a="x y"`}, true},
		{"missing in the request", []string{"Accept-Encoding"}, []string{"Accept-Encoding", "gzip"}, nil, false},
		{"missing in both", []string{"Accept-Encoding"}, nil, nil, true},
		{"missing is not empty", []string{"Accept-Encoding"}, nil, []string{"Accept-Encoding", ""}, false},
		{"empty is not missing", []string{"Accept-Encoding"}, []string{"Accept-Encoding", ""}, nil, false},
		{"empty matches empty", []string{"Accept-Encoding"}, []string{"Accept-Encoding", ""}, []string{"Accept-Encoding", " "}, true},
		{"every field must match", []string{"Accept-Encoding, Accept-Language"},
			[]string{"Accept-Encoding", "gzip", "Accept-Language", "fr"},
			[]string{"Accept-Encoding", "gzip", "Accept-Language", "de"}, false},
		{"Vary over several lines", []string{"Accept-Encoding", "Accept-Language"},
			[]string{"Accept-Encoding", "gzip", "Accept-Language", "fr"},
			[]string{"Accept-Language", "fr", "Accept-Encoding", "gzip"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := open(t, t.TempDir(), Options{})
			var pairs []string
			for _, v := range tc.vary {
				pairs = append(pairs, "Vary", v)
			}
			put(t, s, "k", header(tc.stored...), "body", pairs...)
			e := s.Lookup("k", header(tc.request...))
			assert.Equal(t, tc.match, e != nil)
		})
	}
}

func TestVaryVariants(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{})
	for _, enc := range []string{"gzip", "br", "zstd"} {
		put(t, s, "k", header("Accept-Encoding", enc), "body in "+enc, "Vary", "Accept-Encoding", "Content-Encoding", enc)
	}
	put(t, s, "k", header("Accept-Encoding", " GZIP"), "body in gzip, again", "Vary", "Accept-Encoding")
	assert.Equal(t, 3, s.Stats().Entries, "the same variant again replaces it")
	for _, enc := range []string{"br", "zstd"} {
		e := s.Lookup("k", header("Accept-Encoding", enc))
		require.NotNil(t, e)
		assert.Equal(t, "body in "+enc, body(t, e))
	}
	assert.Equal(t, "body in gzip, again", body(t, s.Lookup("k", header("Accept-Encoding", "gzip"))))
	assert.Nil(t, s.Lookup("k", header("Accept-Encoding", "deflate")))
	assert.Nil(t, s.Lookup("k", header()))
}

func TestVaryStar(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, Options{})
	for _, vary := range []string{"*", "Accept-Encoding, *"} {
		_, err := s.Begin("k", header(), response(4, "Vary", vary))
		assert.ErrorIs(t, err, ErrVaryStar, vary)
	}
	assert.Nil(t, s.Lookup("k", header()))
	assert.Empty(t, diskFiles(t, dir))
}
