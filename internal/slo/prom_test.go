package slo_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/firedrill-dev/firedrill/internal/slo"
	"github.com/firedrill-dev/firedrill/test/promtest"
)

// backfill writes counters for 30 days at 5-minute steps ending at end: total rate totalPerSec,
// a bad share of badShare, as OpenMetrics text for promtool.
func backfill(end time.Time, totalPerSec, badShare float64) string {
	var ok, bad strings.Builder
	step := 5 * time.Minute
	start := end.Add(-30 * 24 * time.Hour)
	for ts, i := start, 0; !ts.After(end); ts, i = ts.Add(step), i+1 {
		total := totalPerSec * step.Seconds() * float64(i)
		fmt.Fprintf(&ok, "http_requests_total{job=\"checkout\",code=\"200\"} %g %d\n", total*(1-badShare), ts.Unix())
		fmt.Fprintf(&bad, "http_requests_total{job=\"checkout\",code=\"500\"} %g %d\n", total*badShare, ts.Unix())
	}
	return "# TYPE http_requests_total counter\n" + ok.String() + bad.String() + "# EOF\n"
}

func checkout() slo.SLO {
	return slo.SLO{Name: "checkout", Objective: 0.999, Window: 28 * 24 * time.Hour, SLI: slo.SLI{
		Bad:   `sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))`,
		Total: `sum(rate(http_requests_total{job="checkout"}[{{.window}}]))`,
	}}
}

// A 28-day error budget computed by a real Prometheus over 30 days of backfilled series.
func TestBudgetLeftFromPrometheus(t *testing.T) {
	end := time.Now().Truncate(time.Minute)
	for _, tc := range []struct {
		badShare, wantLeft float64
	}{{0.0008, 0.2}, {0.0015, -0.5}, {0, 1}} {
		t.Run(fmt.Sprint(tc.badShare), func(t *testing.T) {
			prom := promtest.Start(t, promtest.WithBackfill(backfill(end, 10, tc.badShare)))
			q, err := slo.NewPrometheus(prom.URL, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			b, err := checkout().BudgetLeft(t.Context(), q, end)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("bad share %v: budget left %.4f (bad fraction %.6f, %.2f req/s)", tc.badShare, b.Left, b.Bad, b.Total)
			if math.Abs(b.Left-tc.wantLeft) > 0.01 || math.Abs(b.Total-10) > 0.1 {
				t.Errorf("budget left %.4f at %.2f req/s, want %.2f at 10", b.Left, b.Total, tc.wantLeft)
			}
		})
	}
}

// Burn rates over live series written through remote write: errors in the last minutes burn
// the budget fast over 5 m, slowly over 1 h; the workbook rule holds only once both burn.
func TestBurnRatesFromRemoteWrite(t *testing.T) {
	prom := promtest.Start(t)
	q, err := slo.NewPrometheus(prom.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	// Two hours at 15 s steps, 10 req/s; from errorsFrom on, 30 % fail.
	write := func(errorsFrom time.Time) {
		t.Helper()
		var ok, bad promtest.Series
		ok.Labels = map[string]string{"__name__": "http_requests_total", "job": "checkout", "code": "200"}
		bad.Labels = map[string]string{"__name__": "http_requests_total", "job": "checkout", "code": "500"}
		var okN, badN float64
		for ts := now.Add(-2 * time.Hour); !ts.After(now); ts = ts.Add(15 * time.Second) {
			if ts.After(errorsFrom) {
				okN, badN = okN+105, badN+45
			} else {
				okN += 150
			}
			ok.Samples = append(ok.Samples, promtest.Sample{T: ts, V: okN})
			bad.Samples = append(bad.Samples, promtest.Sample{T: ts, V: badN})
		}
		if err := prom.Write(t.Context(), ok, bad); err != nil {
			t.Fatal(err)
		}
	}
	write(now.Add(-10 * time.Minute))
	b, err := checkout().Burn(t.Context(), q, slo.WorkbookRules[0], now)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", b)
	// 5 m: 30 % bad = 300×; 1 h: 10 of 60 minutes at 30 % ≈ 5 % = ~50×.
	if math.Abs(b.Short-300) > 15 || b.Long < 40 || b.Long > 60 || !b.Holds {
		t.Errorf("burn %s, want ~300 over 5m, ~50 over 1h, holding", b)
	}
	if b, err := checkout().Burn(t.Context(), q, slo.BurnRule{Long: time.Hour, Short: 5 * time.Minute, Factor: 100}, now); err != nil || b.Holds {
		t.Errorf("at 100×, the 1 h window (50×) must keep the rule from holding: %s %v", b, err)
	}
}

// A latency SLI matches its threshold bucket by number, not by spelling: clients and Prometheus
// versions write the same boundary differently (Prometheus 3 stores "1" as "1.0"). A bucket that
// is not there at all is no data, not "every request was slow".
func TestLatencySLIFromPrometheus(t *testing.T) {
	prom := promtest.Start(t)
	q, err := slo.NewPrometheus(prom.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	bucket := func(job, le string, perStep float64) promtest.Series {
		s := promtest.Series{Labels: map[string]string{"__name__": "http_request_duration_seconds_bucket", "job": job, "le": le}}
		v := 0.0
		for ts := now.Add(-30 * time.Minute); !ts.After(now); ts = ts.Add(15 * time.Second) {
			s.Samples = append(s.Samples, promtest.Sample{T: ts, V: v})
			v += perStep
		}
		return s
	}
	// 96 of every 100 requests within 0.3 s (and within 1 s, stored as Prometheus 3 writes it).
	if err := prom.Write(t.Context(), bucket("checkout", "0.1", 50), bucket("checkout", "0.3", 96), bucket("checkout", "1.0", 96),
		bucket("checkout", "+Inf", 100)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		threshold string
		wantBad   float64
		wantErr   string // ErrNoData naming this bucket
	}{
		{threshold: "0.3", wantBad: 0.04},
		{threshold: "0.30", wantBad: 0.04},
		{threshold: "3e-1", wantBad: 0.04},
		{threshold: "1", wantBad: 0.04},
		{threshold: "1.0", wantBad: 0.04},
		{threshold: "0.25", wantErr: `le="0.25"`},
	} {
		s := slo.SLO{Name: "latency", Objective: 0.99, Window: 20 * time.Minute, SLI: slo.SLI{Latency: &slo.LatencySLI{
			Metric: "http_request_duration_seconds", Matchers: `job="checkout"`, Threshold: tc.threshold}}}
		f, err := s.BadFraction(t.Context(), q, 20*time.Minute, now)
		if tc.wantErr != "" {
			if !errors.Is(err, slo.ErrNoData) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("threshold %s with no such bucket: bad %v, err %v; want ErrNoData naming %s", tc.threshold, f.Bad, err, tc.wantErr)
			}
			continue
		}
		if err != nil || math.Abs(f.Bad-tc.wantBad) > 0.001 {
			t.Errorf("threshold %s: bad fraction %v, err %v; want %v", tc.threshold, f.Bad, err, tc.wantBad)
		}
	}
}

// A Prometheus that is gone is an error, never a silent "no data".
func TestPrometheusGoneIsAnError(t *testing.T) {
	prom := promtest.Start(t)
	q, err := slo.NewPrometheus(prom.URL, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	prom.Kill()
	if _, err := checkout().BudgetLeft(t.Context(), q, time.Now()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("query to a killed Prometheus: %v, want connection refused", err)
	}
}

// ±Inf from Prometheus (a division by a zero rate) is an error. NaN (0/0: a ratio or quantile
// over no traffic) is a sample, not "no data": the series exist (an abort condition on it does
// not hold; the SLO arithmetic refuses it, see TestNonFiniteIsUnreadable).
func TestNonFiniteValuesFromPrometheus(t *testing.T) {
	prom := promtest.Start(t)
	q, err := slo.NewPrometheus(prom.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query   string
		wantErr bool
	}{
		{"1/0", true},         // scalar +Inf
		{"-1/0", true},        // scalar -Inf
		{"vector(1)/0", true}, // one sample, +Inf
	} {
		v, ok, err := q.Value(t.Context(), tc.query, time.Now())
		if ok || (err != nil) != tc.wantErr || tc.wantErr && !errors.Is(err, slo.ErrNotFinite) {
			t.Errorf("%s: %v, ok %v, err %v; want no value and error=%v", tc.query, v, ok, err, tc.wantErr)
		}
	}
	for _, query := range []string{"0/0", "vector(0)/0"} {
		if v, ok, err := q.Value(t.Context(), query, time.Now()); !ok || err != nil || !math.IsNaN(v) {
			t.Errorf("%s: %v, ok %v, err %v; want a NaN sample", query, v, ok, err)
		}
	}
}
