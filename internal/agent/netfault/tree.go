package netfault

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// Handle majors Firedrill owns. A root qdisc with one of these majors, and everything under it,
// is Firedrill's; nothing else on a link is ever touched except the root it replaced (restored).
const (
	EgressMajor  uint16 = 0xFD00
	IngressMajor uint16 = 0xFD01
	// KeptMajor is the egress root when the pod had a root qdisc of its own, kept under the
	// default class: a removal that finds fd00: at the root can then delete it outright, knowing
	// nothing of the pod's is inside.
	KeptMajor uint16 = 0xFD02
	// IFBName is the IFB device Firedrill creates in a pod's namespace for ingress faults.
	IFBName = "fd-ifb0"

	defaultMinor = 1
	// Fault classes (and their leaf qdiscs' majors) live in [minMinor, maxMinor]: away from the
	// usual handles of a pod's own qdisc (1:, 8001:) and from Firedrill's majors. A second netem
	// chained under the first takes major minor|chainBit, which stays below 0xFD00 too.
	minMinor = 0x100
	maxMinor = 0x7CFF
	chainBit = 0x8000
	// maxChain is how many netem faults with the same match one class chains.
	maxChain = 2
	// Partition filters sort before shaping filters, so a dropped packet is never shaped.
	shapePrioBase = 0x8000

	unlimitedBits   = 10_000_000_000 // classes without a rate limit: far above any veth's real rate
	maxFiltersFault = 256
	netemLimit      = 10000 // packets netem may hold: 100 ms of delay at ~100k pps
)

// Key is one 32-bit u32 match at an offset from the IPv4 header, in host byte order.
type Key struct {
	Off       int32
	Val, Mask uint32
}

// Selector is the keys of one u32 filter (all must match).
type Selector []Key

// Class is one part of a tree: an HTB class, the leaf under it, and the u32 filters that send
// matching packets there. A partition is a class of its own with a blackhole leaf. Shaping faults
// with the same match on one side share a class: the lowest rate limit, and their netem qdiscs
// chained one under the other, so a packet gets every delay and every loss, as if the faults were
// applied one after the other.
type Class struct {
	FaultIDs []string
	Minor    uint16
	Prio     uint16
	Drop     bool
	RateBits uint64 // 0: no rate limit
	Netem    []netlink.NetemQdiscAttrs
	Filters  []Selector
}

// Name names the class's faults in errors.
func (c Class) Name() string { return strings.Join(c.FaultIDs, "+") }

// Tree is the desired Firedrill tree for one side: egress on the pod's link, ingress on the IFB.
type Tree struct {
	Major   uint16
	Classes []Class // sorted by Minor
}

// Empty reports whether the side has no fault.
func (t Tree) Empty() bool { return len(t.Classes) == 0 }

// ErrConflict is returned (wrapped) when two shaping faults on one side match the same packets:
// a packet takes one class, so one would silently win; Firedrill refuses instead.
var ErrConflict = errors.New("faults overlap")

// Build computes both sides' trees from a pod's fault set. reserved lists qdisc majors already in
// use on the link (the pod's own root qdisc, kept as the default class's leaf) that fault leaves
// must not take.
func Build(faults []Fault, reserved ...uint16) (egress, ingress Tree, err error) {
	sorted := slices.Clone(faults)
	slices.SortFunc(sorted, func(a, b Fault) int { return strings.Compare(a.ID, b.ID) })
	for i, f := range sorted {
		if err := f.Validate(); err != nil {
			return Tree{}, Tree{}, err
		}
		if i > 0 && sorted[i-1].ID == f.ID {
			return Tree{}, Tree{}, fmt.Errorf("fault ID %s appears twice", f.ID)
		}
	}
	egress, ingress = Tree{Major: EgressMajor}, Tree{Major: IngressMajor}
	// Classes are keyed by what they match: a partition by its fault, shaping faults by side and
	// match, so faults with the same match land in one class whichever come and go.
	type part struct {
		key    string
		tree   *Tree
		remote remoteSide
		faults []Fault
	}
	var parts []*part
	byKey := map[string]*part{}
	for _, f := range sorted {
		for _, side := range []struct {
			tree   *Tree
			on     bool
			remote remoteSide
			name   string
		}{{&egress, f.Direction != Ingress, destination, "egress"}, {&ingress, f.Direction != Egress, source, "ingress"}} {
			if !side.on {
				continue
			}
			key := "fault " + f.ID
			if !f.Partition {
				key = "match " + matchKey(f.Match)
			}
			k := side.name + " " + key
			p, ok := byKey[k]
			if !ok {
				p = &part{key: key, tree: side.tree, remote: side.remote}
				byKey[k] = p
				parts = append(parts, p)
			}
			p.faults = append(p.faults, f)
		}
	}
	var keys []string
	for _, p := range parts {
		keys = append(keys, p.key)
	}
	minors := allocate(keys, reserved)
	for _, p := range parts {
		c, err := classFor(p.faults, minors[p.key], p.remote)
		if err != nil {
			return Tree{}, Tree{}, err
		}
		p.tree.Classes = append(p.tree.Classes, c)
	}
	for _, t := range []*Tree{&egress, &ingress} {
		slices.SortFunc(t.Classes, func(a, b Class) int { return int(a.Minor) - int(b.Minor) })
	}
	if err := conflicts(sorted); err != nil {
		return Tree{}, Tree{}, err
	}
	return egress, ingress, nil
}

// matchKey is a canonical form of a match: equal for matches that select the same packets.
func matchKey(m Match) string {
	var cidrs []string
	for _, c := range m.CIDRs {
		cidrs = append(cidrs, c.Masked().String())
	}
	slices.Sort(cidrs)
	var ports []string
	for _, p := range m.Ports {
		ports = append(ports, fmt.Sprintf("%d-%d", p.From, p.To))
	}
	slices.Sort(ports)
	return fmt.Sprintf("%s|%s|%s", m.Protocol, strings.Join(slices.Compact(cidrs), ","), strings.Join(slices.Compact(ports), ","))
}

// allocate gives each key a minor from its hash, probing past collisions, so a class stays where
// it is while others come and go.
func allocate(keys []string, reserved []uint16) map[string]uint16 {
	taken := map[uint16]bool{}
	for _, r := range reserved {
		taken[r] = true
		taken[r&^chainBit] = true // a chained netem's major must not meet it either
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	out := make(map[string]uint16, len(sorted))
	const span = maxMinor - minMinor + 1
	for _, k := range sorted {
		h := fnv.New32a()
		h.Write([]byte(k))
		m := uint16(minMinor + h.Sum32()%span)
		for taken[m] {
			m++
			if m > maxMinor {
				m = minMinor
			}
		}
		taken[m] = true
		out[k] = m
	}
	return out
}

// remoteSide says where the remote end's address and port sit in a packet: the destination on
// egress, the source on ingress.
type remoteSide int

const (
	destination remoteSide = iota
	source
)

// classFor builds the class of faults that share a match (or of one partition).
func classFor(faults []Fault, minor uint16, side remoteSide) (Class, error) {
	c := Class{Minor: minor, Drop: faults[0].Partition}
	for _, f := range faults {
		c.FaultIDs = append(c.FaultIDs, f.ID)
		if f.RateBitsPerSec > 0 && (c.RateBits == 0 || f.RateBitsPerSec < c.RateBits) {
			c.RateBits = f.RateBitsPerSec
		}
		if f.NeedsNetem() {
			c.Netem = append(c.Netem, netemAttrs(f))
		}
	}
	if len(c.Netem) > maxChain {
		return Class{}, fmt.Errorf("%w: %s all shape the same packets with netem; at most %d compose on one match", ErrConflict, c.Name(), maxChain)
	}
	if c.Drop {
		c.Prio = minor
	} else {
		c.Prio = shapePrioBase + minor
	}
	sels, err := selectors(faults[0].Match, side)
	if err != nil {
		return Class{}, fmt.Errorf("fault %s: %w", c.Name(), err)
	}
	c.Filters = sels
	return c, nil
}

func netemAttrs(f Fault) netlink.NetemQdiscAttrs {
	a := netlink.NetemQdiscAttrs{
		Latency:     uint32(f.Delay / time.Microsecond),
		Jitter:      uint32(f.Jitter / time.Microsecond),
		DelayCorr:   float32(f.DelayCorrelation),
		Loss:        float32(f.Loss),
		LossCorr:    float32(f.LossCorrelation),
		Duplicate:   float32(f.Duplicate),
		CorruptProb: float32(f.Corrupt),
		ReorderProb: float32(f.Reorder),
		Limit:       netemLimit,
	}
	if f.Reorder > 0 {
		// With gap 0 the kernel never takes the reorder path; tc sets 1 for the same reason.
		a.Gap = 1
	}
	return a
}

// IPv4 header offsets u32 matches on.
const (
	offVerIHL   = 0
	offProtocol = 8
	offSrc      = 12
	offDst      = 16
	offPorts    = 20 // assumes no IP options; a key on IHL = 5 makes that explicit
)

var protoNumbers = map[Protocol]uint32{TCP: 6, UDP: 17, ICMP: 1}

// selectors expands a match into u32 selectors: one per (CIDR × aligned port block).
func selectors(m Match, side remoteSide) ([]Selector, error) {
	var base Selector
	if p := m.Protocol; p != AnyProtocol {
		base = append(base, Key{Off: offProtocol, Val: protoNumbers[p] << 16, Mask: 0x00FF0000})
	}
	cidrs := []*netip.Prefix{nil}
	if len(m.CIDRs) > 0 {
		cidrs = cidrs[:0]
		for i := range m.CIDRs {
			cidrs = append(cidrs, &m.CIDRs[i])
		}
	}
	ports := []*portBlock{nil}
	if len(m.Ports) > 0 {
		ports = ports[:0]
		for _, r := range m.Ports {
			for _, b := range portBlocks(r.From, r.To) {
				ports = append(ports, &b)
			}
		}
		base = append(base, Key{Off: offVerIHL, Val: 0x05000000, Mask: 0x0F000000})
	}
	if n := len(cidrs) * len(ports); n > maxFiltersFault {
		return nil, fmt.Errorf("its destinations expand to %d filters, more than %d: use wider CIDRs or port ranges", n, maxFiltersFault)
	}
	var out []Selector
	for _, c := range cidrs {
		for _, pb := range ports {
			s := slices.Clone(base)
			if c != nil && c.Bits() > 0 {
				off := int32(offDst)
				if side == source {
					off = offSrc
				}
				mask := ^uint32(0) << (32 - c.Bits())
				a := c.Masked().Addr().As4()
				val := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
				s = append(s, Key{Off: off, Val: val & mask, Mask: mask})
			}
			if pb != nil {
				// The first 16 bits after the header are the source port, the next 16 the destination.
				if side == destination {
					s = append(s, Key{Off: offPorts, Val: uint32(pb.val), Mask: uint32(pb.mask)})
				} else {
					s = append(s, Key{Off: offPorts, Val: uint32(pb.val) << 16, Mask: uint32(pb.mask) << 16})
				}
			}
			if len(s) == 0 {
				s = Selector{{Off: 0, Val: 0, Mask: 0}} // all IPv4 traffic
			}
			out = append(out, s)
		}
	}
	return out, nil
}

type portBlock struct{ val, mask uint16 }

// portBlocks covers [from, to] with the fewest aligned power-of-two blocks (what a u32 mask can say).
func portBlocks(from, to uint16) []portBlock {
	var out []portBlock
	lo, hi := uint32(from), uint32(to)
	for lo <= hi {
		size := uint32(1)
		for lo%(size*2) == 0 && lo+size*2-1 <= hi && size*2 <= 1<<16 {
			size *= 2
		}
		out = append(out, portBlock{val: uint16(lo), mask: uint16(^(size - 1))})
		lo += size
	}
	return out
}

// conflicts refuses two shaping faults on one side whose matches overlap without being the same
// (the same match composes in one class): a packet takes one class, so one would silently win.
// A partition may overlap anything: a dropped packet is dropped whatever else would shape it.
func conflicts(sorted []Fault) error {
	for i, a := range sorted {
		for _, b := range sorted[i+1:] {
			if a.Partition || b.Partition || !directionsMeet(a.Direction, b.Direction) || !matchesOverlap(a.Match, b.Match) {
				continue
			}
			if matchKey(a.Match) == matchKey(b.Match) {
				continue // one class on each side they share
			}
			return fmt.Errorf("%w: %s and %s shape overlapping but different traffic on one pod (a packet takes one class, so one would silently win); give them the same destinations or disjoint ones, or run them one after the other", ErrConflict, a.ID, b.ID)
		}
	}
	return nil
}

func directionsMeet(a, b Direction) bool { return a == Both || b == Both || a == b }

func matchesOverlap(a, b Match) bool {
	if a.Protocol != AnyProtocol && b.Protocol != AnyProtocol && a.Protocol != b.Protocol {
		return false
	}
	if len(a.CIDRs) > 0 && len(b.CIDRs) > 0 && !slices.ContainsFunc(a.CIDRs, func(x netip.Prefix) bool {
		return slices.ContainsFunc(b.CIDRs, x.Overlaps)
	}) {
		return false
	}
	if len(a.Ports) > 0 && len(b.Ports) > 0 && !slices.ContainsFunc(a.Ports, func(x PortRange) bool {
		return slices.ContainsFunc(b.Ports, func(y PortRange) bool { return x.From <= y.To && y.From <= x.To })
	}) {
		return false
	}
	return true
}
