package admin

import (
	"time"

	"wasmhttpd/host/http1"
)

// Observe logs a finished exchange. Its signature is that of
// server.Config.Observe, so that the access log plugs straight into a
// listener. The Entry lives on the stack and the peer address stays a
// netip.AddrPort, so the request path allocates nothing here either.
func (l *AccessLog) Observe(ex *http1.Exchange, elapsed time.Duration) {
	if l == nil || !l.on || ex == nil {
		return
	}
	e := Entry{
		Time:     ex.Start,
		Duration: elapsed,
		Addr:     ex.RemoteAddr,
		Listener: ex.Listener,
	}
	if r := ex.Request; r != nil {
		e.Method, e.Target, e.Host = r.Method, r.Target, r.Host
		if r.Method != "" {
			e.Proto = r.Proto() // a refused request may have no request line
		}
		e.Referer = r.Header.Get("Referer")
		e.UserAgent = r.Header.Get("User-Agent")
	}
	if w := ex.Response; w != nil {
		e.Status, e.Bytes = w.Status(), w.Written()
	}
	l.Log(&e)
}
