package cacheflush

import (
	"errors"
	"net"
	"testing"

	"github.com/firedrill-dev/firedrill/experiments"
)

func TestClusterNameNamespace(t *testing.T) {
	for _, tc := range []struct {
		host, ns string
		ok       bool
	}{
		{"redis.kube-system", "kube-system", true},
		{"redis.kube-system.svc", "kube-system", true},
		{"redis.kube-system.svc.cluster.local", "kube-system", true},
		{"redis.kube-system.svc.cluster.local.", "kube-system", true},
		{"10-244-0-5.payments.pod.cluster.local", "payments", true},
		{"Redis.Payments.SVC.cluster.local", "payments", true},
		{"redis", "", false},
		{"cache.internal.example.com", "", false},
	} {
		ns, ok := clusterNameNamespace(tc.host)
		if ns != tc.ns || ok != tc.ok {
			t.Errorf("clusterNameNamespace(%q) = %q, %v; want %q, %v", tc.host, ns, ok, tc.ns, tc.ok)
		}
	}
}

// A name that does not exist fails the experiment; a resolver that did not answer is retried.
func TestResolveError(t *testing.T) {
	var perm *experiments.PermanentError
	if err := resolveError("redis-typo.shop", &net.DNSError{Err: "no such host", Name: "redis-typo.shop", IsNotFound: true}); !errors.As(err, &perm) {
		t.Errorf("a name that does not exist: %v, want a PermanentError", err)
	}
	if err := resolveError("redis.shop", &net.DNSError{Err: "i/o timeout", Name: "redis.shop", IsTimeout: true}); !errors.Is(err, experiments.ErrTransient) {
		t.Errorf("a resolver that timed out: %v, want ErrTransient", err)
	}
}
