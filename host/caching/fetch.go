package caching

import (
	"errors"
	"io"
	"time"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/proxy"
)

// storeSink is where a fetched response may be stored: through the fill
// of a collapsed miss when there is one, else under key directly, and
// only when allowed. busy says that the store cannot take it whatever
// the decider says (another request is filling the key): the decider is
// then not asked, lest its Cache-Status claim a store that cannot be.
type storeSink struct {
	fill    *cache.Fill
	key     string
	allowed bool
	busy    bool
}

// fetch forwards a miss and relays the answer, storing it when the
// decider allows; stale, when not nil, answers if the upstream fails.
func (c *Cache) fetch(ex *exchange, out *proxy.Outbound, sink storeSink, stale *fallback) {
	resp, t, err := c.send(out)
	if c.answeredFailure(ex, out, stale, resp, err) {
		return
	}
	defer resp.Close()
	c.relay(ex, out, resp, sink, t)
}

// send sends out and returns the response and the exchange's times.
func (c *Cache) send(out *proxy.Outbound) (*proxy.Response, cache.Times, error) {
	sent := time.Now()
	resp, err := c.proxy.Fetch(out)
	if err != nil {
		return nil, cache.Times{}, err
	}
	return resp, cache.Times{Request: sent, Response: time.Now()}, nil
}

// upstreamFailed reports what stale-if-error covers: an error, or a 500,
// 502, 503 or 504 (RFC 5861 4).
func upstreamFailed(resp *proxy.Response, err error) bool {
	return err != nil || serverError(resp.Status)
}

// answeredFailure answers the client itself when the upstream failed —
// with stale if the decider allowed it, else with the error — and
// reports true then (having closed resp). A 5xx with no stale to serve
// instead is the caller's to relay.
func (c *Cache) answeredFailure(ex *exchange, out *proxy.Outbound, stale *fallback, resp *proxy.Response, err error) bool {
	if err != nil {
		if !c.serveStale(ex, stale) {
			c.proxy.Fail(ex.Exchange, out, err)
		}
		return true
	}
	if serverError(resp.Status) && c.serveStale(ex, stale) {
		resp.Close()
		return true
	}
	return false
}

// relay sends a fetched response to the client, asking the decider first
// whether to store it, and then teeing the body into the store as it
// streams by. The entry is committed only when the whole body went out.
func (c *Cache) relay(ex *exchange, out *proxy.Outbound, resp *proxy.Response, sink storeSink, t cache.Times) {
	w := ex.Response
	h := w.Header()
	h.Reset()
	h.CopyFrom(resp.Header)
	w.SetStatus(resp.Status)
	var writer *cache.Writer
	// A 304 here answers the client's own conditional request: it is
	// relayed, never stored (a stored 304 would answer plain GETs with no
	// body). Revalidations take their 304s elsewhere (applyNotModified).
	if resp.Status != 304 && !sink.busy {
		var ok bool
		if writer, ok = c.begin(ex, resp, sink, t); !ok {
			return
		}
	}
	if writer == nil && sink.fill != nil {
		sink.fill.Cancel()
	}
	body := resp.Body
	if writer != nil {
		defer writer.Abort() // a no-op after Commit
		body = io.TeeReader(resp.Body, writer)
	}
	// The fields are in w already, amended by the decider: Relay adds
	// Via and streams the body.
	relayed := &proxy.Response{Status: resp.Status, ProtoMinor: resp.ProtoMinor, Header: &emptyHeader, Body: body, Trailer: resp.Trailer}
	ex.withChainFields()
	if err := c.proxy.Relay(ex.Exchange, relayed); err != nil {
		c.proxy.RelayFailed(ex.Exchange, out, err)
		return
	}
	if writer == nil {
		return
	}
	// The client has the whole body; it need not wait for the fsync.
	w.Flush()
	if _, err := writer.Commit(); err != nil && !errors.Is(err, cache.ErrTooLarge) {
		c.log.Debug("cache: response not stored", "key", sink.key, "err", err.Error())
	}
}

// emptyHeader is the Header of a relayed response whose fields are in
// the client's response already. It is never written.
var emptyHeader http1.Header

// begin asks the decider whether resp may be stored and starts storing
// it; a nil Writer means it is not stored. ok is false when a failed
// decision has answered the request (fail-closed). The decider is asked
// even when the request's access ruled storing out (a HEAD, a no-store
// request), so that every miss carries its account of the outcome
// (Cache-Status); its yes then stores nothing.
func (c *Cache) begin(ex *exchange, resp *proxy.Response, sink storeSink, t cache.Times) (w *cache.Writer, ok bool) {
	d, err := c.decider.CacheStore(ex.Exchange, times(t, t.Response))
	if err != nil {
		return nil, c.policyFailed(ex)
	}
	if !d.Store || !sink.allowed {
		return nil, true
	}
	r := cache.Response{Status: resp.Status, Header: resp.Header, Times: t, Freshness: freshness(d.Lifetime), Length: resp.ContentLength}
	if sink.fill != nil {
		w, err = sink.fill.Begin(r)
	} else {
		w, err = c.store.Begin(sink.key, &ex.Request.Header, r)
	}
	if err != nil {
		c.log.Debug("cache: response not stored", "key", sink.key, "err", err.Error())
		return nil, true
	}
	return w, true
}
