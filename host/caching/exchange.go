package caching

import (
	"sync"

	"wasmhttpd/host/http1"
)

// exchange is a request through the cache: the server's exchange, and the
// response fields the policy chain set before the cache was reached
// (cookie's Set-Cookie, say). Those are put aside while the cache fills
// the response table with stored or fetched fields — which the decider
// sees and amends, and which the cache resets as its answer changes — and
// added to whatever answer goes out.
type exchange struct {
	*http1.Exchange
	chain http1.Header
	// waited says the request has waited for another's revalidation
	// once: if the refreshed response still needs the origin for it (its
	// own no-cache), it revalidates alone rather than wait again.
	waited bool
}

var exchanges = sync.Pool{New: func() any { return new(exchange) }}

// takeExchange wraps ex, moving the chain's response fields aside.
func takeExchange(ex *http1.Exchange) *exchange {
	x := exchanges.Get().(*exchange)
	x.Exchange = ex
	if h := ex.Response.Header(); h.Len() > 0 {
		x.chain.CopyFrom(h)
		h.Reset()
	}
	return x
}

// release returns x to the pool.
func (x *exchange) release() {
	x.Exchange, x.waited = nil, false
	x.chain.Reset()
	exchanges.Put(x)
}

// withChainFields adds the chain's fields to the response about to be
// sent.
func (x *exchange) withChainFields() {
	if x.chain.Len() == 0 {
		return
	}
	h := x.Response.Header()
	for name, value := range x.chain.All() {
		h.AddBytes(name, value)
	}
}
