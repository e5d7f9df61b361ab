// Command noexport is a reactor that is not an http-wasm guest: it lacks
// handle_request, and loading it must fail.
package main

//go:wasmexport something_else
func somethingElse() int32 { return 1 }

func main() {}
