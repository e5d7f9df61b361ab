// Command conform is a test guest that exercises every http_handler
// import, and every wasmhttpd_v1 import and export (ext.go), one case per
// request, chosen by the x-test request header. It uses raw imports so
// that it depends on nothing but the ABI.
package main

import (
	"strconv"
	"strings"
	"unsafe"
)

//go:wasmimport http_handler enable_features
func enableFeatures(f uint32) uint32

//go:wasmimport http_handler get_config
func getConfig(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler log_enabled
func logEnabled(level int32) uint32

//go:wasmimport http_handler log
func logMsg(level int32, msg unsafe.Pointer, n uint32)

//go:wasmimport http_handler get_method
func getMethod(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler set_method
func setMethod(p unsafe.Pointer, n uint32)

//go:wasmimport http_handler get_uri
func getURI(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler set_uri
func setURI(p unsafe.Pointer, n uint32)

//go:wasmimport http_handler get_protocol_version
func getProtocolVersion(buf unsafe.Pointer, limit uint32) uint32

//go:wasmimport http_handler get_header_names
func getHeaderNames(kind uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler get_header_values
func getHeaderValues(kind uint32, name unsafe.Pointer, nameLen uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler add_header_value
func addHeaderValue(kind uint32, name unsafe.Pointer, nameLen uint32, value unsafe.Pointer, valueLen uint32)

//go:wasmimport http_handler remove_header
func removeHeader(kind uint32, name unsafe.Pointer, nameLen uint32)

//go:wasmimport http_handler read_body
func readBody(kind uint32, buf unsafe.Pointer, limit uint32) uint64

//go:wasmimport http_handler write_body
func writeBody(kind uint32, buf unsafe.Pointer, n uint32)

//go:wasmimport http_handler get_status_code
func getStatusCode() uint32

//go:wasmimport http_handler set_status_code
func setStatusCode(code uint32)

//go:wasmimport http_handler get_source_addr
func getSourceAddr(buf unsafe.Pointer, limit uint32) uint32

var buf [16 << 10]byte

func bp() unsafe.Pointer { return unsafe.Pointer(&buf[0]) }

func sp(s string) (unsafe.Pointer, uint32) {
	if s == "" {
		return nil, 0
	}
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func getString(f func(unsafe.Pointer, uint32) uint32) string {
	n := f(bp(), uint32(len(buf)))
	return string(buf[:n])
}

func list(countLen uint64) []string {
	n := uint32(countLen)
	if countLen == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00")
}

func values(kind uint32, name string) []string {
	p, n := sp(name)
	return list(getHeaderValues(kind, p, n, bp(), uint32(len(buf))))
}

func names(kind uint32) []string { return list(getHeaderNames(kind, bp(), uint32(len(buf)))) }

func header(kind uint32, name string) string {
	v := values(kind, name)
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func set(kind uint32, name, value string) {
	np, nn := sp(name)
	vp, vn := sp(value)
	setHeaderValue(kind, np, nn, vp, vn)
}

func add(kind uint32, name, value string) {
	np, nn := sp(name)
	vp, vn := sp(value)
	addHeaderValue(kind, np, nn, vp, vn)
}

func remove(kind uint32, name string) {
	np, nn := sp(name)
	removeHeader(kind, np, nn)
}

func write(kind uint32, s string) {
	p, n := sp(s)
	writeBody(kind, p, n)
}

// readAll reads a body in small pieces, to exercise the EOF bit.
func readAll(kind uint32) string {
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		r := readBody(kind, bp(), 5)
		sb.Write(buf[:uint32(r)])
		if r>>32 == 1 {
			break
		}
	}
	return sb.String()
}

const (
	req, resp, reqTrailers, respTrailers = 0, 1, 2, 3
)

var test string

//go:wasmexport handle_request
func handleRequest() uint64 {
	test = header(req, "x-test")
	if extRequest() {
		return 1
	}
	switch test {
	case "names":
		set(resp, "x-names", strings.Join(names(req), ","))
	case "values":
		set(resp, "x-values", strings.Join(values(req, "X-Multi"), ","))
		set(resp, "x-none", strconv.Itoa(len(values(req, "x-absent"))))
	case "set-req":
		set(req, "x-a", "1")
		add(req, "x-b", "2")
		add(req, "x-b", "3")
		remove(req, "x-gone")
	case "set-resp":
		set(resp, "x-r", "1")
		add(resp, "x-r", "2")
		set(resp, "x-del", "d")
		remove(resp, "x-del")
	case "method":
		set(resp, "x-method", getString(getMethod))
		p, n := sp("POST")
		setMethod(p, n)
	case "uri":
		set(resp, "x-uri", getString(getURI))
		p, n := sp("/rewritten?q=1")
		setURI(p, n)
	case "proto":
		set(resp, "x-proto", getString(getProtocolVersion))
	case "source":
		set(resp, "x-source", getString(getSourceAddr))
	case "config":
		set(resp, "x-config", getString(getConfig))
	case "log":
		set(resp, "x-log-enabled", strconv.Itoa(int(logEnabled(0)))+strconv.Itoa(int(logEnabled(3))))
		p, n := sp("hello from the guest")
		logMsg(0, p, n)
	case "answer":
		setStatusCode(418)
		set(resp, "content-type", "text/plain")
		write(resp, "short ")
		write(resp, "and stout")
		return 0
	case "answer-empty":
		setStatusCode(204)
		return 0
	case "reqbody":
		enableFeatures(1)
		set(resp, "x-body", readAll(req))
		write(req, "replaced ")
		write(req, "body")
	case "respbody":
		enableFeatures(2)
		return 42<<32 | 1
	case "trailers":
		set(resp, "x-features", strconv.Itoa(int(enableFeatures(4))))
		set(respTrailers, "x-trailer", "t")
		set(resp, "x-req-trailers", strconv.Itoa(len(names(reqTrailers))))
	case "features":
		set(resp, "x-features", strconv.Itoa(int(enableFeatures(7|8))))
	case "order":
		enableFeatures(2)
		name := getString(getConfig)
		add(req, "x-order", name)
		return 7<<32 | 1
	case "readresp-nobuf":
		return 1
	case "request-only":
		// handle_response would trap, setting a field of a response
		// already sent: the request passes only if it is not called.
		enableFeatures(1 << 31)
	}
	return 1
}

//go:wasmexport handle_response
func handleResponse(reqCtx uint32, isError uint32) {
	extResponse()
	switch test {
	case "respbody":
		set(resp, "x-status", strconv.Itoa(int(getStatusCode())))
		set(resp, "x-reqctx", strconv.Itoa(int(reqCtx)))
		set(resp, "x-is-error", strconv.Itoa(int(isError)))
		body := readAll(resp)
		write(resp, strings.ToUpper(body))
		setStatusCode(201)
	case "order":
		add(resp, "x-order-resp", getString(getConfig))
		set(resp, "x-reqctx-"+getString(getConfig), strconv.Itoa(int(reqCtx)))
	case "readresp-nobuf":
		readBody(resp, bp(), 10) // traps: no buffer_response
	case "request-only":
		set(resp, "x-late", "1")
	}
}

func main() {}
