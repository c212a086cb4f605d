package agent

import (
	"fmt"
	"net/netip"
	"strconv"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/agent/netfault"
)

// toNetfault converts an Injection's faults into the tree builder's terms. A fault whose
// destinations resolved to nothing (noMatch) shapes nothing and is left out.
func toNetfault(inj *chaosv1alpha1.Injection) ([]netfault.Fault, error) {
	var out []netfault.Fault
	for i, f := range inj.Spec.Faults {
		if f.NoMatch {
			continue
		}
		nf := netfault.Fault{
			ID:             inj.Namespace + "/" + inj.Name + "/" + strconv.Itoa(i),
			Direction:      netfault.Direction(f.Direction),
			Partition:      f.Partition,
			Match:          netfault.Match{Protocol: netfault.Protocol(f.Protocol)},
			RateBitsPerSec: uint64(ptrOr(f.RateLimitKbps, 0)) * 1000,
		}
		if f.Delay != nil {
			nf.Delay = f.Delay.Duration
		}
		if f.Jitter != nil {
			nf.Jitter = f.Jitter.Duration
		}
		var err error
		for _, p := range []struct {
			in  *chaosv1alpha1.Percent
			out *float64
		}{{f.DelayCorrelation, &nf.DelayCorrelation}, {f.Loss, &nf.Loss}, {f.LossCorrelation, &nf.LossCorrelation},
			{f.Corrupt, &nf.Corrupt}, {f.Duplicate, &nf.Duplicate}, {f.Reorder, &nf.Reorder}} {
			if p.in == nil {
				continue
			}
			if *p.out, err = strconv.ParseFloat(string(*p.in), 64); err != nil {
				return nil, fmt.Errorf("fault %d: percentage %q: %w", i, *p.in, err)
			}
		}
		for _, c := range f.CIDRs {
			pfx, err := netip.ParsePrefix(c)
			if err != nil {
				return nil, fmt.Errorf("fault %d: cidr %q: %w", i, c, err)
			}
			nf.Match.CIDRs = append(nf.Match.CIDRs, pfx)
		}
		for _, p := range f.Ports {
			to := ptrOr(p.To, p.From)
			nf.Match.Ports = append(nf.Match.Ports, netfault.PortRange{From: uint16(p.From), To: uint16(to)})
		}
		out = append(out, nf)
	}
	return out, nil
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}
