// Command guestcalls prints how many guest calls a request costs when it
// passes through a chain of policy modules and every guest passes it on:
// one handle_request per module, and one handle_response per module that
// exports it (the host skips the call for a guest without the export).
// bench/run.sh divides the chain's extra CPU per request by this count.
//
//	guestcalls MODULE.wasm...
//
// Output: "REQUEST_CALLS RESPONSE_CALLS", e.g. "3 3".
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: guestcalls MODULE.wasm...")
		os.Exit(2)
	}
	ctx := context.Background()
	// The interpreter only decodes and validates here, which is all that
	// listing exports needs and much quicker than compiling to machine code.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	requests, responses := 0, 0
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fail(err)
		}
		m, err := rt.CompileModule(ctx, data)
		if err != nil {
			fail(fmt.Errorf("%s: %w", path, err))
		}
		fns := m.ExportedFunctions()
		if _, ok := fns["handle_request"]; !ok {
			fail(fmt.Errorf("%s does not export handle_request: not a policy module", path))
		}
		requests++
		if _, ok := fns["handle_response"]; ok {
			responses++
		}
	}
	fmt.Println(requests, responses)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "guestcalls:", err)
	os.Exit(1)
}
