package experiments

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
)

// ErrTargetGone means the target disappeared (pod deleted, replaced, node gone) before the fault
// reached it or while it was being removed. A gone target counts as recovered: nothing is left
// on it, so nothing may hold an experiment's finalizer for it.
var ErrTargetGone = errors.New("target is gone")

// AlreadyInjected is what Inject returns on a resumed round when it finds the fault in place from
// before the restart (a pod already terminating): the round counts it injected At, when the
// target shows it happened, not when the manager came back (a recovery time counts from it).
type AlreadyInjected struct{ At time.Time }

func (e *AlreadyInjected) Error() string {
	return "injected before the restart, at " + e.At.UTC().Format(time.RFC3339)
}

// ErrInProgress (wrapped, with what is awaited) means the kind has asked for the change and is
// waiting for it to take effect (an agent applying or removing a network fault). The engine
// checks again shortly, without counting it as a failure.
var ErrInProgress = errors.New("in progress")

// ErrTransient (wrapped) marks a Preflight error worth retrying (the API server did not answer):
// the engine tries again instead of failing the experiment.
var ErrTransient = errors.New("will retry")

// PermanentError is a refusal that retrying cannot fix (the node's kernel lacks netem, the pod
// is on the host network). The engine ends the round at once with Reason instead of retrying
// until the inject timeout. From Recover, it means the kind gave up removing the fault (see
// Fault.Recover).
type PermanentError struct {
	Reason  string
	Message string
}

func (e *PermanentError) Error() string { return e.Message }

// Fault is one fault kind.
type Fault interface {
	// Preflight checks that the fault can be applied to the selected pods, before any intent is
	// recorded. An error refuses the experiment with that message.
	Preflight(ctx context.Context, exp *chaosv1alpha1.Experiment, targets []corev1.Pod) error

	// Inject applies the fault to one target. resumed is true when the target was recorded by an
	// earlier pass that may have acted on it before a restart: the kind must then check before it
	// acts, so that no target is hit twice for one round (AlreadyInjected, with when, for one it
	// finds hit). ErrTargetGone when the target no longer exists. A pod kind's Inject is called
	// concurrently for the targets of a round (a zone's pods go down together) and must only
	// read exp. A Targeter's is called for one target after another and may record figures in
	// exp's status.
	Inject(ctx context.Context, exp *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus, resumed bool) error

	// Recover removes the fault from one target. It is idempotent, and a target that is gone
	// is recovered (nil). Another error is retried, unless it is a *PermanentError: the kind has
	// given up on the target for good (a cache restore still failing past its bound) and kept
	// what an operator needs to finish by hand. The engine then records the target as
	// RecoveryFailed and the Recovered condition False with the error's Reason and Message, never
	// calls Recover for it again, and goes on: the experiment ends, or its finalizer comes off.
	Recover(ctx context.Context, exp *chaosv1alpha1.Experiment, t chaosv1alpha1.TargetStatus) error

	// Lasting reports whether the experiment's fault stays on a target until Recover removes it
	// (a network fault, a cache flush that restores its snapshot) rather than being over once
	// done (a pod kill). Lasting experiments hold a finalizer until every target is recovered.
	Lasting(exp *chaosv1alpha1.Experiment) bool
}

// Targeter is implemented by kinds whose target is not a pod but something the spec names (the
// cache of a CacheFlush). The engine takes the round's targets from it instead of resolving
// spec.selector; it then calls Preflight with no pods.
type Targeter interface {
	Targets(ctx context.Context, exp *chaosv1alpha1.Experiment) ([]chaosv1alpha1.TargetStatus, error)
}

// Refresher is implemented by kinds whose injected fault follows the cluster while it lasts (a
// network fault's destination pods). The engine calls Refresh on every pass of a running
// experiment, at least every RefreshEvery.
type Refresher interface {
	Refresh(ctx context.Context, exp *chaosv1alpha1.Experiment, targets []chaosv1alpha1.TargetStatus) error
}

// RefreshEvery bounds how stale a Refresher's view may get.
const RefreshEvery = 5 * time.Second
