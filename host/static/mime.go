package static

import (
	"bytes"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"
)

// mimeTypes maps lower-case extensions to media types. It is built in
// rather than read from /etc/mime.types so that a file is served with the
// same type on every machine; mime.TypeByExtension is consulted only for
// extensions missing here. Text types carry charset=utf-8: the web is
// UTF-8, and without a charset browsers guess.
var mimeTypes = map[string]string{
	"html": "text/html; charset=utf-8",
	"htm":  "text/html; charset=utf-8",
	"css":  "text/css; charset=utf-8",
	"js":   "text/javascript; charset=utf-8", // RFC 9239
	"mjs":  "text/javascript; charset=utf-8",
	"cjs":  "text/javascript; charset=utf-8",
	"txt":  "text/plain; charset=utf-8",
	"text": "text/plain; charset=utf-8",
	"md":   "text/markdown; charset=utf-8",
	"csv":  "text/csv; charset=utf-8",
	"tsv":  "text/tab-separated-values; charset=utf-8",
	"ics":  "text/calendar; charset=utf-8",
	"vtt":  "text/vtt; charset=utf-8",
	"xml":  "text/xml; charset=utf-8",

	"json":        "application/json",
	"map":         "application/json",
	"jsonld":      "application/ld+json",
	"webmanifest": "application/manifest+json",
	"xhtml":       "application/xhtml+xml",
	"rss":         "application/rss+xml",
	"atom":        "application/atom+xml",
	"yaml":        "application/yaml",
	"yml":         "application/yaml",
	"toml":        "application/toml",
	"wasm":        "application/wasm",
	"pdf":         "application/pdf",

	"svg":  "image/svg+xml",
	"png":  "image/png",
	"apng": "image/apng",
	"jpg":  "image/jpeg",
	"jpeg": "image/jpeg",
	"gif":  "image/gif",
	"webp": "image/webp",
	"avif": "image/avif",
	"jxl":  "image/jxl",
	"bmp":  "image/bmp",
	"ico":  "image/x-icon",
	"tif":  "image/tiff",
	"tiff": "image/tiff",

	"woff":  "font/woff",
	"woff2": "font/woff2",
	"ttf":   "font/ttf",
	"otf":   "font/otf",

	"mp4":  "video/mp4",
	"m4v":  "video/mp4",
	"webm": "video/webm",
	"ogv":  "video/ogg",
	"mov":  "video/quicktime",
	"mp3":  "audio/mpeg",
	"m4a":  "audio/mp4",
	"ogg":  "audio/ogg",
	"oga":  "audio/ogg",
	"opus": "audio/ogg",
	"wav":  "audio/wav",
	"flac": "audio/flac",
	"m3u8": "application/vnd.apple.mpegurl",

	"zip": "application/zip",
	"gz":  "application/gzip",
	"tgz": "application/gzip",
	"br":  "application/x-brotli",
	"zst": "application/zstd",
	"xz":  "application/x-xz",
	"bz2": "application/x-bzip2",
	"tar": "application/x-tar",
	"7z":  "application/x-7z-compressed",
}

// typeByName returns the media type for a file name from its extension,
// or "" when the extension is unknown (or absent) and content sniffing
// must decide.
func typeByName(name []byte) string {
	dot := bytes.LastIndexByte(name, '.')
	slash := bytes.LastIndexByte(name, '/')
	if dot < 0 || dot < slash || dot == len(name)-1 {
		return ""
	}
	ext := name[dot+1:]
	var lower [16]byte
	if len(ext) > len(lower) {
		return ""
	}
	for i, c := range ext {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	if t, ok := mimeTypes[string(lower[:len(ext)])]; ok {
		return t
	}
	// The system table knows rarer types. It is keyed by ".ext".
	t := mime.TypeByExtension(string(name[dot:]))
	if strings.HasPrefix(t, "text/") && !strings.Contains(t, "charset") {
		t += "; charset=utf-8"
	}
	return t
}

// sniffLen is how much of a file content sniffing looks at, as in the
// WHATWG MIME Sniffing standard.
const sniffLen = 512

// signatures are the magic numbers of the binary formats a web server
// meets; offset says where the magic starts. Magics short enough to open
// a line of text ("BM", "BZh", "OTTO") are left to the extension table.
var signatures = []struct {
	offset int
	magic  string
	ctype  string
}{
	{0, "\x89PNG\r\n\x1a\n", "image/png"},
	{0, "\xff\xd8\xff", "image/jpeg"},
	{0, "GIF87a", "image/gif"},
	{0, "GIF89a", "image/gif"},
	{0, "\x00\x00\x01\x00", "image/x-icon"},
	{0, "%PDF-", "application/pdf"},
	{0, "PK\x03\x04", "application/zip"},
	{0, "\x1f\x8b\x08", "application/gzip"},
	{0, "\x28\xb5\x2f\xfd", "application/zstd"},
	{0, "\xfd7zXZ\x00", "application/x-xz"},
	{0, "7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"},
	{0, "\x00asm", "application/wasm"},
	{0, "wOFF", "font/woff"},
	{0, "wOF2", "font/woff2"},
	{0, "\x00\x01\x00\x00\x00", "font/ttf"},
	{0, "\x1a\x45\xdf\xa3", "video/webm"},
	{0, "OggS\x00", "audio/ogg"},
	{0, "ID3", "audio/mpeg"},
	{0, "fLaC", "audio/flac"},
	{257, "ustar", "application/x-tar"},
}

// htmlPrefixes open an HTML document (after leading whitespace, compared
// case-insensitively); each must be followed by a space or '>'.
var htmlPrefixes = []string{"<!doctype html", "<html", "<head", "<body", "<script", "<iframe",
	"<h1", "<div", "<font", "<table", "<a", "<style", "<title", "<b", "<br", "<p", "<!--"}

// sniff guesses a media type from the first bytes of a file. It knows the
// signatures above, RIFF and ISO-BMFF containers, HTML, XML and PDF, and
// otherwise tells text from binary: UTF-8 without binary control bytes is
// text/plain, anything else application/octet-stream. Guessing "text"
// for binary would be worse than the reverse, so a doubt means binary.
func sniff(b []byte) string {
	for _, s := range signatures {
		if len(b) >= s.offset+len(s.magic) && string(b[s.offset:s.offset+len(s.magic)]) == s.magic {
			return s.ctype
		}
	}
	if len(b) >= 12 && string(b[:4]) == "RIFF" {
		switch string(b[8:12]) {
		case "WEBP":
			return "image/webp"
		case "WAVE":
			return "audio/wav"
		case "AVI ":
			return "video/x-msvideo"
		}
	}
	if len(b) >= 12 && string(b[4:8]) == "ftyp" {
		switch string(b[8:12]) {
		case "avif", "avis":
			return "image/avif"
		case "qt  ":
			return "video/quicktime"
		case "M4A ":
			return "audio/mp4"
		}
		return "video/mp4"
	}

	text := b
	if bytes.HasPrefix(text, []byte("\xef\xbb\xbf")) {
		text = text[3:]
	} else if bytes.HasPrefix(text, []byte("\xfe\xff")) || bytes.HasPrefix(text, []byte("\xff\xfe")) {
		return "text/plain; charset=utf-16"
	}
	trimmed := bytes.TrimLeft(text, "\t\n\x0c\r ")
	for _, p := range htmlPrefixes {
		if len(trimmed) > len(p) && bytes.EqualFold(trimmed[:len(p)], []byte(p)) {
			if c := trimmed[len(p)]; c == ' ' || c == '>' || p == "<!--" {
				return "text/html; charset=utf-8"
			}
		}
	}
	if bytes.HasPrefix(trimmed, []byte("<?xml")) {
		return "text/xml; charset=utf-8"
	}
	if isText(text) {
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}

// isText reports whether b looks like UTF-8 text: valid UTF-8 (a rune cut
// by the end of the sniffed window is forgiven) and no control bytes
// other than the whitespace ones and ESC.
func isText(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\x0c' && c != 0x1b || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			if len(b)-i < utf8.UTFMax && !utf8.FullRune(b[i:]) {
				return true
			}
			return false
		}
		i += size
	}
	return true
}

// typeMatcher decides which media types are worth compressing.
type typeMatcher struct {
	exact    map[string]bool // "application/json"
	prefixes []string        // "text/" from "text/*"
	all      bool            // "*/*" or "*"
}

func newTypeMatcher(patterns []string) (typeMatcher, error) {
	m := typeMatcher{exact: map[string]bool{}}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		switch {
		case p == "*" || p == "*/*":
			m.all = true
		case strings.HasSuffix(p, "/*") && strings.Count(p, "/") == 1 && len(p) > 2:
			m.prefixes = append(m.prefixes, p[:len(p)-1])
		case strings.Count(p, "/") == 1 && !strings.ContainsAny(p, "*; ") && p[0] != '/' && p[len(p)-1] != '/':
			m.exact[p] = true
		default:
			return m, fmt.Errorf("static: compress type %q: want type/subtype or type/*", p)
		}
	}
	return m, nil
}

// match reports whether ctype (parameters allowed) is compressible.
func (m *typeMatcher) match(ctype string) bool {
	if m.all {
		return true
	}
	if i := strings.IndexByte(ctype, ';'); i >= 0 {
		ctype = ctype[:i]
	}
	ctype = strings.TrimSpace(ctype)
	if m.exact[ctype] {
		return true
	}
	for _, p := range m.prefixes {
		if len(ctype) > len(p) && strings.EqualFold(ctype[:len(p)], p) {
			return true
		}
	}
	return false
}
