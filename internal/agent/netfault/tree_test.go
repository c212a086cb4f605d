package netfault

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

func TestPortBlocks(t *testing.T) {
	for _, tc := range []struct {
		from, to uint16
		want     []portBlock
	}{
		{80, 80, []portBlock{{80, 0xFFFF}}},
		{8000, 8003, []portBlock{{8000, 0xFFFC}}},
		{8001, 8004, []portBlock{{8001, 0xFFFF}, {8002, 0xFFFE}, {8004, 0xFFFF}}},
		{1, 65535, []portBlock{{1, 0xFFFF}, {2, 0xFFFE}, {4, 0xFFFC}, {8, 0xFFF8}, {16, 0xFFF0}, {32, 0xFFE0}, {64, 0xFFC0}, {128, 0xFF80},
			{256, 0xFF00}, {512, 0xFE00}, {1024, 0xFC00}, {2048, 0xF800}, {4096, 0xF000}, {8192, 0xE000}, {16384, 0xC000}, {32768, 0x8000}}},
		{65535, 65535, []portBlock{{65535, 0xFFFF}}},
	} {
		got := portBlocks(tc.from, tc.to)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("portBlocks(%d, %d) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
		// Every port in range is covered exactly once, none outside.
		for p := uint32(0); p <= 65535; p++ {
			n := 0
			for _, b := range got {
				if uint16(p)&b.mask == b.val {
					n++
				}
			}
			in := p >= uint32(tc.from) && p <= uint32(tc.to)
			if (in && n != 1) || (!in && n != 0) {
				t.Fatalf("portBlocks(%d, %d): port %d covered %d times", tc.from, tc.to, p, n)
			}
		}
	}
}

func TestSelectors(t *testing.T) {
	ihl := Key{Off: 0, Val: 0x05000000, Mask: 0x0F000000}
	tcp := Key{Off: 8, Val: 6 << 16, Mask: 0x00FF0000}
	for _, tc := range []struct {
		name string
		m    Match
		side remoteSide
		want []Selector
	}{
		{"all traffic", Match{}, destination, []Selector{{{0, 0, 0}}}},
		{"one host egress", Match{CIDRs: pfx("10.1.2.3/32")}, destination, []Selector{{{16, 0x0A010203, 0xFFFFFFFF}}}},
		{"one host ingress matches the source", Match{CIDRs: pfx("10.1.2.3/32")}, source, []Selector{{{12, 0x0A010203, 0xFFFFFFFF}}}},
		{"a /16, host bits dropped", Match{CIDRs: pfx("10.1.2.3/16")}, destination, []Selector{{{16, 0x0A010000, 0xFFFF0000}}}},
		{"/0 is everything", Match{CIDRs: pfx("0.0.0.0/0")}, destination, []Selector{{{0, 0, 0}}}},
		{"tcp port egress", Match{Protocol: TCP, Ports: []PortRange{{5432, 5432}}}, destination, []Selector{{tcp, ihl, {20, 5432, 0xFFFF}}}},
		{"tcp port ingress is the source port", Match{Protocol: TCP, Ports: []PortRange{{5432, 5432}}}, source, []Selector{{tcp, ihl, {20, 5432 << 16, 0xFFFF0000}}}},
		{"cidrs × port blocks", Match{CIDRs: pfx("10.0.0.1/32", "10.0.0.2/32"), Protocol: TCP, Ports: []PortRange{{8000, 8001}}}, destination, []Selector{
			{tcp, ihl, {16, 0x0A000001, 0xFFFFFFFF}, {20, 8000, 0xFFFE}},
			{tcp, ihl, {16, 0x0A000002, 0xFFFFFFFF}, {20, 8000, 0xFFFE}},
		}},
		{"udp protocol only", Match{Protocol: UDP}, destination, []Selector{{{8, 17 << 16, 0x00FF0000}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := selectors(tc.m, tc.side)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
	var many []netip.Prefix
	for i := range 300 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32))
	}
	if _, err := selectors(Match{CIDRs: many}, destination); err == nil || !strings.Contains(err.Error(), "more than 256") {
		t.Errorf("300 CIDRs: %v, want the filter cap", err)
	}
}

func TestBuild(t *testing.T) {
	delay := Fault{ID: "a/0", Direction: Egress, Delay: 100 * time.Millisecond, Jitter: 10 * time.Millisecond, DelayCorrelation: 25, Loss: 5}
	part := Fault{ID: "b/0", Direction: Both, Partition: true, Match: Match{CIDRs: pfx("10.0.0.0/8")}}
	rate := Fault{ID: "c/0", Direction: Ingress, RateBitsPerSec: 1e6, Match: Match{CIDRs: pfx("192.168.0.0/16")}}
	eg, in, err := Build([]Fault{rate, part, delay})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(tr Tree) (out []string) {
		for _, c := range tr.Classes {
			out = append(out, c.Name())
		}
		return out
	}
	if eg.Major != EgressMajor || in.Major != IngressMajor {
		t.Errorf("majors %x %x", eg.Major, in.Major)
	}
	if got := ids(eg); len(got) != 2 {
		t.Errorf("egress classes %v, want the delay and the partition", got)
	}
	if got := ids(in); len(got) != 2 {
		t.Errorf("ingress classes %v, want the partition and the rate limit", got)
	}
	for _, c := range append(eg.Classes, in.Classes...) {
		if c.Minor < minMinor || c.Minor > maxMinor {
			t.Errorf("%s: minor %x outside the fault range", c.Name(), c.Minor)
		}
		switch c.Name() {
		case "a/0":
			if len(c.Netem) != 1 || c.Netem[0].Latency != 100000 || c.Netem[0].Jitter != 10000 || c.Netem[0].DelayCorr != 25 || c.Netem[0].Loss != 5 || c.Drop {
				t.Errorf("delay class %+v netem %+v", c, c.Netem)
			}
			if c.Prio < shapePrioBase {
				t.Errorf("a shaping fault must sort after partitions, prio %x", c.Prio)
			}
		case "b/0":
			if !c.Drop || len(c.Netem) != 0 || c.Prio >= shapePrioBase {
				t.Errorf("partition class %+v", c)
			}
		case "c/0":
			if c.RateBits != 1e6 || len(c.Netem) != 0 {
				t.Errorf("rate class %+v", c)
			}
		}
	}

	// A fault keeps its minor whatever else comes and goes.
	alone, _, _ := Build([]Fault{delay})
	if alone.Classes[0].Minor != eg.Classes[slicesIndex(ids(eg), "a/0")].Minor {
		t.Error("the delay fault's class moved when others were added")
	}
	// Reserved majors (the pod's own qdisc kept as a leaf) are never given to a fault.
	r, _, _ := Build([]Fault{delay}, alone.Classes[0].Minor)
	if r.Classes[0].Minor == alone.Classes[0].Minor {
		t.Error("a reserved major was handed out")
	}
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestBuildRefuses(t *testing.T) {
	d := func(id string, dir Direction, m Match) Fault {
		return Fault{ID: id, Direction: dir, Delay: time.Millisecond, Match: m}
	}
	for _, tc := range []struct {
		name   string
		faults []Fault
		want   string
	}{
		{"three netem faults on one match", []Fault{d("a", Egress, Match{}), d("b", Egress, Match{}), d("c", Both, Match{})}, "at most 2 compose"},
		{"egress and both meet, partly", []Fault{d("a", Egress, Match{CIDRs: pfx("10.0.0.0/8")}), d("b", Both, Match{CIDRs: pfx("10.1.0.0/16")})}, "a and b shape overlapping but different traffic"},
		{"all traffic and one port", []Fault{d("a", Egress, Match{}), d("b", Egress, Match{Protocol: TCP, Ports: []PortRange{{80, 80}}})}, "overlapping"},
		{"same id twice", []Fault{d("a", Egress, Match{}), d("a", Ingress, Match{})}, "appears twice"},
		{"no direction", []Fault{d("a", "", Match{})}, "direction"},
		{"jitter over delay", []Fault{{ID: "a", Direction: Egress, Delay: time.Millisecond, Jitter: 2 * time.Millisecond}}, "jitter"},
		{"loss over 100", []Fault{{ID: "a", Direction: Egress, Loss: 101}}, "loss 101"},
		{"reorder without delay", []Fault{{ID: "a", Direction: Egress, Reorder: 10}}, "reorder needs a delay"},
		{"ports without protocol", []Fault{d("a", Egress, Match{Ports: []PortRange{{80, 80}}})}, "ports need protocol"},
		{"empty port range", []Fault{d("a", Egress, Match{Protocol: TCP, Ports: []PortRange{{90, 80}}})}, "port range"},
		{"ipv6", []Fault{d("a", Egress, Match{CIDRs: pfx("fd00::/8")})}, "IPv4"},
		{"nothing to inject", []Fault{{ID: "a", Direction: Egress}}, "nothing to inject"},
		{"partition that also shapes", []Fault{{ID: "a", Direction: Egress, Partition: true, Loss: 5}}, "cannot also shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Build(tc.faults)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Shapers on disjoint traffic, or a partition over a shaper, compose.
	for _, ok := range [][]Fault{
		{d("a", Egress, Match{}), d("b", Ingress, Match{})},
		{d("a", Egress, Match{CIDRs: pfx("10.0.0.0/16")}), d("b", Egress, Match{CIDRs: pfx("10.1.0.0/16")})},
		{d("a", Egress, Match{Protocol: TCP}), d("b", Egress, Match{Protocol: UDP})},
		{d("a", Egress, Match{Protocol: TCP, Ports: []PortRange{{80, 80}}}), d("b", Egress, Match{Protocol: TCP, Ports: []PortRange{{81, 90}}})},
		{d("a", Both, Match{}), {ID: "p", Direction: Both, Partition: true}},
		{d("a", Egress, Match{}), d("b", Egress, Match{})},
		{d("a", Egress, Match{CIDRs: pfx("10.0.0.0/8", "10.1.2.3/8")}), d("b", Both, Match{CIDRs: pfx("10.0.0.0/8")})},
	} {
		if _, _, err := Build(ok); errors.Is(err, ErrConflict) || err != nil {
			t.Errorf("%v: %v, want them to compose", ok, err)
		}
	}
}

// Faults with the same match share a class: the lowest rate, both netems chained, whichever of
// them come and go the class stays.
func TestSameMatchComposes(t *testing.T) {
	delay := Fault{ID: "exp-a/0", Direction: Egress, Delay: 100 * time.Millisecond}
	loss := Fault{ID: "exp-b/0", Direction: Egress, Loss: 30}
	rate := Fault{ID: "exp-c/0", Direction: Both, RateBitsPerSec: 1e6}
	slower := Fault{ID: "exp-d/0", Direction: Egress, RateBitsPerSec: 5e5}
	eg, in, err := Build([]Fault{loss, delay, rate, slower})
	if err != nil {
		t.Fatal(err)
	}
	if len(eg.Classes) != 1 || len(in.Classes) != 1 {
		t.Fatalf("classes %d egress, %d ingress, want one each", len(eg.Classes), len(in.Classes))
	}
	c := eg.Classes[0]
	if len(c.Netem) != 2 || c.Netem[0].Latency != 100000 || c.Netem[1].Loss != 30 || c.RateBits != 5e5 {
		t.Errorf("egress class %+v, want delay then loss chained and the lowest rate", c)
	}
	if got := in.Classes[0]; got.RateBits != 1e6 || len(got.Netem) != 0 {
		t.Errorf("ingress class %+v, want only the Both rate limit", got)
	}
	alone, _, _ := Build([]Fault{loss})
	if alone.Classes[0].Minor != c.Minor {
		t.Error("the class moved when faults with the same match came and went")
	}
}
