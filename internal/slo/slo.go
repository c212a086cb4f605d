// Package slo is the SLO arithmetic the GameDay guard runs on: error budget left over an SLO
// window, burn rates over short and long windows (the SRE workbook's multi-window, multi-burn-rate
// conditions), from ratio SLIs (good or bad over total) or latency SLIs (a histogram bucket at a
// threshold), queried from Prometheus.
package slo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
)

// WindowVar is what an SLI query writes where the evaluation window goes: `[{{.window}}]`.
const WindowVar = "{{.window}}"

// SLI says how to count good, bad and total events. Set Total with exactly one of Good or Bad
// (PromQL with WindowVar in every range selector), or Latency.
type SLI struct {
	Good, Bad, Total string
	Latency          *LatencySLI
}

// LatencySLI counts an event good when it took at most Threshold: the histogram's bucket at
// le=Threshold over its +Inf bucket.
type LatencySLI struct {
	// Metric is the histogram's name without _bucket ("http_request_duration_seconds").
	Metric string
	// Matchers narrow it ("job=\"checkout\""), without braces; may be empty.
	Matchers string
	// Threshold is the bucket boundary, a number ("0.3"). It is matched by value: "0.30", "1"
	// and "1.0" find the buckets stored as le="0.3", "1.0" and "1".
	Threshold string
}

// SLO is an objective over a window.
type SLO struct {
	Name string
	SLI  SLI
	// Objective is the good fraction promised, 0 < Objective < 1 (0.999 for "99.9").
	Objective float64
	// Window is the SLO's window (28 days, say): the error budget's period.
	Window time.Duration
}

// Validate checks the SLO can be evaluated: objective in (0, 1), a window, one SLI form, every
// query a valid template that uses the window.
func (s SLO) Validate() error {
	if s.Objective <= 0 || s.Objective >= 1 {
		return fmt.Errorf("slo %s: objective %v must be between 0 and 100 %% exclusive", s.Name, s.Objective*100)
	}
	if s.Window <= 0 {
		return fmt.Errorf("slo %s: window must be positive", s.Name)
	}
	if l := s.SLI.Latency; l != nil {
		if s.SLI.Good != "" || s.SLI.Bad != "" || s.SLI.Total != "" {
			return fmt.Errorf("slo %s: a latency SLI takes no good, bad or total query", s.Name)
		}
		if l.Metric == "" || l.Threshold == "" {
			return fmt.Errorf("slo %s: a latency SLI needs metric and threshold", s.Name)
		}
		if _, err := leMatcher(l.Threshold); err != nil {
			return fmt.Errorf("slo %s: %w", s.Name, err)
		}
		return nil
	}
	if (s.SLI.Good == "") == (s.SLI.Bad == "") || s.SLI.Total == "" {
		return fmt.Errorf("slo %s: a ratio SLI needs total and exactly one of good or bad", s.Name)
	}
	for _, q := range []string{s.SLI.Good, s.SLI.Bad, s.SLI.Total} {
		if q == "" {
			continue
		}
		if !strings.Contains(q, WindowVar) {
			return fmt.Errorf("slo %s: query %q does not use %s for its range", s.Name, q, WindowVar)
		}
		if _, err := render(q, time.Minute); err != nil {
			return fmt.Errorf("slo %s: %w", s.Name, err)
		}
	}
	return nil
}

// render puts the window into a query template.
func render(q string, window time.Duration) (string, error) {
	t, err := template.New("sli").Option("missingkey=error").Parse(q)
	if err != nil {
		return "", fmt.Errorf("query %q: %w", q, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, map[string]string{"window": model.Duration(window).String()}); err != nil {
		return "", fmt.Errorf("query %q: %w", q, err)
	}
	return b.String(), nil
}

// leMatcher is the label matcher for the bucket at threshold: le is a string, and the same
// boundary is written "0.3" or "0.30", "1" or "1.0" (Prometheus 3 and most non-Go clients), "1e+06"
// or "1000000", so an exact match on the spelling given would miss the bucket.
func leMatcher(threshold string) (string, error) {
	f, err := strconv.ParseFloat(threshold, 64)
	if err != nil || !isFinite(f) {
		return "", fmt.Errorf("latency threshold %q is not a finite number", threshold)
	}
	forms := []string{threshold}
	for _, s := range []string{strconv.FormatFloat(f, 'g', -1, 64), strconv.FormatFloat(f, 'f', -1, 64)} {
		forms = append(forms, s)
		if mant, exp, found := strings.Cut(s, "e"); !strings.Contains(mant, ".") {
			if found {
				forms = append(forms, mant+".0e"+exp) // Python's client: "1.0e+06"
			} else {
				forms = append(forms, s+".0")
			}
		}
	}
	slices.Sort(forms)
	forms = slices.Compact(forms)
	for i := range forms {
		forms[i] = regexp.QuoteMeta(forms[i])
	}
	return "le=~" + strconv.Quote(strings.Join(forms, "|")), nil
}

// Queries returns the PromQL for the bad (or good) count and the total over window.
func (s SLO) Queries(window time.Duration) (num string, good bool, total string, err error) {
	if l := s.SLI.Latency; l != nil {
		le, err := leMatcher(l.Threshold)
		if err != nil {
			return "", false, "", err
		}
		sel := func(m string) string {
			if l.Matchers != "" {
				m = l.Matchers + "," + m
			}
			return fmt.Sprintf("sum(rate(%s_bucket{%s}[%s]))", l.Metric, m, model.Duration(window))
		}
		return sel(le), true, sel(`le="+Inf"`), nil
	}
	q, good := s.SLI.Bad, false
	if s.SLI.Good != "" {
		q, good = s.SLI.Good, true
	}
	if num, err = render(q, window); err != nil {
		return "", false, "", err
	}
	if total, err = render(s.SLI.Total, window); err != nil {
		return "", false, "", err
	}
	return num, good, total, nil
}

// Querier is what the SLO arithmetic needs from Prometheus: one instant value.
type Querier interface {
	// Value evaluates an instant query at t; ok is false when it returned no sample. A NaN
	// sample (0/0: a ratio or quantile over no traffic) is a sample.
	Value(ctx context.Context, query string, t time.Time) (v float64, ok bool, err error)
}

// Fraction is the bad fraction of events over a window.
type Fraction struct {
	Bad   float64 // 0..1
	Total float64 // events per second over the window, averaged (0: no traffic)
	// Queries that produced it, for conditions and events.
	NumQuery, TotalQuery string
}

// ErrNoData means a query returned no sample: the series do not exist (yet), which is not the
// same as no traffic.
var ErrNoData = errors.New("no data")

// ErrNotFinite means a query or the arithmetic on it gave ±Inf or NaN: unreadable, never a
// budget or a burn rate (NaN compares false with any floor, so it would pass every check).
var ErrNotFinite = errors.New("not a finite value")

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// BadFraction queries the bad fraction over window ending at t. No traffic (total 0) is a bad
// fraction of 0: nothing failed.
func (s SLO) BadFraction(ctx context.Context, q Querier, window time.Duration, t time.Time) (Fraction, error) {
	num, good, total, err := s.Queries(window)
	if err != nil {
		return Fraction{}, err
	}
	f := Fraction{NumQuery: num, TotalQuery: total}
	tot, ok, err := q.Value(ctx, total, t)
	if err != nil {
		return f, err
	}
	if !ok {
		return f, fmt.Errorf("slo %s: %s: %w", s.Name, total, ErrNoData)
	}
	if !isFinite(tot) {
		return f, fmt.Errorf("slo %s: %s = %g: %w", s.Name, total, tot, ErrNotFinite)
	}
	f.Total = tot
	if tot <= 0 {
		return f, nil
	}
	n, ok, err := q.Value(ctx, num, t)
	if err != nil {
		return f, err
	}
	if !ok {
		if l := s.SLI.Latency; l != nil {
			// A histogram exports every bucket, so the +Inf bucket with no bucket at the threshold
			// means the threshold is not one of its boundaries: unknown, not "every request slow".
			return f, fmt.Errorf("slo %s: %s has no bucket le=%q (the threshold must be one of its bucket boundaries) while its +Inf bucket has data: %s: %w",
				s.Name, l.Metric+"_bucket", l.Threshold, num, ErrNoData)
		}
		n = 0 // no matching series: none of those events (with a good query, all were bad)
	}
	if !isFinite(n) {
		return f, fmt.Errorf("slo %s: %s = %g: %w", s.Name, num, n, ErrNotFinite)
	}
	if good {
		f.Bad = 1 - n/tot
	} else {
		f.Bad = n / tot
	}
	f.Bad = min(max(f.Bad, 0), 1)
	return f, nil
}

// Budget is the error budget over the SLO window.
type Budget struct {
	// Left is 1 − bad fraction / (1 − objective): 1 untouched, 0 spent, below 0 overspent.
	Left float64
	Fraction
}

// BudgetLeft computes the error budget left at t.
func (s SLO) BudgetLeft(ctx context.Context, q Querier, t time.Time) (Budget, error) {
	f, err := s.BadFraction(ctx, q, s.Window, t)
	if err != nil {
		return Budget{Fraction: f}, err
	}
	b := Budget{Left: BudgetLeftOf(f.Bad, s.Objective), Fraction: f}
	if !isFinite(b.Left) {
		// Unreadable, so the freeze fails safe: no start on a budget nobody can state.
		return b, fmt.Errorf("slo %s: error budget left %g (bad fraction %g): %w", s.Name, b.Left, f.Bad, ErrNotFinite)
	}
	return b, nil
}

// BudgetLeftOf is the pure formula.
func BudgetLeftOf(bad, objective float64) float64 { return 1 - bad/(1-objective) }

// BurnRateOf is how many times faster than sustainable the budget burns at a bad fraction.
func BurnRateOf(bad, objective float64) float64 { return bad / (1 - objective) }

// BurnRule is one multi-window burn-rate condition: it holds when the burn rate over both the
// long and the short window is at least Factor (the short window makes it stop holding soon
// after the burning stops).
type BurnRule struct {
	Long, Short time.Duration
	Factor      float64
}

// WorkbookRules are the SRE workbook's page-worthy pairs: 2 % of a 30-day budget in an hour, 5 %
// in six hours.
var WorkbookRules = []BurnRule{{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4}, {Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 6}}

// Burn is a burn rule evaluated.
type Burn struct {
	Rule          BurnRule
	Long, Short   float64 // burn rates
	LongQ, ShortQ string  // the bad-fraction queries over each window
	Holds         bool
	LongF, ShortF Fraction
}

// String says what was measured against what, for a condition message.
func (b Burn) String() string {
	return fmt.Sprintf("burn rate %.2f over %s and %.2f over %s against %g (bad fraction %.4g and %.4g)",
		b.Long, model.Duration(b.Rule.Long), b.Short, model.Duration(b.Rule.Short), b.Rule.Factor, b.LongF.Bad, b.ShortF.Bad)
}

// Burn evaluates a burn rule at t.
func (s SLO) Burn(ctx context.Context, q Querier, r BurnRule, t time.Time) (Burn, error) {
	b := Burn{Rule: r}
	var err error
	if b.LongF, err = s.BadFraction(ctx, q, r.Long, t); err != nil {
		return b, err
	}
	if b.ShortF, err = s.BadFraction(ctx, q, r.Short, t); err != nil {
		return b, err
	}
	b.Long, b.Short = BurnRateOf(b.LongF.Bad, s.Objective), BurnRateOf(b.ShortF.Bad, s.Objective)
	b.LongQ, b.ShortQ = b.LongF.NumQuery, b.ShortF.NumQuery
	if !isFinite(b.Long) || !isFinite(b.Short) {
		return b, fmt.Errorf("slo %s: burn rates %g and %g: %w", s.Name, b.Long, b.Short, ErrNotFinite)
	}
	// At the factor counts as over it; the tolerance absorbs float division (0.0144/0.001).
	const eps = 1e-9
	b.Holds = b.Long >= r.Factor*(1-eps) && b.Short >= r.Factor*(1-eps)
	return b, nil
}
