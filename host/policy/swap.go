package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"wasmhttpd/host/policy/internal/interrupt"
)

// generation is one compiled version of a policy's module with its own
// instance pool. It is reference-counted: the policy holds one reference
// while the generation is current, and every request holds one while it
// uses it; the last release closes it. Counting rather than a finalizer
// makes the close deterministic, so a swapped-out module's memory is
// returned when its last request ends, not when the GC gets round to it.
type generation struct {
	p        *Policy
	id       uint64
	hash     [32]byte
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig

	slots chan struct{}
	idle  chan *instance

	refs   atomic.Int64
	closed atomic.Bool
}

func (g *generation) hashHex() string { return hex.EncodeToString(g.hash[:]) }

// acquire returns the current generation with a reference held for the
// caller, or nil when the policy is closed.
func (p *Policy) acquire() *generation {
	for {
		g := p.cur.Load()
		if g == nil {
			return nil
		}
		g.refs.Add(1)
		// A swap between the Load and the Add may have dropped the
		// policy's reference already; only a generation still current
		// after our Add is safe to use.
		if p.cur.Load() == g {
			return g
		}
		g.release()
	}
}

// release drops a reference, closing the generation with the last one.
func (g *generation) release() {
	if g.refs.Add(-1) == 0 && g.closed.CompareAndSwap(false, true) {
		g.close()
	}
}

func (g *generation) close() {
	for {
		select {
		case in := <-g.idle:
			in.close()
		default:
			g.compiled.Close(context.Background())
			return
		}
	}
}

// Reload reads the policy's file and, when it differs from the module
// serving, compiles and instantiates it beside the running generation and
// swaps it in. A module that does not compile, lacks handle_request or
// fails in _initialize is rejected with the error and the running one
// keeps serving.
func (p *Policy) Reload(ctx context.Context) error {
	fi, err := os.Stat(p.path)
	var data []byte
	if err == nil {
		data, err = os.ReadFile(p.path)
	}
	if err != nil {
		p.rejected.Add(1)
		return fmt.Errorf("policy %s: %w", p.name, err)
	}
	// Remembered whatever the outcome, so that Watch neither reloads a
	// loaded file nor retries a rejected one until it changes again.
	p.seen.Store(&fileSig{fi.Size(), fi.ModTime()})
	return p.swapTo(ctx, data)
}

// fileSig is what the watcher compares: a file's size and mtime.
type fileSig struct {
	size  int64
	mtime time.Time
}

func (p *Policy) swapTo(ctx context.Context, data []byte) error {
	p.swapMu.Lock()
	defer p.swapMu.Unlock()
	hash := sha256.Sum256(data)
	old := p.cur.Load()
	if old != nil && old.hash == hash {
		return nil
	}
	t0 := time.Now()
	g, err := p.newGeneration(ctx, data, hash)
	if err != nil {
		p.rejected.Add(1)
		err = fmt.Errorf("policy %s: %s rejected, %s: %w", p.name, p.path, keeping(old), err)
		p.log.Error("policy module rejected", "policy", p.name, "path", p.path, "sha256", hex.EncodeToString(hash[:]), "err", err)
		p.event(EventRejected, p.lastID, err.Error())
		return err
	}
	took := time.Since(t0)
	p.loadTime.Store(int64(took))
	p.cur.Store(g)
	if old != nil {
		p.swaps.Add(1)
		old.release() // the policy's reference: closes now, or with its last request
	}
	p.log.Info("policy module loaded", "policy", p.name, "generation", g.id, "sha256", g.hashHex(), "took", took)
	p.event(EventLoaded, g.id, "sha256 "+g.hashHex())
	return nil
}

func keeping(old *generation) string {
	if old == nil {
		return "nothing to keep"
	}
	return fmt.Sprintf("generation %d keeps serving", old.id)
}

func (p *Policy) newGeneration(ctx context.Context, data []byte, hash [32]byte) (*generation, error) {
	stoppable, err := interrupt.Instrument(data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	compiled, err := p.e.rt.CompileModule(ctx, stoppable)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	if err := p.checkExports(compiled); err != nil {
		compiled.Close(ctx)
		return nil, err
	}
	p.lastID++
	g := &generation{
		p: p, id: p.lastID, hash: hash, compiled: compiled,
		modCfg: wazero.NewModuleConfig().WithName("").
			WithSysWalltime().WithSysNanotime().WithSysNanosleep().
			WithRandSource(randSource),
		slots: make(chan struct{}, p.poolSize),
		idle:  make(chan *instance, p.poolSize),
	}
	g.refs.Store(1)
	for range p.prewarm {
		in, err := g.newInstance(ctx)
		if err != nil {
			g.release()
			p.lastID--
			return nil, err
		}
		g.idle <- in
	}
	return g, nil
}

// checkExports requires handle_request () -> i64 and an exported memory;
// handle_response (i32, i32) -> () is optional but must have that shape;
// a cache decider needs its hooks too.
func (p *Policy) checkExports(m wazero.CompiledModule) error {
	fns := m.ExportedFunctions()
	req, ok := fns["handle_request"]
	if !ok {
		return errors.New("module does not export handle_request: not an http-wasm guest")
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	if len(req.ParamTypes()) != 0 || !slices.Equal(req.ResultTypes(), []api.ValueType{i64}) {
		return errors.New("handle_request must have the signature () -> i64")
	}
	if resp, ok := fns["handle_response"]; ok {
		if !slices.Equal(resp.ParamTypes(), []api.ValueType{i32, i32}) || len(resp.ResultTypes()) != 0 {
			return errors.New("handle_response must have the signature (i32, i32) -> ()")
		}
	}
	if _, ok := m.ExportedMemories()["memory"]; !ok {
		return errors.New("module does not export its memory")
	}
	if p.cacheHooks {
		return checkCacheExports(fns)
	}
	return nil
}

// typeList spells a parameter list as WebAssembly text does.
func typeList(ts []api.ValueType) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += api.ValueTypeName(t)
	}
	return s
}
