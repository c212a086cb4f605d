// Package netnstest makes network namespaces joined by a veth for tests, and measures traffic
// between them: UDP echo answers and their round-trip times, and TCP throughput. Nothing it sends
// leaves the namespaces.
package netnstest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
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
// back within wait of the last one sent (ProbeRTT's count of echoes).
func Probe(t testing.TB, ns netns.NsHandle, addr string, n int, gap, wait time.Duration) int {
	t.Helper()
	r, err := ProbeRTT(ns, addr, n, gap, wait)
	if err != nil {
		t.Fatal(err)
	}
	return r.Received
}

// RTTResult is what one ProbeRTT run saw.
type RTTResult struct {
	Sent, Received int
	// RTTs holds the round-trip time of each echo received, sorted.
	RTTs []time.Duration
}

// Median is the median round-trip time, 0 when no echo came back.
func (r RTTResult) Median() time.Duration {
	if len(r.RTTs) == 0 {
		return 0
	}
	return r.RTTs[len(r.RTTs)/2]
}

// LossPercent counts an echo that never came back as lost, whichever way it was lost.
func (r RTTResult) LossPercent() float64 {
	if r.Sent == 0 {
		return 0
	}
	return 100 * float64(r.Sent-r.Received) / float64(r.Sent)
}

func (r RTTResult) String() string {
	if len(r.RTTs) == 0 {
		return fmt.Sprintf("sent %d, received %d (loss %.1f %%)", r.Sent, r.Received, r.LossPercent())
	}
	return fmt.Sprintf("sent %d, received %d (loss %.1f %%), RTT min %s median %s max %s",
		r.Sent, r.Received, r.LossPercent(), r.RTTs[0].Round(10*time.Microsecond),
		r.Median().Round(10*time.Microsecond), r.RTTs[len(r.RTTs)-1].Round(10*time.Microsecond))
}

// maxBehind is how many packets ProbeRTT's sender may be behind its schedule, and so send back
// to back.
const maxBehind = 8

// ProbeRTT sends count numbered UDP packets from ns to the echo server at addr (ip:port), one
// every interval, and waits up to grace after the last one for the echoes (not at all once every
// echo is back). It is paced rather than one at a time so that a lost packet costs no timeout.
// Each packet carries its sequence number and send time, so a duplicate echo counts once; each
// run has its own socket, so a late echo of an earlier run cannot be counted in this one. A
// packet refused by an ICMP unreachable (no server on addr) is an echo lost, not an error.
func ProbeRTT(ns netns.NsHandle, addr string, count int, interval, grace time.Duration) (RTTResult, error) {
	dst, err := netip.ParseAddrPort(addr)
	if err != nil {
		return RTTResult{}, err
	}
	var conn *net.UDPConn
	if err := In(ns, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		return RTTResult{}, fmt.Errorf("client socket to %s: %w", addr, err)
	}
	defer conn.Close()

	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		pkt := make([]byte, 16)
		var err error
		due := start
		for i := range count {
			binary.BigEndian.PutUint64(pkt[0:], uint64(i))
			binary.BigEndian.PutUint64(pkt[8:], uint64(time.Since(start)))
			if _, werr := conn.Write(pkt); werr != nil && !errors.Is(werr, unix.ECONNREFUSED) {
				err = fmt.Errorf("sending packet %d to %s: %w", i, addr, werr)
				break
			}
			// Paced by schedule, not by sleeping interval after each packet: a short sleep can
			// overshoot by a millisecond or more (under emulation, always), so the sender catches
			// up in small bursts instead and the run takes about count×interval. It catches up
			// maxBehind packets at the most: after a stall (a busy host descheduling a VM for a
			// few hundred milliseconds) a burst of hundreds would overflow the echo server's
			// socket buffer, a loss no fault made.
			due = due.Add(interval)
			if floor := time.Now().Add(-maxBehind * interval); due.Before(floor) {
				due = floor
			}
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
			}
		}
		// The receiver stops grace after the last send.
		if dlErr := conn.SetReadDeadline(time.Now().Add(grace)); err == nil {
			err = dlErr
		}
		sendErr <- err
	}()

	seen := make([]bool, count)
	r := RTTResult{Sent: count}
	buf := make([]byte, 64)
	for r.Received < count { // all back: no need to wait out the grace period
		k, err := conn.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if errors.Is(err, unix.ECONNREFUSED) {
			continue
		}
		if err != nil {
			<-sendErr
			return r, fmt.Errorf("reading echoes from %s: %w", addr, err)
		}
		rtt := time.Since(start)
		if k != 16 {
			continue
		}
		seq := binary.BigEndian.Uint64(buf[0:])
		if seq >= uint64(count) || seen[seq] {
			continue // a duplicate (netem makes them), or garbage
		}
		seen[seq] = true
		r.Received++
		r.RTTs = append(r.RTTs, rtt-time.Duration(binary.BigEndian.Uint64(buf[8:])))
	}
	if err := <-sendErr; err != nil {
		return r, err
	}
	slices.Sort(r.RTTs)
	return r, nil
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
	defer func() {
		// Reset rather than close: what is still queued would otherwise drain through the
		// shaped link afterwards and eat into the next measurement's rate.
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		c.Close()
	}()
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
