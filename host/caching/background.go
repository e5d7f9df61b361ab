package caching

import (
	"bufio"
	"bytes"
	"io"
	"time"

	"wasmhttpd/host/cache"
	"wasmhttpd/host/http1"
	"wasmhttpd/host/proxy"
)

// revalidateLater revalidates e after a stale-while-revalidate answer,
// once per key at a time. The exchange is reused as soon as Serve
// returns, so the revalidation runs on a copy of the request, with a
// response that goes nowhere for the decider to look at.
func (c *Cache) revalidateLater(ex *exchange, out *proxy.Outbound, key string, e *cache.Entry, store bool) {
	if _, busy := c.revalidating.LoadOrStore(key, struct{}{}); busy {
		return
	}
	bg, err := detach(ex.Exchange)
	if err != nil {
		c.revalidating.Delete(key)
		c.log.Warn("cache: cannot revalidate in the background", "key", key, "err", err.Error())
		return
	}
	bgOut := cloneOutbound(out)
	c.background.Add(1)
	go func() {
		defer c.background.Done()
		defer c.revalidating.Delete(key)
		c.revalidateDetached(&exchange{Exchange: bg}, bgOut, key, e, store)
	}()
}

// revalidateDetached is the background revalidation: a 304 refreshes the
// entry, a new response replaces it when the decider allows.
func (c *Cache) revalidateDetached(ex *exchange, out *proxy.Outbound, key string, e *cache.Entry, store bool) {
	c.stats.revalidations.Add(1)
	conditional(out, e)
	sent := time.Now()
	resp, err := c.proxy.Fetch(out)
	if err != nil {
		c.log.Info("cache: background revalidation failed", "key", key, "err", err.Error())
		return
	}
	defer resp.Close()
	t := cache.Times{Request: sent, Response: time.Now()}
	if resp.Status == 304 {
		c.stats.revalidated.Add(1)
		c.applyNotModified(ex, key, e, resp.Header, t, store)
		return
	}
	if !store {
		return
	}
	w := ex.Response
	w.Header().CopyFrom(resp.Header)
	w.SetStatus(resp.Status)
	writer, _ := c.begin(ex, resp, storeSink{key: key, allowed: true}, t)
	if writer == nil {
		return
	}
	defer writer.Abort()
	if _, err := io.Copy(writer, resp.Body); err != nil {
		c.log.Info("cache: background revalidation cut short", "key", key, "err", err.Error())
		return
	}
	if _, err := writer.Commit(); err != nil {
		c.log.Debug("cache: revalidated response not stored", "key", key, "err", err.Error())
	}
}

// detach copies ex's request head into an exchange of its own, whose
// response is written nowhere.
func detach(ex *http1.Exchange) (*http1.Exchange, error) {
	req := ex.Request
	var head bytes.Buffer
	bw := bufio.NewWriter(&head)
	if err := http1.WriteRequestHead(bw, req.Method, req.Target, &req.Header); err != nil {
		return nil, err
	}
	bw.Flush()
	r := http1.NewReader(bufio.NewReader(&head), io.Discard, http1.Limits{})
	copied := new(http1.Request)
	if err := r.ReadRequest(copied); err != nil {
		return nil, err
	}
	w := http1.NewResponseWriter(bufio.NewWriter(io.Discard), io.Discard)
	w.Reset(copied)
	return &http1.Exchange{Request: copied, Response: w, RemoteAddr: ex.RemoteAddr, LocalAddr: ex.LocalAddr,
		Listener: ex.Listener, Start: ex.Start}, nil
}

// cloneOutbound copies what a bodiless upstream request needs.
func cloneOutbound(out *proxy.Outbound) *proxy.Outbound {
	c := &proxy.Outbound{Method: out.Method, Scheme: out.Scheme, Addr: out.Addr, ServerName: out.ServerName,
		Target: bytes.Clone(out.Target)}
	c.Header.CopyFrom(&out.Header)
	return c
}
