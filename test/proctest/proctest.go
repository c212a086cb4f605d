// Package proctest runs the real servers tests use (Prometheus, Redis, Memcached) as child
// processes: found on the PATH (a missing one fails the test, never skips it), on free ports,
// waited for, killed when the test ends, their output shown when it failed.
package proctest

import (
	"bytes"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Binary finds name on the PATH; a missing one fails the test, naming the Debian package that
// has it (hack/deps.sh installs them).
func Binary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's %s package (make deps does)", name, pkg)
	}
	return p
}

// FreeAddr is host:port with a port nothing listens on right now.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	l, err := net.Listen("tcp4", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Process is a running child process.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{}
	logs LockedBuffer
}

// Start runs cmd until the test ends and waits, up to timeout, for ready to say it serves.
func Start(t testing.TB, cmd *exec.Cmd, name string, timeout time.Duration, ready func() bool) *Process {
	t.Helper()
	p := &Process{cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.logs, &p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, p.Logs())
		}
	})
	deadline := time.Now().Add(timeout)
	for !ready() {
		select {
		case <-p.done:
			t.Fatalf("%s exited at start:\n%s", name, p.Logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s:\n%s", name, timeout, p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

// Kill stops the process at once (as a crash would) and waits for it to be gone.
func (p *Process) Kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Logs is what the process printed so far.
func (p *Process) Logs() string { return p.logs.String() }

// Listening is a ready check: something accepts TCP connections on addr.
func Listening(addr string) func() bool {
	return func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}

// LockedBuffer is a bytes.Buffer safe to write from one goroutine while another reads it (a
// process's output, a logger's).
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
