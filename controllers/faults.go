package controllers

import (
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/experiments/cacheflush"
	"github.com/firedrill-dev/firedrill/experiments/network"
	"github.com/firedrill-dev/firedrill/experiments/podkill"
	"github.com/firedrill-dev/firedrill/internal/selector"
)

// FaultOptions tune the fault kinds; a zero field keeps the kind's default.
type FaultOptions struct {
	// CacheRestoreTimeout bounds how long a CacheFlush restore that keeps failing is retried
	// (cacheflush.DefaultRestoreTimeout when 0).
	CacheRestoreTimeout time.Duration
	// Protected are the namespaces no experiment acts in (a cache flush checks its Service or
	// address against them; the engine checks the pods it selects).
	Protected selector.Protected
}

// Faults are the fault kinds this build implements, tuned by o. An Experiment whose action is
// not here fails with reason UnsupportedAction instead of waiting forever.
func Faults(c client.Client, r client.Reader, o FaultOptions) map[chaosv1alpha1.Action]experiments.Fault {
	net := &network.Network{Client: c, Reader: r}
	return map[chaosv1alpha1.Action]experiments.Fault{
		chaosv1alpha1.ActionPodKill:          podkill.PodKill{Client: c, Reader: r},
		chaosv1alpha1.ActionNetworkLatency:   net,
		chaosv1alpha1.ActionPacketLoss:       net,
		chaosv1alpha1.ActionNetworkRateLimit: net,
		chaosv1alpha1.ActionNetworkPartition: net,
		chaosv1alpha1.ActionCacheFlush:       &cacheflush.CacheFlush{Client: c, Reader: r, RestoreTimeout: o.CacheRestoreTimeout, Protected: o.Protected},
	}
}
