package policy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"wasmhttpd/host/http1"
	"wasmhttpd/host/policy/internal/interrupt"
)

// instance is one instantiated guest module. It is not goroutine-safe: a
// request holds it from handle_request through handle_response, and the
// pool hands it to one request at a time.
type instance struct {
	gen        *generation
	mod        api.Module
	handleReq  api.Function
	handleResp api.Function             // nil when the guest does not export it
	cacheFns   [phaseCount]api.Function // the cache hooks by phase, when the policy decides caching
	ctx        context.Context          // carries the instance to the host functions
	interrupt  api.MutableGlobal        // set, the guest traps at its next loop (package interrupt)
	timer      *time.Timer              // sets interrupt when a call overruns its deadline
	deadline   time.Time                // of the call in progress (written under stopMu); bounds the guest's sleeps
	// stopMu orders the timer's setting of the flag with the end of the
	// call it was meant for: the flag is set only while calling.
	stopMu       sync.Mutex
	calling      bool // guarded by stopMu
	interrupted  bool // guarded by stopMu: the flag was set during this call
	initFeatures Features
	st           reqState
	stack        [3]uint64 // reused by CallWithStack: no allocation per call
	fault        string    // why the host trapped the current call
	stderr       tailWriter
	closeOnce    sync.Once
}

// reqState is what the host functions need about the request an instance
// is serving. Its buffers are kept across requests.
type reqState struct {
	ex          *http1.Exchange
	features    Features
	phase       callPhase
	afterNext   bool
	reqPos      int // read_body position in the request body
	respPos     int // read_body position in the held response body
	reqWritten  bool
	respWritten bool
	written     int64 // body bytes written by the guest in this request
	scratch     []byte
	body        []byte

	router Router // of the chain; nil when it does not route
	route  Route  // chosen by this guest in handle_request
	cache  struct {
		key      string
		lifetime Lifetime
	}
	trace trace // of a cache hook that may be reused (memo.go)
}

// callPhase is which export an instance is running, for the host
// functions that are allowed in some only.
type callPhase uint8

const (
	phaseRequest      callPhase = iota // handle_request, then handle_response
	phaseCacheRequest                  // cache_request
	phaseCacheLookup                   // cache_lookup
	phaseCacheStore                    // cache_store
	phaseCount
)

func (st *reqState) begin(ex *http1.Exchange, f Features) {
	st.ex, st.features, st.phase, st.afterNext = ex, f, phaseRequest, false
	st.reqPos, st.respPos, st.reqWritten, st.respWritten, st.written = 0, 0, false, false, 0
	st.router, st.route = nil, Route{}
	st.cache.key, st.cache.lifetime = "", Lifetime{}
	st.trace.begin(false)
}

// end drops the references to the exchange, which is reused after the
// request, and buffers that grew unusually large.
func (st *reqState) end() {
	st.ex, st.router = nil, nil
	st.trace.on = false
	if cap(st.body) > 1<<20 {
		st.body = nil
	}
}

// tailWriter keeps the last bytes a guest wrote to stderr, so that the
// log line for a crashed guest can say why ("panic: …", "out of memory").
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 8 << 10

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tailWriter) reset() {
	t.mu.Lock()
	t.buf = t.buf[:0]
	t.mu.Unlock()
}

// last returns the first line of the tail that looks like a diagnosis.
func (t *tailWriter) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.buf))
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") || strings.HasPrefix(line, "runtime:") {
			return line
		}
	}
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// newInstance instantiates the generation's module and runs its
// _initialize (reactors: standard Go c-shared, TinyGo) or else _start
// under the policy's init deadline; ctx ending stops it too. The start
// function is called here rather than by wazero so that it runs under the
// same interruption as every later call.
func (g *generation) newInstance(ctx context.Context) (*instance, error) {
	e := g.p.e
	in := &instance{gen: g}
	in.ctx = context.WithValue(context.Background(), instKey{}, in)
	cfg := g.modCfg.WithStartFunctions().WithStderr(&in.stderr).WithNanosleep(in.sleep)
	mod, err := e.rt.InstantiateModule(in.ctx, g.compiled, cfg)
	if err != nil {
		return nil, err
	}
	in.mod = mod
	in.interrupt = mod.ExportedGlobal(interrupt.Export).(api.MutableGlobal)
	in.timer = time.AfterFunc(time.Hour, func() { in.stopCall(false) })
	in.timer.Stop()
	e.open.Add(1)
	g.p.open.Add(1)
	start := "_initialize"
	fn := mod.ExportedFunction(start)
	if fn == nil {
		start, fn = "_start", mod.ExportedFunction("_start")
	}
	if fn != nil {
		stop := context.AfterFunc(ctx, func() { in.stopCall(true) })
		f := in.callWithin(fn, 0, g.p.initTimeout)
		stop()
		switch {
		case ctx.Err() != nil:
			in.close()
			return nil, fmt.Errorf("%s: %w", start, context.Cause(ctx))
		case f != nil && f.exited && start == "_start":
			in.close()
			return nil, fmt.Errorf("%s exited: a policy must be a reactor (build with -buildmode=c-shared)", start)
		case f != nil:
			in.close()
			return nil, fmt.Errorf("%s failed: %s", start, f.cause)
		}
	}
	in.handleReq = mod.ExportedFunction("handle_request")
	in.handleResp = mod.ExportedFunction("handle_response")
	if g.p.cacheHooks {
		in.cacheFns[phaseCacheRequest] = mod.ExportedFunction(exportCacheRequest)
		in.cacheFns[phaseCacheLookup] = mod.ExportedFunction(exportCacheLookup)
		in.cacheFns[phaseCacheStore] = mod.ExportedFunction(exportCacheStore)
	}
	return in, nil
}

// stopCall sets the interruption flag if a call is running and, unless
// forced (a load's cancellation), past its deadline: the timer of an
// earlier call may fire late, during the next one.
func (in *instance) stopCall(force bool) {
	in.stopMu.Lock()
	defer in.stopMu.Unlock()
	if in.calling && (force || !time.Now().Before(in.deadline)) {
		in.interrupt.Set(1)
		in.interrupted = true
	}
}

// setCalling marks the start of a call with its deadline, or its end, and
// at the end reports whether stopCall set the flag during it.
func (in *instance) setCalling(calling bool, deadline time.Time) (interrupted bool) {
	in.stopMu.Lock()
	defer in.stopMu.Unlock()
	interrupted, in.interrupted = in.interrupted, false
	in.calling, in.deadline = calling, deadline
	return interrupted
}

// sleep is the guest's clock sleep (WASI poll_oneoff), cut short at the
// call's deadline: the interruption flag is only read at function entries
// and loop headers, so a guest asleep must wake up in time to read it.
func (in *instance) sleep(ns int64) {
	time.Sleep(min(time.Duration(ns), time.Until(in.deadline)))
}

func (in *instance) close() {
	in.closeOnce.Do(func() {
		in.timer.Stop()
		in.mod.Close(context.Background())
		in.gen.p.e.open.Add(-1)
		in.gen.p.open.Add(-1)
	})
}

// errBusy is the cause logged when no instance freed up in time.
var errBusy = errors.New("no free instance before the acquire deadline")

// get takes an idle instance, or instantiates one while the pool is under
// its bound, or waits for one up to the policy's acquire timeout. The
// slots channel is a semaphore: a token per instance in use or idle, so
// that the pool never exceeds its bound and a discarded instance frees
// its slot for a new one.
func (g *generation) get() (*instance, error) {
	select {
	case g.slots <- struct{}{}:
	default:
		t := time.NewTimer(g.p.acquireTimeout)
		select {
		case g.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return nil, errBusy
		}
	}
	select {
	case in := <-g.idle:
		return in, nil
	default:
	}
	in, err := g.newInstance(context.Background())
	if err != nil {
		<-g.slots
		return nil, err
	}
	return in, nil
}

// put returns a healthy instance to the pool.
func (g *generation) put(in *instance) {
	in.st.end()
	g.idle <- in // never blocks: idle has room for every slot
	<-g.slots
}

// discard closes an instance that failed: its memory may be in any
// state, so it is never used again.
func (g *generation) discard(in *instance) {
	in.st.end()
	in.close()
	<-g.slots
}

// callFailure classifies a failed guest call for the log and the counters.
type callFailure struct {
	cause   string
	timeout bool
	exited  bool // the guest called proc_exit
}

// call runs a guest export under the policy's call deadline, and counts
// it (start functions are not counted: they are the load's, not a
// request's).
func (in *instance) call(fn api.Function, nparams int) *callFailure {
	p := in.gen.p
	p.calls.Add(1)
	f := in.callWithin(fn, nparams, p.callTimeout)
	if f != nil {
		p.errors.Add(1)
		if f.timeout {
			p.timeouts.Add(1)
		}
	}
	return f
}

// callWithin runs a guest export under a deadline. A guest still running
// at the deadline has its interruption flag set by the timer and traps at
// its next function entry or loop header; the instance is then discarded
// by the caller, as after every failure.
func (in *instance) callWithin(fn api.Function, nparams int, timeout time.Duration) *callFailure {
	in.fault = ""
	in.stderr.reset() // the diagnosis must come from this call
	in.setCalling(true, time.Now().Add(timeout))
	in.timer.Reset(timeout)
	err := fn.CallWithStack(in.ctx, in.stack[:max(nparams, 1)])
	in.timer.Stop()
	interrupted := in.setCalling(false, time.Time{})
	if err == nil {
		if interrupted {
			// It returned after the flag's last check but before it
			// could trap: its result stands, and the flag must not fail
			// the instance's next call.
			in.interrupt.Set(0)
		}
		return nil
	}
	f := &callFailure{}
	var exit *sys.ExitError
	switch {
	case in.fault != "":
		f.cause = "host refused: " + in.fault
	case interrupted:
		f.cause, f.timeout = fmt.Sprintf("timeout after %v", timeout), true
	case errors.As(err, &exit):
		f.cause, f.exited = fmt.Sprintf("guest exited with code %d", exit.ExitCode()), true
	default:
		f.cause = "trap: " + firstLine(err.Error())
	}
	if msg := in.stderr.last(); msg != "" {
		f.cause += " (" + msg + ")"
	}
	return f
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// handleRequest calls handle_request and returns its ctx_next.
func (in *instance) handleRequest() (uint64, *callFailure) {
	if f := in.call(in.handleReq, 0); f != nil {
		return 0, f
	}
	return in.stack[0], nil
}

// handleResponse calls handle_response(reqCtx, isError).
func (in *instance) handleResponse(reqCtx uint32, isError bool) *callFailure {
	if in.handleResp == nil {
		return nil
	}
	in.stack[0], in.stack[1] = uint64(reqCtx), 0
	if isError {
		in.stack[1] = 1
	}
	return in.call(in.handleResp, 2)
}

// randSource is the guests' entropy: wazero's default is deterministic,
// which would make every session id a policy mints predictable.
var randSource io.Reader = rand.Reader
