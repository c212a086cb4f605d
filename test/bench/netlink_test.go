//go:build bench

package bench

import (
	"net/netip"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/firedrill-dev/firedrill/internal/agent"
	"github.com/firedrill-dev/firedrill/internal/agent/netfault"
	"github.com/firedrill-dev/firedrill/test/netnstest"
)

// TestBenchNetlink (`make bench-netlink`): apply and remove one fault in a network namespace the
// way the agent does (open the namespace by path, build the tree, apply it through netlink,
// clear it) against the way Chaos Mesh, Litmus and Krkn do (`nsenter --net=… tc qdisc add`, then
// `… tc qdisc del`), in one run. A raw netlink tbf add+delete is the floor.
func TestBenchNetlink(t *testing.T) {
	const runs = 200
	for _, tool := range []string{"nsenter", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (util-linux / iproute2): the exec baseline needs it", tool)
		}
	}
	p := netnstest.NewPair(t)
	path := netnstest.Path(p.A)
	fault := []netfault.Fault{{ID: "bench/0", Direction: netfault.Egress, RateBitsPerSec: 8_000_000}}

	treeFault := []netfault.Fault{{ID: "bench/1", Direction: netfault.Egress, RateBitsPerSec: 8_000_000,
		Match: netfault.Match{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32")}}}}
	// Exactly what the agent does for a pod: enter its namespace, find its interface, apply; and
	// to remove the fault.
	agentWay := func(faults []netfault.Fault) func() error {
		return func() error {
			h, link, closer, err := agent.OpenPodNetNS(agent.PodNetNS{Path: path})
			if err != nil {
				return err
			}
			defer closer()
			if err := netfault.ApplyLink(h, link, faults); err != nil {
				return err
			}
			return netfault.ClearLink(h, link)
		}
	}
	agentPath, agentTree := agentWay(fault), agentWay(treeFault)
	link, err := p.HA.LinkByName("va")
	if err != nil {
		t.Fatal(err)
	}
	rawTbf := func() error {
		q := &netlink.Tbf{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Handle: netlink.MakeHandle(1, 0), Parent: netlink.HANDLE_ROOT},
			Rate: 1_000_000, Limit: 100_000, Buffer: 4000}
		if err := p.HA.QdiscAdd(q); err != nil {
			return err
		}
		return p.HA.QdiscDel(q)
	}
	execTC := func() error {
		if out, err := exec.Command("nsenter", "--net="+path, "tc", "qdisc", "add", "dev", "va", "root", "handle", "1:", "tbf",
			"rate", "8mbit", "burst", "32kbit", "latency", "50ms").CombinedOutput(); err != nil {
			return &execError{err, out}
		}
		if out, err := exec.Command("nsenter", "--net="+path, "tc", "qdisc", "del", "dev", "va", "root").CombinedOutput(); err != nil {
			return &execError{err, out}
		}
		return nil
	}
	ways := []struct {
		name string
		fn   func() error
		d    []time.Duration
	}{{name: "agent path (netns entry, interface, tree, apply, clear)", fn: agentPath}, {name: "raw netlink tbf add+del (floor)", fn: rawTbf},
		{name: "nsenter … tc qdisc add + del (exec)", fn: execTC},
		{name: "agent path, tree (htb + class + u32 to one /32)", fn: agentTree}}
	// Interleaved in blocks of 25, so that slow and quiet stretches of the machine fall on every
	// way alike, but without each netlink run landing right after an exec's process teardown
	// (measured: per-run interleaving inflated the agent path's median from ~170 to ~290 µs).
	const block = 25
	for w := range ways { // warm-up, not measured
		for range 10 {
			if err := ways[w].fn(); err != nil {
				t.Fatalf("%s: %v", ways[w].name, err)
			}
		}
	}
	for done := 0; done < runs; done += block {
		for w := range ways {
			for range block {
				start := time.Now()
				if err := ways[w].fn(); err != nil {
					t.Fatalf("%s: %v", ways[w].name, err)
				}
				ways[w].d = append(ways[w].d, time.Since(start))
			}
		}
	}
	if present, err := netfault.Present(p.HA, "va"); err != nil || present {
		t.Fatalf("something left on the link: %v %v", present, err)
	}
	med := map[string]time.Duration{}
	for _, w := range ways {
		slices.Sort(w.d)
		q := func(f float64) time.Duration { return w.d[int(f*float64(len(w.d)-1))] }
		med[w.name] = q(0.5)
		t.Logf("%-50s n=%d median %8.1f µs  p90 %8.1f µs  p99 %8.1f µs", w.name, len(w.d),
			us(q(0.5)), us(q(0.9)), us(q(0.99)))
	}
	agent, exec := med[ways[0].name], med[ways[2].name]
	t.Logf("exec path / agent path: %.0f× (medians); agent path / raw tbf floor: %.1f×", float64(exec)/float64(agent),
		float64(agent)/float64(med[ways[1].name]))
	t.Logf("targets: agent path median < 250 µs (%v), ≥ 50× faster than exec (%v)", agent < 250*time.Microsecond, exec >= 50*agent)
	tree := med[ways[3].name]
	t.Logf("tree path: exec / tree %.0f×, tree / single-root %.1f×", float64(exec)/float64(tree), float64(tree)/float64(agent))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

type execError struct {
	err error
	out []byte
}

func (e *execError) Error() string { return e.err.Error() + ": " + string(e.out) }
