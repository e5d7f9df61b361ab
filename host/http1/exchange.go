package http1

import (
	"net/netip"
	"time"
)

// Exchange is one request and the means to answer it: the object that
// travels from the connection through policies to a handler. Handlers
// never reach back into the connection.
type Exchange struct {
	Request  *Request
	Response *ResponseWriter

	RemoteAddr netip.AddrPort
	LocalAddr  netip.AddrPort
	Listener   string    // the name of the listener that accepted it
	Start      time.Time // when the request head was complete
}

// Handler answers exchanges. Serve must not keep the Exchange, its
// Request or ResponseWriter after it returns: all three are reused.
type Handler interface {
	Serve(ex *Exchange)
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ex *Exchange)

// Serve calls f(ex).
func (f HandlerFunc) Serve(ex *Exchange) { f(ex) }
