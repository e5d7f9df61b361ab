package smtp

import "bufio"

// dataWriter writes message data for DATA (RFC 5321 4.5.2): every line end
// (CRLF, a bare LF or a bare CR) goes out as CRLF, a line that starts with
// "." gets a second one, and Close ends the data with "<CRLF>.<CRLF>".
// Normalising bare line ends matters beyond tidiness: a bare LF followed by
// "." could otherwise end the data early on a lenient server (SMTP
// smuggling).
type dataWriter struct {
	w   *bufio.Writer
	bol bool // at the beginning of a line
	cr  bool // the last byte was a CR whose LF is still owed
}

// Write never fails itself: errors of the underlying writer stick in it
// and come out of Close.
func (d *dataWriter) Write(p []byte) (int, error) {
	start := 0
	for i, c := range p {
		switch {
		case c == '\r' || c == '\n':
			d.w.Write(p[start:i])
			start = i + 1
			if c == '\n' && d.cr {
				d.cr = false // the CRLF is already out
				continue
			}
			d.w.WriteString("\r\n")
			d.cr, d.bol = c == '\r', true
		case c == '.' && d.bol:
			d.w.Write(p[start:i])
			start = i
			d.w.WriteByte('.')
			d.cr, d.bol = false, false
		default:
			d.cr, d.bol = false, false
		}
	}
	d.w.Write(p[start:])
	return len(p), nil
}

// Close ends the data, adding the last line's CRLF when missing, and
// flushes.
func (d *dataWriter) Close() error {
	if !d.bol {
		d.w.WriteString("\r\n")
	}
	d.w.WriteString(".\r\n")
	return d.w.Flush()
}
