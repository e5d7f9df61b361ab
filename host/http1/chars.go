package http1

// tokenChars marks the bytes allowed in a token (RFC 9110 5.6.2): method
// names, field names, transfer codings.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// IsToken reports whether s is a non-empty RFC 9110 token.
func IsToken(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// validFieldValue allows VCHAR, obs-text, SP and HTAB (RFC 9110 5.5): every
// other control byte, NUL, CR and LF above all, is refused.
func validFieldValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validTarget allows the visible ASCII bytes a request-target may carry
// (RFC 3986 characters plus '%'-escapes); anything else, non-ASCII bytes
// included, is a client error rather than something to guess about.
func validTarget(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// validAuthority checks "host [ ':' port ]" as it may appear in a Host
// field or a request-target (RFC 9110 4.2.3, RFC 3986 3.2). Userinfo is
// refused: RFC 9110 4.2.4 deprecates it and it is a favourite of phishing
// and confused-deputy tricks. CONNECT targets must carry a port.
func validAuthority(b []byte, requirePort bool) bool {
	if len(b) == 0 {
		return false
	}
	var port []byte
	hasPort := false
	if b[0] == '[' {
		end := indexByte(b, ']')
		if end < 0 || !validIPLiteral(b[1:end]) {
			return false
		}
		if rest := b[end+1:]; len(rest) > 0 {
			if rest[0] != ':' {
				return false
			}
			port, hasPort = rest[1:], true
		}
	} else {
		host := b
		if i := lastIndexByte(b, ':'); i >= 0 {
			host, port, hasPort = b[:i], b[i+1:], true
		}
		if len(host) == 0 || !validRegName(host) {
			return false
		}
	}
	if requirePort && (!hasPort || len(port) == 0) {
		return false
	}
	return validPort(port)
}

func validIPLiteral(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(isDigit(c) || HexDigit(c) >= 0 || c == ':' || c == '.') {
			return false
		}
	}
	return true
}

// validRegName allows unreserved, sub-delims and pct-encoded bytes.
func validRegName(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '%':
			if i+2 >= len(b) || HexDigit(b[i+1]) < 0 || HexDigit(b[i+2]) < 0 {
				return false
			}
			i += 2
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', isDigit(c):
		case c == '-' || c == '.' || c == '_' || c == '~':
		case c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' ||
			c == '*' || c == '+' || c == ',' || c == ';' || c == '=':
		default:
			return false
		}
	}
	return true
}

func validPort(p []byte) bool {
	if len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if !isDigit(c) {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// HexDigit returns the value of the hexadecimal digit c, or -1.
func HexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
