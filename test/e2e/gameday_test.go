//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/firedrill-dev/firedrill/test/promtest"
)

// nodeIP is where the local cluster's node (and so a Prometheus its pods can reach) listens.
const nodeIP = "10.231.0.1"

// gameDays runs a two-step game day (PodKill, then a pause) on the local cluster, guarded by an
// SLO on a real Prometheus the manager pod queries over the node IP: first with a healthy SLI
// (it succeeds, budgets recorded), then with the SLI failing mid-run (it aborts).
func gameDays(t *testing.T) {
	prom := promtest.Start(t, promtest.WithHost(nodeIP))
	var okN, badN float64
	write := func(from, to time.Time, errShare float64) {
		t.Helper()
		ok := promtest.Series{Labels: map[string]string{"__name__": "http_requests_total", "job": "checkout", "code": "200"}}
		bad := promtest.Series{Labels: map[string]string{"__name__": "http_requests_total", "job": "checkout", "code": "500"}}
		for ts := from.Add(5 * time.Second); !ts.After(to); ts = ts.Add(5 * time.Second) {
			okN += 50 * (1 - errShare)
			badN += 50 * errShare
			ok.Samples = append(ok.Samples, promtest.Sample{T: ts, V: okN})
			bad.Samples = append(bad.Samples, promtest.Sample{T: ts, V: badN})
		}
		if err := prom.Write(context.Background(), ok, bad); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Now().Add(-time.Minute)
	write(t0.Add(-20*time.Minute), t0, 0)
	gameDay := func(name, pause string) string {
		return fmt.Sprintf(`apiVersion: chaos.firedrill.dev/v1alpha1
kind: GameDay
metadata: {name: %s, namespace: firedrill-demo}
spec:
  prometheus: {address: %q, timeout: 2s}
  evaluationInterval: 1s
  slos:
  - name: checkout-availability
    objective: "99.9"
    window: 24h
    ratio:
      bad: sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
      total: sum(rate(http_requests_total{job="checkout"}[{{.window}}]))
  budgetPolicy: {freezeBelowPercent: 10}
  steps:
  - name: kill-one
    experiment:
      action: PodKill
      selector:
        namespaces: [firedrill-demo]
        labelSelector: {matchLabels: {app: checkout}}
      mode: one
      podKill: {gracePeriodSeconds: 0}
  - name: watch
    pause: %s
`, name, prom.URL, pause)
	}

	t.Run("a guarded game day kills a pod, pauses and succeeds", func(t *testing.T) {
		applyYAML(t, gameDay("drill", "3s"))
		kubectl(t, "-n", "firedrill-demo", "wait", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s", "gameday/drill")
		got := kubectl(t, "-n", "firedrill-demo", "get", "gameday", "drill", "-o",
			`jsonpath={.status.steps[0].phase} {.status.steps[1].phase} {.status.budgets[0].before} {.status.budgets[0].after} {.status.conditions[?(@.type=="Completed")].reason}`)
		f := strings.Fields(got)
		if len(f) != 5 || f[0] != "Succeeded" || f[1] != "Succeeded" || f[2] != "100.00" || f[4] != "AllStepsSucceeded" {
			t.Errorf("game day status %q, want both steps Succeeded, budget before 100.00, AllStepsSucceeded", got)
		}
		if phase := kubectl(t, "-n", "firedrill-demo", "get", "experiment", "drill-kill-one", "-o", "jsonpath={.status.phase}"); phase != "Succeeded" {
			t.Errorf("the step's experiment: %s", phase)
		}
	})

	t.Run("a burning SLO aborts a running game day", func(t *testing.T) {
		applyYAML(t, gameDay("burning", "10m"))
		kubectl(t, "-n", "firedrill-demo", "wait", "--for=jsonpath={.status.steps[1].phase}=Running", "--timeout=120s", "gameday/burning")
		write(t0, time.Now(), 1) // every request failing for the last minute
		kubectl(t, "-n", "firedrill-demo", "wait", "--for=jsonpath={.status.phase}=Aborted", "--timeout=30s", "gameday/burning")
		reason := kubectl(t, "-n", "firedrill-demo", "get", "gameday", "burning", "-o", `jsonpath={.status.conditions[?(@.type=="Aborted")].reason}`)
		if reason != "BurnRateExceeded" {
			t.Errorf("aborted with %q, want BurnRateExceeded", reason)
		}
	})
	kubectl(t, "-n", "firedrill-demo", "delete", "gameday", "drill", "burning", "--timeout=60s")
}

// scheduledInAZone applies a GameDay scheduled in Europe/Paris, months away, to the deployed
// manager: its image holds nothing but the binary, so the zone must come from the binary itself.
// It is Scheduled, due at 10:00 Paris time, and not ScheduleInvalid ("unknown time zone").
func scheduledInAZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	// The 1st of a month six months on: far enough that no run starts during the suite.
	now := time.Now().In(paris)
	due := time.Date(now.Year(), now.Month()+6, 1, 10, 0, 0, 0, paris)
	applyYAML(t, fmt.Sprintf(`apiVersion: chaos.firedrill.dev/v1alpha1
kind: GameDay
metadata: {name: paris-drill, namespace: firedrill-demo}
spec:
  schedule: {cron: "0 10 1 %d *", timeZone: Europe/Paris}
  steps:
  - name: wait
    pause: 1s
`, int(due.Month())))
	kubectl(t, "-n", "firedrill-demo", "wait", "--for=jsonpath={.status.phase}=Scheduled", "--timeout=60s", "gameday/paris-drill")
	got := kubectl(t, "-n", "firedrill-demo", "get", "gameday", "paris-drill", "-o",
		`jsonpath={.status.nextScheduleTime}|{.status.conditions[?(@.reason=="ScheduleInvalid")].message}`)
	next, invalid, _ := strings.Cut(got, "|")
	if invalid != "" {
		t.Errorf("ScheduleInvalid: %s", invalid)
	}
	if at, err := time.Parse(time.RFC3339, next); err != nil || !at.Equal(due) {
		t.Errorf("nextScheduleTime %q, want %s (%v)", next, due.UTC().Format(time.RFC3339), err)
	}
	kubectl(t, "-n", "firedrill-demo", "delete", "gameday", "paris-drill", "--timeout=60s")
}
