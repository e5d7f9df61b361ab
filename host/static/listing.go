package static

import (
	"bytes"
	"cmp"
	"encoding/json"
	"html"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"wasmhttpd/host/http1"
)

// entry is one line of a listing.
type entry struct {
	Name     string `json:"name"`
	Dir      bool   `json:"dir"`
	Size     int64  `json:"size"`
	Modified string `json:"modified"` // RFC 3339, UTC
	URL      string `json:"url"`      // the escaped relative link, exact even for names that are not UTF-8
	mtime    time.Time
}

// listOrder is the sort a listing was asked for with ?sort=&order=.
type listOrder struct {
	key  string // "name", "size" or "time"
	desc bool
}

// parseListOrder reads sort= and order= from the raw query; anything
// unknown leaves the default, name ascending.
func parseListOrder(query []byte) listOrder {
	o := listOrder{key: "name"}
	for len(query) > 0 {
		var kv []byte
		if i := bytes.IndexByte(query, '&'); i >= 0 {
			kv, query = query[:i], query[i+1:]
		} else {
			kv, query = query, nil
		}
		k, v, _ := bytes.Cut(kv, []byte{'='})
		switch string(k) {
		case "sort":
			switch string(v) {
			case "name", "size", "time":
				o.key = string(v)
			}
		case "order":
			o.desc = string(v) == "desc"
		}
	}
	return o
}

// readListing reads the directory rel through os.Root, which keeps every
// lookup (symbolic links included) inside the root. Hidden names are left
// out as they are refused (see resolve), and so are entries that cannot
// be served: special files and links that dangle or leave the root.
func (h *Handler) readListing(rel string) ([]entry, error) {
	dir, err := h.root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	des, err := dir.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	entries := make([]entry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if name[0] == '.' && name != wellKnown {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if fi, err = h.root.Stat(joinRel(rel, name)); err != nil {
				continue
			}
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() {
			continue
		}
		e := entry{Name: name, Dir: fi.IsDir(), mtime: fi.ModTime().UTC()}
		if !e.Dir {
			e.Size = fi.Size()
		}
		e.Modified = e.mtime.Format(time.RFC3339)
		u := appendEscaped(nil, []byte(name))
		if e.Dir {
			u = append(u, '/')
		}
		e.URL = string(u)
		entries = append(entries, e)
	}
	return entries, nil
}

func joinRel(rel, name string) string {
	if rel == "." {
		return name
	}
	return rel + "/" + name
}

// sortEntries puts directories first, then orders by the chosen key, ties
// broken by name so that the order is total and stable across requests.
func sortEntries(entries []entry, o listOrder) {
	slices.SortFunc(entries, func(a, b entry) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		c := 0
		switch o.key {
		case "size":
			c = cmp.Compare(a.Size, b.Size)
		case "time":
			c = a.mtime.Compare(b.mtime)
		}
		if c == 0 {
			c = cmp.Compare(a.Name, b.Name)
		}
		if o.desc {
			c = -c
		}
		return c
	})
}

// prefersJSON reports whether the Accept fields rate application/json
// above text/html (RFC 9110 12.5.1: the most specific matching range
// gives a type its quality). Equal ratings, "*/*" among them, get HTML.
func prefersJSON(h *http1.Header) bool {
	qJSON, qHTML := -1, -1
	specJSON, specHTML := -1, -1
	for v := range h.Values("Accept") {
		for elem := range http1.CommaList(v) {
			name, q := parseQElement(elem)
			switch {
			case http1.EqualFold(name, "application/json"):
				qJSON, specJSON = q, 2
			case http1.EqualFold(name, "text/html"):
				qHTML, specHTML = q, 2
			case http1.EqualFold(name, "application/*"):
				if specJSON < 1 {
					qJSON, specJSON = q, 1
				}
			case http1.EqualFold(name, "text/*"):
				if specHTML < 1 {
					qHTML, specHTML = q, 1
				}
			case http1.EqualFold(name, "*/*"):
				if specJSON < 0 {
					qJSON, specJSON = q, 0
				}
				if specHTML < 0 {
					qHTML, specHTML = q, 0
				}
			}
		}
	}
	return qJSON > 0 && qJSON > max(qHTML, 0)
}

// serveListing answers GET or HEAD for a directory without an index.
//
// Listings carry a strong ETag that is a hash of the body itself, and
// Cache-Control: no-cache. A validator derived from the directory's
// mtime would be wrong (rewriting a file in place changes its size and
// time in the listing but not the directory's mtime), while hashing the
// page we have built anyway is exact and cheap, and lets a revalidating
// client get a 304 instead of the page again.
func (h *Handler) serveListing(ex *http1.Exchange, s *scratch, rel []byte) {
	req, w := ex.Request, ex.Response
	entries, err := h.readListing(string(rel))
	if err != nil {
		status, reason := h.openStatus(err)
		w.Error(status, reason+": "+string(req.Path))
		return
	}
	sortEntries(entries, parseListOrder(req.Query))

	var body []byte
	ctype := "text/html; charset=utf-8"
	if prefersJSON(&req.Header) {
		ctype = "application/json"
		if body, err = json.Marshal(entries); err != nil {
			w.Error(500, "cannot encode listing")
			return
		}
		body = append(body, '\n')
	} else {
		body = appendListingHTML(nil, rel, entries, parseListOrder(req.Query))
	}

	hdr := w.Header()
	etag := appendBodyETag(s.val[:0], body)
	hdr.AddBytes([]byte("ETag"), etag)
	hdr.Set("Cache-Control", "no-cache")
	addVary(hdr, "Accept")
	switch preconditions(req, true, etag, -1) {
	case 304:
		w.WriteHeader(304)
		return
	case 412:
		w.Error(412, "precondition failed: "+string(req.Path))
		return
	}
	hdr.Set("Content-Type", ctype)
	w.SetContentLength(int64(len(body)))
	w.WriteHeader(200)
	w.Write(body)
}

// appendBodyETag appends a strong entity-tag made of the FNV-1a hash of
// body.
func appendBodyETag(dst, body []byte) []byte {
	const offset, prime = 14695981039346656037, 1099511628211
	x := uint64(offset)
	for _, c := range body {
		x ^= uint64(c)
		x *= prime
	}
	dst = append(dst, "\"l-"...)
	dst = strconv.AppendUint(dst, x, 16)
	return append(dst, '"')
}

// listingStyle is inlined: a listing needs no other request, and works
// offline and under any Content-Security-Policy that allows inline style.
const listingStyle = `body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222;background:#fff}
h1{font-size:1.3em;font-weight:600;word-break:break-all}
table{border-collapse:collapse;width:100%}
th,td{padding:.25em .75em;text-align:left;white-space:nowrap}
th{border-bottom:1px solid #ccc;font-weight:600}
td.n{white-space:normal;word-break:break-all;width:100%}
.s{text-align:right}
tbody tr:hover td{background:#f2f4f7}
a{color:#0645ad;text-decoration:none}
a:hover{text-decoration:underline}
th a{color:inherit}
@media (prefers-color-scheme:dark){body{background:#121212;color:#ddd}a{color:#8ab4f8}th{border-color:#444}tbody tr:hover td{background:#1e2126}}
`

// appendListingHTML renders the HTML5 listing. Names are HTML-escaped for
// display and percent-escaped in links, so any name (a&b <c>.txt,
// "x".txt, names that are not UTF-8) shows as itself and its link opens
// it. Column headers are plain links to ?sort=…&order=…, so sorting works
// without JavaScript.
func appendListingHTML(b []byte, rel []byte, entries []entry, o listOrder) []byte {
	title := "/"
	if !(len(rel) == 1 && rel[0] == '.') {
		title = "/" + string(rel) + "/"
	}
	title = html.EscapeString(title)
	b = append(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"...)
	b = append(b, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Index of "...)
	b = append(b, title...)
	b = append(b, "</title>\n<style>\n"...)
	b = append(b, listingStyle...)
	b = append(b, "</style>\n</head>\n<body>\n<h1>Index of "...)
	b = append(b, title...)
	b = append(b, "</h1>\n<table>\n<thead><tr>"...)
	b = appendSortHeader(b, "Name", "name", "", o)
	b = appendSortHeader(b, "Size", "size", ` class="s"`, o)
	b = appendSortHeader(b, "Modified", "time", "", o)
	b = append(b, "</tr></thead>\n<tbody>\n"...)
	if title != "/" {
		b = append(b, "<tr><td class=\"n\"><a href=\"../\">../</a></td><td class=\"s\"></td><td></td></tr>\n"...)
	}
	for _, e := range entries {
		b = append(b, "<tr><td class=\"n\"><a href=\""...)
		b = append(b, e.URL...) // no '"', '&', '<' or '>': safe in an attribute
		b = append(b, "\">"...)
		// A name that is not UTF-8 shows U+FFFD where its bad bytes are
		// (the page says charset=utf-8); its link keeps the real bytes.
		b = append(b, html.EscapeString(strings.ToValidUTF8(e.Name, "\uFFFD"))...)
		if e.Dir {
			b = append(b, '/')
		}
		b = append(b, "</a></td><td class=\"s\""...)
		if e.Dir {
			b = append(b, "></td>"...)
		} else {
			b = append(b, " title=\""...)
			b = strconv.AppendInt(b, e.Size, 10)
			b = append(b, " bytes\">"...)
			b = appendHumanSize(b, e.Size)
			b = append(b, "</td>"...)
		}
		b = append(b, "<td><time datetime=\""...)
		b = append(b, e.Modified...)
		b = append(b, "\">"...)
		b = e.mtime.AppendFormat(b, "2006-01-02 15:04")
		b = append(b, "</time></td></tr>\n"...)
	}
	return append(b, "</tbody>\n</table>\n</body>\n</html>\n"...)
}

// appendSortHeader appends a column header linking to the listing sorted
// by key: ascending, or the reverse when already sorted by it. The
// current sort column shows an arrow.
func appendSortHeader(b []byte, label, key, attrs string, o listOrder) []byte {
	order := "asc"
	if o.key == key && !o.desc {
		order = "desc"
	}
	b = append(b, "<th"...)
	b = append(b, attrs...)
	b = append(b, "><a href=\"?sort="...)
	b = append(b, key...)
	b = append(b, "&amp;order="...)
	b = append(b, order...)
	b = append(b, "\">"...)
	b = append(b, label...)
	b = append(b, "</a>"...)
	if o.key == key {
		if o.desc {
			b = append(b, " ↓"...)
		} else {
			b = append(b, " ↑"...)
		}
	}
	return append(b, "</th>"...)
}

// appendHumanSize appends n in binary units with one decimal (1.5 KiB).
func appendHumanSize(b []byte, n int64) []byte {
	if n < 1024 {
		b = strconv.AppendInt(b, n, 10)
		return append(b, " B"...)
	}
	units := [...]string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(n) / 1024
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	b = strconv.AppendFloat(b, f, 'f', 1, 64)
	b = append(b, ' ')
	return append(b, units[i]...)
}
