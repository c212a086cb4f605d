package gdcapacity

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/capacity"
)

func TestFaultsFromSteps(t *testing.T) {
	m := capacity.Model{Services: []capacity.Service{{Name: "web", Queue: capacity.Queue{Replicas: 10, Workers: 4, ServiceTime: time.Millisecond}}}}
	pct := chaosv1alpha1.Percent("12.5")
	for _, tc := range []struct {
		name string
		exp  chaosv1alpha1.ExperimentSpec
		want capacity.Fault
		note string
	}{
		{"kill one", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: chaosv1alpha1.ModeOne}, capacity.Fault{KillReplicas: 1}, ""},
		{"kill fixed 3", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: chaosv1alpha1.ModeFixed, Value: ptr.To[int32](3)}, capacity.Fault{KillReplicas: 3}, ""},
		{"kill fixed over n", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: chaosv1alpha1.ModeFixed, Value: ptr.To[int32](30)}, capacity.Fault{KillReplicas: 10}, ""},
		{"kill 25 percent rounds down", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: chaosv1alpha1.ModePercent, Value: ptr.To[int32](25)}, capacity.Fault{KillReplicas: 2}, ""},
		{"kill 1 percent is at least one", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: chaosv1alpha1.ModePercent, Value: ptr.To[int32](1)}, capacity.Fault{KillReplicas: 1}, ""},
		{"kill all", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: chaosv1alpha1.ModeAll}, capacity.Fault{KillReplicas: 10}, ""},
		{"zone without a cluster counts all", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: chaosv1alpha1.ModeAll,
			Selector: &chaosv1alpha1.TargetSelector{Zone: "eu-1a"}}, capacity.Fault{KillReplicas: 10}, "replicas in zone eu-1a unknown"},
		{"latency", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionNetworkLatency, Network: &chaosv1alpha1.NetworkSpec{
			NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: &metav1.Duration{Duration: 80 * time.Millisecond}}}}, capacity.Fault{Latency: 80 * time.Millisecond}, ""},
		{"loss", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPacketLoss, Network: &chaosv1alpha1.NetworkSpec{
			NetworkShaping: chaosv1alpha1.NetworkShaping{Loss: &pct}}}, capacity.Fault{Loss: 0.125}, ""},
		{"cache flush", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionCacheFlush}, capacity.Fault{CacheFlushed: true}, ""},
		{"partition is not modelled", chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionNetworkPartition}, capacity.Fault{}, "NetworkPartition on web is not modelled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			step := chaosv1alpha1.GameDayStep{Name: "s", Experiment: &tc.exp, CapacityTargets: []string{"web"}}
			faults, notes := Faults(context.Background(), step, m, nil, Inputs{})
			if faults["web"] != tc.want {
				t.Errorf("fault %+v, want %+v", faults["web"], tc.want)
			}
			if got := strings.Join(notes, "; "); (tc.note == "") != (got == "") || !strings.Contains(got, tc.note) {
				t.Errorf("notes %q, want %q", got, tc.note)
			}
		})
	}
}

func TestBuildQueues(t *testing.T) {
	spec := &chaosv1alpha1.CapacitySpec{MaxUtilisation: "0.8", Services: []chaosv1alpha1.CapacityService{
		{Name: "cpu", Replicas: ptr.To[int32](2), Load: &chaosv1alpha1.CapacityLoad{Value: "100"},
			CPU: &chaosv1alpha1.CapacityCPU{CoresPerReplica: "2", CPUSecondsPerRequest: "0.01"}},
		{Name: "fitted", Replicas: ptr.To[int32](3), ServiceTime: &metav1.Duration{Duration: 40 * time.Millisecond},
			Fitted: []chaosv1alpha1.CapacityObservation{{Load: "50", Busy: "0.5"}, {Load: "80", Busy: "0.8"}}},
		{Name: "declared", Replicas: ptr.To[int32](1), ServiceTime: &metav1.Duration{Duration: 10 * time.Millisecond}, PerReplica: "250"},
		{Name: "live", Workload: &chaosv1alpha1.CapacityWorkload{Kind: "Deployment", Name: "live"}, ServiceTime: &metav1.Duration{Duration: 10 * time.Millisecond}, ConcurrencyLimit: ptr.To[int32](2)},
	}}
	in := Inputs{Replicas: func(context.Context, chaosv1alpha1.CapacityWorkload) (int, error) { return 7, nil }}
	m, err := Build(context.Background(), spec, in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]capacity.Queue{
		"cpu":      {Replicas: 2, Workers: 2, ServiceTime: 10 * time.Millisecond}, // 200/s a replica, CPU-bound
		"fitted":   {Replicas: 3, Workers: 4, ServiceTime: 40 * time.Millisecond}, // 100/s a replica × 40 ms
		"declared": {Replicas: 1, Workers: 3, ServiceTime: 12 * time.Millisecond}, // 250/s × 10 ms = 2.5 → 3 workers of 12 ms: 250/s kept
		"live":     {Replicas: 7, Workers: 2, ServiceTime: 10 * time.Millisecond},
	}
	for _, s := range m.Services {
		if s.Queue != want[s.Name] {
			t.Errorf("%s: queue %+v, want %+v", s.Name, s.Queue, want[s.Name])
		}
	}
	if m.MaxUtilisation != 0.8 {
		t.Errorf("max utilisation %g", m.MaxUtilisation)
	}
	if _, err := Build(context.Background(), spec, Inputs{}); err == nil || !strings.Contains(err.Error(), "service live: the replicas of Deployment live need a cluster") {
		t.Errorf("without a cluster: %v", err)
	}
}

// A concurrency limit above what the CPU can feed: the CPU is the limit. It caps the workers,
// not the service time: 64 workers stretched to 64/200/s = 320 ms each gave an idle p99 of
// 4.6 × 320 ms = 1.47 s, so a 300 ms threshold refused every load (λ* 0).
func TestCPUCapsAConcurrencyLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      *metav1.Duration
		cores  chaosv1alpha1.Decimal
		want   capacity.Queue
		minSat float64 // λ* with a 300 ms p99 threshold must reach this
	}{
		// 2 cores / 10 ms CPU = 200/s: 2 workers of 10 ms, idle p99 46 ms, λ* 180/s (by utilisation 0.9).
		{"service time is the CPU time", &metav1.Duration{Duration: 10 * time.Millisecond}, "2", capacity.Queue{Replicas: 1, Workers: 2, ServiceTime: 10 * time.Millisecond}, 150},
		{"no service time: the CPU time", nil, "2", capacity.Queue{Replicas: 1, Workers: 2, ServiceTime: 10 * time.Millisecond}, 150},
		// 50 ms wall, 10 ms CPU: 200/s × 50 ms = 10 workers of 50 ms (idle p99 230 ms).
		{"waits beyond the CPU time", &metav1.Duration{Duration: 50 * time.Millisecond}, "2", capacity.Queue{Replicas: 1, Workers: 10, ServiceTime: 50 * time.Millisecond}, 100},
		// 2.5 cores: 250/s × 10 ms = 2.5 → 3 workers sharing 2.5 cores, 12 ms each (capacity kept).
		{"fractional cores", &metav1.Duration{Duration: 10 * time.Millisecond}, "2.5", capacity.Queue{Replicas: 1, Workers: 3, ServiceTime: 12 * time.Millisecond}, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &chaosv1alpha1.CapacitySpec{Services: []chaosv1alpha1.CapacityService{{Name: "api", Replicas: ptr.To[int32](1),
				ConcurrencyLimit: ptr.To[int32](64), ServiceTime: tc.s,
				CPU: &chaosv1alpha1.CapacityCPU{CoresPerReplica: tc.cores, CPUSecondsPerRequest: "0.01"}}}}
			m, err := Build(context.Background(), spec, Inputs{})
			if err != nil {
				t.Fatal(err)
			}
			q := m.Services[0].Queue
			if q != tc.want {
				t.Errorf("queue %+v, want %+v", q, tc.want)
			}
			if c, want := q.Capacity(), tc.want.Capacity(); math.Abs(c-want) > 1e-6 {
				t.Errorf("capacity %g/s, want the CPU's %g/s, not 64 workers'", c, want)
			}
			if s := q.SaturationPoint(0.99, 300*time.Millisecond, 0.9); s.Lambda < tc.minSat {
				t.Errorf("λ* %+v with a 300 ms threshold, want at least %g/s (idle p99 %s)", s, tc.minSat, q.Percentile(0, 0.99))
			}
		})
	}
}

// A load PromQL gives as NaN (a ratio over no traffic, 0/0) is no load: it passed Build, compared
// false with every limit, and the step read as within capacity at load "∞", utilisation "NaN",
// p99 0s. Build names the service and the query instead (CapacityModelError).
func TestBuildRefusesALoadThatIsNotFinite(t *testing.T) {
	const query = `sum(rate(ok[1m])) / sum(rate(all[1m]))`
	for _, tc := range []struct {
		name string
		v    float64
	}{{"NaN", math.NaN()}, {"+Inf", math.Inf(1)}, {"-Inf", math.Inf(-1)}} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &chaosv1alpha1.CapacitySpec{Services: []chaosv1alpha1.CapacityService{{Name: "checkout", Replicas: ptr.To[int32](2),
				Load: &chaosv1alpha1.CapacityLoad{PromQL: query}, ServiceTime: &metav1.Duration{Duration: 25 * time.Millisecond}, ConcurrencyLimit: ptr.To[int32](8)}}}
			in := Inputs{Query: func(context.Context, string) (float64, error) { return tc.v, nil }}
			m, err := Build(context.Background(), spec, in)
			if m.Services[0].Load != 0 {
				t.Errorf("load %g kept, want 0 (the plan counts an unread load as zero)", m.Services[0].Load)
			}
			if err == nil || !strings.Contains(err.Error(), "service checkout") || !strings.Contains(err.Error(), query) || !strings.Contains(err.Error(), "not a finite load") {
				t.Errorf("Build with a load of %g: %v; want an error naming checkout, the query, and not a finite load", tc.v, err)
			}
		})
	}
}

// A zone PodKill kills by its mode among the workload's pods in the zone, as the engine does
// (selector.Count over the pods the zone selects): 4 of web's 10 pods in eu-1a, mode one kills
// 1, not all 4. With the zone unknown, Count over all n bounds it (at most n are in the zone).
func TestZoneKillFollowsTheMode(t *testing.T) {
	m := capacity.Model{Services: []capacity.Service{{Name: "web", Queue: capacity.Queue{Replicas: 10, Workers: 4, ServiceTime: time.Millisecond}}}}
	services := []chaosv1alpha1.CapacityService{{Name: "web", Workload: &chaosv1alpha1.CapacityWorkload{Kind: "Deployment", Name: "web"}}}
	zone := Inputs{ZoneReplicas: func(context.Context, chaosv1alpha1.CapacityWorkload, string) (int, error) { return 4, nil }}
	for _, tc := range []struct {
		name  string
		mode  chaosv1alpha1.SelectionMode
		value *int32
		in    Inputs
		want  int
	}{
		{"one", chaosv1alpha1.ModeOne, nil, zone, 1},
		{"unset mode is one", "", nil, zone, 1},
		{"fixed 2", chaosv1alpha1.ModeFixed, ptr.To[int32](2), zone, 2},
		{"fixed 9: only 4 in the zone", chaosv1alpha1.ModeFixed, ptr.To[int32](9), zone, 4},
		{"50 percent of 4", chaosv1alpha1.ModePercent, ptr.To[int32](50), zone, 2},
		{"all", chaosv1alpha1.ModeAll, nil, zone, 4},
		{"one, zone unknown", chaosv1alpha1.ModeOne, nil, Inputs{}, 1},
		{"50 percent, zone unknown: of all 10", chaosv1alpha1.ModePercent, ptr.To[int32](50), Inputs{}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exp := chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: tc.mode, Value: tc.value,
				Selector: &chaosv1alpha1.TargetSelector{Zone: "eu-1a"}}
			step := chaosv1alpha1.GameDayStep{Name: "s", Experiment: &exp, CapacityTargets: []string{"web"}}
			faults, _ := Faults(context.Background(), step, m, services, tc.in)
			if got := faults["web"].KillReplicas; got != tc.want {
				t.Errorf("killed %d, want %d", got, tc.want)
			}
		})
	}
}

// Status carries no non-finite number: a queue with no replica left has utilisation +Inf (shown
// "∞", as its p99 and an unbounded load are); an observation Prometheus gives as NaN (p99 or error
// ratio over no traffic) is unreadable and left empty. time.Duration(NaN) was
// -2562047h47m16.854775808s on amd64, the NaN load "∞", the error ratio "NaN".
func TestStatusHasNoNonFiniteNumber(t *testing.T) {
	m := capacity.Model{Services: []capacity.Service{
		{Name: "gone", Load: 50, Queue: capacity.Queue{Replicas: 0, Workers: 4, ServiceTime: 10 * time.Millisecond}},
		{Name: "quiet", Load: 50, Queue: capacity.Queue{Replicas: 2, Workers: 4, ServiceTime: 10 * time.Millisecond}},
	}}
	ps, err := m.Predict(nil)
	if err != nil {
		t.Fatal(err)
	}
	preds, saturated := Predictions(ps)
	if g := preds[0]; g.Utilisation != "∞" || g.P99 != "∞" || g.Saturated != "no replica left" || len(saturated) != 1 {
		t.Errorf("no replica left: %+v, saturated %q; want utilisation ∞, p99 ∞", g, saturated)
	}
	services := []chaosv1alpha1.CapacityService{{Name: "gone"}, {Name: "quiet",
		Observed: &chaosv1alpha1.CapacityObserved{Throughput: "load", LatencyP99: "p99", ErrorRatio: "errors"}}}
	for _, tc := range []struct {
		name             string
		load, p99, ratio float64
		want             chaosv1alpha1.ServicePrediction // the observed fields
	}{
		{"no traffic: NaN p99 and ratio", 0, math.NaN(), math.NaN(), chaosv1alpha1.ServicePrediction{ObservedLoad: "0"}},
		{"every reading NaN", math.NaN(), math.NaN(), math.NaN(), chaosv1alpha1.ServicePrediction{}},
		{"readable", 50, 0.02, 0.001, chaosv1alpha1.ServicePrediction{ObservedLoad: "50", ObservedP99: "20ms", ObservedErrorRatio: "0.0010"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := slices.Clone(preds)
			query := func(_ context.Context, q string) (float64, error) {
				return map[string]float64{"load": tc.load, "p99": tc.p99, "errors": tc.ratio}[q], nil
			}
			lost, err := Observe(context.Background(), got, ps, services, query)
			if err != nil || len(lost) != 0 {
				t.Fatalf("lost %q, err %v", lost, err)
			}
			q := got[1]
			if q.ObservedLoad != tc.want.ObservedLoad || q.ObservedP99 != tc.want.ObservedP99 || q.ObservedErrorRatio != tc.want.ObservedErrorRatio {
				t.Errorf("observed load %q p99 %q error ratio %q, want %q %q %q", q.ObservedLoad, q.ObservedP99, q.ObservedErrorRatio,
					tc.want.ObservedLoad, tc.want.ObservedP99, tc.want.ObservedErrorRatio)
			}
			if tc.want.ObservedP99 == "" && q.P99Error != "" {
				t.Errorf("p99 error %q from an unread p99", q.P99Error)
			}
		})
	}
}

// Faults of steps that run together land on each service at once: kills add, delays add, losses
// compound (a call fails if either drops it: 1 − 0.9·0.8 = 0.28), a flush by either is a flush.
func TestCombine(t *testing.T) {
	a := map[string]capacity.Fault{"web": {KillReplicas: 1, Latency: 10 * time.Millisecond, Loss: 0.1}, "redis": {CacheFlushed: true}}
	b := map[string]capacity.Fault{"web": {KillReplicas: 2, Latency: 5 * time.Millisecond, Loss: 0.2}, "db": {KillReplicas: 1}}
	got := Combine(a, b)
	want := map[string]capacity.Fault{
		"web":   {KillReplicas: 3, Latency: 15 * time.Millisecond, Loss: 0.28},
		"redis": {CacheFlushed: true},
		"db":    {KillReplicas: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for name, w := range want {
		g := got[name]
		if g.KillReplicas != w.KillReplicas || g.Latency != w.Latency || math.Abs(g.Loss-w.Loss) > 1e-12 || g.CacheFlushed != w.CacheFlushed {
			t.Errorf("%s: got %+v, want %+v", name, g, w)
		}
	}
	if one := Combine(a); one["web"] != a["web"] {
		t.Errorf("one step's faults changed by combining: %+v, want %+v", one["web"], a["web"])
	}
}

// A parallel group of two kills, each leaving enough replicas alone, is predicted together:
// checkout (4 replicas, 200/s each, 450/s) keeps 3 replicas under either kill (ρ 0.75) and 2
// under both (ρ 1.125, saturated).
func TestPredictGroupJudgesTheFaultsTogether(t *testing.T) {
	q := capacity.Queue{Replicas: 4, Workers: 4, ServiceTime: 20 * time.Millisecond}
	m := capacity.Model{Services: []capacity.Service{{Name: "checkout", Queue: q, Load: 450}}}
	kill := func(name string) chaosv1alpha1.GameDayStep {
		return chaosv1alpha1.GameDayStep{Name: name, CapacityTargets: []string{"checkout"},
			Experiment: &chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: chaosv1alpha1.ModeFixed, Value: ptr.To[int32](1)}}
	}
	services := []chaosv1alpha1.CapacityService{{Name: "checkout", Replicas: ptr.To[int32](4)}}
	alone, err := PredictStep(context.Background(), m, services, kill("a"), Inputs{}, false)
	if err != nil || len(alone.Saturated) != 0 || alone.Predictions[0].Replicas != 3 {
		t.Fatalf("one kill: %+v (%v), want 3 replicas within capacity", alone, err)
	}
	both, err := PredictGroup(context.Background(), m, services, []chaosv1alpha1.GameDayStep{kill("a"), kill("b")}, Inputs{}, false)
	if err != nil || len(both.Saturated) != 1 || both.Predictions[0].Replicas != 2 || both.Predictions[0].Utilisation != "1.125" {
		t.Fatalf("both kills: %+v (%v), want 2 replicas at utilisation 1.125, saturated", both, err)
	}
}

// Which steps of a group (and which groups) are judged together: the injecting ones, when two or
// more and not all allow saturation.
func TestTogether(t *testing.T) {
	step := func(name string, opts ...func(*chaosv1alpha1.GameDayStep)) chaosv1alpha1.GameDayStep {
		s := chaosv1alpha1.GameDayStep{Name: name, WithPrevious: name != "a", CapacityTargets: []string{"web"},
			Experiment: &chaosv1alpha1.ExperimentSpec{Action: chaosv1alpha1.ActionPodKill, Mode: chaosv1alpha1.ModeOne}}
		for _, o := range opts {
			o(&s)
		}
		return s
	}
	dry := func(s *chaosv1alpha1.GameDayStep) { s.Experiment.DryRun = true }
	allow := func(s *chaosv1alpha1.GameDayStep) { s.AllowSaturation = true }
	untargeted := func(s *chaosv1alpha1.GameDayStep) { s.CapacityTargets = nil }
	pause := func(s *chaosv1alpha1.GameDayStep) {
		s.Experiment, s.Pause = nil, &metav1.Duration{Duration: time.Second}
	}
	for _, tc := range []struct {
		name  string
		group []chaosv1alpha1.GameDayStep
		want  string // the names judged together, "" for none
	}{
		{"two kills", []chaosv1alpha1.GameDayStep{step("a"), step("b")}, "a,b"},
		{"one step", []chaosv1alpha1.GameDayStep{step("a")}, ""},
		{"a dry run is left out", []chaosv1alpha1.GameDayStep{step("a"), step("b", dry), step("c")}, "a,c"},
		{"one injecting step left", []chaosv1alpha1.GameDayStep{step("a"), step("b", dry)}, ""},
		{"without targets or a pause", []chaosv1alpha1.GameDayStep{step("a"), step("b", untargeted), step("c", pause)}, ""},
		{"all allow saturation", []chaosv1alpha1.GameDayStep{step("a", allow), step("b", allow)}, ""},
		{"one allows saturation", []chaosv1alpha1.GameDayStep{step("a", allow), step("b")}, "a,b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range Together(tc.group) {
				got = append(got, s.Name)
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("judged together %v, want %q", got, tc.want)
			}
			if end := chaosv1alpha1.GroupEnd(tc.group, 0); end != len(tc.group) {
				t.Errorf("GroupEnd %d, want the whole group (%d)", end, len(tc.group))
			}
		})
	}
	serial := []chaosv1alpha1.GameDayStep{step("a"), step("b"), step("c")}
	serial[2].WithPrevious = false
	if end := chaosv1alpha1.GroupEnd(serial, 0); end != 2 {
		t.Errorf("GroupEnd %d, want 2: step c does not run with its previous", end)
	}
}
