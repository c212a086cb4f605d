//go:build kernel

package kernel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The test network: namespace A holds the client and the link faults go on, namespace B the echo
// servers, one per address so each reply leaves from the address it was sent to.
const (
	linkA    = "fdtest-a"
	linkB    = "fdtest-b"
	echoPort = 7007
)

var (
	addrA  = netip.MustParsePrefix("10.99.0.1/24")
	addrB  = netip.MustParsePrefix("10.99.0.2/24")
	addrB3 = netip.MustParsePrefix("10.99.0.3/32")
	dstB   = addrB.Addr()
	dstB3  = addrB3.Addr()
)

// testNet is two fresh network namespaces joined by a veth pair, with echo servers in B.
type testNet struct {
	nsA, nsB netns.NsHandle
	// hA manages namespace A, where the faults go (on linkA).
	hA *netlink.Handle
}

// newTestNet builds the namespaces, the veth pair and the echo servers; t.Cleanup removes them
// all (a namespace and its links go when the last handle on it is closed).
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	n := &testNet{}
	var err error
	if n.nsA, err = newNS(); err != nil {
		t.Fatalf("creating namespace A: %v", err)
	}
	t.Cleanup(func() { n.nsA.Close() })
	if n.nsB, err = newNS(); err != nil {
		t.Fatalf("creating namespace B: %v", err)
	}
	t.Cleanup(func() { n.nsB.Close() })
	// Only NETLINK_ROUTE: with no family given the handle also opens XFRM and NETFILTER sockets,
	// which fails on a kernel without those modules.
	if n.hA, err = netlink.NewHandleAt(n.nsA, unix.NETLINK_ROUTE); err != nil {
		t.Fatalf("netlink handle in A: %v", err)
	}
	t.Cleanup(n.hA.Close)
	hB, err := netlink.NewHandleAt(n.nsB, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in B: %v", err)
	}
	t.Cleanup(hB.Close)

	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: linkA},
		PeerName:      linkB,
		PeerNamespace: netlink.NsFd(n.nsB),
	}
	if err := n.hA.LinkAdd(veth); err != nil {
		t.Fatalf("adding veth %s/%s: %v", linkA, linkB, err)
	}
	if err := setUp(n.hA, linkA, addrA); err != nil {
		t.Fatal(err)
	}
	if err := setUp(hB, linkB, addrB, addrB3); err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{dstB, dstB3} {
		n.startEcho(t, a)
	}
	// Resolve the neighbours and wait for the carrier before any fault is on, so that neither ARP
	// nor a link coming up shows in a measurement.
	for _, a := range []netip.Addr{dstB, dstB3} {
		if err := n.waitReachable(a, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// setUp brings lo and link up and gives link the addresses.
func setUp(h *netlink.Handle, name string, addrs ...netip.Prefix) error {
	for _, n := range []string{"lo", name} {
		l, err := h.LinkByName(n)
		if err != nil {
			return fmt.Errorf("finding %s: %w", n, err)
		}
		if n == name {
			for _, a := range addrs {
				ipn := &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), 32)}
				if err := h.AddrAdd(l, &netlink.Addr{IPNet: ipn}); err != nil {
					return fmt.Errorf("adding %s to %s: %w", a, n, err)
				}
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("setting %s up: %w", n, err)
		}
	}
	return nil
}

// newNS creates a network namespace. It is made on a thread of its own that is never unlocked,
// so the runtime ends that thread instead of handing it, inside the new namespace, to other
// goroutines.
func newNS() (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.New()
		ch <- result{ns, err}
	}()
	r := <-ch
	return r.ns, r.err
}

// inNS runs fn on a thread in ns. Sockets keep the namespace they were opened in, so fn opens
// them and any goroutine may use them afterwards. Like newNS, the thread dies with the call.
func inNS(ns netns.NsHandle, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			ch <- fmt.Errorf("entering namespace: %w", err)
			return
		}
		ch <- fn()
	}()
	return <-ch
}

// startEcho serves UDP echo on addr:echoPort in namespace B until the test ends.
func (n *testNet) startEcho(t *testing.T, addr netip.Addr) {
	t.Helper()
	var conn *net.UDPConn
	err := inNS(n.nsB, func() (err error) {
		conn, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, echoPort)))
		return err
	})
	if err != nil {
		t.Fatalf("echo server on %s: %v", addr, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			k, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed by the cleanup below
			}
			// A reply that cannot be sent is a lost packet, which is what the client measures.
			_, _ = conn.WriteToUDPAddrPort(buf[:k], from)
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
}

// waitReachable probes dst until one echo comes back.
func (n *testNet) waitReachable(dst netip.Addr, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r, err := n.probe(dst, 1, 0, 200*time.Millisecond)
		if err != nil {
			return err
		}
		if r.received > 0 {
			return nil
		}
	}
	return fmt.Errorf("no echo from %s within %s", dst, within)
}

// probeResult is what one probe run saw.
type probeResult struct {
	sent, received int
	rtts           []time.Duration // sorted
}

func (r probeResult) median() time.Duration {
	if len(r.rtts) == 0 {
		return 0
	}
	return r.rtts[len(r.rtts)/2]
}

// lossPercent counts an echo that never came back as lost, whichever way it was lost.
func (r probeResult) lossPercent() float64 {
	return 100 * float64(r.sent-r.received) / float64(r.sent)
}

func (r probeResult) String() string {
	if len(r.rtts) == 0 {
		return fmt.Sprintf("sent %d, received %d (loss %.1f %%)", r.sent, r.received, r.lossPercent())
	}
	return fmt.Sprintf("sent %d, received %d (loss %.1f %%), RTT min %s median %s max %s",
		r.sent, r.received, r.lossPercent(), r.rtts[0].Round(10*time.Microsecond),
		r.median().Round(10*time.Microsecond), r.rtts[len(r.rtts)-1].Round(10*time.Microsecond))
}

// probe sends count numbered UDP packets from A to dst's echo server, one every interval, and
// waits up to grace after the last one for the echoes (not at all once every echo is back). It is paced rather than one at a time so a
// lost packet costs no timeout. Each packet carries its sequence number and send time; each run
// has its own socket, so a late echo of an earlier run cannot be counted in this one.
func (n *testNet) probe(dst netip.Addr, count int, interval, grace time.Duration) (probeResult, error) {
	var conn *net.UDPConn
	err := inNS(n.nsA, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, echoPort)))
		return err
	})
	if err != nil {
		return probeResult{}, fmt.Errorf("client socket to %s: %w", dst, err)
	}
	defer conn.Close()

	start := time.Now()
	sendErr := make(chan error, 1)
	go func() {
		pkt := make([]byte, 16)
		var err error
		for i := range count {
			binary.BigEndian.PutUint64(pkt[0:], uint64(i))
			binary.BigEndian.PutUint64(pkt[8:], uint64(time.Since(start)))
			if _, err = conn.Write(pkt); err != nil {
				err = fmt.Errorf("sending packet %d to %s: %w", i, dst, err)
				break
			}
			// Paced by schedule, not by sleeping interval after each packet: under emulation a
			// short sleep overshoots by a millisecond or more, so the sender catches up in
			// small bursts instead and the run takes count×interval.
			if wait := time.Until(start.Add(time.Duration(i+1) * interval)); wait > 0 {
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
	r := probeResult{sent: count}
	buf := make([]byte, 64)
	for {
		k, err := conn.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			<-sendErr
			return r, fmt.Errorf("reading echoes from %s: %w", dst, err)
		}
		rtt := time.Since(start)
		if k != 16 {
			continue
		}
		seq := binary.BigEndian.Uint64(buf[0:])
		if seq >= uint64(count) || seen[seq] {
			continue // a netem duplicate, or garbage
		}
		seen[seq] = true
		r.received++
		r.rtts = append(r.rtts, rtt-time.Duration(binary.BigEndian.Uint64(buf[8:])))
		if r.received == count {
			break // all back: no need to wait out the grace period
		}
	}
	if err := <-sendErr; err != nil {
		return r, err
	}
	slices.Sort(r.rtts)
	return r, nil
}
