package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// EngineOptions configure the one wazero runtime shared by every policy.
type EngineOptions struct {
	// CacheDir holds compiled machine code across restarts (for example
	// cachedir/wasm). Compiling a standard-Go guest takes about half a
	// second, so without it every start and every swap back to a module
	// already seen pays that again. Empty means an in-memory cache only.
	CacheDir string

	// MemoryLimitPages caps the linear memory of every instance, in 64 KiB
	// pages. wazero sets it per runtime, so it is an engine option; zero
	// means DefaultMemoryLimitPages.
	MemoryLimitPages uint32

	// Logger receives engine, swap and guest log lines; nil means
	// slog.Default().
	Logger *slog.Logger
}

// DefaultMemoryLimitPages is 64 MiB: a standard-Go guest starts at about
// 2.4 MiB and a policy has no business holding more than a few.
const DefaultMemoryLimitPages = 1024

// Engine is the wazero runtime, the WASI imports that standard-Go and
// TinyGo guests need, and the http_handler host module. It is safe for
// concurrent use; instances are not, which is why policies pool them.
type Engine struct {
	rt       wazero.Runtime
	cache    wazero.CompilationCache
	log      *slog.Logger
	memPages uint32

	// open counts live guest instances across all policies, so that tests
	// and metrics can see that swapped-out generations really are closed.
	open atomic.Int64
}

// NewEngine creates the runtime. The compiler engine is used where wazero
// has one (amd64, arm64); the interpreter elsewhere.
func NewEngine(ctx context.Context, opts EngineOptions) (*Engine, error) {
	e := &Engine{log: opts.Logger, memPages: opts.MemoryLimitPages}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.memPages == 0 {
		e.memPages = DefaultMemoryLimitPages
	}
	// Not WithCloseOnContextDone: every module is rewritten by package
	// interrupt instead, which stops a spinning guest as surely at a
	// fraction of the cost (see its RATIONALE).
	cfg := wazero.NewRuntimeConfig().WithMemoryLimitPages(e.memPages)
	if opts.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("policy: compilation cache %s: %w", opts.CacheDir, err)
		}
		e.cache = cache
		cfg = cfg.WithCompilationCache(cache)
	}
	e.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, e.rt); err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("policy: instantiating WASI: %w", err)
	}
	if err := instantiateHostModule(ctx, e.rt); err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("policy: instantiating %s: %w", HostModule, err)
	}
	if err := instantiateExtModule(ctx, e.rt); err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("policy: instantiating %s: %w", ExtModule, err)
	}
	return e, nil
}

// Close closes the runtime and with it every instance and compiled module.
// Policies must not be used afterwards.
func (e *Engine) Close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

// OpenInstances reports how many guest instances are alive across all
// policies: idle in a pool or serving a request.
func (e *Engine) OpenInstances() int64 { return e.open.Load() }
