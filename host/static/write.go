package static

import (
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"wasmhttpd/host/http1"
)

// Writes follow three rules.
//
//  1. Nothing half-written is ever visible. The body goes to a temporary
//     file (".name.tmp-<random>", hidden, so never served or listed),
//     which is fsynced and then renamed (PUT) or hard-linked (POST) into
//     place; the directory is fsynced after. A reader sees the old file
//     or the new one, never a mix, even across a crash.
//  2. A failed upload leaves nothing behind: a body that breaks off, runs
//     past MaxBody or hits a full disk has its temporary file removed. The
//     temporary file is created in the nearest directory that already
//     exists, and missing parent directories (created like nginx's
//     create_full_put_path) are made only once the body is complete, so
//     not even an empty directory survives a failed upload.
//  3. Preconditions hold at the moment of publication: the final check and
//     the rename happen under a per-path lock, so two conditional PUTs with
//     the same If-Match cannot both win. (The lock is per process; other
//     processes writing the root are outside its reach.)

// lockFor returns the lock that serializes publication to rel.
func (h *Handler) lockFor(rel []byte) *sync.Mutex {
	const offset, prime = 2166136261, 16777619
	x := uint32(offset)
	for _, c := range rel {
		x ^= uint32(c)
		x *= prime
	}
	return &h.locks[x%uint32(len(h.locks))]
}

// upload is a request body received into a temporary file.
type upload struct {
	tmp  string // relative to the root
	file file   // identity of the temporary file, for the ETag
}

// checkFraming refuses a PUT or POST body that cannot be accepted before
// anything is read (so a client waiting for 100-continue is never invited
// to send it): no framing at all (411), a declared length over MaxBody
// (413), or a partial PUT (RFC 9110 14.5: a server that does not do
// partial PUT must refuse Content-Range, not store the part as the whole).
func (h *Handler) checkFraming(ex *http1.Exchange) bool {
	req, w := ex.Request, ex.Response
	switch {
	case req.ContentLength == 0 && !req.Header.Has("Content-Length"):
		w.Error(411, req.Method+" needs a body with Content-Length or chunked transfer coding")
		return false
	case req.ContentLength > h.maxBody:
		w.Error(413, "request body exceeds the limit of "+strconv.FormatInt(h.maxBody, 10)+" bytes")
		return false
	case req.Header.Has("Content-Range"):
		w.Error(400, "partial PUT (Content-Range) is not supported")
		return false
	}
	return true
}

// targetState stats rel and sorts out what is in the way: ok is false
// when a refusal has been sent. exists reports a regular file at rel.
func (h *Handler) targetState(ex *http1.Exchange, rel []byte, f *file) (exists, ok bool) {
	w := ex.Response
	fi, err := h.root.Stat(string(rel))
	switch {
	case err == nil:
		statInfo(fi, f)
		if f.kind == kindDir {
			w.Error(409, "a directory is in the way: "+string(ex.Request.Path))
			return false, false
		}
		if f.kind != kindRegular {
			w.Error(409, "not a regular file: "+string(ex.Request.Path))
			return false, false
		}
		return true, true
	case errors.Is(err, syscall.ENOTDIR):
		w.Error(409, "a file is in the way of the path: "+string(ex.Request.Path))
	case errors.Is(err, fs.ErrNotExist):
		return false, true
	default:
		status, reason := h.openStatus(err)
		w.Error(status, reason+": "+string(ex.Request.Path))
	}
	return false, false
}

// receive reads the request body into a new temporary file beside rel
// (in its nearest existing ancestor directory). On failure it has sent
// the refusal and removed the file.
func (h *Handler) receive(ex *http1.Exchange, s *scratch, rel []byte) (*upload, bool) {
	w := ex.Response
	dir := h.existingAncestor(path.Dir(string(rel)))
	base := path.Base(string(rel))
	if len(base) > 100 {
		base = base[:100] // room for the suffix within NAME_MAX
	}
	up := &upload{}
	var tf *os.File
	for range 8 {
		up.tmp = joinRel(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		var err error
		tf, err = h.root.OpenFile(up.tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			status, reason := h.writeStatus(err)
			w.Error(status, reason+": "+string(ex.Request.Path))
			return nil, false
		}
	}
	if tf == nil {
		w.Error(500, "cannot create a temporary file")
		return nil, false
	}

	fail := func(status int, reason string) (*upload, bool) {
		tf.Close()
		h.root.Remove(up.tmp)
		// The rest of the body may still be on the way; the connection
		// cannot be trusted to carry another request.
		w.SetClose()
		w.Error(status, reason)
		return nil, false
	}
	buf := s.copyBuf()
	var total int64
	for {
		n, rerr := ex.Request.Body.Read(buf)
		if n > 0 {
			if total += int64(n); total > h.maxBody {
				return fail(413, "request body exceeds the limit of "+strconv.FormatInt(h.maxBody, 10)+" bytes")
			}
			if _, werr := tf.Write(buf[:n]); werr != nil {
				status, reason := h.writeStatus(werr)
				return fail(status, reason)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			status := http1.StatusOf(rerr)
			if status == 413 {
				return fail(413, "request body exceeds the limit of "+strconv.FormatInt(h.maxBody, 10)+" bytes")
			}
			return fail(status, "request body: "+rerr.Error())
		}
	}
	if err := tf.Sync(); err != nil {
		status, reason := h.writeStatus(err)
		return fail(status, reason)
	}
	up.file = file{fd: int(tf.Fd()), osf: tf}
	if err := statFD(&up.file); err != nil {
		return fail(500, "cannot stat the uploaded file")
	}
	up.file.fd, up.file.osf = -1, nil
	if err := tf.Close(); err != nil {
		h.root.Remove(up.tmp)
		w.SetClose()
		status, reason := h.writeStatus(err)
		w.Error(status, reason)
		return nil, false
	}
	return up, true
}

// existingAncestor returns dir, or its nearest ancestor that exists as a
// directory ("." at worst).
func (h *Handler) existingAncestor(dir string) string {
	for dir != "." {
		if fi, err := h.root.Stat(dir); err == nil && fi.IsDir() {
			return dir
		}
		dir = path.Dir(dir)
	}
	return "."
}

// makeParents creates rel's missing parent directories and returns the
// directories whose entries changed (the new ones and the ancestor that
// received the first), for fsync. ok is false when a refusal was sent.
func (h *Handler) makeParents(ex *http1.Exchange, rel string) (changed []string, ok bool) {
	parent := path.Dir(rel)
	if parent == "." {
		return []string{"."}, true
	}
	existing := h.existingAncestor(parent)
	if existing != parent {
		if err := h.root.MkdirAll(parent, 0o755); err != nil {
			if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
				ex.Response.Error(409, "a file is in the way of the path: "+string(ex.Request.Path))
			} else {
				status, reason := h.writeStatus(err)
				ex.Response.Error(status, reason+": "+string(ex.Request.Path))
			}
			return nil, false
		}
		for d := parent; d != existing; d = path.Dir(d) {
			changed = append(changed, d)
		}
	}
	return append(changed, existing), true
}

// syncDirs fsyncs directories so that the renames and links made in them
// survive a crash.
func (h *Handler) syncDirs(dirs []string) {
	for _, d := range dirs {
		if f, err := h.root.Open(d); err == nil {
			f.Sync()
			f.Close()
		}
	}
}

// writeStatus maps a file system error met while writing.
func (h *Handler) writeStatus(err error) (int, string) {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return 507, "insufficient storage"
	case errors.Is(err, syscall.EROFS):
		return 403, "the document root is read-only"
	case errors.Is(err, syscall.ENOTDIR):
		return 409, "a file is in the way of the path"
	}
	return h.openStatus(err)
}

// servePut stores the body at rel, replacing any file there: 201 Created
// with a Location when it is new, 204 when it replaced one. If-Match and
// If-None-Match (with "*" for "only if absent" and "only if present")
// make concurrent edits safe; If-None-Match: * is enforced by linking,
// which fails if the name exists, so it holds even against other
// processes.
func (h *Handler) servePut(ex *http1.Exchange, s *scratch, rel []byte, dirSlash bool) {
	w := ex.Response
	if dirSlash || (len(rel) == 1 && rel[0] == '.') {
		w.Error(409, "PUT stores files; the target names a directory: "+string(ex.Request.Path))
		return
	}
	if !h.checkFraming(ex) {
		return
	}
	// A first look, before the body is read: a client waiting for
	// 100-continue learns of a conflict or a failed precondition without
	// sending anything.
	cur := &s.main
	exists, ok := h.targetState(ex, rel, cur)
	if !ok {
		return
	}
	if status := preconditions(ex.Request, exists, appendETag(s.val[:0], cur, ""), cur.mtime/1e9); status != 0 {
		w.Error(412, "precondition failed: "+string(ex.Request.Path))
		return
	}

	up, ok := h.receive(ex, s, rel)
	if !ok {
		return
	}
	name := string(rel)
	mu := h.lockFor(rel)
	mu.Lock()
	defer mu.Unlock()
	published := false
	defer func() {
		if !published {
			h.root.Remove(up.tmp)
		}
	}()

	exists, ok = h.targetState(ex, rel, cur)
	if !ok {
		return
	}
	if status := preconditions(ex.Request, exists, appendETag(s.val[:0], cur, ""), cur.mtime/1e9); status != 0 {
		w.Error(412, "precondition failed: "+string(ex.Request.Path))
		return
	}
	dirs, ok := h.makeParents(ex, name)
	if !ok {
		return
	}
	var err error
	if ex.Request.Header.Has("If-None-Match") && !exists {
		// Create-only: link fails if someone else created it meanwhile.
		if err = h.root.Link(up.tmp, name); err == nil {
			h.root.Remove(up.tmp)
		} else if errors.Is(err, fs.ErrExist) {
			w.Error(412, "precondition failed: "+string(ex.Request.Path))
			return
		}
	} else {
		err = h.root.Rename(up.tmp, name)
	}
	if err != nil {
		status, reason := h.writeStatus(err)
		w.Error(status, reason+": "+string(ex.Request.Path))
		return
	}
	published = true
	h.syncDirs(dirs)

	hdr := w.Header()
	hdr.AddBytes([]byte("ETag"), appendETag(s.val[:0], &up.file, ""))
	if exists {
		w.WriteHeader(204)
		return
	}
	hdr.AddBytes([]byte("Location"), s.appendURL(rel))
	w.SetContentLength(0)
	w.WriteHeader(201)
}

// maxPostNames bounds the search for a free name(n).ext.
const maxPostNames = 10000

// servePost stores the body under rel, or, when that name is taken,
// under the first free "name(1).ext", "name(2).ext"…: POST never
// overwrites. Each candidate is claimed with link(2), which fails when
// the name exists, so two concurrent POSTs cannot pick the same one
// (rename would silently replace). A POST naming a directory gets 409,
// like a PUT: the name is taken by something that is not a file, and
// the request could succeed once it is gone.
func (h *Handler) servePost(ex *http1.Exchange, s *scratch, rel []byte, dirSlash bool) {
	w := ex.Response
	if dirSlash || (len(rel) == 1 && rel[0] == '.') {
		w.Error(409, "POST creates files; the target names a directory: "+string(ex.Request.Path))
		return
	}
	if !h.checkFraming(ex) {
		return
	}
	if _, ok := h.targetState(ex, rel, &s.main); !ok {
		return
	}
	up, ok := h.receive(ex, s, rel)
	if !ok {
		return
	}
	defer h.root.Remove(up.tmp)

	name := string(rel)
	dirs, ok := h.makeParents(ex, name)
	if !ok {
		return
	}
	dir, base := path.Split(name)
	stem, ext := splitExt(base)
	for i := 0; i < maxPostNames; i++ {
		candidate := name
		if i > 0 {
			candidate = dir + stem + "(" + strconv.Itoa(i) + ")" + ext
		}
		err := h.claim(up.tmp, candidate)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			status, reason := h.writeStatus(err)
			w.Error(status, reason+": "+string(ex.Request.Path))
			return
		}
		h.syncDirs(dirs)
		hdr := w.Header()
		hdr.AddBytes([]byte("ETag"), appendETag(s.val[:0], &up.file, ""))
		hdr.AddBytes([]byte("Location"), s.appendURL([]byte(candidate)))
		w.SetContentLength(0)
		w.WriteHeader(201)
		return
	}
	w.Error(409, "no free name left for "+string(ex.Request.Path))
}

// claim publishes tmp as name if name does not exist. link(2) does it
// atomically; on file systems without hard links the name is reserved
// with O_EXCL first and the finished file renamed over the reservation
// (a reader may then briefly see it empty, never torn).
func (h *Handler) claim(tmp, name string) error {
	err := h.root.Link(tmp, name)
	if err == nil || errors.Is(err, fs.ErrExist) || !(errors.Is(err, syscall.EPERM) ||
		errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EMLINK)) {
		return err
	}
	f, err := h.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	return h.root.Rename(tmp, name)
}

// splitExt splits a file name into stem and extension for numbering,
// keeping compound archive extensions together: "a.tar.gz" numbers as
// "a(1).tar.gz", and a leading-dot name has no extension.
func splitExt(base string) (stem, ext string) {
	for _, compound := range [...]string{".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst"} {
		if len(base) > len(compound) && strings.HasSuffix(strings.ToLower(base), compound) {
			return base[:len(base)-len(compound)], base[len(base)-len(compound):]
		}
	}
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		return base[:i], base[i:]
	}
	return base, ""
}

// serveDelete removes the file (or empty directory) at rel: 204, or 404
// when missing, 409 for a directory that is not empty, 403 for the root.
// A symbolic link is removed itself, never its target.
func (h *Handler) serveDelete(ex *http1.Exchange, s *scratch, rel []byte, dirSlash bool) {
	w := ex.Response
	if len(rel) == 1 && rel[0] == '.' {
		w.Error(403, "the document root cannot be deleted")
		return
	}
	name := string(rel)
	mu := h.lockFor(rel)
	mu.Lock()
	defer mu.Unlock()

	fi, err := h.root.Lstat(name)
	if err != nil {
		status, reason := h.openStatus(err)
		w.Error(status, reason+": "+string(ex.Request.Path))
		return
	}
	if dirSlash && !fi.IsDir() {
		w.Error(404, "no such directory: "+string(ex.Request.Path))
		return
	}
	if hasPreconditions(ex.Request) {
		// Validators are those of what a GET would serve: the target of
		// a symbolic link, or the link itself when it leads nowhere.
		cur := &s.main
		if target, err := h.root.Stat(name); err == nil {
			statInfo(target, cur)
		} else {
			statInfo(fi, cur)
		}
		if preconditions(ex.Request, true, appendETag(s.val[:0], cur, ""), cur.mtime/1e9) != 0 {
			w.Error(412, "precondition failed: "+string(ex.Request.Path))
			return
		}
	}
	if err := h.root.Remove(name); err != nil {
		switch {
		case errors.Is(err, syscall.ENOTEMPTY), fi.IsDir() && errors.Is(err, fs.ErrExist):
			w.Error(409, "directory is not empty: "+string(ex.Request.Path))
		default:
			status, reason := h.writeStatus(err)
			w.Error(status, reason+": "+string(ex.Request.Path))
		}
		return
	}
	h.syncDirs([]string{path.Dir(name)})
	w.WriteHeader(204)
}

// hasPreconditions reports whether req carries any conditional field
// that applies to a state-changing method.
func hasPreconditions(req *http1.Request) bool {
	h := &req.Header
	return h.Has("If-Match") || h.Has("If-None-Match") || h.Has("If-Unmodified-Since")
}
