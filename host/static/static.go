// Package static serves a document root over http1: path resolution that
// cannot leave the root, GET and HEAD with validators, conditional
// requests, byte ranges, content negotiation of encodings (on-the-fly gzip
// and precompressed sidecars), directory listings in HTML and JSON, and,
// when enabled, atomic PUT, POST and DELETE.
//
// It is built for Linux. The hot path opens files with openat2(2) and
// RESOLVE_BENEATH, so that the kernel itself refuses any escape from the
// root in one system call; keeps small files open between requests,
// revalidating each use by inode (see fdCache); reads small bodies with
// pread into the connection's buffer and hands large ones to sendfile.
// Where openat2 is unavailable (old kernels, restrictive seccomp
// profiles, other systems) reads fall back to os.Root, which enforces the
// same containment in user space, and the open-file cache is off. Writes,
// listings and every other cold path always go through os.Root.
package static

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"wasmhttpd/host/http1"
)

// Config says what to serve and which features to enable. The zero value
// of every field but Root is usable.
type Config struct {
	// Root is the document root, absolute or relative to the working
	// directory. It must exist and be a directory.
	Root string

	// Index names the files tried, in order, for a request naming a
	// directory. nil means ["index.html"]; an empty non-nil slice turns
	// index files off.
	Index []string

	// Listing enables directory listings for directories without an index
	// file. Without it such a request gets 403.
	Listing bool

	// Writes enables PUT, POST and DELETE. Without it they get 405.
	Writes bool

	// Compress enables gzip on the fly for responses whose media type
	// matches CompressTypes and whose size is at least CompressMinSize.
	Compress bool

	// CompressMinSize is the smallest file compressed on the fly. 0 means
	// DefaultCompressMinSize; below a few hundred bytes gzip's own framing
	// eats the gain. Set 1 to compress every non-empty file.
	CompressMinSize int64

	// CompressTypes lists the media types worth compressing, as exact
	// types ("application/json") or type wildcards ("text/*"). nil means
	// DefaultCompressTypes. Precompressed sidecars are looked for only for
	// these types too, so that an image request costs no extra lookups.
	CompressTypes []string

	// Precompressed serves x.br, x.zst and x.gz beside x when the client
	// accepts the encoding and the sidecar is at least as new as x.
	Precompressed bool

	// MaxBody bounds the body of a PUT or POST (413 above). 0 means
	// http1.DefaultLimits.MaxBody.
	MaxBody int64
}

// DefaultCompressMinSize is the CompressMinSize used when the Config
// leaves it zero.
const DefaultCompressMinSize = 256

// DefaultCompressTypes are the media types compressed when the Config
// leaves CompressTypes nil: text, and the structured or script formats
// that are text in all but name. Images, audio, video, fonts in WOFF and
// archives are compressed already.
var DefaultCompressTypes = []string{
	"text/*",
	"application/javascript",
	"application/json",
	"application/manifest+json",
	"application/ld+json",
	"application/xml",
	"application/xhtml+xml",
	"application/rss+xml",
	"application/atom+xml",
	"application/wasm",
	"application/yaml",
	"application/toml",
	"image/svg+xml",
	"image/x-icon",
	"font/ttf",
	"font/otf",
}

// Handler serves one document root. It is safe for concurrent use.
type Handler struct {
	root   *os.Root // writes, listings, and the fallback for reads
	rootFD int      // the root directory for openat2; -1 when unused
	cache  *fdCache // small files kept open; nil without openat2 and fstatat
	escape error    // os.Root's (unexported) error for an escaping path

	index         []string
	listing       bool
	writes        bool
	compress      bool
	precompressed bool
	minSize       int64
	types         typeMatcher
	maxBody       int64
	allow         string

	// locks serialize the final check-and-publish step of writes to one
	// path, so that a conditional PUT or DELETE (If-Match) sees the state
	// it replaces; the slow part, receiving the body, runs unlocked.
	locks [64]sync.Mutex
}

// The Allow field values: what OPTIONS answers and 405 lists.
const (
	allowRead  = "GET, HEAD, OPTIONS"
	allowWrite = "GET, HEAD, OPTIONS, PUT, POST, DELETE"
)

// New checks cfg and opens its root. The root is opened once: a Handler
// keeps serving the directory it opened even if the path is renamed.
func New(cfg Config) (*Handler, error) {
	if cfg.Root == "" {
		return nil, errors.New("static: no root directory")
	}
	fi, err := os.Stat(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("static: root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("static: root %s is not a directory", cfg.Root)
	}
	h := &Handler{
		listing:       cfg.Listing,
		writes:        cfg.Writes,
		compress:      cfg.Compress,
		precompressed: cfg.Precompressed,
		minSize:       cfg.CompressMinSize,
		maxBody:       cfg.MaxBody,
		allow:         allowRead,
		rootFD:        -1,
	}
	if h.writes {
		h.allow = allowWrite
	}
	if h.minSize <= 0 {
		h.minSize = DefaultCompressMinSize
	}
	if h.maxBody <= 0 {
		h.maxBody = http1.DefaultLimits.MaxBody
	}
	h.index = cfg.Index
	if h.index == nil {
		h.index = []string{"index.html"}
	}
	for _, name := range h.index {
		if name == "" || strings.ContainsAny(name, "/\\\x00") || name[0] == '.' {
			return nil, fmt.Errorf("static: index name %q: must be a plain, non-hidden file name", name)
		}
	}
	types := cfg.CompressTypes
	if types == nil {
		types = DefaultCompressTypes
	}
	if h.types, err = newTypeMatcher(types); err != nil {
		return nil, err
	}

	if h.root, err = os.OpenRoot(cfg.Root); err != nil {
		return nil, fmt.Errorf("static: root: %w", err)
	}
	// os.Root reports an escape with an unexported error value; provoke
	// it once so that errors.Is can recognise it later.
	if _, err := h.root.Stat(".."); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			h.escape = pe.Err
		}
	}
	if err := h.openRootFD(cfg.Root); err != nil {
		h.root.Close()
		return nil, err
	}
	return h, nil
}

// Close releases the root directory. Serve must not be called after it.
func (h *Handler) Close() error {
	h.closeRootFD()
	return h.root.Close()
}

// Serve answers one exchange: GET and HEAD of files and directories,
// OPTIONS (204 with Allow, for a path or "*"), PUT, POST and DELETE when
// writes are enabled, and 405 with Allow for anything else. Every refusal
// is a plain-text body giving the reason, without server paths.
func (h *Handler) Serve(ex *http1.Exchange) { h.serve(ex, ex.Request.Path, nil) }

// ServePath answers ex as Serve does, but for path (a URL path, still
// percent-encoded) under the root instead of the request's own: what a
// route that maps "/files/{name}" to "/{name}" of a root needs. The URLs
// the answer carries (Location of a redirect or a created file) are in
// the request's URL space when the request path ends with path — the
// usual prefix mapping — and in the root's otherwise.
func (h *Handler) ServePath(ex *http1.Exchange, path []byte) {
	var mount []byte
	if p := ex.Request.Path; len(p) >= len(path) && string(p[len(p)-len(path):]) == string(path) {
		mount = p[:len(p)-len(path)]
	}
	h.serve(ex, path, mount)
}

// serve answers ex for path under the root; mount is the URL prefix the
// root is reached under, for the URLs the answer carries.
func (h *Handler) serve(ex *http1.Exchange, path, mount []byte) {
	req, w := ex.Request, ex.Response
	if req.Form == http1.AsteriskForm {
		// "OPTIONS *" asks about the server, not a resource.
		w.Header().Set("Allow", h.allow)
		w.WriteHeader(204)
		return
	}
	if req.Form == http1.AuthorityForm {
		w.Header().Set("Allow", h.allow)
		w.Error(405, "CONNECT is not supported by an origin server")
		return
	}

	s := getScratch()
	defer putScratch(s)
	s.mount = mount
	rel, dirSlash, perr := resolve(s.path[:0], path)
	s.path = rel[:0]
	if perr != nil {
		w.Error(perr.status, perr.reason)
		return
	}

	switch req.Method {
	case "GET", "HEAD":
		h.serveRead(ex, s, rel, dirSlash)
	case "OPTIONS":
		w.Header().Set("Allow", h.allow)
		w.WriteHeader(204)
	case "PUT", "POST", "DELETE":
		if !h.writes {
			w.Header().Set("Allow", h.allow)
			w.Error(405, "writes are disabled on this server: "+req.Method+" not allowed")
			return
		}
		switch req.Method {
		case "PUT":
			h.servePut(ex, s, rel, dirSlash)
		case "POST":
			h.servePost(ex, s, rel, dirSlash)
		default:
			h.serveDelete(ex, s, rel, dirSlash)
		}
	default:
		w.Header().Set("Allow", h.allow)
		w.Error(405, "method not allowed: "+req.Method)
	}
}
