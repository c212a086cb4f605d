package capacity

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// PerReplicaFromCPU derives one replica's capacity (requests/s) from CPU: cores per replica ÷
// CPU-seconds per request.
func PerReplicaFromCPU(coresPerReplica, cpuSecondsPerRequest float64) float64 {
	if cpuSecondsPerRequest <= 0 {
		return 0
	}
	return coresPerReplica / cpuSecondsPerRequest
}

// FitPerReplica fits one replica's capacity from observations of (load, busy fraction) — e.g.
// requests/s against CPU utilisation of the replica's limit: the least-squares slope through
// the origin of busy = λ/μ gives μ = Σλ² / Σλ·busy.
func FitPerReplica(loads, busy []float64) (float64, error) {
	if len(loads) != len(busy) || len(loads) == 0 {
		return 0, fmt.Errorf("capacity: %d loads and %d busy fractions: need equal, non-zero counts", len(loads), len(busy))
	}
	var ll, lb float64
	for i := range loads {
		ll += loads[i] * loads[i]
		lb += loads[i] * busy[i]
	}
	if lb <= 0 {
		return 0, fmt.Errorf("capacity: no busy time observed")
	}
	return ll / lb, nil
}

// Summary is the NALSD view of one service: what it gets, what it can take, and what it needs.
type Summary struct {
	Service     string
	Load        float64
	Replicas    int
	PerReplica  float64 // requests/s one replica serves at full utilisation
	Capacity    float64 // n · PerReplica
	Utilisation float64
	// Needed is the replicas for the load at the target utilisation, plus k spares (N+k).
	Needed int
	Spare  int
	// Headroom is how much more load (requests/s) fits under the target utilisation.
	Headroom float64
}

// Summarise is the NALSD line for a service at target utilisation u, with k spare replicas.
func Summarise(name string, load float64, q Queue, u float64, k int) Summary {
	s := Summary{Service: name, Load: load, Replicas: q.Replicas, Spare: k}
	if !q.valid() || u <= 0 {
		return s
	}
	s.PerReplica = float64(q.Workers) * q.rate()
	s.Capacity = q.Capacity()
	s.Utilisation = load / s.Capacity
	s.Needed = int(math.Ceil(load/(s.PerReplica*u)-1e-9)) + k
	s.Headroom = s.Capacity*u - load
	return s
}

// Table renders summaries and predictions as aligned text (the plan command's output).
func Table(header []string, rows [][]string) string {
	w := make([]int, len(header))
	for i, h := range header {
		w[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c + strings.Repeat(" ", w[i]-len([]rune(c))))
		}
		b.WriteString("\n")
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

// FormatDuration prints a latency, with ∞ for a saturated queue.
func FormatDuration(d time.Duration) string { return fmtDur(d) }
