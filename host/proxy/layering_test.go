package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wasmhttpd/host/http1"
)

// TestLayeringForACache plays the part of the cache: it revalidates with
// a conditional request and answers a 304 from its own store, and it tees
// a fetched body into its store while relaying it.
func TestLayeringForACache(t *testing.T) {
	noLeaks(t)
	origin := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(304)
			return
		}
		io.WriteString(w, "fresh from the origin")
	})
	p, _ := startProxy(t, Config{})
	var store bytes.Buffer
	var revalidated int
	addr := serve(t, http1.HandlerFunc(func(ex *http1.Exchange) {
		out := p.Prepare(ex)
		if out == nil {
			return
		}
		defer p.Release(out)
		revalidate := strings.HasSuffix(string(ex.Request.Path), "/cached")
		if revalidate {
			out.Header.Set("If-None-Match", `"v1"`)
		}
		resp, err := p.Fetch(out)
		if err != nil {
			p.Fail(ex, out, err)
			return
		}
		defer resp.Close()
		if revalidate && resp.Status == 304 {
			revalidated++
			var h, trailer http1.Header
			h.Add("ETag", `"v1"`)
			h.Add("Content-Length", "11")
			stored := &Response{Status: 200, ProtoMinor: 1, Header: &h, ContentLength: 11,
				Body: strings.NewReader("from store!"), Trailer: &trailer}
			defer stored.Close()
			if err := p.Relay(ex, stored); err != nil {
				p.Fail(ex, out, err)
			}
			return
		}
		resp.Body = io.TeeReader(resp.Body, &store)
		if err := p.Relay(ex, resp); err != nil {
			p.Fail(ex, out, err)
		}
	}))
	client := proxyClient(t, addr)

	get := func(path string) (*http.Response, string) {
		resp, err := client.Get(origin.URL + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		return resp, string(body)
	}
	resp, body := get("/page")
	assert.Equal(t, "fresh from the origin", body)
	assert.Equal(t, "fresh from the origin", store.String(), "the body was teed while relayed")

	resp, body = get("/cached")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "from store!", body)
	assert.Equal(t, 1, revalidated, "the 304 went to the cache, not to the client")
	assert.Equal(t, "1.1 "+testName, resp.Header.Get("Via"))
	assert.Equal(t, int64(1), origin.accepted.Load(), "after a 304 the connection went back to the pool")
}
