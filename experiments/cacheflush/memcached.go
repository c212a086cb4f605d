package cacheflush

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// memcached speaks the three commands a flush needs over the text protocol (gomemcache has
// neither stats nor a delayed flush_all): stats, flush_all [delay], and the ASCII
// authentication of servers started with -Y.
type memcached struct {
	e    endpoint
	conn net.Conn
	r    *bufio.Reader
}

func dialMemcached(ctx context.Context, e endpoint) (*memcached, error) {
	d := net.Dialer{Timeout: e.timeout}
	conn, err := d.DialContext(ctx, "tcp", e.addr)
	if err != nil {
		return nil, fmt.Errorf("%s Memcached at %s: %w", msgUnreachable, e.addr, err)
	}
	m := &memcached{e: e, conn: conn, r: bufio.NewReader(conn)}
	if _, err := m.stats(); err != nil {
		_ = conn.Close() // the check failed; its close error adds nothing
		return nil, err
	}
	return m, nil
}

func (m *memcached) Close() error { return m.conn.Close() }

// line sends one command and reads the first reply line.
func (m *memcached) line(cmd string) (string, error) {
	if err := m.conn.SetDeadline(time.Now().Add(m.e.timeout)); err != nil {
		return "", err
	}
	if _, err := m.conn.Write([]byte(cmd)); err != nil {
		return "", fmt.Errorf("Memcached at %s: %w", m.e.addr, err)
	}
	l, err := m.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("Memcached at %s: no answer: %w", m.e.addr, err)
	}
	return strings.TrimRight(l, "\r\n"), nil
}

// stats reads the server's statistics, authenticating first when the server asks for it.
func (m *memcached) stats() (map[string]string, error) {
	first, err := m.line("stats\r\n")
	if err != nil {
		return nil, err
	}
	if first == "CLIENT_ERROR unauthenticated" {
		if err := m.auth(); err != nil {
			return nil, err
		}
		if first, err = m.line("stats\r\n"); err != nil {
			return nil, err
		}
	}
	if !strings.HasPrefix(first, "STAT ") {
		hint := ""
		if strings.HasPrefix(first, "-ERR") || strings.HasPrefix(first, "-NOAUTH") {
			hint = " (that is a Redis reply)"
		}
		return nil, fmt.Errorf("the server at %s did not answer as Memcached: %q%s: is spec.cacheFlush.engine right?", m.e.addr, first, hint)
	}
	out := map[string]string{}
	for l := first; l != "END"; {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "STAT" {
			out[f[1]] = f[2]
		}
		if l, err = m.r.ReadString('\n'); err != nil {
			return nil, fmt.Errorf("Memcached at %s: reading stats: %s", m.e.addr, err)
		}
		l = strings.TrimRight(l, "\r\n")
	}
	return out, nil
}

// auth sends the credentials the way -Y servers take them: a set whose value is "user pass".
func (m *memcached) auth() error {
	if m.e.credsFrom == "" {
		return fmt.Errorf("Memcached at %s requires authentication: set spec.cacheFlush.credentialsSecretName", m.e.addr)
	}
	v := m.e.username + " " + m.e.password
	reply, err := m.line(fmt.Sprintf("set auth 0 0 %d\r\n%s\r\n", len(v), v))
	if err != nil {
		return err
	}
	if reply != "STORED" {
		return fmt.Errorf("Memcached at %s refused the credentials from Secret %s (user %q): %s", m.e.addr, m.e.credsFrom, m.e.username, reply)
	}
	return nil
}

// flushAll invalidates every item, after delay when it is positive.
func (m *memcached) flushAll(delay time.Duration) error {
	cmd := "flush_all\r\n"
	if s := int(delay.Seconds()); s > 0 {
		cmd = "flush_all " + strconv.Itoa(s) + "\r\n"
	}
	reply, err := m.line(cmd)
	if err != nil {
		return err
	}
	if reply != "OK" {
		return fmt.Errorf("Memcached at %s: flush_all: %s", m.e.addr, reply)
	}
	return nil
}

// memcachedInfo reads the figures the status records.
func memcachedFigures(st map[string]string) (version string, used, items, hits, misses int64) {
	n := func(k string) int64 { v, _ := strconv.ParseInt(st[k], 10, 64); return v }
	return st["version"], n("bytes"), n("curr_items"), n("get_hits"), n("get_misses")
}
