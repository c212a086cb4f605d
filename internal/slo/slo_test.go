package slo

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestBudgetAndBurnFormulas(t *testing.T) {
	for _, tc := range []struct {
		bad, objective, left, burn float64
	}{
		{0, 0.999, 1, 0},
		{0.0005, 0.999, 0.5, 0.5},
		{0.001, 0.999, 0, 1},
		{0.002, 0.999, -1, 2},
		{0.0144, 0.999, -13.4, 14.4},
		{0.01, 0.99, 0, 1},
	} {
		if got := BudgetLeftOf(tc.bad, tc.objective); math.Abs(got-tc.left) > 1e-9 {
			t.Errorf("BudgetLeftOf(%v, %v) = %v, want %v", tc.bad, tc.objective, got, tc.left)
		}
		if got := BurnRateOf(tc.bad, tc.objective); math.Abs(got-tc.burn) > 1e-9 {
			t.Errorf("BurnRateOf(%v, %v) = %v, want %v", tc.bad, tc.objective, got, tc.burn)
		}
	}
}

func ratio() SLO {
	return SLO{Name: "checkout", Objective: 0.999, Window: 28 * 24 * time.Hour, SLI: SLI{
		Bad:   `sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))`,
		Total: `sum(rate(http_requests_total{job="checkout"}[{{.window}}]))`,
	}}
}

func TestValidate(t *testing.T) {
	ok := ratio()
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid SLO refused: %v", err)
	}
	lat := SLO{Name: "lat", Objective: 0.99, Window: time.Hour, SLI: SLI{Latency: &LatencySLI{Metric: "http_request_duration_seconds", Threshold: "0.3"}}}
	if err := lat.Validate(); err != nil {
		t.Fatalf("valid latency SLO refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*SLO)
		want   string
	}{
		{"objective 100", func(s *SLO) { s.Objective = 1 }, "objective"},
		{"objective 0", func(s *SLO) { s.Objective = 0 }, "objective"},
		{"no window", func(s *SLO) { s.Window = 0 }, "window"},
		{"good and bad", func(s *SLO) { s.SLI.Good = s.SLI.Bad }, "exactly one of good or bad"},
		{"no total", func(s *SLO) { s.SLI.Total = "" }, "needs total"},
		{"window not used", func(s *SLO) { s.SLI.Total = `sum(rate(x[5m]))` }, "does not use {{.window}}"},
		{"bad template", func(s *SLO) { s.SLI.Total = `sum(rate(x[{{.window}]))` }, "query"},
		{"unknown variable", func(s *SLO) { s.SLI.Total = `sum(rate(x[{{.window}}])) offset {{.offset}}` }, "offset"},
		{"latency and ratio", func(s *SLO) { s.SLI.Latency = &LatencySLI{Metric: "m", Threshold: "1"} }, "latency SLI takes no"},
		{"latency threshold not a number", func(s *SLO) { s.SLI = SLI{Latency: &LatencySLI{Metric: "m", Threshold: "fast"}} }, "not a finite number"},
	} {
		s := ratio()
		tc.mutate(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestQueries(t *testing.T) {
	num, good, total, err := ratio().Queries(5 * time.Minute)
	if err != nil || good || num != `sum(rate(http_requests_total{job="checkout",code=~"5.."}[5m]))` || total != `sum(rate(http_requests_total{job="checkout"}[5m]))` {
		t.Errorf("ratio: %q %v %q %v", num, good, total, err)
	}
	lat := SLO{SLI: SLI{Latency: &LatencySLI{Metric: "http_request_duration_seconds", Matchers: `job="checkout"`, Threshold: "0.3"}}}
	num, good, total, _ = lat.Queries(28 * 24 * time.Hour)
	if !good || num != `sum(rate(http_request_duration_seconds_bucket{job="checkout",le=~"0\\.3"}[4w]))` ||
		total != `sum(rate(http_request_duration_seconds_bucket{job="checkout",le="+Inf"}[4w]))` {
		t.Errorf("latency: %q %v %q", num, good, total)
	}
}

// fixed answers queries from a map; a missing key is no sample.
type fixed map[string]float64

func (f fixed) Value(_ context.Context, q string, _ time.Time) (float64, bool, error) {
	v, ok := f[q]
	return v, ok, nil
}

// The threshold bucket is matched by every usual spelling of its number.
func TestLeMatcher(t *testing.T) {
	for _, tc := range []struct{ threshold, want string }{
		{"0.3", `le=~"0\\.3"`},
		{"0.30", `le=~"0\\.3|0\\.30"`},
		{"1", `le=~"1|1\\.0"`},
		{"1.0", `le=~"1|1\\.0"`},
		{"10", `le=~"10|10\\.0"`},
		{"1000000", `le=~"1\\.0e\\+06|1000000|1000000\\.0|1e\\+06"`},
		{"0.0005", `le=~"0\\.0005"`},
		{"abc", ""},
		{"+Inf", ""},
	} {
		got, err := leMatcher(tc.threshold)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("leMatcher(%q) = %s, %v; want %s", tc.threshold, got, err, tc.want)
		}
	}
}

func TestBadFraction(t *testing.T) {
	s := ratio()
	num, _, total, _ := s.Queries(time.Hour)
	ctx := t.Context()
	if f, err := s.BadFraction(ctx, fixed{num: 2, total: 100}, time.Hour, time.Now()); err != nil || f.Bad != 0.02 {
		t.Errorf("2 of 100: %+v %v", f, err)
	}
	if f, err := s.BadFraction(ctx, fixed{total: 100}, time.Hour, time.Now()); err != nil || f.Bad != 0 {
		t.Errorf("no bad series: %+v %v, want 0", f, err)
	}
	if f, err := s.BadFraction(ctx, fixed{num: 0, total: 0}, time.Hour, time.Now()); err != nil || f.Bad != 0 || f.Total != 0 {
		t.Errorf("no traffic: %+v %v, want 0 bad", f, err)
	}
	if _, err := s.BadFraction(ctx, fixed{}, time.Hour, time.Now()); !errors.Is(err, ErrNoData) {
		t.Errorf("no total series: %v, want ErrNoData", err)
	}
	g := s
	g.SLI.Good, g.SLI.Bad = strings.Replace(s.SLI.Bad, `code=~"5.."`, `code!~"5.."`, 1), ""
	gnum, _, _, _ := g.Queries(time.Hour)
	if f, _ := g.BadFraction(ctx, fixed{gnum: 97, total: 100}, time.Hour, time.Now()); math.Abs(f.Bad-0.03) > 1e-12 {
		t.Errorf("good 97 of 100: bad %v, want 0.03", f.Bad)
	}
	if f, _ := g.BadFraction(ctx, fixed{total: 100}, time.Hour, time.Now()); f.Bad != 1 {
		t.Errorf("no good series with traffic: bad %v, want 1", f.Bad)
	}
}

func TestBurnRuleHoldsOnlyWhenBothWindowsBurn(t *testing.T) {
	s := ratio()
	r := WorkbookRules[0]
	q := func(long, short float64) fixed {
		ln, _, lt, _ := s.Queries(r.Long)
		sn, _, st, _ := s.Queries(r.Short)
		return fixed{ln: long, lt: 1, sn: short, st: 1}
	}
	for _, tc := range []struct {
		long, short float64
		holds       bool
	}{
		{0.02, 0.02, true},     // 20× in both
		{0.02, 0.001, false},   // burning stopped: the short window clears it
		{0.001, 0.05, false},   // a blip: not enough budget gone yet
		{0.0144, 0.0144, true}, // exactly the factor
	} {
		b, err := s.Burn(t.Context(), q(tc.long, tc.short), r, time.Now())
		if err != nil || b.Holds != tc.holds {
			t.Errorf("bad %v/%v: %+v %v, want holds=%v", tc.long, tc.short, b, err, tc.holds)
		}
	}
}

// A non-finite value from any Querier, or a non-finite budget, is unreadable: an error, never a
// NaN budget that compares false against the freeze floor (and so lets a game day start).
func TestNonFiniteIsUnreadable(t *testing.T) {
	s := ratio()
	num, _, total, _ := s.Queries(s.Window)
	inf, nan := math.Inf(1), math.NaN()
	one := s
	one.Objective = 1 // past Validate: 1 − bad/0
	for _, tc := range []struct {
		name string
		slo  SLO
		q    fixed
	}{
		{"+Inf total", s, fixed{num: 1, total: inf}},
		{"-Inf total", s, fixed{num: 1, total: math.Inf(-1)}},
		{"NaN total", s, fixed{num: 1, total: nan}},
		{"+Inf bad", s, fixed{num: inf, total: 100}},
		{"both +Inf", s, fixed{num: inf, total: inf}},
		{"NaN bad", s, fixed{num: nan, total: 100}},
		{"budget over an objective of 100%", one, fixed{num: 0, total: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.slo.BudgetLeft(t.Context(), tc.q, time.Now())
			if !errors.Is(err, ErrNotFinite) {
				t.Errorf("BudgetLeft = %+v, %v; want ErrNotFinite", b, err)
			}
		})
	}
	r := BurnRule{Long: s.Window, Short: s.Window, Factor: 1}
	if b, err := one.Burn(t.Context(), fixed{num: 1, total: 100}, r, time.Now()); !errors.Is(err, ErrNotFinite) {
		t.Errorf("burn against an objective of 100%%: %+v, %v; want ErrNotFinite", b, err)
	}
}
