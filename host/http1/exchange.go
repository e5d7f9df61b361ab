package http1

import (
	"net"
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

	// Hijack, when the server offers it (nil otherwise), hands the
	// connection over to the handler, as a CONNECT tunnel needs: it
	// flushes what the ResponseWriter holds and returns the connection,
	// with its deadlines cleared, and the bytes the client sent after the
	// request head that the server had already read. From then on the
	// handler alone reads and writes the connection, and only until Serve
	// returns: the server then closes it, without finishing a response or
	// reading another request. The ResponseWriter must not write again;
	// its Status, set with SetStatus, is what the server reports for the
	// exchange. Until Serve returns the connection counts as busy, so a
	// graceful shutdown waits for it and a forced one closes it.
	Hijack func() (net.Conn, []byte, error)
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
