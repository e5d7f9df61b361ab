// Command refserver is the reference the benchmark compares wasmhttpd with:
// the standard library's file server on a directory, and nothing else — no
// logging, no middleware — so it is a fair baseline for raw file serving.
//
//	refserver -addr 127.0.0.1:PORT -root DIR
package main

import (
	"flag"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	root := flag.String("root", ".", "directory to serve")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*addr, http.FileServer(http.Dir(*root))))
}
