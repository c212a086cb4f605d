//go:build kernel

package kernel

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/firedrill-dev/firedrill/internal/agent/netfault"
	"github.com/firedrill-dev/firedrill/test/netnstest"
)

// Tolerances. The guest runs under QEMU's software emulation (TCG), where every packet costs tens
// to hundreds of microseconds of emulated CPU and timers fire late by up to a few milliseconds;
// measured by hand, a 100 ms netem delay gave RTT medians of 101–103 ms and 30 % loss gave
// 27–32 % per 2000 packets.
const (
	// faultDelay is the delay the delay tests ask for.
	faultDelay = 100 * time.Millisecond
	// A delayed RTT median must lie in [delayMin, delayMax]: netem never releases a packet early,
	// so the low side only allows for clock granularity; the high side allows for emulation.
	delayMin = 95 * time.Millisecond
	delayMax = 130 * time.Millisecond
	// An undelayed RTT median must be under fastMax (a few milliseconds under TCG, well under
	// 1 ms on hardware), which no 100 ms delay can pass for.
	fastMax = 10 * time.Millisecond

	// faultLoss is the loss the loss tests ask for, in percent. Over lossPackets packets the
	// measured loss has a standard deviation of about 1 point, so [lossMin, lossMax] is about
	// eight deviations wide on each side: wide enough never to flake, narrow enough that half
	// or double the loss fails.
	faultLoss   = 30.0
	lossPackets = 2000
	lossMin     = 22.0
	lossMax     = 38.0
	// Without a loss fault the path must lose at most noLossMax percent (none is expected; this
	// allows for an echo server socket overflowing while the emulated CPU is busy).
	noLossMax = 1.0
)

var (
	prefixB  = netip.PrefixFrom(dstB, 32)
	prefixB3 = netip.PrefixFrom(dstB3, 32)
)

// delayProbe measures RTTs: 30 packets, paced so that netem's queue stays short.
func (n *testNet) delayProbe(t *testing.T, label string, dst netip.Addr) netnstest.RTTResult {
	t.Helper()
	return n.mustProbe(t, label, dst, 30, 20*time.Millisecond, time.Second)
}

// lossProbe measures loss over lossPackets packets sent about every 0.5 ms.
func (n *testNet) lossProbe(t *testing.T, label string, dst netip.Addr) netnstest.RTTResult {
	t.Helper()
	return n.mustProbe(t, label, dst, lossPackets, 500*time.Microsecond, 500*time.Millisecond)
}

func (n *testNet) mustProbe(t *testing.T, label string, dst netip.Addr, count int, interval, grace time.Duration) netnstest.RTTResult {
	t.Helper()
	r, err := n.probe(dst, count, interval, grace)
	if err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	t.Logf("%-34s to %s: %s", label, dst, r)
	return r
}

func wantDelayed(t *testing.T, label string, r netnstest.RTTResult) {
	t.Helper()
	if m := r.Median(); m < delayMin || m > delayMax {
		t.Errorf("%s: RTT median %s, want within [%s, %s]", label, m.Round(10*time.Microsecond), delayMin, delayMax)
	}
}

func wantFast(t *testing.T, label string, r netnstest.RTTResult) {
	t.Helper()
	if m := r.Median(); r.Received == 0 || m >= fastMax {
		t.Errorf("%s: RTT median %s over %d echoes, want some echoes and a median under %s", label, m.Round(10*time.Microsecond), r.Received, fastMax)
	}
}

func wantLossy(t *testing.T, label string, r netnstest.RTTResult) {
	t.Helper()
	if l := r.LossPercent(); l < lossMin || l > lossMax {
		t.Errorf("%s: loss %.1f %%, want within [%.0f %%, %.0f %%]", label, l, lossMin, lossMax)
	}
}

func wantNoLoss(t *testing.T, label string, r netnstest.RTTResult) {
	t.Helper()
	if l := r.LossPercent(); l > noLossMax {
		t.Errorf("%s: loss %.1f %%, want at most %.0f %%", label, l, noLossMax)
	}
}

func (n *testNet) apply(t *testing.T, faults ...netfault.Fault) {
	t.Helper()
	if err := netfault.Apply(n.HA, linkA, faults); err != nil {
		t.Fatalf("netfault.Apply(%s): %v", faultIDs(faults), err)
	}
}

func (n *testNet) clear(t *testing.T) {
	t.Helper()
	if err := netfault.Clear(n.HA, linkA); err != nil {
		t.Fatalf("netfault.Clear: %v", err)
	}
}

func faultIDs(faults []netfault.Fault) string {
	ids := make([]string, len(faults))
	for i, f := range faults {
		ids[i] = f.ID
	}
	return strings.Join(ids, ", ")
}

// rootQdisc describes linkA's root qdisc (type and handle), to compare before and after.
func (n *testNet) rootQdisc(t *testing.T) string {
	t.Helper()
	qs := n.qdiscs(t)
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return fmt.Sprintf("%s %s", q.Type(), netlink.HandleStr(q.Attrs().Handle))
		}
	}
	return "none"
}

func (n *testNet) qdiscs(t *testing.T) []netlink.Qdisc {
	t.Helper()
	link, err := n.HA.LinkByName(linkA)
	if err != nil {
		t.Fatalf("finding %s: %v", linkA, err)
	}
	qs, err := n.HA.QdiscList(link)
	if err != nil {
		t.Fatalf("listing qdiscs on %s: %v", linkA, err)
	}
	return qs
}

func (n *testNet) netems(t *testing.T) []*netlink.Netem {
	t.Helper()
	var out []*netlink.Netem
	for _, q := range n.qdiscs(t) {
		if ne, ok := q.(*netlink.Netem); ok {
			out = append(out, ne)
		}
	}
	return out
}

func TestDelay(t *testing.T) {
	n := newTestNet(t)
	origRoot := n.rootQdisc(t)
	wantFast(t, "before the fault", n.delayProbe(t, "before the fault", dstB))

	n.apply(t, netfault.Fault{ID: "kernel/delay", Direction: netfault.Egress, Delay: faultDelay})
	r := n.delayProbe(t, "with 100 ms egress delay", dstB)
	wantDelayed(t, "with 100 ms egress delay", r)
	wantNoLoss(t, "with 100 ms egress delay", r)

	n.clear(t)
	if got := n.rootQdisc(t); got != origRoot {
		t.Errorf("root qdisc after Clear is %q, want the original %q", got, origRoot)
	}
	wantFast(t, "after Clear", n.delayProbe(t, "after Clear", dstB))
}

func TestLoss(t *testing.T) {
	n := newTestNet(t)
	n.apply(t, netfault.Fault{ID: "kernel/loss", Direction: netfault.Egress, Loss: faultLoss})
	wantLossy(t, "with 30 % egress loss", n.lossProbe(t, "with 30 % egress loss", dstB))

	n.clear(t)
	wantNoLoss(t, "after Clear", n.lossProbe(t, "after Clear", dstB))
}

func TestDelayToOneDestination(t *testing.T) {
	n := newTestNet(t)
	n.apply(t, netfault.Fault{
		ID: "kernel/delay-b3", Direction: netfault.Egress, Delay: faultDelay,
		Match: netfault.Match{CIDRs: []netip.Prefix{prefixB3}},
	})
	wantDelayed(t, "matched destination", n.delayProbe(t, "delay to .3/32: matched", dstB3))
	wantFast(t, "other destination", n.delayProbe(t, "delay to .3/32: other address", dstB))
	n.clear(t)
}

func TestNetemReadBack(t *testing.T) {
	n := newTestNet(t)
	want := netfault.Fault{
		ID: "kernel/all", Direction: netfault.Egress,
		Delay: faultDelay, Jitter: 10 * time.Millisecond, DelayCorrelation: 25,
		Loss: 30, LossCorrelation: 10, Corrupt: 1.5, Duplicate: 2, Reorder: 5,
	}
	n.apply(t, want)
	netems := n.netems(t)
	if len(netems) != 1 {
		t.Fatalf("found %d netem qdiscs on %s, want 1; qdiscs: %v", len(netems), linkA, n.qdiscs(t))
	}
	got := netems[0]
	tickInUsec, err := psched()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("netem %s parent %s: latency %d ticks, jitter %d ticks (%.3f ticks/µs); loss %d, delay corr %d, "+
		"loss corr %d, corrupt %d, duplicate %d, reorder %d (of 2^32)", netlink.HandleStr(got.Handle),
		netlink.HandleStr(got.Parent), got.Latency, got.Jitter, tickInUsec, got.Loss, got.DelayCorr,
		got.LossCorr, got.CorruptProb, got.Duplicate, got.ReorderProb)

	// Durations: the kernel reports psched ticks; one tick is 64 ns on current kernels, but the
	// test reads the ratio from /proc/net/psched as tc does. Truncation to whole ticks loses
	// under a microsecond.
	ticks := func(name string, raw uint32, want time.Duration) {
		d := time.Duration(float64(raw) / tickInUsec * float64(time.Microsecond))
		t.Logf("%-16s asked %-8s read back %s", name, want, d)
		if diff := d - want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("%s read back as %s (%d ticks), want %s", name, d, raw, want)
		}
	}
	ticks("delay", got.Latency, want.Delay)
	ticks("jitter", got.Jitter, want.Jitter)

	// Probabilities: the kernel keeps p as p·(2^32−1). The tolerance covers float32 rounding on
	// the way in.
	pct := func(name string, raw uint32, want float64) {
		p := 100 * float64(raw) / math.MaxUint32
		t.Logf("%-16s asked %-8s read back %.4f %%", name, fmt.Sprintf("%g %%", want), p)
		if math.Abs(p-want) > 0.001 {
			t.Errorf("%s read back as %.4f %% (%d), want %g %%", name, p, raw, want)
		}
	}
	pct("loss", got.Loss, want.Loss)
	pct("loss corr.", got.LossCorr, want.LossCorrelation)
	pct("delay corr.", got.DelayCorr, want.DelayCorrelation)
	pct("corrupt", got.CorruptProb, want.Corrupt)
	pct("duplicate", got.Duplicate, want.Duplicate)
	pct("reorder", got.ReorderProb, want.Reorder)

	n.clear(t)
	if left := n.netems(t); len(left) != 0 {
		t.Errorf("%d netem qdiscs left after Clear", len(left))
	}
}

// psched reads the kernel's time base from /proc/net/psched and returns psched ticks per
// microsecond, computed as tc (iproute2) does.
func psched() (float64, error) {
	data, err := os.ReadFile("/proc/net/psched")
	if err != nil {
		return 0, err
	}
	var t2us, us2t, clockRes uint32
	if _, err := fmt.Sscanf(string(data), "%08x %08x %08x", &t2us, &us2t, &clockRes); err != nil {
		return 0, fmt.Errorf("parsing /proc/net/psched %q: %w", data, err)
	}
	if clockRes == 1e9 {
		t2us = us2t
	}
	if us2t == 0 || clockRes == 0 {
		return 0, fmt.Errorf("/proc/net/psched %q has a zero field", data)
	}
	return float64(t2us) / float64(us2t) * float64(clockRes) / 1e6, nil
}

func TestComposition(t *testing.T) {
	n := newTestNet(t)
	delayB := netfault.Fault{
		ID: "kernel/delay-b2", Direction: netfault.Egress, Delay: faultDelay,
		Match: netfault.Match{CIDRs: []netip.Prefix{prefixB}},
	}
	lossB3 := netfault.Fault{
		ID: "kernel/loss-b3", Direction: netfault.Egress, Loss: faultLoss,
		Match: netfault.Match{CIDRs: []netip.Prefix{prefixB3}},
	}
	wantNetems := func(step string, want int) { t.Helper(); n.wantNetems(t, step, want) }

	n.apply(t, delayB, lossB3)
	wantNetems("both faults", 2)
	r := n.delayProbe(t, "both: .2 (delayed)", dstB)
	wantDelayed(t, "both faults, .2", r)
	wantNoLoss(t, "both faults, .2", r)
	r = n.lossProbe(t, "both: .3 (lossy)", dstB3)
	wantLossy(t, "both faults, .3", r)
	wantFast(t, "both faults, .3", r)

	n.apply(t, delayB)
	wantNetems("loss removed", 1)
	wantDelayed(t, "loss removed, .2", n.delayProbe(t, "loss removed: .2 (delayed)", dstB))
	r = n.lossProbe(t, "loss removed: .3", dstB3)
	wantNoLoss(t, "loss removed, .3", r)
	wantFast(t, "loss removed, .3", r)

	n.apply(t, lossB3)
	wantNetems("delay removed", 1)
	r = n.delayProbe(t, "delay removed: .2", dstB)
	wantFast(t, "delay removed, .2", r)
	wantNoLoss(t, "delay removed, .2", r)
	wantLossy(t, "delay removed, .3", n.lossProbe(t, "delay removed: .3 (lossy)", dstB3))

	n.clear(t)
	wantNetems("after Clear", 0)
}

// Two experiments on all of a pod's traffic, one adding delay and one loss, compose: the class
// chains both netems, so the packets get the delay and the loss; either comes off alone.
func TestSameMatchChainsNetem(t *testing.T) {
	n := newTestNet(t)
	delay := netfault.Fault{ID: "exp-a/0", Direction: netfault.Egress, Delay: faultDelay}
	loss := netfault.Fault{ID: "exp-b/0", Direction: netfault.Egress, Loss: faultLoss}
	wantNetems := func(step string, want int) { t.Helper(); n.wantNetems(t, step, want) }

	n.apply(t, delay, loss)
	wantNetems("both", 2)
	wantDelayed(t, "both, delay", n.delayProbe(t, "both: delay", dstB))
	r := n.lossProbe(t, "both: loss", dstB)
	wantLossy(t, "both, loss", r)
	if r.Received > 0 && r.Median() < 95*time.Millisecond {
		t.Errorf("both on, the lossy probe's RTT median %v: the delay should hold for it too", r.Median())
	}

	n.apply(t, delay)
	wantNetems("loss off", 1)
	r = n.delayProbe(t, "loss off: delay", dstB)
	wantDelayed(t, "loss off", r)
	wantNoLoss(t, "loss off", r)

	n.apply(t, loss)
	wantNetems("delay off", 1)
	r = n.lossProbe(t, "delay off: loss", dstB)
	wantLossy(t, "delay off", r)
	wantFast(t, "delay off", r)

	n.clear(t)
	wantNetems("after Clear", 0)
}

func (n *testNet) wantNetems(t *testing.T, step string, want int) {
	t.Helper()
	if got := len(n.netems(t)); got != want {
		t.Errorf("%s: %d netem qdiscs on %s, want %d", step, got, linkA, want)
	}
}
