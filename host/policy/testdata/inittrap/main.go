// Command inittrap fails in _initialize: loading it must fail.
package main

func init() { panic("initialisation refused") }

//go:wasmexport handle_request
func handleRequest() uint64 { return 1 }

func main() {}
