//go:build kernel

package kernel

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/firedrill-dev/firedrill/test/netnstest"
)

// The test network is netnstest's pair: namespace A holds the client and the link the faults go
// on, namespace B the echo servers, one per address so each reply leaves from the address it was
// sent to.
const (
	linkA    = "va" // netnstest.NewPair's end of the veth, in A
	echoPort = 7007
)

var (
	dstB  = netip.MustParseAddr("10.99.0.2")
	dstB3 = netip.MustParseAddr("10.99.0.3")
)

// testNet is two fresh network namespaces joined by a veth pair (HA manages A, where the faults
// go), with echo servers in B.
type testNet struct{ *netnstest.Pair }

// newTestNet builds the namespaces, the veth pair and the echo servers; t.Cleanup removes them
// all (a namespace and its links go when the last handle on it is closed).
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	n := &testNet{netnstest.NewPair(t)}
	for _, a := range []netip.Addr{dstB, dstB3} {
		netnstest.UDPEcho(t, n.B, echoAddr(a))
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

func echoAddr(dst netip.Addr) string { return netip.AddrPortFrom(dst, echoPort).String() }

// probe measures the echoes from dst's echo server (netnstest.ProbeRTT from A).
func (n *testNet) probe(dst netip.Addr, count int, interval, grace time.Duration) (netnstest.RTTResult, error) {
	return netnstest.ProbeRTT(n.A, echoAddr(dst), count, interval, grace)
}

// waitReachable probes dst until one echo comes back.
func (n *testNet) waitReachable(dst netip.Addr, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r, err := n.probe(dst, 1, 0, 200*time.Millisecond)
		if err != nil {
			return err
		}
		if r.Received > 0 {
			return nil
		}
	}
	return fmt.Errorf("no echo from %s within %s", dst, within)
}
