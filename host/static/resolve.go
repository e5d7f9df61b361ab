package static

import "wasmhttpd/host/http1"

// pathError is a request path refused before the file system is touched.
// The reasons are constants, so a refusal costs no allocation and never
// echoes a server path.
type pathError struct {
	status int
	reason string
}

var (
	errNotAbsolute  = &pathError{400, "request path does not start with /"}
	errBadEscape    = &pathError{400, "malformed percent-escape in path"}
	errEncodedSlash = &pathError{400, "encoded slash (%2F) in path: ambiguous, refused"}
	errBackslash    = &pathError{400, "backslash in path"}
	errNUL          = &pathError{400, "NUL byte in path"}
	errControl      = &pathError{400, "control character in path"}
	errDotDot       = &pathError{400, "dot-dot segment in path"}
	errHidden       = &pathError{403, "hidden file or directory (name starts with a dot): refused"}
)

// wellKnown is the one dot-directory served (RFC 8615): ACME challenges,
// security.txt and the like live there.
const wellKnown = ".well-known"

// resolve decodes the percent-encoded request path p into dst and returns
// it relative to the root: segments joined by '/', with no leading slash,
// or "." for the root itself. dirSlash reports whether p ended with '/'.
//
// The rules, and why:
//   - Empty and "." segments are dropped (as nginx's merge_slashes does):
//     they name the same resource and cannot climb.
//   - ".." (also spelt %2e%2e) is refused with 400 rather than resolved:
//     clients normalise dot-segments before sending (RFC 3986 5.2.4), so
//     one on the wire is a probe or a bug, and resolving it lexically
//     would only make one file reachable under many names.
//   - An encoded slash (%2F) is refused: it would make one segment look
//     like two to the file system and one to everything before it.
//   - Backslashes, NUL and other control bytes are refused: no web path
//     needs them, and they are how Windows-style traversal, C-string
//     truncation and log injection start.
//   - A segment starting with '.' other than .well-known is refused with
//     403. nginx and Caddy serve dotfiles by default, which is how .git/,
//     .env and .htpasswd leak; the document root is for publishing, so the
//     safe default wins, and the refusal says why rather than pretending
//     the file is missing. It also keeps the writers' temporary files
//     (".name.tmp-…") invisible.
//
// Containment does not rest on this function alone: the result is opened
// beneath the root by the kernel (openat2 RESOLVE_BENEATH) or by os.Root,
// so symbolic links cannot leave the root either.
func resolve(dst, p []byte) (rel []byte, dirSlash bool, err *pathError) {
	if len(p) == 0 || p[0] != '/' {
		return dst, false, errNotAbsolute
	}
	dst = dst[:0]
	i := 0
	for i < len(p) {
		if p[i] == '/' {
			i++
			continue
		}
		sep := len(dst)
		if sep > 0 {
			dst = append(dst, '/')
		}
		start := len(dst)
		for i < len(p) && p[i] != '/' {
			c := p[i]
			if c == '%' {
				if i+2 >= len(p) {
					return dst, false, errBadEscape
				}
				hi, lo := http1.HexDigit(p[i+1]), http1.HexDigit(p[i+2])
				if hi < 0 || lo < 0 {
					return dst, false, errBadEscape
				}
				c = byte(hi<<4 | lo)
				i += 3
				if c == '/' {
					return dst, false, errEncodedSlash
				}
			} else {
				i++
			}
			switch {
			case c == 0:
				return dst, false, errNUL
			case c == '\\':
				return dst, false, errBackslash
			case c < 0x20 || c == 0x7f:
				return dst, false, errControl
			}
			dst = append(dst, c)
		}
		seg := dst[start:]
		switch {
		case len(seg) == 1 && seg[0] == '.':
			dst = dst[:sep]
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			return dst, false, errDotDot
		case seg[0] == '.' && string(seg) != wellKnown:
			return dst, false, errHidden
		}
	}
	if len(dst) == 0 {
		dst = append(dst, '.')
	}
	return dst, p[len(p)-1] == '/', nil
}

// segmentSafe marks the bytes a path segment may carry unescaped:
// RFC 3986's unreserved set and the sub-delimiters and '@' that pchar
// allows, so "post(1).txt" stays readable. Three pchars are escaped all
// the same: ':' (in a relative link, "a:b" would read as a scheme), '&'
// (an HTML entity start inside href) and ';' (path parameters to some
// software). Escaping more than needed is always correct.
var segmentSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$'()*+,=@" {
		t[c] = true
	}
	return t
}()

// appendEscaped appends name percent-escaped as one path segment.
func appendEscaped(dst []byte, name []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range name {
		if segmentSafe[c] {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// appendURLPath appends the absolute URL path of rel (as resolve returns
// it), each segment escaped. It is how Locations are built: from the
// canonical segments, never from the raw request, so "//evil.example"
// cannot turn into a protocol-relative redirect.
func appendURLPath(dst []byte, rel []byte) []byte {
	dst = append(dst, '/')
	if len(rel) == 1 && rel[0] == '.' {
		return dst
	}
	start := 0
	for i := 0; i <= len(rel); i++ {
		if i == len(rel) || rel[i] == '/' {
			if start > 0 {
				dst = append(dst, '/')
			}
			dst = appendEscaped(dst, rel[start:i])
			start = i + 1
		}
	}
	return dst
}
