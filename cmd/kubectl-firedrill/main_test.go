package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/firedrill-dev/firedrill/test/proctest"
	"github.com/firedrill-dev/firedrill/test/promtest"
)

// The sample's plan, with checkout's load (a PromQL query) at 300/s and its Deployment at 6
// replicas: the NALSD table and each step's verdict.
func TestPlanSample(t *testing.T) {
	data, err := os.ReadFile("../../config/samples/chaos_v1alpha1_gameday_capacity.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	query := func(_ context.Context, q string) (float64, error) { return 300, nil }
	v, err := plan(context.Background(), &out, data, options{replicas: map[string]int{"checkout": 6}, query: query})
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	t.Log("\n" + got)
	for _, want := range []string{
		"steady state (NALSD, N+1 at utilisation 0.85):",
		// checkout: 8 workers / 25 ms = 320/s a replica; 300/s needs 2 at 85 %, +1.
		"checkout       300     6         320            1920        0.156        3             1332",
		// catalog: 2 cores / 4 ms CPU = 500/s a replica; it gets 3 calls per checkout request.
		"catalog        900     4         500            2000        0.450",
		// the database sees the 5 % misses.
		"catalog-db     45      1         1600           1600        0.028",
		"checkout: USL σ=0.0400 κ=0.000800: peak 528.4/s at concurrency 35",
		"payments       300     6         100            600         0.500",
		"step kill-half-checkout (PodKill on checkout): within capacity",
		"step flush-catalog-cache (CacheFlush on catalog-cache): within capacity",
		"catalog-db     900     1         0.562",
		"step slow-payments (NetworkLatency on payments): REFUSED: predicted to saturate",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the plan lacks %q", want)
		}
	}
	if v.refused != 1 {
		t.Errorf("%d steps refused, want 1 (slow-payments)", v.refused)
	}
	if _, err := plan(context.Background(), &out, []byte("kind: Experiment\n"), options{}); err == nil {
		t.Error("a manifest without a GameDay was planned")
	}
}

// checkoutGameDay is a GameDay on checkout alone: 4 replicas of 4 workers at 20 ms (200/s each,
// 800/s in all), load as given, and the steps as given.
func checkoutGameDay(prometheus, load, steps string) string {
	return `apiVersion: chaos.firedrill.dev/v1alpha1
kind: GameDay
metadata: {name: gd, namespace: demo}
spec:
  prometheus: {address: "` + prometheus + `"}
  capacity:
    services:
    - name: checkout
      replicas: 4
      concurrencyLimit: 4
      serviceTime: 20ms
      latencyThreshold: 200ms
      load: ` + load + `
  steps:
` + steps
}

// killStep is a step that kills n checkout pods; extra is more of the step's fields.
func killStep(name string, n int, extra string) string {
	return `  - name: ` + name + `
    capacityTargets: [checkout]` + extra + `
    experiment:
      action: PodKill
      selector:
        namespaces: [demo]
        labelSelector: {matchLabels: {app: checkout}}
      mode: fixed
      value: ` + strconv.Itoa(n) + "\n"
}

// runPlan runs `plan -f` on the manifest with args; it returns the exit code and the output.
func runPlan(t *testing.T, manifest string, args ...string) (int, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "gameday.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	code := run(t.Context(), append([]string{"plan", "-f", file}, args...), strings.NewReader(""), &out, &out)
	t.Log("\n" + out.String())
	return code, out.String()
}

// A load the plan cannot read is not a load of zero: the controller fails the game day on the
// same error, so the plan says it cannot judge, naming the service, the query and the error, and
// --fail-on-saturation fails (exit 4). Read as zero, the kill below was "within capacity".
func TestPlanCannotJudgeUnreadInputs(t *testing.T) {
	nobody := "http://" + proctest.FreeAddr(t, "127.0.0.1") // nothing listens there
	prom := promtest.Start(t)
	const good, bad = `sum(rate(http_requests_total[1m]))`, `sum(rate(http_requests_total[1m])`
	for _, tc := range []struct {
		name, prometheus, query string
		args                    []string
		wantCode                int
		want                    []string
	}{
		{"Prometheus down, gated", nobody, good, []string{"--fail-on-saturation"}, 4,
			[]string{"CANNOT JUDGE", `service checkout: load query: prometheus query "` + good + `"`, "connection refused"}},
		{"Prometheus down, not gated", nobody, good, nil, 0,
			[]string{"CANNOT JUDGE", `service checkout: load query: prometheus query "` + good + `"`, "connection refused"}},
		{"the query errors, gated", prom.URL, bad, []string{"--fail-on-saturation"}, 4,
			[]string{"CANNOT JUDGE", `service checkout: load query: prometheus query "` + bad + `"`, "bad_data"}},
		{"the query has no sample, gated", prom.URL, good, []string{"--fail-on-saturation"}, 4,
			[]string{"CANNOT JUDGE", `service checkout: load query: query "` + good + `" returned no sample`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gd := checkoutGameDay(tc.prometheus, "{promQL: '"+tc.query+"'}", killStep("kill", 1, ""))
			code, out := runPlan(t, gd, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the plan lacks %q", w)
				}
			}
			if strings.Contains(out, "within capacity") {
				t.Error("a step judged on a load that was not read")
			}
		})
	}
}

// Steps that run together (withPrevious) are judged with their faults combined, as the
// controller's group preflight does: either kill alone leaves 3 of 4 replicas for 450/s (ρ 0.75),
// both leave 2 (ρ 1.125).
func TestPlanJudgesParallelGroups(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string // the steps' extra fields
		wantCode   int
		want, not  []string
	}{
		{"together, refused", "", "\n    withPrevious: true", exitRefused,
			[]string{"step kill-a (PodKill on checkout): within capacity", "step kill-b (PodKill on checkout): within capacity",
				"steps kill-a, kill-b together (a parallel group): REFUSED: predicted to saturate", "checkout  450     2         1.125        ∞"}, nil},
		{"one after the other", "", "", 0,
			[]string{"step kill-a (PodKill on checkout): within capacity", "step kill-b (PodKill on checkout): within capacity"},
			[]string{"together"}},
		{"together, both allow saturation", "\n    allowSaturation: true", "\n    allowSaturation: true\n    withPrevious: true", 0,
			nil, []string{"together"}}, // the controller does not judge such a group
		{"together, one allows saturation", "\n    allowSaturation: true", "\n    withPrevious: true", exitRefused,
			[]string{"steps kill-a, kill-b together (a parallel group): REFUSED: predicted to saturate"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gd := checkoutGameDay("http://127.0.0.1:1", "{value: '450'}", killStep("kill-a", 1, tc.a)+killStep("kill-b", 1, tc.b))
			code, out := runPlan(t, gd, "--fail-on-saturation")
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("the plan lacks %q", w)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(out, w) {
					t.Errorf("the plan has %q", w)
				}
			}
		})
	}
}
