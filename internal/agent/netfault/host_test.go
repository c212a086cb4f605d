package netfault_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/firedrill-dev/firedrill/internal/agent/netfault"
	"github.com/firedrill-dev/firedrill/test/netnstest"
)

const rateLimit = 8_000_000 // 8 Mbit/s: a veth between namespaces runs at Gbit/s

func prefix(s string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(s)} }

func mustApply(t *testing.T, h *netlink.Handle, faults ...netfault.Fault) {
	t.Helper()
	if err := netfault.Apply(h, "va", faults); err != nil {
		t.Fatal(err)
	}
}

func rootOf(t *testing.T, h *netlink.Handle, link string) netlink.Qdisc {
	t.Helper()
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := h.QdiscList(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q
		}
	}
	t.Fatalf("%s has no root qdisc", link)
	return nil
}

func TestRateLimitCutsThroughput(t *testing.T) {
	p := netnstest.NewPair(t)
	base := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5001", 500*time.Millisecond)
	mustApply(t, p.HA, netfault.Fault{ID: "x/rate", Direction: netfault.Egress, RateBitsPerSec: rateLimit})
	shaped := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5002", 2*time.Second)
	if err := netfault.Clear(p.HA, "va"); err != nil {
		t.Fatal(err)
	}
	after := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5003", 500*time.Millisecond)
	t.Logf("throughput: before %.0f Mbit/s, limited to 8 Mbit/s %.2f Mbit/s, after %.0f Mbit/s", base/1e6, shaped/1e6, after/1e6)
	if shaped > 1.3*rateLimit || shaped < 0.5*rateLimit {
		t.Errorf("shaped throughput %.2f Mbit/s, want within [4, 10.4] Mbit/s of the 8 Mbit/s limit", shaped/1e6)
	}
	if base < 10*rateLimit || after < 10*rateLimit {
		t.Errorf("unshaped throughput %.0f / %.0f Mbit/s, want ≥ 80 Mbit/s (the limit must be what slowed it)", base/1e6, after/1e6)
	}
}

func TestPartitionDropsOnlyItsDestination(t *testing.T) {
	p := netnstest.NewPair(t)
	netnstest.UDPEcho(t, p.B, "10.99.0.2:7000")
	netnstest.UDPEcho(t, p.B, "10.99.0.3:7000")
	mustApply(t, p.HA, netfault.Fault{ID: "x/part", Direction: netfault.Both, Partition: true, Match: netfault.Match{CIDRs: prefix("10.99.0.3/32")}})
	toPartitioned := netnstest.Probe(t, p.A, "10.99.0.3:7000", 100, time.Millisecond, 300*time.Millisecond)
	toOther := netnstest.Probe(t, p.A, "10.99.0.2:7000", 100, time.Millisecond, 300*time.Millisecond)
	if toPartitioned != 0 || toOther != 100 {
		t.Errorf("answers: %d/100 from the partitioned 10.99.0.3 (want 0), %d/100 from 10.99.0.2 (want 100)", toPartitioned, toOther)
	}
	if err := netfault.Clear(p.HA, "va"); err != nil {
		t.Fatal(err)
	}
	if got := netnstest.Probe(t, p.A, "10.99.0.3:7000", 100, time.Millisecond, 300*time.Millisecond); got != 100 {
		t.Errorf("after Clear: %d/100 answers from 10.99.0.3, want 100", got)
	}
}

// An ingress-only partition lets requests out and drops the replies on their way in, through
// the IFB: the server sees every request, the client none of the answers.
func TestIngressPartitionGoesThroughIFB(t *testing.T) {
	p := netnstest.NewPair(t)
	served := netnstest.UDPEcho(t, p.B, "10.99.0.3:7000")
	mustApply(t, p.HA, netfault.Fault{ID: "x/in", Direction: netfault.Ingress, Partition: true, Match: netfault.Match{CIDRs: prefix("10.99.0.3/32")}})
	if _, err := p.HA.LinkByName(netfault.IFBName); err != nil {
		t.Fatalf("no %s in the namespace: %v", netfault.IFBName, err)
	}
	got := netnstest.Probe(t, p.A, "10.99.0.3:7000", 100, time.Millisecond, 300*time.Millisecond)
	if got != 0 || served.Load() != 100 {
		t.Errorf("client got %d answers (want 0), server saw %d requests (want 100)", got, served.Load())
	}
	if err := netfault.Clear(p.HA, "va"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.HA.LinkByName(netfault.IFBName); err == nil {
		t.Errorf("%s still there after Clear", netfault.IFBName)
	}
	if r := rootOf(t, p.HA, "va"); r.Type() != "noqueue" {
		t.Errorf("after Clear the root is %s %x, want noqueue", r.Type(), r.Attrs().Handle)
	}

	// Ingress state, then a single egress fault in its place: the IFB goes with the ingress fault.
	mustApply(t, p.HA, netfault.Fault{ID: "x/in", Direction: netfault.Ingress, Partition: true, Match: netfault.Match{CIDRs: prefix("10.99.0.3/32")}})
	mustApply(t, p.HA, netfault.Fault{ID: "x/out", Direction: netfault.Egress, RateBitsPerSec: rateLimit})
	if _, err := p.HA.LinkByName(netfault.IFBName); err == nil {
		t.Errorf("%s left behind when the ingress fault was replaced by an egress one", netfault.IFBName)
	}
	if got := netnstest.Probe(t, p.A, "10.99.0.3:7000", 30, time.Millisecond, 300*time.Millisecond); got != 30 {
		t.Errorf("ingress partition still in force: %d/30 answers", got)
	}
	if got := netnstest.Probe(t, p.A, "10.99.0.3:7000", 100, time.Millisecond, 300*time.Millisecond); got != 100 {
		t.Errorf("after Clear: %d/100 answers, want 100", got)
	}
}

func TestIngressRateLimit(t *testing.T) {
	p := netnstest.NewPair(t)
	mustApply(t, p.HA, netfault.Fault{ID: "x/in-rate", Direction: netfault.Ingress, RateBitsPerSec: rateLimit})
	shaped := netnstest.TCPThroughput(t, p.B, p.A, "10.99.0.1:5001", 2*time.Second)
	t.Logf("ingress-limited throughput %.2f Mbit/s (limit 8)", shaped/1e6)
	if shaped > 1.3*rateLimit || shaped < 0.5*rateLimit {
		t.Errorf("ingress throughput %.2f Mbit/s, want within [4, 10.4]", shaped/1e6)
	}
}

// Destination filters: a rate limit on port 5001 of 10.99.0.2 leaves port 5002 and 10.99.0.3 alone.
func TestDestinationFiltersHitOnlyMatchingTraffic(t *testing.T) {
	p := netnstest.NewPair(t)
	mustApply(t, p.HA, netfault.Fault{ID: "x/port", Direction: netfault.Egress, RateBitsPerSec: rateLimit,
		Match: netfault.Match{CIDRs: prefix("10.99.0.2/32"), Protocol: netfault.TCP, Ports: []netfault.PortRange{{From: 5001, To: 5001}}}})
	hit := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5001", 2*time.Second)
	otherPort := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5002", 500*time.Millisecond)
	otherHost := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.3:5001", 500*time.Millisecond)
	t.Logf("matching %.2f Mbit/s, other port %.0f Mbit/s, other host %.0f Mbit/s", hit/1e6, otherPort/1e6, otherHost/1e6)
	if hit > 1.3*rateLimit || otherPort < 10*rateLimit || otherHost < 10*rateLimit {
		t.Errorf("only 10.99.0.2:5001 should be limited: %.2f / %.0f / %.0f Mbit/s", hit/1e6, otherPort/1e6, otherHost/1e6)
	}
}

// The pod's own root qdisc is kept under the default class while faults are on and put back,
// with its handle and parameters, afterwards; a kernel-default root comes back as the default.
func TestOriginalRootQdiscIsRestored(t *testing.T) {
	p := netnstest.NewPair(t)
	before := rootOf(t, p.HA, "va")
	if before.Type() != "noqueue" || before.Attrs().Handle != 0 {
		t.Fatalf("a fresh veth should have the kernel's noqueue root, has %s %x", before.Type(), before.Attrs().Handle)
	}
	mustApply(t, p.HA, netfault.Fault{ID: "x/rate", Direction: netfault.Egress, RateBitsPerSec: rateLimit})
	if r := rootOf(t, p.HA, "va"); r.Attrs().Handle != netlink.MakeHandle(netfault.EgressMajor, 0) || r.Type() != "tbf" {
		t.Fatalf("root during the fault is %s %x, want Firedrill's tbf fd00: (one fault on all traffic is one qdisc)", r.Type(), r.Attrs().Handle)
	}
	if err := netfault.Clear(p.HA, "va"); err != nil {
		t.Fatal(err)
	}
	if r := rootOf(t, p.HA, "va"); r.Type() != "noqueue" {
		t.Errorf("root after Clear is %s, want noqueue back", r.Type())
	}

	// Now a pod with its own tbf root.
	link, _ := p.HA.LinkByName("va")
	own := &netlink.Tbf{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
		Rate: 50_000_000 / 8, Limit: 100000, Buffer: 200000}
	if err := p.HA.QdiscAdd(own); err != nil {
		t.Fatal(err)
	}
	want := rootOf(t, p.HA, "va").(*netlink.Tbf)
	mustApply(t, p.HA, netfault.Fault{ID: "x/part", Direction: netfault.Egress, Partition: true, Match: netfault.Match{CIDRs: prefix("10.99.0.3/32")}})
	mustApply(t, p.HA, netfault.Fault{ID: "x/part", Direction: netfault.Egress, Partition: true, Match: netfault.Match{CIDRs: prefix("10.99.0.3/32")}}) // idempotent
	if r := rootOf(t, p.HA, "va"); r.Attrs().Handle != netlink.MakeHandle(netfault.KeptMajor, 0) || r.Type() != "htb" {
		t.Errorf("root over the pod's own is %s %x, want Firedrill's htb fd02: keeping it", r.Type(), r.Attrs().Handle)
	}
	// A single all-traffic fault over the pod's own root still needs the tree that keeps it.
	mustApply(t, p.HA, netfault.Fault{ID: "x/rate", Direction: netfault.Egress, RateBitsPerSec: rateLimit})
	if r := rootOf(t, p.HA, "va"); r.Attrs().Handle != netlink.MakeHandle(netfault.KeptMajor, 0) {
		t.Errorf("root is %s %x, want fd02: still keeping the pod's tbf", r.Type(), r.Attrs().Handle)
	}
	if err := netfault.Clear(p.HA, "va"); err != nil {
		t.Fatal(err)
	}
	got, ok := rootOf(t, p.HA, "va").(*netlink.Tbf)
	if !ok || got.Handle != want.Handle || got.Rate != want.Rate || got.Limit != want.Limit || got.Buffer != want.Buffer {
		t.Errorf("restored root %+v, want the original %+v", got, want)
	}
	if err := netfault.Clear(p.HA, "va"); err != nil { // clearing a clean link is a no-op
		t.Fatal(err)
	}
	if _, ok := rootOf(t, p.HA, "va").(*netlink.Tbf); !ok {
		t.Error("a second Clear touched the pod's own qdisc")
	}
}

func TestClassfulRootIsRefusedNotDestroyed(t *testing.T) {
	p := netnstest.NewPair(t)
	link, _ := p.HA.LinkByName("va")
	own := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT})
	if err := p.HA.QdiscAdd(own); err != nil {
		t.Fatal(err)
	}
	err := netfault.Apply(p.HA, "va", []netfault.Fault{{ID: "x/rate", Direction: netfault.Egress, RateBitsPerSec: rateLimit}})
	if !errors.Is(err, netfault.ErrForeignQdisc) {
		t.Fatalf("Apply over a classful root: %v, want ErrForeignQdisc", err)
	}
	if r := rootOf(t, p.HA, "va"); r.Type() != "htb" || r.Attrs().Handle != netlink.MakeHandle(1, 0) {
		t.Errorf("the pod's own htb 1: was touched: root is now %s %x", r.Type(), r.Attrs().Handle)
	}
}

// Two faults on one pod are added and removed independently: removing one leaves the other's
// class and filters exactly where they were, and still in force.
func TestFaultsComposeAndComeOffIndependently(t *testing.T) {
	p := netnstest.NewPair(t)
	netnstest.UDPEcho(t, p.B, "10.99.0.3:7000")
	rate := netfault.Fault{ID: "exp-a/0", Direction: netfault.Egress, RateBitsPerSec: rateLimit, Match: netfault.Match{CIDRs: prefix("10.99.0.2/32")}}
	part := netfault.Fault{ID: "exp-b/0", Direction: netfault.Both, Partition: true, Match: netfault.Match{CIDRs: prefix("10.99.0.3/32")}}
	mustApply(t, p.HA, rate)
	link, _ := p.HA.LinkByName("va")
	classesBefore, _ := p.HA.ClassList(link, netlink.MakeHandle(netfault.EgressMajor, 0))
	mustApply(t, p.HA, rate, part)
	if got := netnstest.Probe(t, p.A, "10.99.0.3:7000", 50, time.Millisecond, 300*time.Millisecond); got != 0 {
		t.Errorf("partition not in force with the rate limit: %d answers", got)
	}
	mustApply(t, p.HA, rate)
	classesAfter, _ := p.HA.ClassList(link, netlink.MakeHandle(netfault.EgressMajor, 0))
	if len(classesBefore) != len(classesAfter) {
		t.Errorf("classes before the partition %d, after it came off %d", len(classesBefore), len(classesAfter))
	}
	if got := netnstest.Probe(t, p.A, "10.99.0.3:7000", 50, time.Millisecond, 300*time.Millisecond); got != 50 {
		t.Errorf("partition removed but only %d/50 answers", got)
	}
	if shaped := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5001", 2*time.Second); shaped > 1.3*rateLimit {
		t.Errorf("the rate limit fell off with the partition: %.1f Mbit/s", shaped/1e6)
	}
}

func TestOverlappingShapersAreRefused(t *testing.T) {
	p := netnstest.NewPair(t)
	err := netfault.Apply(p.HA, "va", []netfault.Fault{
		{ID: "a/0", Direction: netfault.Egress, RateBitsPerSec: rateLimit},
		{ID: "b/0", Direction: netfault.Both, RateBitsPerSec: rateLimit / 2, Match: netfault.Match{CIDRs: prefix("10.99.0.0/24")}},
	})
	if !errors.Is(err, netfault.ErrConflict) {
		t.Fatalf("got %v, want ErrConflict", err)
	}
	if present, _ := netfault.Present(p.HA, "va"); present {
		t.Error("a refused fault set left something on the link")
	}
}

// One fault on all traffic is a single qdisc at the root; a second fault turns it into the tree
// and back, the first staying in force throughout.
func TestSingleRootBecomesTreeAndBack(t *testing.T) {
	p := netnstest.NewPair(t)
	netnstest.UDPEcho(t, p.B, "10.99.0.3:7000")
	rate := netfault.Fault{ID: "a/0", Direction: netfault.Egress, RateBitsPerSec: rateLimit}
	part := netfault.Fault{ID: "b/0", Direction: netfault.Egress, Partition: true, Match: netfault.Match{CIDRs: prefix("10.99.0.3/32")}}
	mustApply(t, p.HA, rate)
	if r := rootOf(t, p.HA, "va"); r.Type() != "tbf" {
		t.Fatalf("single fault root %s, want tbf", r.Type())
	}
	mustApply(t, p.HA, rate, part)
	if r := rootOf(t, p.HA, "va"); r.Type() != "htb" || r.Attrs().Handle != netlink.MakeHandle(netfault.EgressMajor, 0) {
		t.Fatalf("two faults: root %s %x, want the htb tree at fd00:", r.Type(), r.Attrs().Handle)
	}
	if got := netnstest.Probe(t, p.A, "10.99.0.3:7000", 30, time.Millisecond, 300*time.Millisecond); got != 0 {
		t.Errorf("partition in the tree: %d/30 answers", got)
	}
	if bps := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5001", time.Second); bps > 1.3*rateLimit {
		t.Errorf("rate limit lost in the tree: %.1f Mbit/s", bps/1e6)
	}
	mustApply(t, p.HA, netfault.Fault{ID: "a/0", Direction: netfault.Egress, RateBitsPerSec: rateLimit / 2})
	if r := rootOf(t, p.HA, "va"); r.Type() != "tbf" {
		t.Fatalf("back to one fault: root %s, want tbf", r.Type())
	}
	if got := netnstest.Probe(t, p.A, "10.99.0.3:7000", 30, time.Millisecond, 300*time.Millisecond); got != 30 {
		t.Errorf("partition removed but %d/30 answers", got)
	}
	if bps := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5002", 2*time.Second); bps > 1.3*rateLimit/2 || bps < 0.5*rateLimit/2 {
		t.Errorf("rate limit changed in place to 4 Mbit/s: measured %.2f Mbit/s", bps/1e6)
	}
	if err := netfault.Clear(p.HA, "va"); err != nil {
		t.Fatal(err)
	}
	if r := rootOf(t, p.HA, "va"); r.Type() != "noqueue" {
		t.Errorf("after Clear: root %s, want noqueue", r.Type())
	}
}

// Two faults with the same match compose in one class: the lower rate limit holds while both
// are on, the other comes back when it goes.
func TestSameMatchRateLimitsCompose(t *testing.T) {
	p := netnstest.NewPair(t)
	a := netfault.Fault{ID: "exp-a/0", Direction: netfault.Egress, RateBitsPerSec: rateLimit}
	b := netfault.Fault{ID: "exp-b/0", Direction: netfault.Egress, RateBitsPerSec: rateLimit / 2}
	mustApply(t, p.HA, a, b)
	both := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5001", 2*time.Second)
	mustApply(t, p.HA, a)
	one := netnstest.TCPThroughput(t, p.A, p.B, "10.99.0.2:5002", 2*time.Second)
	t.Logf("8 and 4 Mbit/s on one match: %.2f Mbit/s; the 8 alone: %.2f Mbit/s", both/1e6, one/1e6)
	if both > 1.3*rateLimit/2 || both < 0.5*rateLimit/2 {
		t.Errorf("both on: %.2f Mbit/s, want the lower limit, 4", both/1e6)
	}
	if one > 1.3*rateLimit || one < 0.5*rateLimit {
		t.Errorf("one left: %.2f Mbit/s, want 8", one/1e6)
	}
}
