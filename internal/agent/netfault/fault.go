// Package netfault turns a pod's desired set of network faults into one tc tree (qdiscs, classes
// and filters) and applies it to a link through netlink: no tc binary, no shell, nothing parsed
// from user strings. Everything it creates carries Firedrill's handle major (0xFD00 on egress,
// 0xFD01 on the IFB for ingress), so a sweep can tell its own objects from anyone else's.
package netfault

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Direction says which traffic a fault shapes, seen from the pod.
type Direction string

const (
	Egress  Direction = "Egress"
	Ingress Direction = "Ingress"
	Both    Direction = "Both"
)

// Protocol narrows a match to one IP protocol; empty means any.
type Protocol string

const (
	AnyProtocol Protocol = ""
	TCP         Protocol = "TCP"
	UDP         Protocol = "UDP"
	ICMP        Protocol = "ICMP"
)

// PortRange is an inclusive range of remote ports (From == To for a single port).
type PortRange struct{ From, To uint16 }

// Match selects the remote side of the traffic a fault applies to: on egress the destination, on
// ingress the source. An empty Match is all traffic.
type Match struct {
	CIDRs    []netip.Prefix
	Ports    []PortRange
	Protocol Protocol
}

// Fault is one network fault on one pod. Percentages are 0–100.
type Fault struct {
	// ID is stable for the fault's life (e.g. "<namespace>/<injection>/<index>"): it decides the
	// fault's class in the tree, so adding or removing another fault never moves this one.
	ID        string
	Direction Direction
	Match     Match

	Delay            time.Duration
	Jitter           time.Duration
	DelayCorrelation float64
	Loss             float64
	LossCorrelation  float64
	Corrupt          float64
	Duplicate        float64
	Reorder          float64 // percent of packets sent at once while the rest are delayed (needs Delay)
	// RateBitsPerSec limits the matched traffic's throughput; 0 is no limit.
	RateBitsPerSec uint64
	// Partition drops every matched packet.
	Partition bool
}

// NeedsNetem reports whether the fault needs the sch_netem qdisc (everything but a pure rate
// limit or partition).
func (f Fault) NeedsNetem() bool {
	return f.Delay > 0 || f.Jitter > 0 || f.Loss > 0 || f.Corrupt > 0 || f.Duplicate > 0 || f.Reorder > 0
}

// ErrNetemUnsupported is returned (wrapped) when a fault needs sch_netem and the kernel has none.
var ErrNetemUnsupported = errors.New("sch_netem is not available in this kernel")

// Validate checks a fault's values; the API schema rejects the same things at apply time, this
// guards the agent against anything that slipped past.
func (f Fault) Validate() error {
	if f.ID == "" {
		return errors.New("fault has no ID")
	}
	switch f.Direction {
	case Egress, Ingress, Both:
	default:
		return fmt.Errorf("fault %s: direction %q is not Egress, Ingress or Both", f.ID, f.Direction)
	}
	switch f.Match.Protocol {
	case AnyProtocol, TCP, UDP, ICMP:
	default:
		return fmt.Errorf("fault %s: protocol %q is not TCP, UDP or ICMP", f.ID, f.Match.Protocol)
	}
	if len(f.Match.Ports) > 0 && f.Match.Protocol != TCP && f.Match.Protocol != UDP {
		return fmt.Errorf("fault %s: ports need protocol TCP or UDP", f.ID)
	}
	for _, p := range f.Match.Ports {
		if p.From == 0 || p.To < p.From {
			return fmt.Errorf("fault %s: port range %d-%d is empty or starts at 0", f.ID, p.From, p.To)
		}
	}
	for _, c := range f.Match.CIDRs {
		if !c.IsValid() || !c.Addr().Is4() {
			return fmt.Errorf("fault %s: destination %s is not an IPv4 prefix", f.ID, c)
		}
	}
	for name, v := range map[string]float64{"delayCorrelation": f.DelayCorrelation, "loss": f.Loss, "lossCorrelation": f.LossCorrelation,
		"corrupt": f.Corrupt, "duplicate": f.Duplicate, "reorder": f.Reorder} {
		if v < 0 || v > 100 {
			return fmt.Errorf("fault %s: %s %v is outside 0-100", f.ID, name, v)
		}
	}
	if f.Delay < 0 || f.Jitter < 0 || f.Jitter > f.Delay {
		return fmt.Errorf("fault %s: delay %s and jitter %s must be ≥ 0 with jitter ≤ delay", f.ID, f.Delay, f.Jitter)
	}
	if f.Reorder > 0 && f.Delay == 0 {
		return fmt.Errorf("fault %s: reorder needs a delay", f.ID)
	}
	if !f.Partition && !f.NeedsNetem() && f.RateBitsPerSec == 0 {
		return fmt.Errorf("fault %s: sets nothing to inject", f.ID)
	}
	if f.Partition && (f.NeedsNetem() || f.RateBitsPerSec > 0) {
		return fmt.Errorf("fault %s: a partition drops everything it matches; it cannot also shape", f.ID)
	}
	return nil
}
