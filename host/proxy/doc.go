// Package proxy forwards requests to other servers: as a forward proxy
// (absolute-form requests and CONNECT tunnels, Serve), as a reverse proxy
// to a configured upstream (ServeUpstream), over a pool of kept-alive
// upstream connections. It speaks the wire through http1 (the same strict
// parser reads the upstream's responses as reads the clients' requests)
// and takes connections over through Exchange.Hijack for tunnels.
//
// Layering. Getting a response and sending it on are separate steps, so
// that a cache can sit between them: Prepare (or PrepareUpstream) turns the
// client's request into an Outbound, which the cache may amend (to make it
// conditional, say); Fetch sends it and returns a Response whose body is
// still on the wire (the cache may wrap Body to tee it into its store, or
// handle a 304 itself); Relay copies a Response, fetched or stored, to the
// client; Fail answers an error of either; Release gives the Outbound
// back. Serve and ServeUpstream are exactly that sequence.
//
// # Rationale
//
//   - Bodies stream both ways in 32 KiB pooled buffers: a proxy that
//     buffered a body would hold gigabytes for a large download. The cost
//     is that an error after the response head went out can only abort the
//     client's response (no last chunk, or fewer bytes than Content-Length,
//     and the connection closes): never a torn body passed off as whole.
//   - The request body is written before the response is read, in the
//     handler's goroutine, rather than in a second goroutine as net/http
//     does. An upstream that answers early and stops reading is met with a
//     write error, after which the answer it sent is still read and
//     relayed; an upstream that neither reads nor answers is cut off by the
//     read timeout. That trades a goroutine per request with a body for
//     those two corner cases.
//   - Expect: 100-continue is handled hop by hop: the client gets its 100
//     when the proxy starts reading the body, which it does as it sends the
//     request upstream. Forwarding the expectation would make the proxy
//     wait for the upstream's 100 before reading, for no gain in HTTP/1.1.
//   - Idle pooled connections have no goroutine watching them. A
//     connection the upstream closed while idle shows as a request that
//     gets no byte back; it is then retried once on a new connection, but
//     only when repeating it cannot repeat a side effect (an idempotent
//     method whose body, if any, was not touched yet). A request with a
//     body could never be retried, so for those the idle connection is
//     peeked at first (a non-blocking MSG_PEEK, no byte consumed) and
//     dropped if the upstream has closed it. One timer for the whole pool
//     closes connections idle past IdleTimeout.
//   - Connections per upstream are bounded; a request past the bound waits
//     in a bounded queue for at most ConnectTimeout (then 504) and a full
//     queue answers 503 at once: back-pressure, not unbounded memory.
//   - Loops are refused with 508 (Loop Detected) when the target is one of
//     the proxy's own addresses, or when Via already carries its name, which
//     also catches a loop through a host name or another proxy. Via names
//     must therefore be unique among chained proxies (Config.Name).
//   - Upstream failures name what failed, in the body of a 502 (refused,
//     reset, malformed response), 504 (connect, header or queue timeout) or
//     503 (queue full), and in a log line.
//   - A 2xx to CONNECT is written on the hijacked connection as
//     "200 Connection established" with no fields: it has no body, and
//     framing fields on it are forbidden (RFC 9110 9.3.6).
package proxy
