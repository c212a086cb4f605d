package capacity

import (
	"math"
	"strings"
	"testing"
	"time"
)

func near(got, want, rel float64) bool {
	if want == 0 {
		return math.Abs(got) < rel
	}
	return math.Abs(got-want) <= rel*math.Abs(want)
}

func TestErlangC(t *testing.T) {
	for _, tc := range []struct {
		c    int
		a    float64
		want float64
	}{
		{1, 0.5, 0.5},       // M/M/1: P(wait) = ρ
		{2, 1, 1.0 / 3},     // by hand: B = 0.2, C = 0.2 / (1 − 0.5·0.8)
		{10, 8, 0.40918},    // Erlang C table, 10 agents at 8 Erlangs
		{4, 0, 0},           // idle
		{3, 3, 1},           // at capacity: everyone waits
		{100, 80, 0.019646}, // many servers at ρ = 0.8 rarely queue
	} {
		if got := ErlangC(tc.c, tc.a); !near(got, tc.want, 0.01) {
			t.Errorf("ErlangC(%d, %g) = %.5f, want %.5f", tc.c, tc.a, got, tc.want)
		}
	}
}

// An M/M/1 queue's response time is exponential with rate μ − λ: the closed forms to check the
// general M/M/c code against.
func TestMM1ClosedForms(t *testing.T) {
	q := Queue{Replicas: 1, Workers: 1, ServiceTime: 10 * time.Millisecond} // μ = 100/s
	for _, lambda := range []float64{10, 50, 90} {
		rate := 100 - lambda
		if got, want := q.Percentile(lambda, 0.99).Seconds(), math.Log(100)/rate; !near(got, want, 1e-6) {
			t.Errorf("λ=%g: p99 %.6f s, want ln(100)/(μ−λ) = %.6f s", lambda, got, want)
		}
		if got, want := q.MeanWait(lambda).Seconds(), (lambda/100)/rate; !near(got, want, 1e-6) {
			t.Errorf("λ=%g: Wq %.6f s, want ρ/(μ−λ) = %.6f s", lambda, got, want)
		}
	}
	if got := q.Percentile(100, 0.99); got != time.Duration(math.MaxInt64) {
		t.Errorf("p99 at λ = μ is %s, want unbounded", got)
	}
}

func TestCapacityAndSaturation(t *testing.T) {
	q := Queue{Replicas: 4, Workers: 4, ServiceTime: 20 * time.Millisecond}
	if c := q.Capacity(); !near(c, 800, 1e-9) {
		t.Errorf("capacity %g, want 4·4/20ms = 800", c)
	}
	if u := q.Utilisation(600); !near(u, 0.75, 1e-9) {
		t.Errorf("utilisation %g, want 0.75", u)
	}
	// Without a latency limit the saturation point is the utilisation cap.
	if s := q.SaturationPoint(0.99, 0, 0.9); !near(s.Lambda, 720, 1e-9) || s.By != "utilisation" {
		t.Errorf("saturation %+v, want 720 by utilisation", s)
	}
	// With one, λ* is where p99 meets it: check both sides.
	s := q.SaturationPoint(0.99, 100*time.Millisecond, 1)
	if s.By != "latency" || s.Lambda <= 0 || s.Lambda >= 800 {
		t.Fatalf("saturation %+v, want a latency-bound λ* under 800", s)
	}
	if p := q.Percentile(s.Lambda*0.999, 0.99); p > 100*time.Millisecond {
		t.Errorf("just under λ* p99 is %s, over the threshold", p)
	}
	if p := q.Percentile(s.Lambda*1.001, 0.99); p <= 100*time.Millisecond {
		t.Errorf("just over λ* p99 is %s, still under the threshold", p)
	}
	// M/M/1 by hand: p99 = ln(100)/(μ−λ) ≤ 92.1 ms ⇔ λ ≤ 50.
	one := Queue{Replicas: 1, Workers: 1, ServiceTime: 10 * time.Millisecond}
	if s := one.SaturationPoint(0.99, time.Duration(math.Log(100)/50*float64(time.Second)), 1); !near(s.Lambda, 50, 1e-4) {
		t.Errorf("M/M/1 λ* %g, want 50", s.Lambda)
	}
	// An idle replica already over the threshold: nothing fits.
	if s := q.SaturationPoint(0.99, 10*time.Millisecond, 1); s.Lambda != 0 {
		t.Errorf("λ* %g for a threshold under the service time's p99, want 0", s.Lambda)
	}
}

func TestRetryAmplificationAndLittle(t *testing.T) {
	for _, tc := range []struct {
		p       float64
		retries int
		want    float64
	}{{0, 3, 1}, {0.3, 0, 1}, {0.3, 2, 1.39}, {1, 3, 4}, {0.5, 10, 1.9990234375}} {
		if got := RetryAmplification(tc.p, tc.retries); !near(got, tc.want, 1e-9) {
			t.Errorf("RetryAmplification(%g, %d) = %g, want %g", tc.p, tc.retries, got, tc.want)
		}
	}
	if got := Concurrency(100, 50*time.Millisecond); !near(got, 5, 1e-9) {
		t.Errorf("L = λW = %g, want 5", got)
	}
	if got := PoolLimit(10, 50*time.Millisecond); !near(got, 200, 1e-9) {
		t.Errorf("pool limit %g, want 10/50ms = 200", got)
	}
}

func TestFitUSL(t *testing.T) {
	for _, truth := range []USL{{Lambda: 1000, Sigma: 0.05, Kappa: 0.001}, {Lambda: 250, Sigma: 0.2, Kappa: 0}, {Lambda: 80, Sigma: 0, Kappa: 0.02}} {
		var pts []Point
		for _, n := range []float64{1, 2, 4, 8, 16, 32, 64} {
			pts = append(pts, Point{N: n, X: truth.Throughput(n)})
		}
		got, err := FitUSL(pts)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got.Lambda, truth.Lambda, 0.01) || math.Abs(got.Sigma-truth.Sigma) > 0.005 || math.Abs(got.Kappa-truth.Kappa) > 0.0005 {
			t.Errorf("fit %+v, want %+v", got, truth)
		}
	}
	if _, err := FitUSL([]Point{{1, 10}, {2, 19}}); err == nil {
		t.Error("a fit from 2 points succeeded")
	}
	if p := (USL{Lambda: 1, Sigma: 0.05, Kappa: 0.001}).Peak(); !near(p, math.Sqrt(0.95/0.001), 1e-9) {
		t.Errorf("peak %g", p)
	}
}

func TestPerReplicaAndSummary(t *testing.T) {
	if got := PerReplicaFromCPU(2, 0.004); !near(got, 500, 1e-9) {
		t.Errorf("2 cores / 4 ms CPU per request = %g, want 500/s", got)
	}
	if got, err := FitPerReplica([]float64{100, 200, 300}, []float64{0.25, 0.5, 0.75}); err != nil || !near(got, 400, 1e-9) {
		t.Errorf("fitted %g (%v), want 400/s", got, err)
	}
	s := Summarise("checkout", 700, Queue{Replicas: 4, Workers: 4, ServiceTime: 20 * time.Millisecond}, 0.7, 1)
	if s.PerReplica != 200 || s.Capacity != 800 || !near(s.Utilisation, 0.875, 1e-9) || s.Needed != 6 || !near(s.Headroom, -140, 1e-9) {
		t.Errorf("summary %+v: want 200/replica, 800 capacity, 0.875, N+1 = 6, headroom −140", s)
	}
}

// threeTier: web calls api (2 retries, a pool of 30); api reads through a cache in front of a
// database.
func threeTier() Model {
	return Model{
		Services: []Service{
			{Name: "web", Load: 400, Queue: Queue{Replicas: 4, Workers: 8, ServiceTime: 40 * time.Millisecond}, LatencyThreshold: 300 * time.Millisecond},
			{Name: "api", Queue: Queue{Replicas: 4, Workers: 4, ServiceTime: 20 * time.Millisecond}, LatencyThreshold: 200 * time.Millisecond},
			{Name: "cache", CacheHitRatio: 0.9},
			{Name: "db", Queue: Queue{Replicas: 1, Workers: 16, ServiceTime: 10 * time.Millisecond}},
		},
		Links: []Link{
			{From: "web", To: "api", Retries: 2, Pool: 30},
			{From: "api", To: "cache"},
			{From: "cache", To: "db", Cache: true},
		},
	}
}

func TestPredictFaults(t *testing.T) {
	m := threeTier()
	for _, tc := range []struct {
		name      string
		faults    map[string]Fault
		service   string
		load      float64
		replicas  int
		saturated string // substring; "" for healthy
	}{
		{"steady state", nil, "db", 40, 1, ""},
		{"steady api", nil, "api", 400, 4, ""},
		{"cache flushed: the database gets every lookup", map[string]Fault{"cache": {CacheFlushed: true}}, "db", 400, 1, ""},
		{"kill 1 of 4 api replicas", map[string]Fault{"api": {KillReplicas: 1}}, "api", 400, 3, ""},
		{"kill 2 of 4 api replicas tips it over", map[string]Fault{"api": {KillReplicas: 2}}, "api", 400, 2, "utilisation 1.00 over the maximum 0.90"},
		{"30% loss on api: 2 retries amplify by 1.39", map[string]Fault{"api": {Loss: 0.3}}, "api", 556, 4, ""},
		{"60% loss on api: 1.96x tips it over", map[string]Fault{"api": {Loss: 0.6}}, "api", 784, 4, "utilisation 0.98"},
		{"a zone with every api replica", map[string]Fault{"api": {KillReplicas: 4}}, "api", 400, 0, "no replica left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := predicted(t, m, tc.faults, tc.service)
			if !near(p.Load, tc.load, 1e-9) || p.Replicas != tc.replicas {
				t.Errorf("load %g on %d replicas, want %g on %d", p.Load, p.Replicas, tc.load, tc.replicas)
			}
			if (tc.saturated == "") != (p.Saturated == "") || !strings.Contains(p.Saturated, tc.saturated) {
				t.Errorf("saturated %q, want %q", p.Saturated, tc.saturated)
			}
		})
	}
}

// Latency added to a callee holds its callers' workers longer. 10 ms more on api (still
// healthy, its mean latency up 23.5 ms with its queueing) makes web 1.6× busier (utilisation 0.5
// → 0.79) and its p99 185 → 256 ms, a shift by that wait, still under 300 ms (as exponential
// service time it read 300+ ms); 100 ms saturates api, and web with it.
// A delay on a cache (no queue of its own modelled) is waited out by its callers like any
// callee's: api (4 replicas × 8 workers, 25 ms, 1000/s, ρ 0.78) calling redis, +20 ms on redis,
// holds each worker 45 ms: capacity 711/s, ρ 1.41.
func TestPredictDelayOnACacheReachesItsCallers(t *testing.T) {
	m := Model{
		Services: []Service{
			{Name: "api", Load: 1000, Queue: Queue{Replicas: 4, Workers: 8, ServiceTime: 25 * time.Millisecond}},
			{Name: "redis", CacheHitRatio: 0.95},
			{Name: "db", Queue: Queue{Replicas: 2, Workers: 16, ServiceTime: 10 * time.Millisecond}},
		},
		Links: []Link{{From: "api", To: "redis"}, {From: "redis", To: "db", Cache: true}},
	}
	api := predicted(t, m, map[string]Fault{"redis": {Latency: 20 * time.Millisecond}}, "api")
	if api.Queue.Fixed != 20*time.Millisecond || math.Abs(api.Utilisation-1.40625) > 1e-9 || api.Saturated == "" {
		t.Errorf("api %+v: want its workers held 20 ms longer, utilisation 1.41, saturated", api)
	}
}

func TestPredictLatencyPropagates(t *testing.T) {
	m := threeTier()
	steady, err := m.Predict(nil)
	if err != nil {
		t.Fatal(err)
	}
	w0, _ := Find(steady, "web")
	slower, err := m.Predict(map[string]Fault{"api": {Latency: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	a1, _ := Find(slower, "api")
	w1, _ := Find(slower, "web")
	if a1.Saturated != "" || w1.Utilisation < w0.Utilisation*1.5 || w1.Saturated != "" ||
		w1.P99 < w0.P99+w1.Queue.Fixed || w1.P99 > 260*time.Millisecond {
		t.Errorf("api +10ms: api %+v\nweb %+v (steady %+v): want api healthy, web 1.5× busier, p99 up by its wait on api (≈256ms), under its threshold", a1, w1, w0)
	}
	saturated, err := m.Predict(map[string]Fault{"api": {Latency: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := Find(saturated, "api")
	w2, _ := Find(saturated, "web")
	if a2.Saturated == "" || w2.Saturated == "" {
		t.Errorf("api +100ms: api %q, web %q: want both saturated", a2.Saturated, w2.Saturated)
	}
	if _, err := (Model{Services: []Service{{Name: "a"}, {Name: "b"}}, Links: []Link{{From: "a", To: "b"}, {From: "b", To: "a"}}}).Predict(nil); err == nil {
		t.Error("a cycle was accepted")
	}
	if _, err := (Model{Services: []Service{{Name: "a"}}, Links: []Link{{From: "a", To: "ghost"}}}).Predict(nil); err == nil || !strings.Contains(err.Error(), "ghost") {
		t.Errorf("a link to an unknown service: %v", err)
	}
}

// Little's law on a caller's pool: web holds at most 30 calls to api in flight. At 400/s, api
// answering in 80 ms means 32 in flight: over the pool, though api itself is below its maximum.
func TestPredictPoolLimit(t *testing.T) {
	m := threeTier()
	m.Services[1].Queue = Queue{Replicas: 8, Workers: 8, ServiceTime: 80 * time.Millisecond} // capacity 800
	m.Services[1].LatencyThreshold = 0
	ps, err := m.Predict(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Find(ps, "api")
	if !strings.Contains(a.Saturated, "from web, over its pool of 30 (Little's law)") {
		t.Errorf("api %+v: want the pool of 30 named", a)
	}
}

func TestImpliedLoad(t *testing.T) {
	q := Queue{Replicas: 2, Workers: 4, ServiceTime: 20 * time.Millisecond}
	for _, lambda := range []float64{100, 250, 380} {
		if got := q.ImpliedLoad(q.Percentile(lambda, 0.99), 0.99); !near(got, lambda, 1e-3) {
			t.Errorf("implied load of the p99 at %g/s is %g", lambda, got)
		}
	}
	// Half the replicas gone unnoticed: at 150/s the service answers like the model at 300/s.
	half := Queue{Replicas: 1, Workers: 4, ServiceTime: 20 * time.Millisecond}
	if got := q.ImpliedLoad(half.Percentile(150, 0.99), 0.99); !near(got, 300, 1e-3) {
		t.Errorf("implied load %g, want 300 (two replicas behaving like one)", got)
	}
	if got := q.ImpliedLoad(time.Millisecond, 0.99); got != 0 {
		t.Errorf("a p99 below the idle one implies %g, want 0", got)
	}
}

// Two callers each with a pool of 100 toward one store: each pool holds only its own share.
func TestPoolCountsEachCallersShare(t *testing.T) {
	m := Model{
		Services: []Service{
			{Name: "a", Load: 1000}, {Name: "b", Load: 1000},
			{Name: "db", Queue: Queue{Replicas: 4, Workers: 100, ServiceTime: 60 * time.Millisecond}},
		},
		Links: []Link{{From: "a", To: "db", Pool: 100}, {From: "b", To: "db", Pool: 100}},
	}
	ps, err := m.Predict(nil)
	if err != nil {
		t.Fatal(err)
	}
	if db, _ := Find(ps, "db"); db.Saturated != "" { // 2000/s × 60 ms = 120 in flight, 60 per caller
		t.Errorf("db %q: each caller has 60 in flight, under its pool of 100", db.Saturated)
	}
	m.Links[0].Pool = 50
	ps, _ = m.Predict(nil)
	if db, _ := Find(ps, "db"); !strings.Contains(db.Saturated, "60 requests in flight from a, over its pool of 50") {
		t.Errorf("db %q: want a's pool of 50 named", db.Saturated)
	}
}

// With heavy contention and no point at low concurrency, λ lies far above max X/N.
func TestFitUSLWithoutLowConcurrency(t *testing.T) {
	truth := USL{Lambda: 100, Sigma: 0.3}
	var pts []Point
	for _, n := range []float64{8, 16, 32, 64} {
		pts = append(pts, Point{N: n, X: truth.Throughput(n)})
	}
	got, err := FitUSL(pts)
	if err != nil {
		t.Fatal(err)
	}
	if !near(got.Lambda, 100, 0.01) || math.Abs(got.Sigma-0.3) > 0.005 {
		t.Errorf("fit %+v, want %+v", got, truth)
	}
}

// A service whose replicas are all gone before the fault (0 ready) is a queue with no capacity,
// reported saturated; only a service without workers and service time is a cache.
func TestPredictServiceWithNoReplicaLeft(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mutate    func(*Model)
		faults    map[string]Fault
		service   string
		saturated string // substring; "" for not saturated
	}{
		{"api lost every replica", func(m *Model) { m.Services[1].Queue.Replicas = 0 }, nil, "api", "no replica left"},
		{"db lost every replica", func(m *Model) { m.Services[3].Queue.Replicas = 0 }, nil, "db", "no replica left"},
		{"no replica left, and a kill", func(m *Model) { m.Services[1].Queue.Replicas = 0 }, map[string]Fault{"api": {KillReplicas: 1}}, "api", "no replica left"},
		{"no replica left, and latency", func(m *Model) { m.Services[1].Queue.Replicas = 0 }, map[string]Fault{"api": {Latency: time.Millisecond}}, "api", "no replica left"},
		{"the cache stays a cache", func(*Model) {}, nil, "cache", ""},
		{"every replica killed", func(*Model) {}, map[string]Fault{"api": {KillReplicas: 4}}, "api", "no replica left"},
		{"a standby scaled to zero that nothing calls", func(m *Model) { m.Services[0].Load, m.Services[0].Queue.Replicas = 0, 0 }, nil, "web", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := threeTier()
			tc.mutate(&m)
			p := predicted(t, m, tc.faults, tc.service)
			if (tc.saturated == "") != (p.Saturated == "") || !strings.Contains(p.Saturated, tc.saturated) {
				t.Errorf("saturated %q, want %q (prediction %+v)", p.Saturated, tc.saturated, p)
			}
			if tc.saturated != "" && (p.Capacity != 0 || p.Replicas != 0 || !math.IsInf(p.Utilisation, 1)) {
				t.Errorf("capacity %g on %d replicas at utilisation %g, want 0 on 0 at +Inf", p.Capacity, p.Replicas, p.Utilisation)
			}
		})
	}
}

// A network delay D is deterministic: it holds the worker (capacity n·c/(S+D)) but moves p99 by
// D, not by 4.6·D as an exponential service time of S+D would. checkout (S 25 ms, 8 workers, 2
// replicas, 100/s) +50 ms: p99 ≈ 50 + 115 = 165 ms, under its 300 ms threshold (as S = 75 ms
// exponential it was 345 ms idle: refused at any load). front calls it and waits the ~50 ms
// more: p99 ≈ 50 + 92 = 142 ms under 200 ms (as S 20 + 50 ms exponential, ~330 ms).
func TestPredictFixedDelay(t *testing.T) {
	m := Model{
		Services: []Service{
			{Name: "front", Load: 100, Queue: Queue{Replicas: 2, Workers: 8, ServiceTime: 20 * time.Millisecond}, LatencyThreshold: 200 * time.Millisecond},
			{Name: "checkout", Queue: Queue{Replicas: 2, Workers: 8, ServiceTime: 25 * time.Millisecond}, LatencyThreshold: 300 * time.Millisecond},
		},
		Links: []Link{{From: "front", To: "checkout"}},
	}
	ps, err := m.Predict(map[string]Fault{"checkout": {Latency: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		service      string
		p99min       time.Duration
		p99max       time.Duration
		capacity     float64 // held S + D: 2·8/(S+D)
		saturationGT float64
	}{
		{"checkout", 165 * time.Millisecond, 170 * time.Millisecond, 2 * 8 / 0.075, 150},
		{"front", 140 * time.Millisecond, 150 * time.Millisecond, 2 * 8 / (0.020 + 0.050), 150}, // +1 ms: checkout waits a little longer
	} {
		p, _ := Find(ps, tc.service)
		if p.Saturated != "" || p.P99 < tc.p99min || p.P99 > tc.p99max {
			t.Errorf("%s: p99 %s (%q), want %s–%s and not saturated", tc.service, p.P99, p.Saturated, tc.p99min, tc.p99max)
		}
		if !near(p.Capacity, tc.capacity, 0.02) || p.Saturation.Lambda < tc.saturationGT {
			t.Errorf("%s: capacity %g, λ* %+v; want ≈ %g, λ* over %g", tc.service, p.Capacity, p.Saturation, tc.capacity, tc.saturationGT)
		}
	}
	// The mean counts the delay once: W = Wq + S + D.
	q := Queue{Replicas: 1, Workers: 1, ServiceTime: 10 * time.Millisecond, Fixed: 40 * time.Millisecond}
	if got := q.MeanLatency(0); got != 50*time.Millisecond {
		t.Errorf("idle mean %s, want 50ms", got)
	}
	// M/M/1 held 50 ms (μ 20/s) at 10/s: Wq = ρ/(μ−λ) = 0.5/10 = 50 ms; W = 100 ms.
	if got := q.MeanLatency(10); !near(got.Seconds(), 0.1, 1e-6) {
		t.Errorf("mean at 10/s %s, want 100ms", got)
	}
}

// BenchmarkSaturationPoint: λ* of a service at the schema's largest concurrency limit (100,000
// workers), as every preflight and live-guard pass computes per service.
func BenchmarkSaturationPoint(b *testing.B) {
	q := Queue{Replicas: 3, Workers: 100000, ServiceTime: 50 * time.Millisecond}
	for b.Loop() {
		q.SaturationPoint(0.99, 250*time.Millisecond, 0.9) // idle p99 is 230 ms: latency binds
	}
}

// predicted is m's prediction for service under faults; the test stops when there is none.
func predicted(t *testing.T, m Model, faults map[string]Fault, service string) Prediction {
	t.Helper()
	ps, err := m.Predict(faults)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := Find(ps, service)
	if !ok {
		t.Fatalf("no prediction for %s", service)
	}
	return p
}
