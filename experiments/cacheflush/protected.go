package cacheflush

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/internal/apiread"
)

// +kubebuilder:rbac:groups="",resources=services,verbs=list
// +kubebuilder:rbac:groups="",resources=pods,verbs=list

// protectedService refuses a cache whose Service is in a protected namespace (invariant 7), named
// or the Experiment's own, before anything is read or dialled. A pod selector skips a protected
// namespace among others; a named cache in one is the whole experiment, so it is refused.
func (f *CacheFlush) protectedService(exp *chaosv1alpha1.Experiment) error {
	ref := exp.Spec.CacheFlush.Service
	if ref == nil {
		return nil
	}
	field, ns := "spec.cacheFlush.service.namespace", ref.Namespace
	if ns == "" {
		field, ns = "spec.cacheFlush.service (the Experiment's namespace)", exp.Namespace
	}
	if !f.Protected.Has(ns) {
		return nil
	}
	return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonProtectedNamespace,
		Message: fmt.Sprintf("%s: %s is a protected namespace: no experiment acts in it (protected: %s)", field, ns, strings.Join(f.Protected.List(), ", "))}
}

// protectedAddress refuses an address that reaches a cache in a protected namespace: a Service
// or pod DNS name there (<name>.<namespace>[.svc|.pod[.<cluster domain>]]), or an IP that is a
// Service's cluster, external or load-balancer IP there, or a pod's. An unknown host name is
// refused for good. An address must not be the way around protectedService. A hostNetwork
// pod's IP is its node's, shared by everything on the node, and says nothing about which
// namespace answers.
func (f *CacheFlush) protectedAddress(ctx context.Context, addr string) error {
	if len(f.Protected.List()) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonPreflightFailed,
			Message: fmt.Sprintf("spec.cacheFlush.address %q: %v", addr, err)}
	}
	refuse := func(what, ns string) error {
		return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonProtectedNamespace,
			Message: fmt.Sprintf("spec.cacheFlush.address: %s is %s in %s, a protected namespace: no experiment acts in it (protected: %s)",
				addr, what, ns, strings.Join(f.Protected.List(), ", "))}
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		if ns, ok := clusterNameNamespace(host); ok && f.Protected.Has(ns) {
			return refuse("a cluster DNS name", ns)
		}
		if ips, err = net.DefaultResolver.LookupIP(ctx, "ip", host); err != nil {
			return resolveError(host, err)
		}
	}
	for _, ip := range ips {
		var pods corev1.PodList
		if err := f.Reader.List(ctx, &pods, client.MatchingFields{"status.podIP": ip.String()}, apiread.FromWatchCache{}); err != nil {
			return fmt.Errorf("looking up the pods at %s: %w: %w", ip, experiments.ErrTransient, err)
		}
		for _, p := range pods.Items {
			if !p.Spec.HostNetwork && f.Protected.Has(p.Namespace) {
				return refuse(fmt.Sprintf("the IP of pod %s", p.Name), p.Namespace)
			}
		}
	}
	// The protected namespaces' Services, listed once for every address the host resolves to.
	for _, ns := range f.Protected.List() {
		var svcs corev1.ServiceList
		if err := f.Reader.List(ctx, &svcs, client.InNamespace(ns), apiread.FromWatchCache{}); err != nil {
			return fmt.Errorf("listing the Services of %s: %w: %w", ns, experiments.ErrTransient, err)
		}
		for _, s := range svcs.Items {
			if slices.ContainsFunc(serviceIPs(&s), func(a string) bool { return slices.ContainsFunc(ips, net.ParseIP(a).Equal) }) {
				return refuse(fmt.Sprintf("an IP of Service %s", s.Name), ns)
			}
		}
	}
	return nil
}

// clusterNameNamespace is the namespace a cluster DNS name points into: <service>.<namespace>
// (through the search path), <service>.<namespace>.svc[.<domain>] and
// <pod>.<namespace>.pod[.<domain>].
func clusterNameNamespace(host string) (string, bool) {
	labels := strings.Split(strings.TrimSuffix(strings.ToLower(host), "."), ".")
	switch {
	case len(labels) == 2:
		return labels[1], true
	case len(labels) >= 3 && (labels[2] == "svc" || labels[2] == "pod"):
		return labels[1], true
	}
	return "", false
}

// serviceIPs are the addresses a Service answers on: cluster, external and load-balancer IPs.
// (A node port answers on every node's IP, shared with everything else: it is not checked.)
func serviceIPs(s *corev1.Service) []string {
	ips := append(slices.Clone(s.Spec.ClusterIPs), s.Spec.ExternalIPs...)
	for _, in := range s.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			ips = append(ips, in.IP)
		}
	}
	return ips
}

// resolveError is the error of a host name that did not resolve: for good when the name does not
// exist (no retry makes it), to be retried otherwise (a DNS server that did not answer).
func resolveError(host string, err error) error {
	if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return &experiments.PermanentError{Reason: chaosv1alpha1.ReasonPreflightFailed,
			Message: fmt.Sprintf("spec.cacheFlush.address: %s does not resolve: %v", host, err)}
	}
	return fmt.Errorf("resolving %s: %w: %w", host, experiments.ErrTransient, err)
}
