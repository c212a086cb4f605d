//go:build integration

package integration

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// cutProxy forwards TCP connections to the API server, and can cut them all at once and turn
// new ones away: a connection to the API server lost as in an API server restart or a load
// balancer's reset. Clients made from its config() reach the API server only through it.
type cutProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	down  bool
	// cuts is how many connections cut() closed.
	cuts int
}

func newCutProxy(t *testing.T) *cutProxy {
	t.Helper()
	u, err := url.Parse(cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Go(func() { p.serve(&wg) })
	t.Cleanup(func() {
		_ = ln.Close() // ends serve
		p.cut()
		wg.Wait()
	})
	return p
}

// config is the suite's config with the proxy in the API server's place. The API server's
// certificate names 127.0.0.1, where the proxy listens too.
func (p *cutProxy) config() *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Host = "https://" + p.ln.Addr().String()
	return c
}

func (p *cutProxy) serve(wg *sync.WaitGroup) {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			_ = in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			// Either side ending (or a cut) ends both: the client sees its connection drop.
			// Copy's error only says how it ended.
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		wg.Go(func() { pipe(out, in) })
		wg.Go(func() { pipe(in, out) })
	}
}

// cut closes every connection through the proxy and turns new ones away until restore.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
		p.cuts++
	}
	clear(p.conns)
}

// restore lets connections through again.
func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}
