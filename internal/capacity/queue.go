// Package capacity is the capacity model: pure arithmetic, no I/O. A service is n replicas, each
// with c workers (its concurrency limit) serving requests of mean service time S; requests are
// spread evenly over the replicas. Each replica is modelled as an M/M/c queue (Poisson arrivals,
// exponential service times), from which come utilisation, the waiting-time distribution (Erlang
// C), latency percentiles against load, and the saturation point: the load at which the
// predicted p99 crosses a threshold or utilisation crosses a maximum.
package capacity

import (
	"errors"
	"math"
	"time"
)

// Queue is one service as the queueing model sees it.
type Queue struct {
	// Replicas (n) share the load evenly.
	Replicas int
	// Workers (c) per replica: requests beyond them wait in the replica's queue.
	Workers int
	// ServiceTime (S) is the mean time a worker spends on one request, exponentially distributed.
	ServiceTime time.Duration
	// Fixed is a deterministic time added to every request (an injected network delay, a slowed
	// callee): it holds the worker (utilisation and Erlang C use S + Fixed) but shifts the
	// response time's distribution by itself instead of being scaled as exponential (p99 +D, not
	// +4.6·D).
	Fixed time.Duration
}

// ErrInvalid is returned for a queue with no replica, worker or service time.
var ErrInvalid = errors.New("capacity: a queue needs replicas, workers and a service time above zero")

func (q Queue) valid() bool { return q.Replicas > 0 && q.Workers > 0 && q.ServiceTime > 0 }

// mu is the rate of the exponential part of service (1/S).
func (q Queue) mu() float64 { return 1 / q.ServiceTime.Seconds() }

// rate is one worker's service rate (requests/s): 1 / (S + Fixed), the time a worker is held.
func (q Queue) rate() float64 { return 1 / (q.ServiceTime + q.Fixed).Seconds() }

// Capacity is the most load (requests/s) the service can serve: n·c/(S + Fixed).
func (q Queue) Capacity() float64 {
	if !q.valid() {
		return 0
	}
	return float64(q.Replicas*q.Workers) * q.rate()
}

// Utilisation ρ = λ / (n·c·μ).
func (q Queue) Utilisation(lambda float64) float64 {
	c := q.Capacity()
	if c == 0 {
		return math.Inf(1)
	}
	return lambda / c
}

// ErlangC is the probability that a request waits (all c workers busy) in an M/M/c queue with
// offered load a = λ/μ Erlangs; 1 when a ≥ c (the queue grows without bound).
func ErlangC(c int, a float64) float64 {
	if a <= 0 {
		return 0
	}
	if a >= float64(c) {
		return 1
	}
	// The Erlang B recursion is stable for any c; C follows from B.
	b := 1.0
	for k := 1; k <= c; k++ {
		b = a * b / (float64(k) + a*b)
	}
	rho := a / float64(c)
	return b / (1 - rho*(1-b))
}

// replica returns the per-replica arrival rate, the probability of waiting, and the rate θ at
// which a waiting request's wait ends (cμ − λ_r, μ from the holding time S + Fixed); ok is false
// when the replica is saturated. A deterministic part waits less than an exponential one of the
// same mean would: M/M/c with the holding time errs on the side of more waiting.
func (q Queue) replica(lambda float64) (lr, pw, theta float64, ok bool) {
	lr = lambda / float64(q.Replicas)
	mu := q.rate()
	theta = float64(q.Workers)*mu - lr
	if theta <= 0 {
		return lr, 1, 0, false
	}
	return lr, ErlangC(q.Workers, lr/mu), theta, true
}

// MeanWait is the mean time in queue, W_q = C / (cμ − λ_r); +Inf when saturated.
func (q Queue) MeanWait(lambda float64) time.Duration {
	if !q.valid() {
		return time.Duration(math.MaxInt64)
	}
	_, pw, theta, ok := q.replica(lambda)
	if !ok {
		return time.Duration(math.MaxInt64)
	}
	return seconds(pw / theta)
}

// MeanLatency is the mean response time W = W_q + S + Fixed.
func (q Queue) MeanLatency(lambda float64) time.Duration {
	w := q.MeanWait(lambda)
	if w == time.Duration(math.MaxInt64) {
		return w
	}
	return w + q.ServiceTime + q.Fixed
}

// exceed is P(response time − Fixed > t) given the probability of waiting pw and the rate θ at
// which a wait ends (replica, computed once per load: Erlang C is O(c)): with probability 1−C
// the service time alone (Exp(μ)); with probability C an Exp(θ) wait plus the service time (a
// hypoexponential sum).
func (q Queue) exceed(pw, theta, t float64) float64 {
	mu := q.mu()
	service := math.Exp(-mu * t)
	var waited float64
	if math.Abs(theta-mu) < 1e-9*mu {
		waited = (1 + mu*t) * math.Exp(-mu*t)
	} else {
		waited = (theta*math.Exp(-mu*t) - mu*math.Exp(-theta*t)) / (theta - mu)
	}
	return (1-pw)*service + pw*waited
}

// Percentile is the p-quantile (0 < p < 1) of response time at load λ; the maximum duration
// when the replica is saturated (its queue grows without bound).
func (q Queue) Percentile(lambda, p float64) time.Duration {
	if !q.valid() {
		return time.Duration(math.MaxInt64)
	}
	_, pw, theta, ok := q.replica(lambda)
	if !ok {
		return time.Duration(math.MaxInt64)
	}
	target := 1 - p
	lo, hi := 0.0, q.ServiceTime.Seconds()
	for q.exceed(pw, theta, hi) > target {
		hi *= 2
		if hi > 1e7 {
			return time.Duration(math.MaxInt64)
		}
	}
	for range 100 { // bisection: exceed falls monotonically in t
		mid := (lo + hi) / 2
		if q.exceed(pw, theta, mid) > target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return seconds(hi + q.Fixed.Seconds()) // the fixed part shifts the distribution
}

// Saturation is where a service tips over, and why.
type Saturation struct {
	// Lambda is the highest load (requests/s) that keeps p99 at or under the threshold and
	// utilisation at or under the maximum.
	Lambda float64
	// By says which limit binds: "latency" or "utilisation".
	By string
}

// SaturationPoint is λ*: the load at which the predicted p-quantile crosses threshold, or
// utilisation crosses maxUtil (0 < maxUtil ≤ 1), whichever comes first. A threshold of zero
// ignores latency.
func (q Queue) SaturationPoint(p float64, threshold time.Duration, maxUtil float64) Saturation {
	if !q.valid() {
		return Saturation{}
	}
	byUtil := Saturation{Lambda: maxUtil * q.Capacity(), By: "utilisation"}
	if threshold <= 0 || q.Percentile(byUtil.Lambda, p) <= threshold {
		return byUtil
	}
	if q.Percentile(0, p) > threshold {
		return Saturation{Lambda: 0, By: "latency"} // even an idle replica misses it
	}
	lo, hi := 0.0, byUtil.Lambda
	for range 100 { // the percentile grows monotonically with load
		mid := (lo + hi) / 2
		if q.Percentile(mid, p) <= threshold {
			lo = mid
		} else {
			hi = mid
		}
	}
	return Saturation{Lambda: lo, By: "latency"}
}

func seconds(s float64) time.Duration {
	if s*float64(time.Second) >= math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * float64(time.Second))
}

// ImpliedLoad is the load at which the model predicts the observed p-quantile: what the service
// behaves as if it were receiving. Far above the real load means capacity is missing.
func (q Queue) ImpliedLoad(observed time.Duration, p float64) float64 {
	if !q.valid() || q.Percentile(0, p) >= observed {
		return 0
	}
	lo, hi := 0.0, q.Capacity()
	for range 100 {
		mid := (lo + hi) / 2
		if q.Percentile(mid, p) < observed {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}
