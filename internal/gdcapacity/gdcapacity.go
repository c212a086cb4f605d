// Package gdcapacity turns a GameDay's spec.capacity and its steps into the capacity model's
// inputs and faults, and its predictions into status. The GameDay controller (live, from the
// cluster and Prometheus) and the plan command (from a manifest) share it.
package gdcapacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/capacity"
	"github.com/firedrill-dev/firedrill/internal/selector"
	"github.com/firedrill-dev/firedrill/internal/slo"
)

// Inputs reads what the spec leaves to the live system. Either may be nil: the plan command
// without a cluster has no Replicas, without Prometheus no Query.
type Inputs struct {
	// Replicas returns a workload's ready replicas.
	Replicas func(ctx context.Context, w chaosv1alpha1.CapacityWorkload) (int, error)
	// ReadyPods counts the ready pods a selector matches.
	ReadyPods func(ctx context.Context, sel *chaosv1alpha1.LabelSelector) (int, error)
	// ZoneReplicas returns how many of a workload's pods run on nodes in a zone.
	ZoneReplicas func(ctx context.Context, w chaosv1alpha1.CapacityWorkload, zone string) (int, error)
	// Query runs an instant PromQL query to one number.
	Query func(ctx context.Context, q string) (float64, error)
}

func dec(s chaosv1alpha1.Decimal) float64 { v, _ := strconv.ParseFloat(string(s), 64); return v }

func ratio(s chaosv1alpha1.Ratio) float64 { v, _ := strconv.ParseFloat(string(s), 64); return v }

// Build reads the model: loads, replicas, queues and links.
func Build(ctx context.Context, spec *chaosv1alpha1.CapacitySpec, in Inputs) (capacity.Model, error) {
	m := capacity.Model{MaxUtilisation: ratio(spec.MaxUtilisation)}
	var errs []error
	for _, s := range spec.Services {
		svc := capacity.Service{Name: s.Name, CacheHitRatio: ratio(s.CacheHitRatio)}
		if s.LatencyThreshold != nil {
			svc.LatencyThreshold = s.LatencyThreshold.Duration
		}
		if l := s.Load; l != nil {
			switch {
			case l.PromQL != "" && in.Query == nil:
				errs = append(errs, fmt.Errorf("service %s: its load is a PromQL query and no Prometheus is reachable", s.Name))
			case l.PromQL != "":
				v, err := in.Query(ctx, l.PromQL)
				switch {
				case err != nil:
					errs = append(errs, fmt.Errorf("service %s: load query: %w", s.Name, err))
				case math.IsNaN(v) || math.IsInf(v, 0):
					// NaN (a ratio over no traffic) compares false everywhere: it would pass
					// every limit and read as within capacity.
					errs = append(errs, fmt.Errorf("service %s: load query %q returned %g, not a finite load", s.Name, l.PromQL, v))
				default:
					svc.Load = v
				}
			default:
				svc.Load = dec(l.Value)
			}
		}
		q, err := queue(ctx, s, in)
		if err != nil {
			errs = append(errs, err)
		}
		svc.Queue = q
		m.Services = append(m.Services, svc)
		if s.Fronts != "" {
			m.Links = append(m.Links, capacity.Link{From: s.Name, To: s.Fronts, Cache: true})
		}
		for _, c := range s.Calls {
			l := capacity.Link{From: s.Name, To: c.Service, Ratio: dec(c.Ratio), Retries: int(c.Retries), Pool: int(c.Pool)}
			m.Links = append(m.Links, l)
		}
	}
	return m, errors.Join(errs...)
}

// queue builds a service's queue: replicas (declared or live), workers and service time. A
// cache without a service time is no queue.
func queue(ctx context.Context, s chaosv1alpha1.CapacityService, in Inputs) (capacity.Queue, error) {
	var q capacity.Queue
	switch {
	case s.Replicas != nil:
		q.Replicas = int(*s.Replicas)
	case s.Workload != nil && in.Replicas == nil:
		return q, fmt.Errorf("service %s: the replicas of %s %s need a cluster (or set replicas)", s.Name, s.Workload.Kind, s.Workload.Name)
	case s.Workload != nil:
		n, err := in.Replicas(ctx, *s.Workload)
		if err != nil {
			return q, fmt.Errorf("service %s: %w", s.Name, err)
		}
		q.Replicas = n
	case s.Selector != nil && in.ReadyPods == nil:
		return q, fmt.Errorf("service %s: the replicas its selector matches need a cluster (or set replicas)", s.Name)
	case s.Selector != nil:
		n, err := in.ReadyPods(ctx, s.Selector)
		if err != nil {
			return q, fmt.Errorf("service %s: %w", s.Name, err)
		}
		q.Replicas = n
	}
	if s.ServiceTime != nil {
		q.ServiceTime = s.ServiceTime.Duration
	}
	perReplica := dec(s.PerReplica)
	if len(s.Fitted) > 0 {
		loads, busy := make([]float64, len(s.Fitted)), make([]float64, len(s.Fitted))
		for i, o := range s.Fitted {
			loads[i], busy[i] = dec(o.Load), ratio(o.Busy)
		}
		fit, err := capacity.FitPerReplica(loads, busy)
		if err != nil {
			return q, fmt.Errorf("service %s: fitted: %w", s.Name, err)
		}
		perReplica = fit
	}
	if c := s.CPU; c != nil {
		perReplica = capacity.PerReplicaFromCPU(dec(c.CoresPerReplica), dec(c.CPUSecondsPerRequest))
		if q.ServiceTime == 0 { // CPU-bound: a request holds a worker for its CPU time
			q.ServiceTime = time.Duration(dec(c.CPUSecondsPerRequest) * float64(time.Second))
		}
	}
	switch {
	case s.ConcurrencyLimit != nil:
		q.Workers = int(*s.ConcurrencyLimit)
		if perReplica > 0 && q.ServiceTime > 0 && float64(q.Workers)/q.ServiceTime.Seconds() > perReplica {
			// The CPU (or the declared capacity) is the tighter limit: it serves fewer requests
			// at once than the limit admits. Fewer workers, not longer service times: stretching
			// S to limit/perReplica kept the capacity but multiplied the latency (64 workers on
			// 200/s: S 10 ms → 320 ms).
			q.Workers, q.ServiceTime = workers(perReplica, q.ServiceTime)
		}
	case perReplica > 0 && q.ServiceTime > 0:
		q.Workers, q.ServiceTime = workers(perReplica, q.ServiceTime)
	}
	return q, nil
}

// workers is the whole number of workers closest to perReplica × s, and the service time that
// makes workers / time exactly perReplica: the rounding moves s by at most a third once there are
// two workers or more; under 1.5 one worker serves at perReplica (half a core: 2 × the CPU time).
func workers(perReplica float64, s time.Duration) (int, time.Duration) {
	w := max(1, int(math.Round(perReplica*s.Seconds())))
	return w, time.Duration(float64(w) / perReplica * float64(time.Second))
}

// Faults maps a step's experiment onto the services it names in capacityTargets. Notes say what
// the model does not cover (its prediction is then the steady state for that part).
func Faults(ctx context.Context, step chaosv1alpha1.GameDayStep, m capacity.Model, services []chaosv1alpha1.CapacityService, in Inputs) (map[string]capacity.Fault, []string) {
	e := step.Experiment
	if e == nil || len(step.CapacityTargets) == 0 {
		return nil, nil
	}
	out := map[string]capacity.Fault{}
	var notes []string
	for _, name := range step.CapacityTargets {
		var f capacity.Fault
		n := 0
		for _, s := range m.Services {
			if s.Name == name {
				n = s.Queue.Replicas
			}
		}
		switch e.Action {
		case chaosv1alpha1.ActionPodKill:
			k, note := killed(ctx, e, n, name, services, in)
			f.KillReplicas = k
			if note != "" {
				notes = append(notes, note)
			}
		case chaosv1alpha1.ActionNetworkLatency:
			if e.Network != nil && e.Network.Delay != nil {
				// Conservative: the delay is taken to hold every replica's workers, whatever
				// share of the pods the mode picks.
				f.Latency = e.Network.Delay.Duration
			}
		case chaosv1alpha1.ActionPacketLoss:
			if e.Network != nil && e.Network.Loss != nil {
				p, _ := strconv.ParseFloat(string(*e.Network.Loss), 64)
				f.Loss = p / 100
			}
		case chaosv1alpha1.ActionCacheFlush:
			f.CacheFlushed = true
		default:
			notes = append(notes, fmt.Sprintf("%s on %s is not modelled", e.Action, name))
		}
		out[name] = f
	}
	return out, notes
}

// killed is how many of a service's n replicas a PodKill takes: selector.Count by its mode, as
// the engine picks, over the workload's pods in the zone for a zone outage. With the zone's pods
// unknown, over all n: at most that many are in the zone.
func killed(ctx context.Context, e *chaosv1alpha1.ExperimentSpec, n int, name string, services []chaosv1alpha1.CapacityService, in Inputs) (int, string) {
	if e.Selector != nil && e.Selector.Zone != "" {
		all := selector.Count(e.Mode, e.Value, n)
		for _, s := range services {
			if s.Name == name && s.Workload != nil && in.ZoneReplicas != nil {
				k, err := in.ZoneReplicas(ctx, *s.Workload, e.Selector.Zone)
				if err != nil {
					return all, fmt.Sprintf("%s: replicas in zone %s unknown (%v): %d of all %d counted", name, e.Selector.Zone, err, all, n)
				}
				return selector.Count(e.Mode, e.Value, min(k, n)), ""
			}
		}
		return all, fmt.Sprintf("%s: replicas in zone %s unknown without a workload and a cluster: %d of all %d counted", name, e.Selector.Zone, all, n)
	}
	return selector.Count(e.Mode, e.Value, n), ""
}

// Step is what the model says of one step: status entries, the services predicted to tip over
// (with the numbers), what it does not model, and the model's own predictions (same order as
// Predictions), whose faulted queues observations are read against.
type Step struct {
	Predictions []chaosv1alpha1.ServicePrediction
	Saturated   []string
	Notes       []string
	Modelled    []capacity.Prediction
}

// PredictStep predicts, with model m, the services a step touches (its targets and every service
// linked to them) under its fault. live (while the step runs) does not take a PodKill's replicas
// off a count read live (workload or selector), which already shows them gone.
func PredictStep(ctx context.Context, m capacity.Model, services []chaosv1alpha1.CapacityService, step chaosv1alpha1.GameDayStep, in Inputs, live bool) (Step, error) {
	return PredictGroup(ctx, m, services, []chaosv1alpha1.GameDayStep{step}, in, live)
}

// liveKills drops the kills from faults on services whose replicas are read live (a workload or
// a selector): the count already shows the killed pods gone.
func liveKills(faults map[string]capacity.Fault, services []chaosv1alpha1.CapacityService) {
	for _, svc := range services {
		if f, ok := faults[svc.Name]; ok && (svc.Workload != nil || svc.Selector != nil) {
			f.KillReplicas = 0
			faults[svc.Name] = f
		}
	}
}

// Combine merges the faults of steps that run together onto each service: kills add up
// (capped at the service's replicas by the model), delays add, losses compound
// (1 − ∏(1 − p)), a flush by any is a flush.
func Combine(all ...map[string]capacity.Fault) map[string]capacity.Fault {
	out := map[string]capacity.Fault{}
	for _, faults := range all {
		for name, f := range faults {
			c := out[name]
			c.KillReplicas += f.KillReplicas
			c.Latency += f.Latency
			c.Loss += f.Loss - c.Loss*f.Loss // 1 − (1−a)(1−b), exact when one is 0
			c.CacheFlushed = c.CacheFlushed || f.CacheFlushed
			out[name] = c
		}
	}
	return out
}

// Injects says whether the model judges a step's fault: an experiment with capacity targets
// that is not a dry run (a dry run touches nothing).
func Injects(step chaosv1alpha1.GameDayStep) bool {
	return step.Experiment != nil && len(step.CapacityTargets) > 0 && !step.Experiment.DryRun
}

// StepNames lists the steps' names, for messages: "kill-a, kill-b".
func StepNames(steps []chaosv1alpha1.GameDayStep) string {
	names := make([]string, len(steps))
	for i, st := range steps {
		names[i] = st.Name
	}
	return strings.Join(names, ", ")
}

// Together is the steps of a parallel group (chaosv1alpha1.GroupEnd) judged with their faults
// combined (PredictGroup) before the group starts: those that Inject, when there are two or more
// and not all of them allow saturation; nil otherwise. The controller's group preflight and the
// plan command both choose through it.
func Together(group []chaosv1alpha1.GameDayStep) []chaosv1alpha1.GameDayStep {
	var out []chaosv1alpha1.GameDayStep
	allowed := true
	for _, st := range group {
		if Injects(st) {
			out = append(out, st)
			allowed = allowed && st.AllowSaturation
		}
	}
	if len(out) < 2 || allowed {
		return nil
	}
	return out
}

// PredictGroup predicts, with model m, the services the steps of a parallel group touch under
// all their faults at once (Combine): each step alone can fit while together they do not. live
// is as for PredictStep.
func PredictGroup(ctx context.Context, m capacity.Model, services []chaosv1alpha1.CapacityService, steps []chaosv1alpha1.GameDayStep, in Inputs, live bool) (Step, error) {
	var all []map[string]capacity.Fault
	var targets, notes []string
	for _, st := range steps {
		f, n := Faults(ctx, st, m, services, in)
		if live && st.Experiment != nil && !st.Experiment.DryRun {
			liveKills(f, services)
		}
		all, targets, notes = append(all, f), append(targets, st.CapacityTargets...), append(notes, n...)
	}
	ps, err := m.Predict(Combine(all...))
	if err != nil {
		return Step{}, err
	}
	affected := Affected(m, targets)
	out := Step{Notes: notes}
	for _, p := range ps {
		if affected[p.Service] {
			out.Modelled = append(out.Modelled, p)
		}
	}
	out.Predictions, out.Saturated = Predictions(out.Modelled)
	return out, nil
}

// PromQuery reads one number from Prometheus at now(); a query with no sample is an error.
func PromQuery(q slo.Querier, now func() time.Time) func(context.Context, string) (float64, error) {
	return func(ctx context.Context, query string) (float64, error) {
		v, ok, err := q.Value(ctx, query, now())
		if err == nil && !ok {
			err = fmt.Errorf("query %q returned no sample", query)
		}
		return v, err
	}
}

// Predictions turns the model's predictions into status entries; saturated lists the services
// predicted to tip over, with the numbers.
func Predictions(ps []capacity.Prediction) (out []chaosv1alpha1.ServicePrediction, saturated []string) {
	for _, p := range ps {
		sp := chaosv1alpha1.ServicePrediction{Service: p.Service, Load: f1(p.Load), Replicas: int32(p.Replicas)}
		if p.Capacity > 0 || p.Saturated != "" {
			sp.Utilisation = strconv.FormatFloat(p.Utilisation, 'f', 3, 64)
			if math.IsInf(p.Utilisation, 1) { // no replica left: no capacity at all
				sp.Utilisation = "∞"
			}
			sp.P99 = capacity.FormatDuration(p.P99)
			sp.SaturationLoad = f1(p.Saturation.Lambda)
			sp.Saturated = p.Saturated
		}
		if p.Saturated != "" {
			saturated = append(saturated, fmt.Sprintf("%s: %s (load %s/s on %d replicas, capacity %s/s, λ* %s/s)",
				p.Service, p.Saturated, f1(p.Load), p.Replicas, f1(p.Capacity), f1(p.Saturation.Lambda)))
		}
		out = append(out, sp)
	}
	return out, saturated
}

// Summaries is the NALSD table of the steady state (N+1 at the maximum utilisation), with the
// USL fit of services that give scalability points.
func Summaries(m capacity.Model, services []chaosv1alpha1.CapacityService) ([]chaosv1alpha1.CapacitySummary, error) {
	ps, err := m.Predict(nil)
	if err != nil {
		return nil, err
	}
	u := m.MaxUtilisation
	if u <= 0 {
		u = 0.9
	}
	var out []chaosv1alpha1.CapacitySummary
	for _, s := range m.Services {
		p, _ := capacity.Find(ps, s.Name)
		sum := capacity.Summarise(s.Name, p.Load, s.Queue, u, 1)
		cs := chaosv1alpha1.CapacitySummary{Service: s.Name, Load: f1(p.Load), Replicas: int32(s.Queue.Replicas)}
		if sum.Capacity > 0 {
			cs.PerReplica, cs.Capacity = f1(sum.PerReplica), f1(sum.Capacity)
			cs.Utilisation = strconv.FormatFloat(sum.Utilisation, 'f', 3, 64)
			cs.Needed, cs.Headroom = int32(sum.Needed), f1(sum.Headroom)
		}
		for _, spec := range services {
			if spec.Name == s.Name && len(spec.Scalability) > 0 {
				cs.Scalability = scalability(spec.Scalability)
			}
		}
		out = append(out, cs)
	}
	return out, nil
}

func scalability(points []chaosv1alpha1.ScalabilityPoint) string {
	pts := make([]capacity.Point, len(points))
	for i, p := range points {
		pts[i] = capacity.Point{N: dec(p.Concurrency), X: dec(p.Throughput)}
	}
	u, err := capacity.FitUSL(pts)
	if err != nil {
		return err.Error()
	}
	peak := u.Peak()
	if math.IsInf(peak, 1) {
		return fmt.Sprintf("USL σ=%.4f κ=0: throughput flattens towards %s/s", u.Sigma, f1(u.Lambda/math.Max(u.Sigma, 1e-9)))
	}
	return fmt.Sprintf("USL σ=%.4f κ=%.6f: peak %s/s at concurrency %.0f", u.Sigma, u.Kappa, f1(u.Throughput(peak)), peak)
}

// Observe reads each predicted service's observed queries into its entry, with the model's p99
// error and a capacity-lost flag when the observations fit a service with under 70 % of the
// modelled capacity. It returns the capacity-lost messages.
// modelled is the model's prediction of each entry of preds (same order): the faulted queue is
// what the observations are read against.
func Observe(ctx context.Context, preds []chaosv1alpha1.ServicePrediction, modelled []capacity.Prediction, services []chaosv1alpha1.CapacityService, query func(context.Context, string) (float64, error)) (lost []string, err error) {
	if query == nil {
		return nil, nil
	}
	var errs []error
	for i := range preds {
		p := &preds[i]
		var obs *chaosv1alpha1.CapacityObserved
		for _, s := range services {
			if s.Name == p.Service {
				obs = s.Observed
			}
		}
		if obs == nil {
			continue
		}
		read := func(q string) (float64, bool) {
			if q == "" {
				return 0, false
			}
			v, err := query(ctx, q)
			if err != nil {
				errs = append(errs, fmt.Errorf("service %s: %w", p.Service, err))
				return 0, false
			}
			// NaN is PromQL's p99 or ratio over no traffic: nothing observed, left empty.
			return v, !math.IsNaN(v) && !math.IsInf(v, 0)
		}
		load, hasLoad := read(obs.Throughput)
		if hasLoad {
			p.ObservedLoad = f1(load)
		}
		if v, ok := read(obs.ErrorRatio); ok {
			p.ObservedErrorRatio = strconv.FormatFloat(v, 'f', 4, 64)
		}
		p99, ok := read(obs.LatencyP99)
		if !ok {
			continue
		}
		observed := time.Duration(p99 * float64(time.Second))
		p.ObservedP99 = capacity.FormatDuration(observed)
		if predicted, err := time.ParseDuration(p.P99); err == nil && observed > 0 {
			p.P99Error = strconv.FormatFloat(100*(predicted.Seconds()-observed.Seconds())/observed.Seconds(), 'f', 1, 64)
		}
		q := modelled[i].Queue
		if !hasLoad || q.Capacity() == 0 {
			continue
		}
		implied := q.ImpliedLoad(observed, 0.99)
		if implied > 0 && load < 0.7*implied {
			p.CapacityLost = fmt.Sprintf("p99 %s at %s/s is what the model predicts at %s/s: the service behaves as if it had %.0f%% of its modelled capacity (%s/s)",
				capacity.FormatDuration(observed), f1(load), f1(implied), 100*load/implied, f1(q.Capacity()*load/implied))
			lost = append(lost, p.Service+": "+p.CapacityLost)
		}
	}
	return lost, errors.Join(errs...)
}

// Affected is the step's targets and every service downstream or upstream of them, for the
// predictions a step records.
func Affected(m capacity.Model, targets []string) map[string]bool {
	out := map[string]bool{}
	for _, t := range targets {
		out[t] = true
	}
	for changed := true; changed; {
		changed = false
		for _, l := range m.Links {
			if out[l.From] != out[l.To] {
				out[l.From], out[l.To], changed = true, true, true
			}
		}
	}
	return out
}

func f1(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "∞"
	}
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
}
