//go:build integration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/test/builder"
)

// TestSchemaRejectsBadManifests sends bad Experiments to the real API server: each is refused at
// create time by the CRD schema, with a message naming the field.
func TestSchemaRejectsBadManifests(t *testing.T) {
	mustCreate(t, builder.Namespace("schema"))
	base := func() *chaosv1alpha1.Experiment { return builder.Experiment("schema", "bad").Build() }
	cases := []struct {
		name   string
		mutate func(e *chaosv1alpha1.Experiment)
		want   string
	}{
		{"unknown action", func(e *chaosv1alpha1.Experiment) { e.Spec.Action = "Meteor" }, `spec.action: Unsupported value: "Meteor"`},
		{"podKill missing", func(e *chaosv1alpha1.Experiment) { e.Spec.PodKill = nil }, "spec.podKill must be set when spec.action is PodKill"},
		{"podKill on another action", func(e *chaosv1alpha1.Experiment) { e.Spec.Action = chaosv1alpha1.ActionPacketLoss }, "spec.podKill must be set when spec.action is PodKill, and only then"},
		{"percent over 100", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Mode, e.Spec.Value = chaosv1alpha1.ModePercent, ptr.To[int32](150)
		}, "spec.value must be between 1 and 100 when spec.mode is percent"},
		{"value zero", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Mode, e.Spec.Value = chaosv1alpha1.ModeFixed, ptr.To[int32](0)
		}, "spec.value: Invalid value: 0: spec.value in body should be greater than or equal to 1"},
		{"fixed without value", func(e *chaosv1alpha1.Experiment) { e.Spec.Mode = chaosv1alpha1.ModeFixed }, "spec.value is required when spec.mode is fixed or percent"},
		{"value with mode one", func(e *chaosv1alpha1.Experiment) { e.Spec.Value = ptr.To[int32](3) }, "spec.value is required when spec.mode is fixed or percent, and must be unset otherwise"},
		{"unknown mode", func(e *chaosv1alpha1.Experiment) { e.Spec.Mode = "most" }, `spec.mode: Unsupported value: "most"`},
		{"bad namespace name", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Namespaces = []string{"Not_A_Namespace"} }, "spec.selector.namespaces[0]: Invalid value"},
		{"duration over 24h", func(e *chaosv1alpha1.Experiment) { e.Spec.Duration = &metav1.Duration{Duration: 48 * time.Hour} }, "spec.duration must be greater than 0s and at most 24h"},
		{"negative grace", func(e *chaosv1alpha1.Experiment) { e.Spec.PodKill.GracePeriodSeconds = ptr.To[int64](-1) }, "spec.podKill.gracePeriodSeconds: Invalid value: -1"},
		{"grace over an hour", func(e *chaosv1alpha1.Experiment) { e.Spec.PodKill.GracePeriodSeconds = ptr.To[int64](7200) }, "spec.podKill.gracePeriodSeconds: Invalid value: 7200"},
		{"zero duration", func(e *chaosv1alpha1.Experiment) { e.Spec.Duration = &metav1.Duration{} }, "spec.duration must be greater than 0s and at most 24h"},
		{"percent without value", func(e *chaosv1alpha1.Experiment) { e.Spec.Mode = chaosv1alpha1.ModePercent }, "spec.value is required when spec.mode is fixed or percent"},
		{"value with mode all", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Mode, e.Spec.Value = chaosv1alpha1.ModeAll, ptr.To[int32](2)
		}, "spec.value is required when spec.mode is fixed or percent, and must be unset otherwise"},
		{"interval without duration", func(e *chaosv1alpha1.Experiment) { e.Spec.PodKill.Interval = &metav1.Duration{Duration: time.Minute} }, "spec.duration is required when spec.podKill.interval is set"},
		{"interval longer than duration", func(e *chaosv1alpha1.Experiment) {
			e.Spec.PodKill.Interval, e.Spec.Duration = &metav1.Duration{Duration: time.Hour}, &metav1.Duration{Duration: time.Minute}
		}, "spec.podKill.interval must not be longer than spec.duration"},
		{"interval under a second", func(e *chaosv1alpha1.Experiment) {
			e.Spec.PodKill.Interval, e.Spec.Duration = &metav1.Duration{Duration: 100 * time.Millisecond}, &metav1.Duration{Duration: time.Minute}
		}, "spec.podKill.interval must be at least 1s"},
		{"whole cluster without opt-in", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Namespaces = nil }, "spec.selector: set namespaces, or clusterWide: true to select in every namespace, not both"},
		{"plannedTargets on a dry run", func(e *chaosv1alpha1.Experiment) {
			e.Spec.DryRun, e.Spec.PlannedTargets = true, []chaosv1alpha1.PlannedTarget{{Namespace: "schema", Name: "p", UID: "u"}}
		}, "spec.plannedTargets is made only for a PodKill that is not a dry run"},
		{"plannedTargets without a name", func(e *chaosv1alpha1.Experiment) {
			e.Spec.PlannedTargets = []chaosv1alpha1.PlannedTarget{{Namespace: "schema", UID: "u"}}
		}, "spec.plannedTargets[0].name in body should be at least 1 chars long"},
		{"namespaces and clusterWide", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.ClusterWide = true }, "spec.selector: set namespaces, or clusterWide: true to select in every namespace, not both"},
		{"duplicate namespaces", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Namespaces = []string{"a", "a"} }, `spec.selector.namespaces[1]: Duplicate value: "a"`},
		{"too many namespaces", func(e *chaosv1alpha1.Experiment) {
			for i := 0; i < 65; i++ {
				e.Spec.Selector.Namespaces = append(e.Spec.Selector.Namespaces, fmt.Sprintf("ns-%d", i))
			}
		}, "spec.selector.namespaces: Too many: 66: must have at most 64 items"},
		{"zone name too long", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Zone = strings.Repeat("z", 64) }, "spec.selector.zone: Too long: may not be more than 63"},
		{"zone that is no label value", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.Zone = "eu west 1" }, "spec.selector.zone in body should match"},
		{"empty node name", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.NodeNames = []string{""} }, "spec.selector.nodeNames[0]: Invalid value"},
		{"terminal pod phase", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Selector.PodPhases = []chaosv1alpha1.TargetPhase{"Succeeded"}
		}, `spec.selector.podPhases[0]: Unsupported value: "Succeeded"`},
		{"maxPercent zero", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Safety = &chaosv1alpha1.SafetyLimits{MaxPercent: ptr.To[int32](0)}
		}, "spec.safety.maxPercent: Invalid value: 0"},
		{"maxPercent over 100", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Safety = &chaosv1alpha1.SafetyLimits{MaxPercent: ptr.To[int32](150)}
		}, "spec.safety.maxPercent: Invalid value: 150"},
		{"maxTargets zero", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Safety = &chaosv1alpha1.SafetyLimits{MaxTargets: ptr.To[int32](0)}
		}, "spec.safety.maxTargets: Invalid value: 0"},
		{"bad label selector operator", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Selector.LabelSelector = &chaosv1alpha1.LabelSelector{MatchExpressions: []chaosv1alpha1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
		}, `spec.selector.labelSelector.matchExpressions[0].operator: Unsupported value: "Near"`},
		{"In without values", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Selector.LabelSelector = &chaosv1alpha1.LabelSelector{MatchExpressions: []chaosv1alpha1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn}}}
		}, "spec.selector.labelSelector.matchExpressions[0]: Invalid value: In and NotIn need values; Exists and DoesNotExist take none"},
		// Network actions.
		{"network action without network", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkLatency, nil)
		}, "spec.network must be set when spec.action is NetworkLatency, PacketLoss, NetworkRateLimit or NetworkPartition, and only then"},
		{"network on PodKill", func(e *chaosv1alpha1.Experiment) {
			e.Spec.Network = &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: dur(time.Second)}}
		}, "spec.network must be set when spec.action is NetworkLatency"},
		{"network fault without duration", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkLatency, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: dur(time.Second)}})
			e.Spec.Duration = nil
		}, "spec.duration is required for network actions: every network fault has an absolute expiry"},
		{"latency without delay", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkLatency, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Loss: pct("5")}})
		}, "spec.network.delay is required when spec.action is NetworkLatency"},
		{"destination namespace that is no namespace name", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkPartition, &chaosv1alpha1.NetworkSpec{Destinations: &chaosv1alpha1.NetworkDestinations{
				PodSelector: &chaosv1alpha1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, PodNamespaces: []string{"Not_A_NS"}}})
		}, "spec.network.destinations.podNamespaces[0] in body should match"},
		{"loss without loss", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionPacketLoss, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: dur(time.Second)}})
		}, "spec.network.loss is required when spec.action is PacketLoss"},
		{"rate limit without rate", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkRateLimit, &chaosv1alpha1.NetworkSpec{})
		}, "spec.network.rateLimitKbps is required when spec.action is NetworkRateLimit"},
		{"partition that shapes", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkPartition, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Loss: pct("5")}})
		}, "spec.network of a NetworkPartition drops every matched packet"},
		{"loss over 100", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionPacketLoss, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Loss: pct("150")}})
		}, "spec.network.loss: Invalid value"},
		{"delay over 10s", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkLatency, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: dur(time.Minute)}})
		}, "spec.network.delay: Invalid value"},
		{"jitter over delay", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkLatency, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: dur(time.Millisecond), Jitter: dur(time.Second)}})
		}, "spec.network.jitter must not exceed spec.network.delay"},
		{"reorder without delay", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionPacketLoss, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Loss: pct("1"), Reorder: pct("10")}})
		}, "spec.network.reorder needs spec.network.delay"},
		{"unknown direction", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkLatency, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: dur(time.Second)}, Direction: "Sideways"})
		}, `spec.network.direction: Unsupported value: "Sideways"`},
		{"not a cidr", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkPartition, &chaosv1alpha1.NetworkSpec{Destinations: &chaosv1alpha1.NetworkDestinations{CIDRs: []string{"10.0.0.300/8"}}})
		}, "each cidr must be an IPv4 prefix such as 10.0.0.0/8"},
		{"ipv6 cidr", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkPartition, &chaosv1alpha1.NetworkSpec{Destinations: &chaosv1alpha1.NetworkDestinations{CIDRs: []string{"fd00::/8"}}})
		}, "each cidr must be an IPv4 prefix"},
		{"ports without protocol", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkPartition, &chaosv1alpha1.NetworkSpec{Destinations: &chaosv1alpha1.NetworkDestinations{Ports: []chaosv1alpha1.PortRange{{From: 80}}}})
		}, "ports need protocol TCP or UDP"},
		{"port range backwards", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkPartition, &chaosv1alpha1.NetworkSpec{Destinations: &chaosv1alpha1.NetworkDestinations{
				Protocol: "TCP", Ports: []chaosv1alpha1.PortRange{{From: 90, To: ptr.To[int32](80)}}}})
		}, "to must not be below from"},
		{"port zero", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkPartition, &chaosv1alpha1.NetworkSpec{Destinations: &chaosv1alpha1.NetworkDestinations{
				Protocol: "UDP", Ports: []chaosv1alpha1.PortRange{{From: 0}}}})
		}, "spec.network.destinations.ports[0].from: Invalid value: 0"},
		{"packet loss of zero", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionPacketLoss, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Loss: pct("0")}})
		}, "spec.network.loss: Invalid value: \"0\": loss must be greater than 0"},
		{"packet loss of zero with decimals", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionPacketLoss, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Loss: pct("0.000")}})
		}, "spec.network.loss: Invalid value: \"0.000\": loss must be greater than 0"},
		{"corrupt of zero", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionPacketLoss, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Loss: pct("1"), Corrupt: pct("0")}})
		}, "spec.network.corrupt: Invalid value: \"0\": corrupt must be greater than 0"},
		{"duplicate of zero", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkLatency, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: dur(time.Second), Duplicate: pct("0")}})
		}, "spec.network.duplicate: Invalid value: \"0\": duplicate must be greater than 0"},
		{"rate limit of zero", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkRateLimit, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{RateLimitKbps: ptr.To[int64](0)}})
		}, "spec.network.rateLimitKbps: Invalid value: 0"},
		{"rate under 8 kbit/s", func(e *chaosv1alpha1.Experiment) {
			netExp(e, chaosv1alpha1.ActionNetworkRateLimit, &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{RateLimitKbps: ptr.To[int64](1)}})
		}, "spec.network.rateLimitKbps: Invalid value: 1"},
		{"cacheFlush missing", func(e *chaosv1alpha1.Experiment) { cacheExp(e, nil) }, "spec.cacheFlush must be set when spec.action is CacheFlush, and only then"},
		{"cacheFlush with a selector", func(e *chaosv1alpha1.Experiment) {
			sel := e.Spec.Selector
			cacheExp(e, redisFlush())
			e.Spec.Selector = sel
		}, "CacheFlush names its cache in spec.cacheFlush and takes no selector"},
		{"pod action without selector", func(e *chaosv1alpha1.Experiment) { e.Spec.Selector = nil }, "spec.selector is required for pod actions"},
		{"cacheFlush with mode all", func(e *chaosv1alpha1.Experiment) {
			cacheExp(e, redisFlush())
			e.Spec.Mode = chaosv1alpha1.ModeAll
		}, "spec.mode does not apply to CacheFlush"},
		{"cache neither address nor service", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Address = ""
			cacheExp(e, c)
		}, "spec.cacheFlush: set exactly one of address and service"},
		{"cache address and service", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Service = &chaosv1alpha1.CacheServiceRef{Name: "redis", Port: intstr.FromInt32(6379)}
			cacheExp(e, c)
		}, "spec.cacheFlush: set exactly one of address and service"},
		{"cache in kube-system", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Address, c.Service = "", &chaosv1alpha1.CacheServiceRef{Name: "redis", Namespace: "kube-system", Port: intstr.FromInt32(6379)}
			cacheExp(e, c)
		}, "spec.cacheFlush.service.namespace: Invalid value: \"kube-system\": kube-system, kube-public and kube-node-lease are protected namespaces"},
		{"cache address without port", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Address = "redis.shop.svc"
			cacheExp(e, c)
		}, "spec.cacheFlush.address: Invalid value"},
		{"pattern mode without pattern", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Mode = chaosv1alpha1.DeletePattern
			cacheExp(e, c)
		}, "spec.cacheFlush.pattern is required for DeletePattern and ExpirePattern"},
		{"pattern with FlushDB", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Pattern = "a:*"
			cacheExp(e, c)
		}, "spec.cacheFlush.pattern is required for DeletePattern and ExpirePattern, and only for them"},
		{"ExpirePattern without expire", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Mode, c.Pattern = chaosv1alpha1.ExpirePattern, "a:*"
			cacheExp(e, c)
		}, "spec.cacheFlush.expire is required for ExpirePattern"},
		{"Memcached FlushDB", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Engine = chaosv1alpha1.CacheMemcached
			cacheExp(e, c)
		}, "spec.cacheFlush.mode must be FlushAll for Memcached"},
		{"restore with FlushDB", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Restore = &chaosv1alpha1.CacheRestore{MaxKeys: 10, MaxBytes: 1000}
			cacheExp(e, c)
			e.Spec.Duration = dur(time.Minute)
		}, "spec.cacheFlush.restore needs mode DeletePattern or ExpirePattern"},
		{"restore without duration", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Mode, c.Pattern, c.Restore = chaosv1alpha1.DeletePattern, "a:*", &chaosv1alpha1.CacheRestore{MaxKeys: 10, MaxBytes: 1000}
			cacheExp(e, c)
		}, "spec.duration is required with spec.cacheFlush.restore"},
		{"db on FlushAll", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Mode, c.DB = chaosv1alpha1.FlushAll, ptr.To[int32](2)
			cacheExp(e, c)
		}, "spec.cacheFlush.db does not apply to FlushAll"},
		{"flushDelay on Redis", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.FlushDelay = dur(time.Second)
			cacheExp(e, c)
		}, "spec.cacheFlush.flushDelay is for Memcached only"},
		{"timeout over a minute", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Timeout = dur(5 * time.Minute)
			cacheExp(e, c)
		}, "spec.cacheFlush.timeout must be between 10ms and 60s"},
		{"expire TTL zero", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.Mode, c.Pattern, c.Expire = chaosv1alpha1.ExpirePattern, "a:*", &chaosv1alpha1.CacheExpire{}
			cacheExp(e, c)
		}, "spec.cacheFlush.expire.ttl must be between 1ms and 24h"},
		{"maxKeys zero", func(e *chaosv1alpha1.Experiment) {
			c := redisFlush()
			c.MaxKeys = ptr.To[int64](0)
			cacheExp(e, c)
		}, "spec.cacheFlush.maxKeys: Invalid value: 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := base()
			tc.mutate(e)
			err := k8s.Create(t.Context(), e)
			if err == nil {
				_ = k8s.Delete(t.Context(), e)
				t.Fatalf("accepted; want rejection mentioning %q", tc.want)
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("error is not Invalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err.Error(), tc.want)
			}
		})
	}
	if len(cases) < 25 {
		t.Fatalf("only %d bad manifests: the table must keep at least 25", len(cases))
	}
	// The well-formed base is accepted: the cases above fail for their own reason only.
	ok := base()
	if err := k8s.Create(t.Context(), ok); err != nil {
		t.Fatalf("valid experiment rejected: %v", err)
	}
	for i, n := range []struct {
		a    chaosv1alpha1.Action
		spec chaosv1alpha1.NetworkSpec
	}{
		{chaosv1alpha1.ActionNetworkLatency, chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: dur(100 * time.Millisecond), Jitter: dur(10 * time.Millisecond),
			DelayCorrelation: pct("25"), Reorder: pct("0.5"), Corrupt: pct("0.1"), Duplicate: pct("1")}, Direction: chaosv1alpha1.DirectionBoth}},
		{chaosv1alpha1.ActionPacketLoss, chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Loss: pct("30"), LossCorrelation: pct("10")}, Destinations: &chaosv1alpha1.NetworkDestinations{
			CIDRs: []string{"10.0.0.0/8"}, Protocol: "TCP", Ports: []chaosv1alpha1.PortRange{{From: 5432}, {From: 8000, To: ptr.To[int32](8080)}}}}},
		{chaosv1alpha1.ActionNetworkRateLimit, chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{RateLimitKbps: ptr.To[int64](1000)}}},
		{chaosv1alpha1.ActionNetworkPartition, chaosv1alpha1.NetworkSpec{Destinations: &chaosv1alpha1.NetworkDestinations{
			PodSelector: &chaosv1alpha1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, PodNamespaces: []string{"data"}}}},
	} {
		e := base()
		e.Name = fmt.Sprintf("good-net-%d", i)
		netExp(e, n.a, &n.spec)
		if err := k8s.Create(t.Context(), e); err != nil {
			t.Errorf("valid %s rejected: %v", n.a, err)
		}
	}
	for i := range goodCaches {
		e := base()
		e.Name = fmt.Sprintf("good-cache-%d", i)
		cacheExp(e, &goodCaches[i])
		if goodCaches[i].Restore != nil {
			e.Spec.Duration = dur(time.Minute)
		}
		if err := k8s.Create(t.Context(), e); err != nil {
			t.Errorf("valid CacheFlush %d rejected: %v", i, err)
		}
	}
}

func cacheExp(e *chaosv1alpha1.Experiment, c *chaosv1alpha1.CacheFlushSpec) {
	e.Spec.Action, e.Spec.PodKill, e.Spec.Selector, e.Spec.CacheFlush = chaosv1alpha1.ActionCacheFlush, nil, nil, c
}

func redisFlush() *chaosv1alpha1.CacheFlushSpec {
	return &chaosv1alpha1.CacheFlushSpec{Engine: chaosv1alpha1.CacheRedis, Address: "10.0.0.7:6379", Mode: chaosv1alpha1.FlushDB}
}

// goodCaches are CacheFlush manifests the schema must accept.
var goodCaches = []chaosv1alpha1.CacheFlushSpec{
	{Engine: chaosv1alpha1.CacheRedis, Address: "redis.shop.svc.cluster.local:6379", Mode: chaosv1alpha1.FlushDB, DB: ptr.To[int32](3), CredentialsSecretName: "redis",
		TLS: &chaosv1alpha1.CacheTLS{CASecretName: "redis-ca", ServerName: "redis.shop"}, MaxKeys: ptr.To[int64](100000), Timeout: dur(2 * time.Second)},
	{Engine: chaosv1alpha1.CacheRedis, Service: &chaosv1alpha1.CacheServiceRef{Name: "redis", Namespace: "shop", Port: intstr.FromString("resp")},
		Mode: chaosv1alpha1.ExpirePattern, Pattern: "product:*", Expire: &chaosv1alpha1.CacheExpire{TTL: metav1.Duration{Duration: time.Second}, Jitter: dur(30 * time.Second)},
		Restore: &chaosv1alpha1.CacheRestore{MaxKeys: 5000, MaxBytes: 1 << 20}},
	{Engine: chaosv1alpha1.CacheMemcached, Address: "[fd00::1]:11211", Mode: chaosv1alpha1.FlushAll, FlushDelay: dur(10 * time.Second)},
}

func netExp(e *chaosv1alpha1.Experiment, a chaosv1alpha1.Action, n *chaosv1alpha1.NetworkSpec) {
	e.Spec.Action, e.Spec.PodKill, e.Spec.Network, e.Spec.Duration = a, nil, n, dur(time.Minute)
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func pct(s string) *chaosv1alpha1.Percent { p := chaosv1alpha1.Percent(s); return &p }

// TestSpecIsFrozenOnceStarted: a running experiment's spec cannot change under it; one that has
// not started may still be edited.
func TestSpecIsFrozenOnceStarted(t *testing.T) {
	ns := "frozen"
	labels, _ := deployment(t, ns, "api", 3)
	// No manager yet: nothing has started this one, so it may be edited.
	pending := builder.Experiment(ns, "pending").Labels(labels).Build()
	mustCreate(t, pending)
	pending.Spec.Mode = chaosv1alpha1.ModeAll
	if err := k8s.Update(t.Context(), pending); err != nil {
		t.Fatalf("editing an experiment that has not started: %v", err)
	}
	// Not its plan, though (made at creation: the round's intent).
	pending.Spec.PlannedTargets = []chaosv1alpha1.PlannedTarget{{Namespace: ns, Name: "api-0", UID: "u"}}
	if err := k8s.Update(t.Context(), pending); err == nil || !strings.Contains(err.Error(), "spec.plannedTargets is made when the experiment is created and cannot be added afterwards") {
		t.Fatalf("adding a plan to a pending experiment: %v, want it refused", err)
	}
	if err := k8s.Delete(t.Context(), pending); err != nil {
		t.Fatal(err)
	}

	startManager(t, managerOptions{})
	exp := builder.Experiment(ns, "repeating").Labels(labels).Grace(0).Interval(time.Hour, 2*time.Hour).Build()
	mustCreate(t, exp)
	waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentRunning)
	// The manager may write status between our read and write: retry conflicts until the
	// schema itself answers.
	var err error
	for range 20 {
		got := &chaosv1alpha1.Experiment{}
		if err = k8s.Get(t.Context(), client.ObjectKeyFromObject(exp), got); err != nil {
			t.Fatal(err)
		}
		got.Spec.Mode, got.Spec.Value = chaosv1alpha1.ModeAll, nil
		if err = k8s.Update(t.Context(), got); !apierrors.IsConflict(err) {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "spec cannot change once the experiment has started") {
		t.Fatalf("spec change of a running experiment: %v, want it refused", err)
	}
}

// TestGameDaySchema: a GameDay needs steps with valid names.
func capModel() *chaosv1alpha1.CapacitySpec {
	return &chaosv1alpha1.CapacitySpec{Services: []chaosv1alpha1.CapacityService{{Name: "web", Replicas: ptr.To[int32](3),
		Load: &chaosv1alpha1.CapacityLoad{Value: "100"}, ServiceTime: &metav1.Duration{Duration: 10 * time.Millisecond}, ConcurrencyLimit: ptr.To[int32](4)}}}
}

func TestGameDaySchema(t *testing.T) {
	mustCreate(t, builder.Namespace("gd-schema"))
	gd := &chaosv1alpha1.GameDay{ObjectMeta: metav1.ObjectMeta{Namespace: "gd-schema", Name: "empty"}}
	if err := k8s.Create(t.Context(), gd); err == nil || !strings.Contains(err.Error(), "spec.steps") {
		t.Errorf("a game day without steps: %v, want spec.steps rejected", err)
	}
	spec := builder.Experiment("gd-schema", "x").Build().Spec
	step := func(name string) chaosv1alpha1.GameDayStep {
		return chaosv1alpha1.GameDayStep{Name: name, Experiment: &spec}
	}
	prom := &chaosv1alpha1.PrometheusSource{Address: "http://prometheus:9090"}
	ratio := &chaosv1alpha1.RatioSLISpec{Bad: `sum(rate(e[{{.window}}]))`, Total: `sum(rate(t[{{.window}}]))`}
	window := metav1.Duration{Duration: 28 * 24 * time.Hour}
	for _, tc := range []struct {
		name   string
		mutate func(*chaosv1alpha1.GameDaySpec)
		want   string
		gdName string // default "bad"
	}{
		{"bad step name", func(s *chaosv1alpha1.GameDaySpec) { s.Steps = []chaosv1alpha1.GameDayStep{step("Bad Name")} }, "spec.steps[0].name", ""},
		{"step with experiment and pause", func(s *chaosv1alpha1.GameDaySpec) {
			st := step("both")
			st.Pause = &metav1.Duration{Duration: time.Second}
			s.Steps = []chaosv1alpha1.GameDayStep{st}
		}, "a step has exactly one of experiment or pause", ""},
		{"step with a plan", func(s *chaosv1alpha1.GameDaySpec) {
			st := step("planned")
			st.Experiment.PlannedTargets = []chaosv1alpha1.PlannedTarget{{Namespace: "shop", Name: "web-0", UID: "u"}}
			s.Steps = []chaosv1alpha1.GameDayStep{st}
		}, "steps[].experiment.plannedTargets is not taken: each run's Experiment is planned when it is created", ""},
		{"pause over a day", func(s *chaosv1alpha1.GameDaySpec) {
			s.Steps = []chaosv1alpha1.GameDayStep{{Name: "wait", Pause: &metav1.Duration{Duration: 48 * time.Hour}}}
		}, "pause must be greater than 0s and at most 24h", ""},
		{"slos without prometheus", func(s *chaosv1alpha1.GameDaySpec) {
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: window, Ratio: ratio}}
		}, "spec.slos need spec.prometheus", ""},
		{"prometheus not a URL", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = &chaosv1alpha1.PrometheusSource{Address: "prometheus:9090"}
		}, "must be an http or https URL", ""},
		{"query without the window", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: window,
				Ratio: &chaosv1alpha1.RatioSLISpec{Bad: `sum(rate(e[5m]))`, Total: ratio.Total}}}
		}, "the query must use {{.window}} as its range", ""},
		{"query with another template action", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: window,
				Ratio: &chaosv1alpha1.RatioSLISpec{Bad: `sum(rate(e[{{.window}}])) {{.job}}`, Total: ratio.Total}}}
		}, "{{.window}} is the only template action a query may use", ""},
		{"good and bad", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: window,
				Ratio: &chaosv1alpha1.RatioSLISpec{Good: ratio.Bad, Bad: ratio.Bad, Total: ratio.Total}}}
		}, "set exactly one of good or bad", ""},
		{"objective 100", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "100", Window: window, Ratio: ratio}}
		}, "spec.slos[0].objective", ""},
		{"window over 90 days", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: metav1.Duration{Duration: 100 * 24 * time.Hour}, Ratio: ratio}}
		}, "window must be between 1h and 90d", ""},
		{"burn windows reversed", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: window, Ratio: ratio, BurnRates: []chaosv1alpha1.BurnRateRule{
				{Long: metav1.Duration{Duration: time.Minute}, Short: metav1.Duration{Duration: time.Hour}, Factor: "14.4"}}}}
		}, "short must be shorter than long", ""},
		{"first step with previous", func(s *chaosv1alpha1.GameDaySpec) { s.Steps[0].WithPrevious = true }, "spec.steps[0] has no previous step to run with", ""},
		{"interval under a second", func(s *chaosv1alpha1.GameDaySpec) {
			s.EvaluationInterval = &metav1.Duration{Duration: 100 * time.Millisecond}
		}, "spec.evaluationInterval must be between 1s and 5m", ""},
		{"bad operator", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.AbortConditions = []chaosv1alpha1.AbortCondition{{Name: "x", PromQLCheck: chaosv1alpha1.PromQLCheck{Query: "up", Operator: "==", Threshold: "1"}}}
		}, `spec.abortConditions[0].operator: Unsupported value: "=="`, ""},
		{"capacity target not in the model", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Steps[0].CapacityTargets = []string{"ghost"}
		}, "each step's capacityTargets must name services of spec.capacity", ""},
		{"capacity targets without a model", func(s *chaosv1alpha1.GameDaySpec) { s.Steps[0].CapacityTargets = []string{"web"} },
			"each step's capacityTargets must name services of spec.capacity", ""},
		{"call to an unknown service", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services[0].Calls = []chaosv1alpha1.CapacityCall{{Service: "ghost"}}
		}, "spec.capacity: calls and fronts must name services of spec.capacity", ""},
		{"a service time without workers", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services[0].ConcurrencyLimit = nil
		}, "a service with serviceTime needs concurrencyLimit, perReplica, cpu or fitted", ""},
		{"neither a queue nor a cache", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = &chaosv1alpha1.CapacitySpec{Services: []chaosv1alpha1.CapacityService{{Name: "web", Replicas: ptr.To[int32](2)}}}
		}, "a service needs serviceTime (or cpu), or is a cache with cacheHitRatio", ""},
		{"a PromQL load without prometheus", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services[0].Load = &chaosv1alpha1.CapacityLoad{PromQL: "sum(rate(x[1m]))"}
		}, "spec.capacity: promQL loads and observed queries need spec.prometheus", ""},
		{"load with value and promQL", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.Capacity = capModel()
			s.Capacity.Services[0].Load = &chaosv1alpha1.CapacityLoad{Value: "1", PromQL: "x"}
		}, "load has exactly one of value or promQL", ""},
		{"hit ratio over 1", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services = append(s.Capacity.Services, chaosv1alpha1.CapacityService{Name: "cache", CacheHitRatio: "1.5"})
		}, "spec.capacity.services[1].cacheHitRatio", ""},
		{"fronts on a non-cache", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services[0].Fronts = "web"
		}, "fronts needs cacheHitRatio: only a cache fronts a store", ""},
		{"workload and replicas", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services[0].Workload = &chaosv1alpha1.CapacityWorkload{Kind: "Deployment", Name: "web"}
		}, "set at most one of workload, selector and replicas", ""},
		{"burn factor 0", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: window, Ratio: ratio, BurnRates: []chaosv1alpha1.BurnRateRule{
				{Long: metav1.Duration{Duration: time.Hour}, Short: metav1.Duration{Duration: 5 * time.Minute}, Factor: "0.0"}}}}
		}, "spec.slos[0].burnRates[0].factor: Invalid value: \"0.0\": factor must be greater than 0", ""},
		{"burn short window 0", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: window, Ratio: ratio, BurnRates: []chaosv1alpha1.BurnRateRule{
				{Long: metav1.Duration{Duration: time.Hour}, Short: metav1.Duration{}, Factor: "14.4"}}}}
		}, "short must be at least 1m", ""},
		{"burn short window under a minute", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: window, Ratio: ratio, BurnRates: []chaosv1alpha1.BurnRateRule{
				{Long: metav1.Duration{Duration: time.Hour}, Short: metav1.Duration{Duration: time.Millisecond}, Factor: "14.4"}}}}
		}, "short must be at least 1m", ""},
		{"burn long window over the SLO's", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99.9", Window: metav1.Duration{Duration: 24 * time.Hour}, Ratio: ratio, BurnRates: []chaosv1alpha1.BurnRateRule{
				{Long: metav1.Duration{Duration: 48 * time.Hour}, Short: metav1.Duration{Duration: time.Hour}, Factor: "2"}}}}
		}, "each burnRates long window must be at most the SLO's window", ""},
		{"burn factor no error rate reaches", func(s *chaosv1alpha1.GameDaySpec) {
			// At 99% the budget burns at most 100 times too fast.
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "99", Window: window, Ratio: ratio, BurnRates: []chaosv1alpha1.BurnRateRule{
				{Long: metav1.Duration{Duration: time.Hour}, Short: metav1.Duration{Duration: 5 * time.Minute}, Factor: "500"}}}}
		}, "each burnRates factor must be below 100/(100 - objective)", ""},
		{"default burn rules under a 90% objective", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "90", Window: window, Ratio: ratio}}
		}, "the default burn-rate rules (14.4 over 1h/5m, 6 over 6h/30m) cannot abort below an objective of 93.06%", ""},
		{"objective written as a ratio", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "0.999", Window: window, Ratio: ratio}}
		}, "objective is a percentage: 99.9, not 0.999", ""},
		{"abort condition held for a negative time", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.AbortConditions = []chaosv1alpha1.AbortCondition{{Name: "errors", For: &metav1.Duration{Duration: -time.Hour},
				PromQLCheck: chaosv1alpha1.PromQLCheck{Query: "x", Operator: ">", Threshold: "1"}}}
		}, "spec.abortConditions[0].for: Invalid value", ""},
		{"abort condition held for a year", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.AbortConditions = []chaosv1alpha1.AbortCondition{{Name: "errors", For: &metav1.Duration{Duration: 8760 * time.Hour},
				PromQLCheck: chaosv1alpha1.PromQLCheck{Query: "x", Operator: ">", Threshold: "1"}}}
		}, "for must be between 0s and 24h", ""},
		{"schedule in the manager's Local zone", func(s *chaosv1alpha1.GameDaySpec) {
			s.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2", TimeZone: "Local"}
		}, "Local (the manager's own zone) is not accepted", ""},
		{"schedule zone that is no zone name", func(s *chaosv1alpha1.GameDaySpec) {
			s.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2", TimeZone: "../../etc/passwd"}
		}, "spec.schedule.timeZone in body should match", ""},
		{"starting deadline 0", func(s *chaosv1alpha1.GameDaySpec) {
			s.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2", StartingDeadline: &metav1.Duration{}}
		}, "startingDeadline must be at least 1s", ""},
		{"capacity per replica 0", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services[0].ConcurrencyLimit, s.Capacity.Services[0].PerReplica = nil, "0"
		}, "perReplica must be greater than 0", ""},
		{"capacity cores per replica 0", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services[0].ConcurrencyLimit = nil
			s.Capacity.Services[0].CPU = &chaosv1alpha1.CapacityCPU{CoresPerReplica: "0", CPUSecondsPerRequest: "0.01"}
		}, "coresPerReplica must be greater than 0", ""},
		{"capacity call ratio 0", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services = append(s.Capacity.Services, chaosv1alpha1.CapacityService{Name: "api", Replicas: ptr.To[int32](1),
				ServiceTime: &metav1.Duration{Duration: time.Millisecond}, ConcurrencyLimit: ptr.To[int32](1)})
			s.Capacity.Services[0].Calls = []chaosv1alpha1.CapacityCall{{Service: "api", Ratio: "0"}}
		}, "ratio must be greater than 0", ""},
		{"capacity max utilisation 0", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.MaxUtilisation = "0"
		}, "maxUtilisation must be greater than 0", ""},
		{"a service calling itself", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services[0].Calls = []chaosv1alpha1.CapacityCall{{Service: "web"}}
		}, "a service cannot call itself", ""},
		{"a cache fronting itself", func(s *chaosv1alpha1.GameDaySpec) {
			s.Capacity = capModel()
			s.Capacity.Services[0].CacheHitRatio, s.Capacity.Services[0].Fronts = "0.9", "web"
		}, "a cache cannot front itself", ""},
		{"objective 0", func(s *chaosv1alpha1.GameDaySpec) {
			s.Prometheus = prom
			s.SLOs = []chaosv1alpha1.SLOSpec{{Name: "a", Objective: "0.0", Window: window, Ratio: ratio}}
		}, "objective is a percentage and must be greater than 0 and less than 100", ""},
		{"cron @every", func(s *chaosv1alpha1.GameDaySpec) { s.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "@every 30s"} },
			"spec.schedule.cron: Invalid value: \"@every 30s\": cron must be five space-separated fields", ""},
		{"cron descriptor", func(s *chaosv1alpha1.GameDaySpec) { s.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "@midnight"} },
			"cron must be five space-separated fields", ""},
		{"cron of four fields", func(s *chaosv1alpha1.GameDaySpec) { s.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "30 10 * 12"} },
			"cron must be five space-separated fields", ""},
		{"cron of six fields (seconds)", func(s *chaosv1alpha1.GameDaySpec) { s.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 0 10 * * 2"} },
			"cron must be five space-separated fields", ""},
		{"cron with a TZ= prefix", func(s *chaosv1alpha1.GameDaySpec) {
			s.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "CRON_TZ=Europe/Paris 0 10 * * 2"}
		}, "cron must be five space-separated fields", ""},
		{"name over 63 characters", func(*chaosv1alpha1.GameDaySpec) {},
			"metadata.name must be at most 63 characters", strings.Repeat("a", 64)},
		{"scheduled name over 54 characters", func(s *chaosv1alpha1.GameDaySpec) {
			s.Schedule = &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2"}
		}, "at most 54 with spec.schedule", strings.Repeat("a", 55)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.gdName
			if name == "" {
				name = "bad"
			}
			g := &chaosv1alpha1.GameDay{ObjectMeta: metav1.ObjectMeta{Namespace: "gd-schema", Name: name}}
			g.Spec.Steps = []chaosv1alpha1.GameDayStep{step("ok")}
			tc.mutate(&g.Spec)
			err := k8s.Create(t.Context(), g)
			if err == nil {
				// Accepted by mistake: out of the way of the next case.
				_ = k8s.Delete(t.Context(), g)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// Injections are the manager's, but the API lets anyone with the RBAC write one: the schema
// refuses what the manager never writes and the agent must not apply.
func TestInjectionSchema(t *testing.T) {
	mustCreate(t, builder.Namespace("inj-schema"))
	base := func() *chaosv1alpha1.Injection {
		return &chaosv1alpha1.Injection{ObjectMeta: metav1.ObjectMeta{Namespace: "inj-schema", Name: "bad"},
			Spec: chaosv1alpha1.InjectionSpec{NodeName: "node-1", Pod: chaosv1alpha1.InjectionPod{Namespace: "web", Name: "web-0", UID: "u"},
				Faults:    []chaosv1alpha1.InjectedFault{{ID: "web/cut", Direction: chaosv1alpha1.DirectionEgress, Partition: true, CIDRs: []string{"10.0.0.0/8"}}},
				ExpiresAt: metav1.NewTime(time.Now().Add(time.Hour))}}
	}
	good := base()
	good.Name = "good"
	if err := k8s.Create(t.Context(), good); err != nil {
		t.Fatalf("a valid Injection was refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*chaosv1alpha1.Injection)
		want   string
	}{
		{"a pod in kube-system", func(i *chaosv1alpha1.Injection) { i.Spec.Pod.Namespace = "kube-system" },
			"pod.namespace must not be kube-system, kube-public or kube-node-lease"},
		{"a cidr that is none", func(i *chaosv1alpha1.Injection) { i.Spec.Faults[0].CIDRs = []string{"not-a-cidr"} },
			"each cidr must be an IPv4 prefix"},
		{"an IPv6 cidr", func(i *chaosv1alpha1.Injection) { i.Spec.Faults[0].CIDRs = []string{"fd00::/8"} },
			"each cidr must be an IPv4 prefix"},
		{"two faults of one id", func(i *chaosv1alpha1.Injection) { i.Spec.Faults = append(i.Spec.Faults, i.Spec.Faults[0]) },
			"each fault's id must be unique"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inj := base()
			tc.mutate(inj)
			err := k8s.Create(t.Context(), inj)
			if err == nil {
				_ = k8s.Delete(t.Context(), inj)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// A schedule's template stays one: without its schedule it would sit in phase Scheduled doing
// nothing, its runs' entries frozen.
func TestGameDayScheduleCannotBeRemoved(t *testing.T) {
	mustCreate(t, builder.Namespace("gd-schedule-kept"))
	spec := builder.Experiment("gd-schedule-kept", "x").Build().Spec
	gd := &chaosv1alpha1.GameDay{ObjectMeta: metav1.ObjectMeta{Namespace: "gd-schedule-kept", Name: "weekly"},
		Spec: chaosv1alpha1.GameDaySpec{Steps: []chaosv1alpha1.GameDayStep{{Name: "kill", Experiment: &spec}},
			Schedule: &chaosv1alpha1.GameDaySchedule{Cron: "0 10 * * 2"}}}
	mustCreate(t, gd)
	err := k8s.Patch(t.Context(), gd, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"schedule":null}}`)))
	if err == nil || !strings.Contains(err.Error(), "spec.schedule cannot be removed") {
		t.Errorf("removing the schedule: %v, want it refused", err)
	}
	if err := k8s.Patch(t.Context(), gd, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"schedule":{"suspend":true}}}`))); err != nil {
		t.Errorf("editing the schedule: %v, want it accepted", err)
	}
}
