package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The agent's own metrics, served with controller-runtime's on its metrics endpoint.
var (
	applySeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "firedrill_agent_apply_seconds",
		Help:    "Time to make one pod's network faults match its Injections: entering its namespace, building and applying the tree.",
		Buckets: prometheus.ExponentialBuckets(50e-6, 2, 14), // 50 µs .. ~0.8 s
	})
	verdicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "firedrill_agent_verdicts_total",
		Help: "Verdicts the agent wrote on Injections, by reason (FaultApplied, KernelUnsupported, Expired, …).",
	}, []string{"reason"})
	podsWithFaults = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "firedrill_agent_pods_with_faults",
		Help: "Pods on this node with at least one network fault in place, as of the last reconcile of each.",
	})
)

func init() {
	metrics.Registry.MustRegister(applySeconds, verdicts, podsWithFaults)
}
