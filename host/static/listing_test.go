package static

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listingRoot has a directory of awkward names with distinct sizes and
// times.
func listingRoot(t *testing.T) (string, []string) {
	root := makeRoot(t)
	names := []string{"a&b <c>.txt", `"x".txt`, "100% done.txt", "a:b.txt", "ünï.txt", "q?.txt", "hash#.txt",
		"plus+semi;.txt", "bad-\xff.txt"}
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, n := range names {
		write(t, root, "list/"+n, strings.Repeat("x", (i+1)*10))
		touch(t, root, "list/"+n, base.Add(time.Duration(len(names)-i)*time.Hour))
	}
	write(t, root, "list/zdir/f.txt", "f")
	write(t, root, "list/adir/f.txt", "f")
	write(t, root, "list/.hidden", "no")
	write(t, root, "list/.f.txt.tmp-123", "no")
	return root, names
}

var hrefRE = regexp.MustCompile(`<td class="n"><a href="([^"]*)">([^<]*)</a>`)

func TestListingHTML(t *testing.T) {
	root, names := listingRoot(t)
	h := newHandler(t, Config{Root: root, Listing: true, Index: []string{}}, false)

	res := get(t, h, "GET", "/list/")
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	assert.True(t, strings.HasPrefix(res.body, "<!DOCTYPE html>"))
	assert.Contains(t, res.body, "<title>Index of /list/</title>")
	assert.Contains(t, res.body, "<style>", "inline CSS")
	assert.NotRegexp(t, `<link|<script|src=`, res.body, "no external assets")
	assert.Contains(t, res.body, "a&amp;b &lt;c&gt;.txt")
	assert.Contains(t, res.body, "&#34;x&#34;.txt")
	assert.NotContains(t, res.body, "<c>")
	assert.NotContains(t, res.body, ".hidden")
	assert.NotContains(t, res.body, ".tmp-")

	links := hrefRE.FindAllStringSubmatch(res.body, -1)
	require.Len(t, links, 1+2+len(names), "parent, two directories, the files")
	assert.Equal(t, "../", links[0][1], "parent link first")
	assert.Equal(t, "adir/", links[1][1], "directories first, with a slash")
	assert.Equal(t, "zdir/", links[2][1])

	// Every link opens its file: names round-trip through the escaping.
	opened := 0
	for _, l := range links[3:] {
		href := l[1]
		assert.Regexp(t, `^[A-Za-z0-9._~%!$'()*+,=@-]+$`, href, "only safe bytes and escapes")
		file := get(t, h, "GET", "/list/"+href)
		require.Equal(t, 200, file.StatusCode, href)
		for i, n := range names {
			if file.body == strings.Repeat("x", (i+1)*10) {
				assert.Equal(t, n, decodeForTest(t, href), "link %s opens %q", href, n)
				opened++
			}
		}
	}
	assert.Equal(t, len(names), opened)

	// Sort links work without JavaScript.
	assert.Contains(t, res.body, `href="?sort=name&amp;order=desc">Name</a> ↑`, "name ascending by default; the link reverses")
	assert.Contains(t, res.body, `href="?sort=size&amp;order=asc">Size</a>`)
	assert.Contains(t, res.body, `href="?sort=time&amp;order=asc">Modified</a>`)

	root2 := get(t, h, "GET", "/")
	assert.NotContains(t, root2.body, `href="../"`, "no parent link at the root")

	head := get(t, h, "HEAD", "/list/")
	assert.Equal(t, res.ContentLength, head.ContentLength)
	assert.Empty(t, head.body)
}

func decodeForTest(t *testing.T, href string) string {
	t.Helper()
	rel, _, err := resolve(nil, []byte("/"+href))
	require.Nil(t, err)
	return string(rel)
}

func TestListingSort(t *testing.T) {
	root, names := listingRoot(t)
	h := newHandler(t, Config{Root: root, Listing: true}, false)
	order := func(query string) []string {
		res := get(t, h, "GET", "/list/"+query)
		require.Equal(t, 200, res.StatusCode)
		var got []string
		for _, l := range hrefRE.FindAllStringSubmatch(res.body, -1)[1:] {
			got = append(got, decodeForTest(t, l[1]))
		}
		return got
	}
	// Sizes grow with the index, times shrink with it.
	bySizeDesc := []string{"zdir", "adir"}
	byTimeAsc := []string{"adir", "zdir"}
	for i := len(names) - 1; i >= 0; i-- {
		bySizeDesc = append(bySizeDesc, names[i])
		byTimeAsc = append(byTimeAsc, names[i])
	}
	got := order("?sort=size&order=desc")
	assert.Equal(t, "zdir", got[0], "directories stay first, in the requested order")
	assert.Equal(t, bySizeDesc[2:], got[2:])
	assert.Equal(t, byTimeAsc[2:], order("?sort=time&order=asc")[2:])
	byName := order("")
	assert.Equal(t, []string{"adir", "zdir"}, byName[:2])
	assert.True(t, sortedStrings(byName[2:]), "%q", byName)
	assert.Equal(t, byName, order("?sort=bogus&x=1"), "unknown parameters fall back to name")

	res := get(t, h, "GET", "/list/?sort=size&order=desc")
	assert.Contains(t, res.body, `href="?sort=size&amp;order=asc">Size</a> ↓`)
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] > s[i] {
			return false
		}
	}
	return true
}

func TestListingJSON(t *testing.T) {
	root, names := listingRoot(t)
	h := newHandler(t, Config{Root: root, Listing: true}, false)
	res := get(t, h, "GET", "/list/?sort=size", "Accept: application/json")
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
	var entries []struct {
		Name     string `json:"name"`
		Dir      bool   `json:"dir"`
		Size     int64  `json:"size"`
		Modified string `json:"modified"`
		URL      string `json:"url"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.body), &entries))
	require.Len(t, entries, 2+len(names))
	assert.Equal(t, "adir", entries[0].Name)
	assert.True(t, entries[0].Dir)
	assert.Equal(t, "adir/", entries[0].URL)
	for i, e := range entries[2:] {
		assert.False(t, e.Dir)
		assert.Equal(t, int64((i+1)*10), e.Size, "sorted by size")
		mod, err := time.Parse(time.RFC3339, e.Modified)
		require.NoError(t, err)
		assert.Equal(t, time.Date(2024, 3, 1, len(names)-i, 0, 0, 0, time.UTC), mod)
		assert.Equal(t, 200, get(t, h, "GET", "/list/"+e.URL).StatusCode, e.URL)
	}

	for accept, json := range map[string]bool{
		"application/json":                  true,
		"text/html;q=0.9, application/json": true,
		"application/*":                     true,
		"*/*":                               false,
		"application/json;q=0.5, text/html": false,
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": false,
		"application/json;q=0":                 false,
		"text/*;q=0.1, application/json;q=0.2": true,
	} {
		res := get(t, h, "GET", "/list/", "Accept: "+accept)
		assert.Equal(t, json, res.Header.Get("Content-Type") == "application/json", accept)
		assert.Equal(t, "Accept", res.Header.Get("Vary"))
	}
}

func TestListingValidators(t *testing.T) {
	root, _ := listingRoot(t)
	h := newHandler(t, Config{Root: root, Listing: true}, false)
	res := get(t, h, "GET", "/list/")
	etag := res.Header.Get("ETag")
	assert.Regexp(t, `^"l-[0-9a-f]+"$`, etag)
	assert.Equal(t, "no-cache", res.Header.Get("Cache-Control"))
	assert.Empty(t, res.Header.Get("Last-Modified"))

	again := get(t, h, "GET", "/list/", "If-None-Match: "+etag)
	assert.Equal(t, 304, again.StatusCode)
	dated := get(t, h, "GET", "/list/", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT")
	assert.Equal(t, 200, dated.StatusCode, "no Last-Modified, so dates are ignored")

	// Rewriting a file in place leaves the directory's mtime alone but
	// changes the listing, and so its ETag.
	write(t, root, "list/a:b.txt", strings.Repeat("y", 999))
	changed := get(t, h, "GET", "/list/", "If-None-Match: "+etag)
	assert.Equal(t, 200, changed.StatusCode)
	assert.NotEqual(t, etag, changed.Header.Get("ETag"))

	jsonRes := get(t, h, "GET", "/list/", "Accept: application/json")
	assert.NotEqual(t, changed.Header.Get("ETag"), jsonRes.Header.Get("ETag"), "HTML and JSON differ")
}
