package caching

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy"
	"wasmhttpd/host/proxy"
)

// fallback is a stored response that may answer when the origin fails
// (stale-if-error), with the fields the decider gave it at lookup (its
// Age, its Cache-Status).
type fallback struct {
	e    *cache.Entry
	view http1.Header
}

// serveStored asks the decider about a stored response matching the
// request and acts on the answer. done reports that the request has been
// answered; otherwise it is to be fetched, and stale, when not nil, may
// answer if that fails. With only-if-cached nothing is fetched: a stored
// response that needs the origin gets 504.
func (c *Cache) serveStored(ex *exchange, out *proxy.Outbound, key string, e *cache.Entry, onlyIfCached, store bool) (done bool, stale *fallback) {
	w := ex.Response
	loadStored(w, e)
	d, err := c.decider.CacheLookup(ex.Exchange, times(e.Times, time.Now()), lookupMemo(e))
	if err != nil {
		unloadStored(w)
		if c.policyFailed(ex) {
			// Fail-open bypasses the cache: forwarded, not stored.
			c.pass(ex, out, key)
		}
		return true, nil
	}
	if d.StaleIfError && !onlyIfCached {
		stale = &fallback{e: e}
		stale.view.CopyFrom(w.Header())
	}
	switch d.Action {
	case policy.CacheFresh, policy.CacheStaleWhileRevalidate:
		if !c.sendStored(ex, e) {
			return false, nil
		}
		c.stats.hits.Add(1)
		if d.Action == policy.CacheStaleWhileRevalidate {
			c.stats.staleServed.Add(1)
			c.revalidateLater(ex, out, key, e, store)
		}
		return true, nil
	case policy.CacheRevalidate:
		if onlyIfCached {
			w.Header().Reset()
			w.Error(504, "only-if-cached: the stored response must be revalidated with the origin")
			return true, nil
		}
		c.revalidate(ex, out, key, e, stale, store)
		return true, nil
	}
	unloadStored(w)
	return false, stale
}

// lookupMemo is the Memo of e's CacheLookup decisions, kept with it.
func lookupMemo(e *cache.Entry) *policy.Memo {
	if m, ok := e.Attached().(*policy.Memo); ok {
		return m
	}
	return e.Attach(new(policy.Memo)).(*policy.Memo)
}

// loadStored puts a stored response's status and fields in w, where the
// decider reads and amends them.
func loadStored(w *http1.ResponseWriter, e *cache.Entry) {
	w.Header().Reset()
	w.Header().CopyFrom(&e.Header)
	w.SetStatus(e.Status)
}

// unloadStored takes back what loadStored put in w: the request goes on
// as if nothing had been stored.
func unloadStored(w *http1.ResponseWriter) {
	w.Header().Reset()
	w.SetStatus(0)
}

// sendStored sends e's body with the status and fields in w, answering a
// conditional GET or HEAD that the stored validators satisfy with 304. It
// reports false, having sent nothing, when the body has meanwhile left the
// store (then the request is a miss).
func (c *Cache) sendStored(ex *exchange, e *cache.Entry) bool {
	w := ex.Response
	unchanged := notModified(ex.Request, w.Header())
	var inMemory []byte
	var file *os.File
	if ex.Request.Method != "HEAD" && !unchanged {
		var err error
		if inMemory, file, err = c.store.Body(e); err != nil {
			if !errors.Is(err, cache.ErrGone) {
				c.log.Warn("cache: cannot read a stored body", "key", e.Key, "err", err.Error())
			}
			unloadStored(w)
			return false
		}
		if file != nil {
			defer file.Close()
		}
	}
	h := w.Header()
	h.Add("Via", c.proxy.Via(ex.Request.ProtoMinor))
	ex.withChainFields()
	if unchanged {
		for _, name := range [...]string{"Content-Length", "Content-Type", "Content-Encoding", "Content-Range"} {
			h.Del(name)
		}
		w.WriteHeader(304)
		return true
	}
	h.Del("Content-Length")
	w.SetContentLength(e.Size)
	w.WriteHeader(e.Status)
	switch {
	case inMemory != nil:
		w.Write(inMemory)
	case file != nil:
		// A body file: the server's ReadFrom sends it with sendfile.
		w.ReadFrom(&io.LimitedReader{R: file, N: e.Size})
	}
	return true
}

// notModified evaluates the client's own If-None-Match, or failing that
// If-Modified-Since, against the fields about to be sent (RFC 9110 13.2.2).
func notModified(req *http1.Request, h *http1.Header) bool {
	if req.Method != "GET" && req.Method != "HEAD" {
		return false
	}
	if req.Header.Has("If-None-Match") {
		etag := h.Get("ETag")
		if len(etag) == 0 {
			return false
		}
		for v := range req.Header.Values("If-None-Match") {
			for tag := range http1.CommaList(v) {
				if string(tag) == "*" || weakMatch(tag, etag) {
					return true
				}
			}
		}
		return false
	}
	ims, lm := req.Header.Get("If-Modified-Since"), h.Get("Last-Modified")
	if len(ims) == 0 || len(lm) == 0 {
		return false
	}
	since, err1 := time.Parse(http1.TimeFormat, string(ims))
	modified, err2 := time.Parse(http1.TimeFormat, string(lm))
	return err1 == nil && err2 == nil && !modified.After(since)
}

// weakMatch is the weak comparison of two entity tags (RFC 9110 8.8.3.2).
func weakMatch(a, b []byte) bool {
	trim := func(t []byte) []byte {
		if len(t) > 2 && t[0] == 'W' && t[1] == '/' {
			return t[2:]
		}
		return t
	}
	return string(trim(a)) == string(trim(b))
}

// conditional turns out into a conditional request for e: the stored
// validators replace whatever the client sent (its own conditions are
// answered from the response afterwards, by sendStored).
func conditional(out *proxy.Outbound, e *cache.Entry) {
	for _, name := range [...]string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"} {
		out.Header.Del(name)
	}
	if etag := e.Header.Get("ETag"); len(etag) > 0 {
		out.Header.AddBytes([]byte("If-None-Match"), etag)
	}
	if lm := e.Header.Get("Last-Modified"); len(lm) > 0 {
		out.Header.AddBytes([]byte("If-Modified-Since"), lm)
	}
}

// revalidate asks the upstream whether e is still good, and answers the
// client from e (refreshed) on 304, from the new response otherwise, or
// from stale when the upstream fails and the decider allowed it.
// Concurrent revalidations of e collapse into one: the others wait for its
// outcome, and a 304 the decider stored answers them from the refreshed
// entry — a hot response going stale costs the origin one conditional
// request, not one per request in flight meanwhile; a failing origin
// answers them with their stale-if-error fallback, when they have one.
// The outcome is published as soon as it is known, not once this
// request's answer has been sent: a slow client or a long body holds no
// one else. (A response given no lifetime is not shared: see
// joinRevalidation. A request that looked e up just before the refresh
// and reaches here after the revalidation ended revalidates e once more:
// harmless, and rare.)
func (c *Cache) revalidate(ex *exchange, out *proxy.Outbound, key string, e *cache.Entry, stale *fallback, store bool) {
	w := ex.Response
	// The decider's view of the stored response was for this request's
	// lookup; the answer starts afresh.
	unloadStored(w)
	r, first := c.joinRevalidation(e)
	if r != nil && !first && !ex.waited {
		ex.waited = true
		refreshed, failed := r.wait()
		switch {
		case refreshed != nil:
			// Answered, or revalidated again when this request needs
			// the origin itself (its own no-cache); otherwise the
			// refreshed entry cannot answer (a PURGE took its body, the
			// decider said miss) and e, older, cannot either: a miss.
			done, refreshedStale := c.serveStored(ex, out, key, refreshed, false, store)
			if !done {
				c.stats.misses.Add(1)
				c.fetch(ex, out, storeSink{key: key, allowed: store}, refreshedStale)
			}
			return
		case failed && c.serveStale(ex, stale):
			return
		}
		// It failed with no stale to serve here, or the origin sent a
		// new response: revalidate alone, as before.
	}
	if first {
		// On every return, and on a panic, too: no waiter waits forever.
		defer c.endRevalidation(e, r, nil, false)
	}
	c.stats.revalidations.Add(1)
	conditional(out, e)
	resp, t, err := c.send(out)
	if first && (err != nil || resp.Status != 304) {
		c.endRevalidation(e, r, nil, upstreamFailed(resp, err))
	}
	if c.answeredFailure(ex, out, stale, resp, err) {
		return
	}
	defer resp.Close()
	if resp.Status == 304 {
		c.stats.revalidated.Add(1)
		refreshed, ok := c.applyNotModified(ex, key, e, resp.Header, t, store)
		if first {
			stored := refreshed
			if stored == e {
				stored = nil // not stored: nothing to answer the waiters
			}
			c.endRevalidation(e, r, stored, false)
		}
		if ok && !c.sendRefreshed(ex, refreshed) {
			// A PURGE or an eviction took the body meanwhile: a miss,
			// fetched without the validators, which name what is gone.
			resp.Close()
			out.Header.Del("If-None-Match")
			out.Header.Del("If-Modified-Since")
			c.stats.misses.Add(1)
			c.fetch(ex, out, storeSink{key: key, allowed: store}, nil)
		}
		return
	}
	c.stats.misses.Add(1)
	c.relay(ex, out, resp, storeSink{key: key, allowed: store}, t)
}

// revalidation is one revalidation of a stored response in flight, which
// other requests for it wait on.
type revalidation struct {
	done      chan struct{}
	once      sync.Once
	refreshed *cache.Entry // the entry a 304 refreshed, when it was stored
	failed    bool         // the upstream failed (stale-if-error's case)
}

// joinRevalidation returns the revalidation of e in flight, first when
// the caller is to carry it out (and end it); nil when e's revalidations
// are not shared: one the decider gave no freshness lifetime (max-age=0,
// say) is validated for every request, as its origin asked, so waiting
// for another's would only double the wait.
func (c *Cache) joinRevalidation(e *cache.Entry) (r *revalidation, first bool) {
	if e.Freshness.Lifetime <= 0 {
		return nil, false
	}
	if inFlight, ok := c.revalidations.Load(e); ok {
		return inFlight.(*revalidation), false
	}
	r = &revalidation{done: make(chan struct{})}
	if inFlight, loaded := c.revalidations.LoadOrStore(e, r); loaded {
		return inFlight.(*revalidation), false
	}
	return r, true
}

// endRevalidation publishes r's outcome, once, and lets the next
// revalidation of e start: the refreshed entry, or nil when there is
// none to serve the waiters, and whether the upstream failed.
func (c *Cache) endRevalidation(e *cache.Entry, r *revalidation, refreshed *cache.Entry, failed bool) {
	r.once.Do(func() {
		c.revalidations.CompareAndDelete(e, r)
		r.refreshed, r.failed = refreshed, failed
		close(r.done)
	})
}

// wait returns the outcome. The wait is bounded by the revalidating
// request's own upstream timeouts.
func (r *revalidation) wait() (refreshed *cache.Entry, failed bool) {
	<-r.done
	return r.refreshed, r.failed
}

// serverError is a status stale-if-error covers (RFC 5861 4).
func serverError(status int) bool {
	return status == 500 || status == 502 || status == 503 || status == 504
}

// serveStale answers with a stored response as the decider saw it at
// lookup, because its origin failed; it reports false when there is none
// to serve.
func (c *Cache) serveStale(ex *exchange, stale *fallback) bool {
	if stale == nil {
		return false
	}
	w := ex.Response
	w.Header().Reset()
	w.Header().CopyFrom(&stale.view)
	w.SetStatus(stale.e.Status)
	if !c.sendStored(ex, stale.e) {
		return false
	}
	c.stats.hits.Add(1)
	c.stats.staleServed.Add(1)
	return true
}

// sendRefreshed answers the client with e's body and the refreshed
// fields applyNotModified left in ex.Response; it reports false, having
// sent nothing and cleared the fields, when the body has left the store.
func (c *Cache) sendRefreshed(ex *exchange, e *cache.Entry) bool {
	ex.Response.SetStatus(e.Status)
	return c.sendStored(ex, e)
}

// applyNotModified merges a 304's fields into e's (RFC 9111 4.3.4) in
// ex.Response, where the decider sees them with status 304 and decides
// whether the stored entry is updated; a refusal, or a request that may
// not store, leaves the store as it was. It returns the entry to serve; ok
// is false when a failed decision has answered the request.
func (c *Cache) applyNotModified(ex *exchange, key string, e *cache.Entry, update *http1.Header, t cache.Times, store bool) (_ *cache.Entry, ok bool) {
	w := ex.Response
	loadStored(w, e)
	h := w.Header()
	for name := range update.All() {
		h.Del(string(name))
	}
	for name, value := range update.All() {
		if !http1.EqualFold(name, "Content-Length") {
			h.AddBytes(name, value)
		}
	}
	w.SetStatus(304)
	d, err := c.decider.CacheStore(ex.Exchange, times(t, t.Response))
	switch {
	case err != nil:
		return e, c.policyFailed(ex)
	case !d.Store || !store:
		return e, true
	}
	updated, err := c.store.UpdateHeaders(e, update, t, freshness(d.Lifetime))
	switch {
	case err == nil:
		return updated, true
	case !errors.Is(err, cache.ErrGone):
		c.log.Warn("cache: cannot refresh a stored response", "key", key, "err", err.Error())
	}
	return e, true
}

func freshness(l policy.Lifetime) cache.Freshness {
	return cache.Freshness{Lifetime: l.Fresh, StaleWhileRevalidate: l.StaleWhileRevalidate, StaleIfError: l.StaleIfError}
}
