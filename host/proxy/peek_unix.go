//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// socketEnded reports whether c has data or an end of stream waiting,
// without consuming either and without waiting: a peek that does not
// block. (A read with a deadline in the past would not do: Go returns the
// timeout without asking the kernel.)
func socketEnded(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ended := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ended = n > 0 || n == 0 && rerr == nil || rerr != nil && rerr != syscall.EAGAIN && rerr != syscall.EINTR
		return true
	})
	return ended || err != nil
}
