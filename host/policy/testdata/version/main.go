// Command version is a pass-through test guest that labels responses
// with its version (set at build time with -ldflags -X main.version=…),
// for the hot-swap tests and the benchmark.
package main

import "unsafe"

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

var version = "v1"

//go:wasmexport handle_request
func handleRequest() uint64 {
	name := "x-version"
	setHeaderValue(1, unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)),
		unsafe.Pointer(unsafe.StringData(version)), uint32(len(version)))
	return 1
}

func main() {}
