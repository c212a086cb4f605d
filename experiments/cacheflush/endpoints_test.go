package cacheflush

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestReadyAddresses(t *testing.T) {
	ep := func(addr string, ready, terminating *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ready, Terminating: terminating}}
	}
	slice := func(eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
		return discoveryv1.EndpointSlice{Endpoints: eps}
	}
	onPod := func(e discoveryv1.Endpoint, uid string) discoveryv1.Endpoint {
		e.TargetRef = &corev1.ObjectReference{Kind: "Pod", UID: types.UID(uid)}
		return e
	}
	for _, tc := range []struct {
		name   string
		slices []discoveryv1.EndpointSlice
		want   []string
	}{
		{"none", nil, nil},
		{"one ready", []discoveryv1.EndpointSlice{slice(ep("10.1.0.5", ptr.To(true), nil))}, []string{"10.1.0.5"}},
		{"readiness not reported counts as ready", []discoveryv1.EndpointSlice{slice(ep("10.1.0.5", nil, nil))}, []string{"10.1.0.5"}},
		{"not ready and terminating do not count", []discoveryv1.EndpointSlice{slice(ep("10.1.0.5", ptr.To(true), nil), ep("10.1.0.6", ptr.To(false), nil), ep("10.1.0.7", ptr.To(true), ptr.To(true)))}, []string{"10.1.0.5"}},
		{"one address in two slices is one server", []discoveryv1.EndpointSlice{slice(ep("10.1.0.5", ptr.To(true), nil)), slice(ep("10.1.0.5", ptr.To(true), nil))}, []string{"10.1.0.5"}},
		{"a dual-stack pod is one server", []discoveryv1.EndpointSlice{slice(onPod(ep("10.1.0.5", nil, nil), "p1")), slice(onPod(ep("fd00::5", nil, nil), "p1"))}, []string{"10.1.0.5"}},
		{"two pods are two servers", []discoveryv1.EndpointSlice{slice(onPod(ep("10.1.0.5", nil, nil), "p1"), onPod(ep("10.1.0.6", nil, nil), "p2"))}, []string{"10.1.0.5", "10.1.0.6"}},
		{"three servers", []discoveryv1.EndpointSlice{slice(ep("10.1.0.7", nil, nil), ep("10.1.0.5", nil, nil)), slice(ep("10.1.0.6", nil, nil))}, []string{"10.1.0.5", "10.1.0.6", "10.1.0.7"}},
		{"an endpoint with no address is skipped", []discoveryv1.EndpointSlice{slice(discoveryv1.Endpoint{})}, nil},
	} {
		if got := readyAddresses(tc.slices); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
