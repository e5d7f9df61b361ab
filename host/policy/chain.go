package policy

import (
	"sync"
	"time"

	"wasmhttpd/host/http1"
)

// Chain runs policies around a next handler: every guest's
// handle_request in order, then next unless a guest answered (next=0),
// then handle_response of every guest that said next, in reverse order.
// When next is a Router, guests may choose a route instead (the last
// guest to choose wins). It implements http1.Handler.
type Chain struct {
	policies []*Policy
	next     http1.Handler
	router   Router // next, when it routes
}

// NewChain returns a chain of the policies in order before next.
func NewChain(policies []*Policy, next http1.Handler) *Chain {
	router, _ := next.(Router)
	return &Chain{policies: append([]*Policy(nil), policies...), next: next, router: router}
}

// step is one policy's part in a request: the generation and instance it
// holds from handle_request to handle_response, and the guest's reqCtx.
type step struct {
	p      *Policy
	g      *generation
	in     *instance
	reqCtx uint32
	// respond is whether handle_response is called: the guest passed the
	// request on (next=1) and did not declare FeatureRequestOnly.
	respond bool
}

// maxInline is the chain length served without allocating the steps.
const maxInline = 8

// Serve implements http1.Handler.
func (c *Chain) Serve(ex *http1.Exchange) {
	var inline [maxInline]step
	steps := inline[:0]
	defer func() {
		for i := range steps {
			s := &steps[i]
			if s.in != nil {
				s.g.put(s.in)
			}
			s.g.release()
		}
	}()

	answered, failed := false, false
	for _, p := range c.policies {
		g := p.acquire()
		if g == nil {
			// Closed under a live chain (a config reload retired it). An
			// auth policy that silently stopped running would fail open,
			// so its fail mode decides.
			if c.fail(ex, p, 0, "policy is closed") {
				answered, failed = true, true
				break
			}
			continue
		}
		in, err := g.get()
		if err != nil {
			g.release()
			if c.fail(ex, p, 0, "instance: "+err.Error()) {
				answered, failed = true, true
				break
			}
			continue
		}
		in.st.begin(ex, in.initFeatures)
		in.st.router = c.router
		if in.st.features&FeatureBufferRequest != 0 {
			if _, err := ex.Request.Body.Bytes(p.maxBody); err != nil {
				g.put(in)
				g.release()
				ex.Response.Error(http1.StatusOf(err), err.Error())
				answered, failed = true, true
				break
			}
		}
		ctxNext, f := in.handleRequest()
		if f != nil {
			g.discard(in)
			g.release()
			if c.fail(ex, p, g.id, "handle_request: "+f.cause) {
				answered, failed = true, true
				break
			}
			continue
		}
		steps = append(steps, step{p: p, g: g, in: in, reqCtx: uint32(ctxNext >> 32),
			respond: ctxNext&1 != 0 && in.st.features&FeatureRequestOnly == 0})
		if ctxNext&1 == 0 {
			answered = true
			finishDirect(ex)
			break
		}
		// Held from here on, so that this guest can see and rewrite what
		// the rest of the chain and the handler produce.
		if in.st.features&FeatureBufferResponse != 0 && !ex.Response.Buffering() {
			ex.Response.StartBuffering()
		}
	}

	isError := failed
	if !answered {
		isError = c.serveNext(ex, chosenRoute(steps))
	}
	for i := len(steps) - 1; i >= 0; i-- {
		s := &steps[i]
		if !s.respond {
			continue
		}
		s.in.st.afterNext, s.in.st.respWritten, s.in.st.respPos = true, false, 0
		if f := s.in.handleResponse(s.reqCtx, isError); f != nil {
			s.g.discard(s.in)
			s.in = nil
			if c.fail(ex, s.p, s.g.id, "handle_response: "+f.cause) {
				isError = true
			}
		}
	}
}

// chosenRoute is the route of the last guest that chose one.
func chosenRoute(steps []step) Route {
	for i := len(steps) - 1; i >= 0; i-- {
		if r := steps[i].in.st.route; r.Kind != RouteDefault {
			return r
		}
	}
	return Route{}
}

// serveNext runs the next handler, or the route a guest chose, reporting
// whether it failed. A panic there is the handler's fault, but the
// guests that wait for handle_response must still hear of it
// (is_error=1).
func (c *Chain) serveNext(ex *http1.Exchange, r Route) (failed bool) {
	defer func() {
		if r := recover(); r != nil {
			failed = true
			if len(c.policies) > 0 {
				c.policies[0].log.Error("handler panicked under policies", "panic", r)
			}
			ex.Response.Error(500, "internal error")
		}
	}()
	if r.Kind != RouteDefault {
		c.router.ServeRoute(ex, r)
		return false
	}
	c.next.Serve(ex)
	return false
}

// finishDirect completes the answer of a guest that said next=0: the
// status it set goes out even when it wrote no body, which
// ResponseWriter.Finish alone would send as 200.
func finishDirect(ex *http1.Exchange) {
	w := ex.Response
	if w.Buffering() || w.HeaderWritten() {
		return
	}
	status := w.Status()
	if status == 0 {
		status = 200
	}
	if !w.Header().Has("Content-Length") {
		w.SetContentLength(0)
	}
	w.WriteHeader(status)
}

// fail logs a policy failure and applies its fail mode. It reports
// whether the request was answered (fail-closed): a short 500, or an
// aborted response when its header has already gone out.
func (c *Chain) fail(ex *http1.Exchange, p *Policy, gen uint64, cause string) bool {
	p.logFailure(ex, gen, cause)
	if p.failOpen {
		return false
	}
	ex.Response.Error(500, "policy "+p.name+" failed")
	return true
}

// logFailure logs a failed guest call with what an operator needs to find
// the module and the request. A guest that fails every request at tens of
// thousands a second must not drown the log (or fill the disk) with
// identical lines, so the lines are rationed; each says how many failures
// went unlogged before it.
func (p *Policy) logFailure(ex *http1.Exchange, gen uint64, cause string) {
	unlogged, ok := p.failureLog.take(time.Now())
	if !ok {
		return
	}
	mode := FailClosed
	if p.failOpen {
		mode = FailOpen
	}
	p.log.Warn("policy failed", "policy", p.name, "generation", gen, "cause", cause, "mode", string(mode),
		"method", ex.Request.Method, "target", string(ex.Request.Target), "unlogged_before", unlogged)
	p.event(EventFailed, gen, cause)
}

// logRation is a token bucket for log lines: a burst of logBurst, then
// logRate a second.
type logRation struct {
	mu       sync.Mutex
	tokens   float64
	last     time.Time
	unlogged uint64
}

const (
	logBurst = 20
	logRate  = 10
)

// take reports whether a line may be written now, and how many were
// refused since the last one that was.
func (r *logRation) take(now time.Time) (unlogged uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last.IsZero() {
		r.tokens = logBurst
	} else {
		r.tokens = min(logBurst, r.tokens+now.Sub(r.last).Seconds()*logRate)
	}
	r.last = now
	if r.tokens < 1 {
		r.unlogged++
		return 0, false
	}
	r.tokens--
	unlogged, r.unlogged = r.unlogged, 0
	return unlogged, true
}
