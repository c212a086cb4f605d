package capacity

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Service is one service's inputs.
type Service struct {
	Name string
	// Load is the requests/s it receives from outside the model (its own callers not in it).
	Load float64
	// Queue: replicas, workers per replica, service time. A service with no workers and no
	// service time is not modelled as a queue (a cache, whose capacity is not the question); one
	// with them but no replica (all lost) is a queue with no capacity, and saturated.
	Queue Queue
	// LatencyThreshold is the SLO's latency bound (p99); zero ignores latency.
	LatencyThreshold time.Duration
	// CacheHitRatio is the share of lookups a cache answers (0 for a non-cache).
	CacheHitRatio float64
}

// Link says that From sends load to To.
type Link struct {
	From, To string
	// Ratio is calls to To per request of From (default 1).
	Ratio float64
	// Cache: From is a cache in front of To, which receives From's misses (1 − hit ratio).
	Cache bool
	// Retries a caller makes on a failed call (the retry policy toward To).
	Retries int
	// Pool is the caller's concurrency limit toward To (connections); 0 for none.
	Pool int
}

// Fault is what a step does to one service.
type Fault struct {
	// KillReplicas removes k of its n replicas (a PodKill, a zone outage).
	KillReplicas int
	// Latency is added to each of its requests (a NetworkLatency on its pods): workers are
	// held that much longer, and its callers wait that much longer. It is a fixed delay
	// (Queue.Fixed), not part of the exponential service time.
	Latency time.Duration
	// Loss is the probability a call to it fails (a PacketLoss): callers retry.
	Loss float64
	// CacheFlushed: it is a cache that was emptied; until it warms every lookup is a miss.
	CacheFlushed bool
}

// Model is the services in play and how load flows between them.
type Model struct {
	Services []Service
	Links    []Link
	// MaxUtilisation above which a service counts as saturated (default 0.9).
	MaxUtilisation float64
	// Percentile the latency threshold is about (default 0.99).
	Percentile float64
}

// Prediction is one service's predicted state.
type Prediction struct {
	Service string
	// Queue is the service as the fault leaves it (replicas gone, fixed delay added).
	Queue       Queue
	Load        float64
	Replicas    int
	Capacity    float64
	Utilisation float64
	// P99 is the predicted latency percentile (Model.Percentile) at this load; the maximum
	// duration when saturated.
	P99 time.Duration
	// Saturation is λ*: the load at which it tips over, and which limit binds.
	Saturation Saturation
	// Headroom is λ* − load, in requests/s (negative: over the saturation point).
	Headroom float64
	// Saturated says why the service is predicted to tip over, or "".
	Saturated string
}

func (m Model) maxUtil() float64 {
	if m.MaxUtilisation > 0 {
		return m.MaxUtilisation
	}
	return 0.9
}

func (m Model) pct() float64 {
	if m.Percentile > 0 {
		return m.Percentile
	}
	return 0.99
}

// RetryAmplification is how much a loss probability p multiplies the calls a caller makes with
// up to r retries: Σ_{i=0..r} pⁱ.
func RetryAmplification(p float64, retries int) float64 {
	a, term := 0.0, 1.0
	for i := 0; i <= retries; i++ {
		a += term
		term *= p
	}
	return a
}

// Concurrency is Little's law: requests in flight L = λ·W.
func Concurrency(lambda float64, w time.Duration) float64 { return lambda * w.Seconds() }

// PoolLimit is the load at which a pool of `limit` concurrent requests, each held for w, is
// full: λ = limit / W.
func PoolLimit(limit int, w time.Duration) float64 {
	if w <= 0 {
		return math.Inf(1)
	}
	return float64(limit) / w.Seconds()
}

// order returns the services in an order where every caller comes before what it calls; an
// error names a cycle.
func (m Model) order() ([]string, error) {
	indeg := map[string]int{}
	for _, s := range m.Services {
		indeg[s.Name] += 0
	}
	for _, l := range m.Links {
		if _, ok := indeg[l.From]; !ok {
			return nil, fmt.Errorf("link %s→%s: no service %q", l.From, l.To, l.From)
		}
		if _, ok := indeg[l.To]; !ok {
			return nil, fmt.Errorf("link %s→%s: no service %q", l.From, l.To, l.To)
		}
		indeg[l.To]++
	}
	var out, ready []string
	for _, s := range m.Services {
		if indeg[s.Name] == 0 {
			ready = append(ready, s.Name)
		}
	}
	for len(ready) > 0 {
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, l := range m.Links {
			if l.From == n {
				if indeg[l.To]--; indeg[l.To] == 0 {
					ready = append(ready, l.To)
				}
			}
		}
	}
	if len(out) != len(m.Services) {
		return nil, fmt.Errorf("the links between services form a cycle")
	}
	return out, nil
}

// Predict computes every service's state under faults (by service name; nil for the steady
// state). Load flows from callers to callees (cache misses, retries on loss); latency flows back
// (a callee that got slower holds its callers' workers longer).
func (m Model) Predict(faults map[string]Fault) ([]Prediction, error) {
	order, err := m.order()
	if err != nil {
		return nil, err
	}
	svc := map[string]Service{}
	for _, s := range m.Services {
		svc[s.Name] = s
	}
	load, carried := m.flows(order, faults)
	steady := m.loads(order, nil)
	// Latencies, bottom-up: each service's requests are held longer by the delay it adds and by
	// how much slower its callees answer than in the steady state, both as a fixed time.
	extra := map[string]time.Duration{} // latency a service's callers see beyond its steady state
	queues := map[string]Queue{}
	for i := len(order) - 1; i >= 0; i-- {
		name := order[i]
		s, f := svc[name], faults[name]
		q := s.Queue
		q.Replicas = max(q.Replicas-f.KillReplicas, 0)
		q.Fixed += f.Latency
		for _, l := range m.Links {
			if l.From == name && !l.Cache && extra[l.To] > 0 {
				ratio := l.Ratio
				if ratio == 0 {
					ratio = 1
				}
				q.Fixed += time.Duration(ratio * float64(extra[l.To]))
			}
		}
		queues[name] = q
		if !s.queue() {
			// A cache: no queue of its own to model, but a delay on it is waited out by every
			// caller, as on any callee.
			if q.Fixed > 0 {
				extra[name] = q.Fixed
			}
			continue
		}
		base := s.Queue.MeanLatency(steady[name])
		now := q.MeanLatency(load[name])
		switch {
		case !q.valid() || now == time.Duration(math.MaxInt64):
			// Saturated: its queue grows without bound. Its callers wait at least the latency
			// added to it, and the service itself is reported saturated.
			extra[name] = f.Latency
		case now > base:
			extra[name] = now - base
		}
	}
	out := make([]Prediction, 0, len(order))
	for _, name := range order {
		s, q := svc[name], queues[name]
		p := Prediction{Service: name, Load: load[name], Replicas: q.Replicas, Queue: q}
		if !s.queue() { // a cache: its load is all we say
			out = append(out, p)
			continue
		}
		if q.Replicas == 0 && load[name] <= 0 { // scaled to zero and nothing calls it: a standby
			out = append(out, p)
			continue
		}
		p.Capacity = q.Capacity()
		p.Utilisation = q.Utilisation(load[name])
		p.P99 = q.Percentile(load[name], m.pct())
		p.Saturation = q.SaturationPoint(m.pct(), s.LatencyThreshold, m.maxUtil())
		p.Headroom = p.Saturation.Lambda - load[name]
		switch {
		case q.Replicas == 0:
			p.Saturated = "no replica left"
		case p.Utilisation > m.maxUtil():
			p.Saturated = fmt.Sprintf("utilisation %.2f over the maximum %.2f", p.Utilisation, m.maxUtil())
		case s.LatencyThreshold > 0 && p.P99 > s.LatencyThreshold:
			p.Saturated = fmt.Sprintf("p%g %s over the threshold %s", m.pct()*100, fmtDur(p.P99), s.LatencyThreshold)
		}
		for li, l := range m.Links { // a caller's pool toward this service (Little's law)
			if l.To == name && l.Pool > 0 && p.Saturated == "" {
				// Only this caller's share of the load is in its pool.
				w := q.MeanLatency(load[name])
				if inflight := Concurrency(carried[li], w); inflight > float64(l.Pool) {
					p.Saturated = fmt.Sprintf("%.0f requests in flight from %s, over its pool of %d (Little's law)", inflight, l.From, l.Pool)
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// queue says whether the service is modelled as a queue: decided by its spec (workers and a
// service time), not by its replicas, so a service that lost every replica is still flagged.
func (s Service) queue() bool { return s.Queue.Workers > 0 && s.Queue.ServiceTime > 0 }

// loads flows the load from callers to callees in order (callers first): calls by their ratio,
// a cache's misses (all of them once it is flushed) to the store it fronts, and retries on loss.
func (m Model) loads(order []string, faults map[string]Fault) map[string]float64 {
	load, _ := m.flows(order, faults)
	return load
}

// flows is loads, with the load each link carries (by its index in m.Links).
func (m Model) flows(order []string, faults map[string]Fault) (map[string]float64, map[int]float64) {
	hit, load, carried := map[string]float64{}, map[string]float64{}, map[int]float64{}
	for _, s := range m.Services {
		load[s.Name], hit[s.Name] = s.Load, s.CacheHitRatio
		if faults[s.Name].CacheFlushed {
			hit[s.Name] = 0
		}
	}
	for _, name := range order {
		for i, l := range m.Links {
			if l.From != name {
				continue
			}
			ratio := l.Ratio
			if ratio == 0 {
				ratio = 1
			}
			sent := load[name] * ratio
			if l.Cache {
				sent *= 1 - hit[name]
			}
			carried[i] = sent * RetryAmplification(faults[l.To].Loss, l.Retries)
			load[l.To] += carried[i]
		}
	}
	return load, carried
}

// Find returns the prediction of one service.
func Find(ps []Prediction, name string) (Prediction, bool) {
	i := slices.IndexFunc(ps, func(p Prediction) bool { return p.Service == name })
	if i < 0 {
		return Prediction{}, false
	}
	return ps[i], true
}

func fmtDur(d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		return "∞"
	}
	return d.Round(100 * time.Microsecond).String()
}
