// Command hostile is a test guest that misbehaves on request: it spins,
// eats memory, panics or sets absurd headers, chosen by x-test; any other
// request passes through.
package main

import (
	"strings"
	"unsafe"
)

//go:wasmimport http_handler get_header_values
func getHeaderValues(kind uint32, name unsafe.Pointer, nameLen uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

var buf [256]byte

func sp(s string) (unsafe.Pointer, uint32) {
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

var hoard [][]byte
var sink int

//go:wasmexport handle_request
func handleRequest() uint64 {
	np, nn := sp("x-test")
	r := getHeaderValues(0, np, nn, unsafe.Pointer(&buf[0]), uint32(len(buf)))
	test := ""
	if r != 0 {
		test = strings.TrimSuffix(string(buf[:uint32(r)]), "\x00")
	}
	switch test {
	case "spin":
		for i := 0; ; i++ {
			sink += i
		}
	case "bomb":
		for {
			hoard = append(hoard, make([]byte, 1<<20))
		}
	case "panic":
		panic("guest gave up")
	case "bigheader", "hugeheader":
		n := 1 << 20
		if test == "hugeheader" {
			n = 100 << 20
		}
		v := strings.Repeat("x", n)
		kp, kn := sp("x-big")
		vp, vn := sp(v)
		setHeaderValue(1, kp, kn, vp, vn)
	case "badheader":
		kp, kn := sp("x-inject")
		vp, vn := sp("a\r\nSet-Cookie: evil=1")
		setHeaderValue(1, kp, kn, vp, vn)
	}
	return 1
}

//go:wasmexport handle_response
func handleResponse(reqCtx, isError uint32) {}

func main() {}
