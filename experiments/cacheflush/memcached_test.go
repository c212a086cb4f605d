package cacheflush

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/firedrill-dev/firedrill/experiments"
)

// A Memcached connection lost before a reply (the server closed it, or did not answer in time)
// is a connection failure to retry, not a refusal: a refusal says nothing was flushed, and
// after flush_all was sent that may be false. Loopback listeners stand in for a server that
// drops the connection and for one that never answers.
func TestMemcachedLostConnectionIsNotARefusal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(net.Conn)
	}{
		{"closed after the command", func(c net.Conn) {
			_, _ = bufio.NewReader(c).ReadString('\n')
			_ = c.Close()
		}},
		{"no answer within the timeout", func(c net.Conn) {
			_, _ = bufio.NewReader(c).ReadString('\n')
			time.Sleep(500 * time.Millisecond)
			_ = c.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				if c, err := ln.Accept(); err == nil {
					tc.serve(c)
				}
			}()
			conn, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			m := &memcached{e: endpoint{addr: ln.Addr().String(), timeout: 100 * time.Millisecond}, conn: conn, r: bufio.NewReader(conn)}
			err = refusal(m.flushAll(0))
			var perm *experiments.PermanentError
			if err == nil || errors.As(err, &perm) {
				t.Fatalf("error %v: want a connection failure to retry, not a refusal", err)
			}
		})
	}
}
