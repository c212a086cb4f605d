package controllers

import (
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/experiments/podkill"
)

// DefaultFaults are the fault kinds this build implements. An Experiment whose action is not here
// fails with reason UnsupportedAction instead of waiting forever.
func DefaultFaults(c client.Client, r client.Reader) map[chaosv1alpha1.Action]experiments.Fault {
	return map[chaosv1alpha1.Action]experiments.Fault{
		chaosv1alpha1.ActionPodKill: podkill.PodKill{Client: c, Reader: r},
	}
}
