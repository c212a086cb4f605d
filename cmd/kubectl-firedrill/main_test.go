package main

import (
	"context"
	"os"
	"strings"
	"testing"
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
	refused, err := plan(context.Background(), &out, data, options{replicas: map[string]int{"checkout": 6}, query: query})
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
	if refused != 1 {
		t.Errorf("%d steps refused, want 1 (slow-payments)", refused)
	}
	if _, err := plan(context.Background(), &out, []byte("kind: Experiment\n"), options{}); err == nil {
		t.Error("a manifest without a GameDay was planned")
	}
}
