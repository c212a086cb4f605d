package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/robfig/cron/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
)

// LabelScheduledBy marks the runs a scheduled GameDay started.
const LabelScheduledBy = "chaos.firedrill.dev/scheduled-by"

// reconcileSchedule starts the run due (a child GameDay), or records why a due time was
// skipped, keeps the history, and comes back at the next time.
func (r *GameDayReconciler) reconcileSchedule(ctx context.Context, s *gdScope) (ctrl.Result, error) {
	gd, sch := s.gd, s.gd.Spec.Schedule
	gd.Status.Phase = chaosv1alpha1.GameDayScheduled
	// invalid says why the schedule cannot run; nothing is due until the spec changes.
	invalid := func(msg string) (ctrl.Result, error) {
		gd.Status.NextScheduleTime = nil
		r.setCondition(s, chaosv1alpha1.ConditionCompleted, metav1.ConditionFalse, chaosv1alpha1.ReasonScheduleInvalid, msg)
		return ctrl.Result{}, nil
	}
	loc := time.UTC
	if sch.TimeZone != "" {
		var err error
		if loc, err = time.LoadLocation(sch.TimeZone); err != nil {
			return invalid(fmt.Sprintf("spec.schedule.timeZone %q: %v", sch.TimeZone, err))
		}
	}
	cs, err := cron.ParseStandard(sch.Cron)
	if err != nil {
		return invalid(fmt.Sprintf("spec.schedule.cron %q: %v", sch.Cron, err))
	}

	last := gd.CreationTimestamp.Time
	if gd.Status.LastScheduleTime != nil {
		last = gd.Status.LastScheduleTime.Time
	}
	due, next, ok := scheduleTimes(cs, loc, last, s.now)
	if !ok {
		return invalid(fmt.Sprintf("spec.schedule.cron %q never fires: no such date (30 February, 31 April, ...)", sch.Cron))
	}
	if c := meta.FindStatusCondition(gd.Status.Conditions, chaosv1alpha1.ConditionCompleted); c != nil && c.Reason == chaosv1alpha1.ReasonScheduleInvalid {
		// The schedule was fixed: the old complaint no longer holds.
		meta.RemoveStatusCondition(&gd.Status.Conditions, chaosv1alpha1.ConditionCompleted)
	}

	var children chaosv1alpha1.GameDayList
	if err := r.Client.List(ctx, &children, client.InNamespace(gd.Namespace), client.MatchingLabels{LabelScheduledBy: gd.Name}); err != nil {
		return ctrl.Result{}, err
	}
	phase := map[string]chaosv1alpha1.GameDayPhase{}
	var active, leaving []*chaosv1alpha1.GameDay
	for i := range children.Items {
		c := &children.Items[i]
		if !metav1.IsControlledBy(c, gd) {
			continue
		}
		phase[c.Name] = c.Status.Phase
		switch {
		case c.Status.Phase.Finished():
		case c.DeletionTimestamp == nil:
			active = append(active, c)
		default:
			leaving = append(leaving, c) // its finalizer is taking its faults off
		}
	}
	for i := range gd.Status.Runs {
		run := &gd.Status.Runs[i]
		if p, ok := phase[run.GameDay]; ok {
			if p != "" {
				run.Phase = string(p)
			}
			continue
		}
		if run.GameDay == "" || run.Phase == chaosv1alpha1.ScheduledRunDeleted || chaosv1alpha1.GameDayPhase(run.Phase).Finished() {
			continue
		}
		// Unfinished and not in the cache: gone (replaced, deleted by hand), or started by a pass
		// the cache has not caught up with. Only the API server can tell which.
		err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: gd.Namespace, Name: run.GameDay}, &chaosv1alpha1.GameDay{})
		switch {
		case apierrors.IsNotFound(err):
			run.Phase = chaosv1alpha1.ScheduledRunDeleted
			if run.Message == "" {
				run.Message = "its GameDay was deleted before it finished"
			}
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("reading run %s: %w", run.GameDay, err)
		}
	}

	wait := next.Sub(s.now)
	if !due.IsZero() {
		waiting, err := r.startRun(ctx, s, due, active, leaving)
		if err != nil {
			// The time is not marked done: the next pass (the error requeues it) tries again.
			return ctrl.Result{}, err
		}
		if waiting {
			// Not done either: the old run's going wakes this one (it is owned), the poll is
			// the fallback.
			wait = min(wait, leavingPoll)
		} else {
			// Only now: the run exists or its skip is recorded.
			gd.Status.LastScheduleTime = &metav1.Time{Time: due}
		}
	}
	if err := r.trimRuns(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	gd.Status.NextScheduleTime = &metav1.Time{Time: next}
	return ctrl.Result{RequeueAfter: wait}, nil
}

// scheduleTimes gives the latest time due in (last, now], zero if none (earlier missed times are
// not run late), and the first time after now, both in loc. ok is false when the schedule has
// no next time: cron's Next returns the zero time for a date that never comes (30 February).
//
// When the clocks go back, a wall time comes twice (02:30 CEST, then 02:30 CET): it is one time of
// the schedule, run once, as cron does.
func scheduleTimes(cs cron.Schedule, loc *time.Location, last, now time.Time) (due, next time.Time, ok bool) {
	wall := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04") }
	next = cs.Next(now.In(loc))
	if next.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	// After a long outage of a frequent schedule, step from near now rather than through every
	// missed time (a minutely cron down for a week has 10,000): from the shortest look back that
	// holds a due time.
	from := last
	for _, back := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 31 * 24 * time.Hour, 366 * 24 * time.Hour} {
		if start := now.Add(-back); start.After(from) && !cs.Next(start.In(loc)).After(now) {
			from = start
			break
		}
	}
	for t, n := cs.Next(from.In(loc)), 0; !t.IsZero() && !t.After(now) && n < 10000; t, n = cs.Next(t), n+1 {
		if wall(t) != wall(last) {
			due = t // the latest time due; earlier missed ones are not run late
		}
	}
	done := last
	if due.After(done) {
		done = due
	}
	if wall(next) == wall(done) {
		next = cs.Next(next)
	}
	return due, next, true
}

// leavingPoll is how often a due run waiting for the previous run to go looks again.
const leavingPoll = 5 * time.Second

// startRun starts the run due, or records why it is skipped. waiting: a previous run is still
// going away (replaced, or deleted by hand), its faults coming off; the run starts once it is
// gone, so it meets the system without them.
func (r *GameDayReconciler) startRun(ctx context.Context, s *gdScope, due time.Time, active, leaving []*chaosv1alpha1.GameDay) (waiting bool, err error) {
	gd, sch := s.gd, s.gd.Spec.Schedule
	name := fmt.Sprintf("%s-%d", gd.Name, due.Unix()/60)
	record := func(run, phase, msg string) {
		for i := range gd.Status.Runs {
			if gd.Status.Runs[i].ScheduledAt.Equal(&metav1.Time{Time: due}) {
				return // this due time is already recorded (a pass whose status write was lost)
			}
		}
		gd.Status.Runs = append(gd.Status.Runs, chaosv1alpha1.ScheduledRun{ScheduledAt: metav1.Time{Time: due}, GameDay: run, Phase: phase, Message: msg})
	}
	for _, a := range active {
		if a.Name == name {
			// Started by an earlier pass whose status write did not land: it is this time's run,
			// not a run in the way of it.
			record(name, string(chaosv1alpha1.GameDayPending), "")
			return false, nil
		}
	}
	skip := func(msg string) { record("", chaosv1alpha1.ScheduledRunSkipped, msg) }
	switch {
	case s.stop != nil:
		skip(s.stopMsg())
		return false, nil
	case sch.Suspend:
		skip("the schedule is suspended")
		return false, nil
	case sch.StartingDeadline != nil && s.now.Sub(due) > sch.StartingDeadline.Duration:
		skip(fmt.Sprintf("due %s ago, past the starting deadline of %s", s.now.Sub(due).Round(time.Second), sch.StartingDeadline.Duration))
		return false, nil
	}
	for _, b := range sch.Blackouts {
		if !due.Before(b.Start.Time) && due.Before(b.End.Time) {
			skip(fmt.Sprintf("inside blackout window %q (%s to %s)", b.Name, b.Start.UTC().Format(time.RFC3339), b.End.UTC().Format(time.RFC3339)))
			return false, nil
		}
	}
	if len(active) > 0 {
		if sch.ConcurrencyPolicy != chaosv1alpha1.ConcurrencyReplace {
			skip(fmt.Sprintf("run %s is still going (concurrencyPolicy Forbid)", active[0].Name))
			return false, nil
		}
		for _, a := range active {
			// Its finalizer removes its experiments' faults before it goes.
			if err := r.Client.Delete(ctx, a); client.IgnoreNotFound(err) != nil {
				return false, fmt.Errorf("replacing run %s: %w", a.Name, err)
			}
			for i := range gd.Status.Runs {
				if gd.Status.Runs[i].GameDay == a.Name {
					gd.Status.Runs[i].Message = fmt.Sprintf("replaced by %s (concurrencyPolicy Replace), which starts once this run's faults are off", name)
				}
			}
		}
		return true, nil
	}
	if len(leaving) > 0 {
		for _, l := range leaving {
			for i := range gd.Status.Runs {
				if run := &gd.Status.Runs[i]; run.GameDay == l.Name && run.Message == "" {
					run.Message = fmt.Sprintf("its GameDay is being deleted, its faults coming off; the run due at %s starts once it is gone", due.UTC().Format(time.RFC3339))
				}
			}
		}
		return true, nil
	}
	run := &chaosv1alpha1.GameDay{ObjectMeta: metav1.ObjectMeta{
		Namespace: gd.Namespace, Name: name,
		Labels: map[string]string{LabelScheduledBy: gd.Name},
	}, Spec: *gd.Spec.DeepCopy()}
	run.Spec.Schedule = nil
	if err := controllerutil.SetControllerReference(gd, run, r.Client.Scheme()); err != nil {
		return false, err
	}
	if err := r.Client.Create(ctx, run); client.IgnoreAlreadyExists(err) != nil {
		return false, fmt.Errorf("starting run %s: %w", run.Name, err)
	}
	record(name, string(chaosv1alpha1.GameDayPending), "")
	return false, nil
}

// trimRuns keeps the active runs, the historyLimit most recent finished (or deleted) ones and
// the historyLimit most recent skipped times, deleting the older runs' GameDays.
func (r *GameDayReconciler) trimRuns(ctx context.Context, s *gdScope) error {
	limit := 3
	if h := s.gd.Spec.Schedule.HistoryLimit; h != nil {
		limit = int(*h)
	}
	runs := s.gd.Status.Runs
	slices.SortFunc(runs, func(a, b chaosv1alpha1.ScheduledRun) int { return b.ScheduledAt.Compare(a.ScheduledAt.Time) })
	var kept []chaosv1alpha1.ScheduledRun
	// Skipped times are counted apart from runs: hours of a suspended schedule must not push the
	// last runs' GameDays, which hold their reports, out of the history.
	finished, skipped := 0, 0
	for _, run := range runs {
		if run.Phase == chaosv1alpha1.ScheduledRunSkipped {
			if skipped < limit {
				skipped++
				kept = append(kept, run)
			}
			continue
		}
		if run.Phase != chaosv1alpha1.ScheduledRunDeleted && !chaosv1alpha1.GameDayPhase(run.Phase).Finished() {
			kept = append(kept, run)
			continue
		}
		if finished < limit {
			finished++
			kept = append(kept, run)
			continue
		}
		if run.GameDay != "" {
			old := &chaosv1alpha1.GameDay{ObjectMeta: metav1.ObjectMeta{Namespace: s.gd.Namespace, Name: run.GameDay}}
			if err := r.Client.Delete(ctx, old); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting old run %s: %w", run.GameDay, err)
			}
		}
	}
	slices.SortFunc(kept, func(a, b chaosv1alpha1.ScheduledRun) int { return a.ScheduledAt.Compare(b.ScheduledAt.Time) })
	s.gd.Status.Runs = kept
	return nil
}
