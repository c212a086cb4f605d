package cacheflush

import (
	"context"
	"fmt"
	"slices"
	"strings"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
)

// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=list

// oneServer refuses a Service that spreads its connections over several ready servers: the
// flush, its figures and a restore would each reach one of them at random (one Memcached of
// three emptied; a Redis replica answering READONLY). None ready is left to the connection,
// which says so and is retried.
func oneServer(ctx context.Context, r client.Reader, exp *chaosv1alpha1.Experiment) error {
	ref := exp.Spec.CacheFlush.Service
	if ref == nil {
		return nil
	}
	ns := ref.NamespaceOr(exp.Namespace)
	var slices discoveryv1.EndpointSliceList
	if err := r.List(ctx, &slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: ref.Name}); err != nil {
		return fmt.Errorf("listing the endpoints of Service %s/%s: %w: %w", ns, ref.Name, experiments.ErrTransient, err)
	}
	if ready := readyAddresses(slices.Items); len(ready) > 1 {
		return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonPreflightFailed,
			Message: fmt.Sprintf("spec.cacheFlush.service: Service %s/%s has %d ready endpoints (%s): a flush through it reaches one of them at random; name each server by address, one experiment each",
				ns, ref.Name, len(ready), strings.Join(ready, ", "))}
	}
	return nil
}

// readyAddresses names the distinct servers among the ready, not terminating, endpoints of a
// Service's slices (an endpoint with no readiness reported counts as ready, as kube-proxy
// counts it), sorted. A server is its pod when the endpoint names one (a dual-stack pod is in
// an IPv4 and an IPv6 slice), else its first address.
func readyAddresses(list []discoveryv1.EndpointSlice) []string {
	seen := sets.New[string]()
	var out []string
	for _, s := range list {
		for _, ep := range s.Endpoints {
			c := ep.Conditions
			if (c.Ready != nil && !*c.Ready) || (c.Terminating != nil && *c.Terminating) || len(ep.Addresses) == 0 {
				continue
			}
			key := ep.Addresses[0]
			if ep.TargetRef != nil && ep.TargetRef.UID != "" {
				key = string(ep.TargetRef.UID)
			}
			if !seen.Has(key) {
				seen.Insert(key)
				out = append(out, ep.Addresses[0])
			}
		}
	}
	slices.Sort(out)
	return out
}
