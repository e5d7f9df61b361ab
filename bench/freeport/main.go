// Command freeport prints N currently free TCP ports on 127.0.0.1, separated
// by spaces (default N=1). All N listeners are held open together before any
// is closed, so the ports printed are distinct. A port can in principle be
// taken by someone else before the caller binds it; for a benchmark on a
// quiet machine that race is acceptable.
//
//	freeport [N]
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

func main() {
	n := 1
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 {
			fmt.Fprintf(os.Stderr, "freeport: bad count %q\n", os.Args[1])
			os.Exit(2)
		}
		n = v
	}
	ports := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "freeport:", err)
			os.Exit(1)
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
}
