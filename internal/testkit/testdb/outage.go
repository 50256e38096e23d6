package testdb

import (
	"net"
	"sync"
	"testing"
)

// HangingURL returns the URL of a "database" that accepts connections and
// never answers, the outage that hangs clients rather than refusing them.
// It is closed when t ends.
func HangingURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "postgres://violet@" + l.Addr().String() + "/violet?sslmode=disable"
}

// RefusedURL returns the URL of a database on a local port where nothing
// listens: every connection is refused at once.
func RefusedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "postgres://violet@" + addr + "/violet?sslmode=disable"
}
