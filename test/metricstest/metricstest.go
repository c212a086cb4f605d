// Package metricstest reads Firedrill's own metrics for tests and benches, from a registry's
// Gather or from a scrape parsed with expfmt.
package metricstest

import dto "github.com/prometheus/client_model/go"

// RoundStepSeconds is the manager's histogram of the steps of a fault round.
const RoundStepSeconds = "firedrill_experiment_round_step_seconds"

// RoundSteps returns action's RoundStepSeconds histograms among mfs, by step. A step never
// observed is missing (its nil histogram reads as zero).
func RoundSteps(mfs []*dto.MetricFamily, action string) map[string]*dto.Histogram {
	out := map[string]*dto.Histogram{}
	for _, mf := range mfs {
		if mf.GetName() != RoundStepSeconds {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label(m, "action") == action {
				out[label(m, "step")] = m.GetHistogram()
			}
		}
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
