package http1

import "strconv"

// reasons holds the reason phrases of RFC 9110 15 (and 9111, 6585).
var reasons = map[int]string{
	100: "Continue", 101: "Switching Protocols", 103: "Early Hints",
	200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information",
	204: "No Content", 205: "Reset Content", 206: "Partial Content",
	300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other",
	304: "Not Modified", 305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
	404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
	407: "Proxy Authentication Required", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
	411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large",
	414: "URI Too Long", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
	417: "Expectation Failed", 421: "Misdirected Request", 422: "Unprocessable Content",
	425: "Too Early", 426: "Upgrade Required", 428: "Precondition Required",
	429: "Too Many Requests", 431: "Request Header Fields Too Large",
	451: "Unavailable For Legal Reasons",
	500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported", 508: "Loop Detected",
	511: "Network Authentication Required",
}

// StatusText returns the reason phrase for code, or "" when it has none.
func StatusText(code int) string { return reasons[code] }

// statusLines caches the full "HTTP/1.1 code reason\r\n" line of every
// known status, so serializing one is a single buffered copy.
var statusLines = func() map[int]string {
	m := make(map[int]string, len(reasons))
	for code, reason := range reasons {
		m[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + reason + "\r\n"
	}
	return m
}()

func statusLine(code int) string {
	if line, ok := statusLines[code]; ok {
		return line
	}
	return "HTTP/1.1 " + strconv.Itoa(code) + " \r\n"
}
