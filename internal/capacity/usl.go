package capacity

import (
	"errors"
	"math"
)

// Point is one observation: throughput X (requests/s) at concurrency N.
type Point struct{ N, X float64 }

// USL is the Universal Scalability Law, X(N) = λN / (1 + σ(N−1) + κN(N−1)): λ is the
// throughput of one unit of concurrency, σ contention, κ coherency (crosstalk).
type USL struct{ Lambda, Sigma, Kappa float64 }

// Throughput is X(N).
func (u USL) Throughput(n float64) float64 {
	return u.Lambda * n / (1 + u.Sigma*(n-1) + u.Kappa*n*(n-1))
}

// Peak is the concurrency at which throughput is highest, √((1−σ)/κ); +Inf without coherency
// cost (throughput then only flattens towards λ/σ).
func (u USL) Peak() float64 {
	if u.Kappa <= 0 {
		return math.Inf(1)
	}
	return math.Sqrt((1 - u.Sigma) / u.Kappa)
}

// FitUSL fits σ and κ (both ≥ 0) and λ to observations by least squares on throughput. For a
// given λ the model is linear in σ and κ (N/(X/λ) − 1 = σ(N−1) + κN(N−1)), so λ is searched
// (golden section) and σ, κ solved exactly for each λ.
func FitUSL(points []Point) (USL, error) {
	if len(points) < 3 {
		return USL{}, errors.New("capacity: a USL fit needs at least 3 points")
	}
	best := 0.0
	for _, p := range points {
		if p.N <= 0 || p.X <= 0 {
			return USL{}, errors.New("capacity: USL points need N > 0 and X > 0")
		}
		best = math.Max(best, p.X/p.N)
	}
	fit := func(lambda float64) (USL, float64) {
		// Normal equations for y = σ a + κ b, y = λN/X − 1, a = N−1, b = N(N−1).
		var saa, sab, sbb, say, sby float64
		for _, p := range points {
			y, a, b := lambda*p.N/p.X-1, p.N-1, p.N*(p.N-1)
			saa, sab, sbb, say, sby = saa+a*a, sab+a*b, sbb+b*b, say+a*y, sby+b*y
		}
		det := saa*sbb - sab*sab
		var s, k float64
		if det != 0 {
			s, k = (say*sbb-sby*sab)/det, (saa*sby-sab*say)/det
		}
		if s < 0 || k < 0 || det == 0 { // keep the parameters physical: refit on one of them
			s, k = 0, 0
			if sbb > 0 && sby > 0 {
				k = sby / sbb
			}
			if saa > 0 && say > 0 {
				if s1 := say / saa; sse(USL{lambda, s1, 0}, points) < sse(USL{lambda, 0, k}, points) {
					s, k = s1, 0
				}
			}
		}
		u := USL{Lambda: lambda, Sigma: s, Kappa: k}
		return u, sse(u, points)
	}
	// λ is at least the best per-unit throughput seen, and at most that times the highest
	// concurrency (contention can hide it that far). A coarse scan in log space finds the
	// basin, golden-section search refines it.
	maxN := 1.0
	for _, p := range points {
		maxN = math.Max(maxN, p.N)
	}
	lo, hi := math.Log(best*0.5), math.Log(best*maxN*2)
	bestAt, bestErr := lo, math.Inf(1)
	const scan = 400
	for i := 0; i <= scan; i++ {
		x := lo + (hi-lo)*float64(i)/scan
		if _, e := fit(math.Exp(x)); e < bestErr {
			bestAt, bestErr = x, e
		}
	}
	step := (hi - lo) / scan
	lo, hi = bestAt-step, bestAt+step
	phi := (math.Sqrt(5) - 1) / 2
	for range 100 {
		a, b := hi-phi*(hi-lo), lo+phi*(hi-lo)
		_, ea := fit(math.Exp(a))
		_, eb := fit(math.Exp(b))
		if ea < eb {
			hi = b
		} else {
			lo = a
		}
	}
	u, _ := fit(math.Exp((lo + hi) / 2))
	return u, nil
}

func sse(u USL, points []Point) float64 {
	var e float64
	for _, p := range points {
		d := u.Throughput(p.N) - p.X
		e += d * d
	}
	return e
}
