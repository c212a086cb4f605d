//go:build bench

package bench

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill-dev/firedrill/test/metricstest"
)

// stepHist is one step's firedrill_experiment_round_step_seconds histogram: cumulative counts
// per upper bound (seconds), the count and the sum.
type stepHist struct {
	bounds []float64
	cum    []uint64
	n      uint64
	sum    float64
}

// managerSteps reads the deployed manager's step histograms for PodKill, by step, through the
// API server's service proxy.
func managerSteps(t *testing.T, cs *kubernetes.Clientset) map[string]stepHist {
	t.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/namespaces/firedrill-system/services/firedrill-manager-metrics:metrics/proxy/metrics").
		DoRaw(t.Context())
	if err != nil {
		t.Fatalf("reading the manager's metrics: %v", err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parsing the manager's metrics: %v", err)
	}
	out := map[string]stepHist{}
	for step, h := range metricstest.RoundSteps(slices.Collect(maps.Values(mfs)), "PodKill") {
		s := stepHist{n: h.GetSampleCount(), sum: h.GetSampleSum()}
		for _, b := range h.GetBucket() {
			s.bounds = append(s.bounds, b.GetUpperBound())
			s.cum = append(s.cum, b.GetCumulativeCount())
		}
		out[step] = s
	}
	return out
}

// since is what was observed between a (earlier) and h. A manager restarted in between started
// its counts again: then h is all there is.
func (h stepHist) since(a stepHist) stepHist {
	if h.n < a.n {
		return h
	}
	d := stepHist{bounds: h.bounds, n: h.n - a.n, sum: h.sum - a.sum}
	for i := range h.cum {
		c := h.cum[i]
		if i < len(a.cum) {
			c -= a.cum[i]
		}
		d.cum = append(d.cum, c)
	}
	return d
}

// quantile interpolates within the bucket holding q, as Prometheus' histogram_quantile does.
func (h stepHist) quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := q * float64(h.n)
	lower, below := 0.0, uint64(0)
	for i, c := range h.cum {
		if math.IsInf(h.bounds[i], 1) {
			return lower // beyond the highest finite bound, as histogram_quantile answers
		}
		if float64(c) >= rank {
			if c == below {
				return h.bounds[i]
			}
			return lower + (h.bounds[i]-lower)*(rank-float64(below))/float64(c-below)
		}
		lower, below = h.bounds[i], c
	}
	return lower
}

// stepReport prints where the manager's time went between two readings, step by step.
func stepReport(before, after map[string]stepHist) string {
	var b strings.Builder
	ms := func(s float64) string { return fmt.Sprintf("%.1f ms", s*1000) }
	total := 0.0
	for _, step := range []string{"select", "intent", "inject"} {
		d := after[step].since(before[step])
		if d.n == 0 {
			fmt.Fprintf(&b, "  %-7s no observation\n", step)
			continue
		}
		fmt.Fprintf(&b, "  %-7s n=%d mean %s, median ~%s, p90 ~%s\n", step, d.n, ms(d.sum/float64(d.n)), ms(d.quantile(0.5)), ms(d.quantile(0.9)))
		total += d.sum / float64(d.n)
	}
	fmt.Fprintf(&b, "  the three together: mean %s\n", ms(total))
	return b.String()
}
