package agent

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/agent/netfault"
)

func TestToNetfault(t *testing.T) {
	pct := func(s string) *chaosv1alpha1.Percent { p := chaosv1alpha1.Percent(s); return &p }
	inj := &chaosv1alpha1.Injection{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "slow-abc"}}
	inj.Spec.Faults = []chaosv1alpha1.InjectedFault{
		{ID: "shop/slow", Direction: chaosv1alpha1.DirectionBoth, NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: &metav1.Duration{Duration: 100 * time.Millisecond},
			Jitter: &metav1.Duration{Duration: 5 * time.Millisecond}, DelayCorrelation: pct("25"), Loss: pct("0.5"), Reorder: pct("10"),
			RateLimitKbps: ptr.To[int64](1000)},
			CIDRs: []string{"10.0.0.0/8"}, Protocol: "TCP", Ports: []chaosv1alpha1.PortRange{{From: 80}, {From: 8000, To: ptr.To[int32](8080)}}},
		{ID: "shop/none", Direction: chaosv1alpha1.DirectionEgress, Partition: true, NoMatch: true},
	}
	got, err := toNetfault(inj)
	if err != nil {
		t.Fatal(err)
	}
	want := []netfault.Fault{{
		ID: "shop/slow-abc/0", Direction: netfault.Both, Delay: 100 * time.Millisecond, Jitter: 5 * time.Millisecond,
		DelayCorrelation: 25, Loss: 0.5, Reorder: 10, RateBitsPerSec: 1_000_000,
		Match: netfault.Match{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Protocol: netfault.TCP,
			Ports: []netfault.PortRange{{From: 80, To: 80}, {From: 8000, To: 8080}}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v (a fault whose destinations resolved to nothing is left out)", got, want)
	}
	inj.Spec.Faults[0].CIDRs = []string{"not-a-cidr"}
	if _, err := toNetfault(inj); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}
