package policy

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// FailMode says what a request gets when its policy fails.
type FailMode string

// The fail modes: a failed policy answers 500 (closed), or is skipped as
// if it had said next (open).
const (
	FailClosed FailMode = "fail-closed"
	FailOpen   FailMode = "fail-open"
)

// Options describe one policy. Zero values take the defaults named.
type Options struct {
	Name    string // for logs and stats
	Path    string // the .wasm file
	Config  []byte // handed to the guest by get_config (JSON by convention)
	OnError FailMode

	// PoolSize bounds the instances of a generation; default
	// max(2, GOMAXPROCS). Prewarm is how many are instantiated at load
	// (default 2, at most PoolSize): an instance costs a few MiB, so the
	// rest are made on demand.
	PoolSize int
	Prewarm  int

	CallTimeout    time.Duration // per guest call; default 50 ms
	AcquireTimeout time.Duration // wait for a free instance; default 1 s
	InitTimeout    time.Duration // _initialize; default 5 s

	MaxHeaderBytes int   // a header value, and a whole table; default 64 KiB
	MaxBodyBytes   int64 // body read into memory or written by the guest; default 16 MiB

	// CacheHooks makes the policy the caching proxy's decider: every
	// generation must export cache_request, cache_lookup and cache_store,
	// and a swap to a module without them is rejected.
	CacheHooks bool

	Logger *slog.Logger // default: the engine's

	// Notify, when set, hears of every load, rejected module and logged
	// failure, for a status page's list of recent events. It is called
	// synchronously and must not block.
	Notify func(Event)
}

// Event is something a policy did that an operator wants to see.
type Event struct {
	Time       time.Time
	Policy     string
	Kind       EventKind
	Generation uint64 // of the module loaded, or that failed
	Detail     string // the module's hash, why it was rejected, the failure's cause
}

// EventKind names an Event.
type EventKind string

// The kinds of Event.
const (
	EventLoaded   EventKind = "loaded"   // a module was loaded (first load or swap)
	EventRejected EventKind = "rejected" // a new module was refused; the old one serves
	EventFailed   EventKind = "failed"   // a guest call failed (as logged: rationed)
)

// Policy is one loaded module and its generations: the current one
// serves new requests, older ones finish the requests they started.
type Policy struct {
	e        *Engine
	name     string
	path     string
	config   []byte
	failOpen bool
	log      *slog.Logger

	poolSize, prewarm                        int
	callTimeout, acquireTimeout, initTimeout time.Duration
	maxHeader                                int
	maxBody                                  int64
	cacheHooks                               bool

	notify func(Event)

	cur    atomic.Pointer[generation]
	swapMu sync.Mutex // one reload at a time
	seen   atomic.Pointer[fileSig]
	lastID uint64

	counters                                         counters
	failureLog                                       logRation
	calls, errors, timeouts, swaps, rejected, reused atomic.Uint64
	open                                             atomic.Int64
	loadTime                                         atomic.Int64
}

// Load compiles the module at opts.Path, checks its exports, instantiates
// the pre-warmed instances and returns the policy serving it as
// generation 1.
func (e *Engine) Load(ctx context.Context, opts Options) (*Policy, error) {
	p := &Policy{
		e: e, name: opts.Name, path: opts.Path, config: opts.Config,
		failOpen: opts.OnError == FailOpen, log: opts.Logger,
		poolSize: opts.PoolSize, prewarm: opts.Prewarm,
		callTimeout: opts.CallTimeout, acquireTimeout: opts.AcquireTimeout, initTimeout: opts.InitTimeout,
		maxHeader: opts.MaxHeaderBytes, maxBody: opts.MaxBodyBytes, cacheHooks: opts.CacheHooks,
		notify: opts.Notify,
	}
	switch opts.OnError {
	case "", FailClosed, FailOpen:
	default:
		return nil, fmt.Errorf("policy %s: on_error %q is neither %q nor %q", opts.Name, opts.OnError, FailClosed, FailOpen)
	}
	if p.name == "" {
		p.name = opts.Path
	}
	if p.log == nil {
		p.log = e.log
	}
	if p.poolSize <= 0 {
		p.poolSize = max(2, runtime.GOMAXPROCS(0))
	}
	if p.prewarm <= 0 {
		p.prewarm = 2
	}
	p.prewarm = min(p.prewarm, p.poolSize)
	if p.callTimeout <= 0 {
		p.callTimeout = 50 * time.Millisecond
	}
	if p.acquireTimeout <= 0 {
		p.acquireTimeout = time.Second
	}
	if p.initTimeout <= 0 {
		p.initTimeout = 5 * time.Second
	}
	if p.maxHeader <= 0 {
		p.maxHeader = 64 << 10
	}
	if p.maxBody <= 0 {
		p.maxBody = 16 << 20
	}
	if err := p.Reload(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.name }

// Close retires the current generation; it closes once its last request
// ends. The policy must not serve afterwards.
func (p *Policy) Close() {
	if g := p.cur.Swap(nil); g != nil {
		g.release()
	}
}

// Stats are a policy's counters since load.
type Stats struct {
	Name       string
	Generation uint64        // of the module serving new requests
	ModuleHash string        // sha256 of that module, hex
	LoadTime   time.Duration // compile + instantiate of the last swap
	Calls      uint64        // guest calls (handle_request + handle_response)
	Errors     uint64        // calls that failed, timeouts included
	Timeouts   uint64
	Reused     uint64 // cache decisions answered from a reusable one, without a guest call
	Swaps      uint64 // successful loads after the first
	Rejected   uint64 // reloads refused (bad module), old one kept
	Instances  int64  // live instances, all generations

	// Counters are the guest's own, from counter_add, by name.
	Counters map[string]int64
}

// Stats returns the counters.
func (p *Policy) Stats() Stats {
	s := Stats{
		Name: p.name, LoadTime: time.Duration(p.loadTime.Load()),
		Calls: p.calls.Load(), Errors: p.errors.Load(), Timeouts: p.timeouts.Load(), Reused: p.reused.Load(),
		Swaps: p.swaps.Load(), Rejected: p.rejected.Load(), Instances: p.open.Load(),
		Counters: p.counters.snapshot(),
	}
	if g := p.cur.Load(); g != nil {
		s.Generation, s.ModuleHash = g.id, g.hashHex()
	}
	return s
}

// event passes an event to Notify, if there is one.
func (p *Policy) event(kind EventKind, gen uint64, detail string) {
	if p.notify != nil {
		p.notify(Event{Time: time.Now(), Policy: p.name, Kind: kind, Generation: gen, Detail: detail})
	}
}
