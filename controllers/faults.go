package controllers

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/experiments/cacheflush"
	"github.com/firedrill-dev/firedrill/experiments/network"
	"github.com/firedrill-dev/firedrill/experiments/podkill"
)

// DefaultFaults are the fault kinds this build implements. An Experiment whose action is not here
// fails with reason UnsupportedAction instead of waiting forever.
func DefaultFaults(c client.Client, r client.Reader) map[chaosv1alpha1.Action]experiments.Fault {
	net := &network.Network{Client: c, Reader: r}
	return map[chaosv1alpha1.Action]experiments.Fault{
		chaosv1alpha1.ActionPodKill:          podkill.PodKill{Client: c, Reader: r},
		chaosv1alpha1.ActionNetworkLatency:   net,
		chaosv1alpha1.ActionPacketLoss:       net,
		chaosv1alpha1.ActionNetworkRateLimit: net,
		chaosv1alpha1.ActionNetworkPartition: net,
		chaosv1alpha1.ActionCacheFlush:       &cacheflush.CacheFlush{Client: c, Reader: r},
	}
}
