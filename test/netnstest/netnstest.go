// Package netnstest makes network namespaces joined by a veth for tests, and measures traffic
// between them: UDP echo answers and TCP throughput. Nothing it sends leaves the namespaces.
package netnstest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Pair is two network namespaces made by the test, joined by a veth: "va" (10.99.0.1) in A, "vb"
// in B with 10.99.0.2 and 10.99.0.3. Nothing leaves them.
type Pair struct {
	A, B   netns.NsHandle
	HA, HB *netlink.Handle
}

func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("network namespace tests need root; CI runs as root, so this is a broken CI setup")
	}
	t.Skip("network namespace tests need root (run as root, as CI does)")
}

func NewPair(t testing.TB) *Pair {
	t.Helper()
	NeedRoot(t)
	p := &Pair{A: NewNS(t), B: NewNS(t)}
	var err error
	if p.HA, err = netlink.NewHandleAt(p.A, unix.NETLINK_ROUTE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.HA.Close)
	if p.HB, err = netlink.NewHandleAt(p.B, unix.NETLINK_ROUTE); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.HB.Close)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "va", TxQLen: 1000}, PeerName: "vb", PeerNamespace: netlink.NsFd(int(p.B))}
	if err := p.HA.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		h     *netlink.Handle
		link  string
		addrs []string
	}{{p.HA, "va", []string{"10.99.0.1/24"}}, {p.HB, "vb", []string{"10.99.0.2/24", "10.99.0.3/24"}}} {
		l, err := side.h.LinkByName(side.link)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range side.addrs {
			addr, _ := netlink.ParseAddr(a)
			if err := side.h.AddrAdd(l, addr); err != nil {
				t.Fatal(err)
			}
		}
		lo, _ := side.h.LinkByName("lo")
		for _, up := range []netlink.Link{l, lo} {
			if err := side.h.LinkSetUp(up); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A default route out of va, as a pod has out of eth0: the agent finds the pod's interface by it.
	va, err := p.HA.LinkByName("va")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.HA.RouteAdd(&netlink.Route{LinkIndex: va.Attrs().Index, Gw: net.ParseIP("10.99.0.2")}); err != nil {
		t.Fatal(err)
	}
	return p
}

// Path is a path that opens ns (for code that takes a namespace by path, as the agent does).
func Path(ns netns.NsHandle) string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns)) }

// NewNS makes an unnamed network namespace that lives as long as the test holds its handle.
func NewNS(t testing.TB) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// In runs fn with the calling thread in ns; sockets it opens stay in ns afterwards.
func In(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	defer netns.Set(orig)
	return fn()
}

// UDPEcho serves UDP echo on addr in ns until the test ends, counting what it receives.
func UDPEcho(t testing.TB, ns netns.NsHandle, addr string) *atomic.Int64 {
	t.Helper()
	var conn *net.UDPConn
	if err := In(ns, func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var got atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			got.Add(1)
			conn.WriteToUDP(buf[:n], from)
		}
	}()
	return &got
}

// Probe sends n numbered UDP packets from ns to addr, one every gap, and reports how many came
// back within wait.
func Probe(t testing.TB, ns netns.NsHandle, addr string, n int, gap, wait time.Duration) int {
	t.Helper()
	var conn *net.UDPConn
	if err := In(ns, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			conn.SetReadDeadline(time.Now().Add(wait))
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			seen[string(buf[:k])] = true
		}
	}()
	for i := range n {
		if _, err := conn.Write(fmt.Appendf(nil, "%d", i)); err != nil && !errors.Is(err, unix.ECONNREFUSED) {
			t.Fatal(err)
		}
		time.Sleep(gap)
	}
	<-done
	return len(seen)
}

// TCPThroughput sends as fast as it can from ns `from` to a sink on addr in ns `to` for d and
// returns bits per second received.
func TCPThroughput(t testing.TB, from, to netns.NsHandle, addr string, d time.Duration) float64 {
	t.Helper()
	var ln net.Listener
	if err := In(to, func() (err error) {
		ln, err = net.Listen("tcp4", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var received atomic.Int64
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			received.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	var c net.Conn
	if err := In(from, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 2*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Count what arrived during d, not what the send buffer drains afterwards.
	stop := time.Now().Add(d)
	go func() {
		buf := make([]byte, 32<<10)
		c.SetWriteDeadline(stop)
		for {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	time.Sleep(time.Until(stop))
	got := received.Load()
	elapsed := time.Since(start)
	return float64(got*8) / elapsed.Seconds()
}
