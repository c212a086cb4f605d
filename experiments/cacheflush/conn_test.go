package cacheflush

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
)

// The name TLS checks the certificate against: the address's host, a Service's DNS name (its
// cluster IP is what is dialled, and certificates rarely carry it), or the one given.
func TestTLSServerName(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "redis"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", Ports: []corev1.ServicePort{{Name: "resp", Port: 6379}}}}
	r := fake.NewClientBuilder().WithScheme(scheme).WithObjects(svc).Build()
	service := &chaosv1alpha1.CacheServiceRef{Name: "redis", Port: intstr.FromString("resp")}
	for _, tc := range []struct {
		name string
		spec chaosv1alpha1.CacheFlushSpec
		want string
	}{
		{"address", chaosv1alpha1.CacheFlushSpec{Address: "redis.shop:6379", TLS: &chaosv1alpha1.CacheTLS{}}, "redis.shop"},
		{"service", chaosv1alpha1.CacheFlushSpec{Service: service, TLS: &chaosv1alpha1.CacheTLS{}}, "redis.shop.svc"},
		{"given", chaosv1alpha1.CacheFlushSpec{Service: service, TLS: &chaosv1alpha1.CacheTLS{ServerName: "cache.example"}}, "cache.example"},
	} {
		tc.spec.Engine = chaosv1alpha1.CacheRedis
		exp := &chaosv1alpha1.Experiment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "flush"}, Spec: chaosv1alpha1.ExperimentSpec{CacheFlush: &tc.spec}}
		e, err := resolve(context.Background(), r, exp)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if e.tls == nil || e.tls.ServerName != tc.want {
			t.Errorf("%s: server name %v, want %q", tc.name, e.tls, tc.want)
		}
	}
}
