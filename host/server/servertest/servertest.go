// Package servertest runs a server.Server on a loopback port for a test,
// as net/http/httptest does for net/http: the packages above the server
// test their handlers over real sockets without each writing the start
// and the shutdown again.
package servertest

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"wasmhttpd/host/server"
)

// Start serves cfg on a free 127.0.0.1 port and returns its address,
// host:port. The server shuts down when the test ends, before cleanups
// registered earlier run. A nil cfg.Logger discards the server's log.
func Start(t testing.TB, cfg server.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := server.New(cfg)
	done := make(chan struct{})
	go func() {
		s.Serve(ln)
		close(done)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}
