package v1alpha1

// Condition types.
const (
	// ConditionTargetsSelected is True once the selector has been resolved to target pods.
	ConditionTargetsSelected = "TargetsSelected"
)

// Condition reasons. Every reason a controller writes is declared here so that clients, alerts
// and tests can match on it.
const (
	// ReasonTargetsFound: the selector matched pods outside protected namespaces.
	ReasonTargetsFound = "TargetsFound"
	// ReasonNoTargets: the selector matched no pod outside protected namespaces.
	ReasonNoTargets = "NoTargets"
	// ReasonInvalidSelector: the label selector could not be parsed.
	ReasonInvalidSelector = "InvalidSelector"
	// ReasonSelectionError: listing the candidate pods failed.
	ReasonSelectionError = "SelectionError"
)

// Condition types of the lifecycle.
const (
	// ConditionInjected is True once the fault reached every target of the current round.
	ConditionInjected = "Injected"
	// ConditionRecovered is True once every target's fault is removed and every disrupted
	// workload is whole again.
	ConditionRecovered = "Recovered"
	// ConditionAborted is True when the experiment was stopped before its end.
	ConditionAborted = "Aborted"
)

// Lifecycle reasons.
const (
	ReasonDryRun          = "DryRun"
	ReasonFaultInjected   = "FaultInjected"
	ReasonInjectionFailed = "InjectionFailed"
	// ReasonInjectionTimedOut: a round still failed or was unconfirmed after the manager's
	// inject timeout; what did land is removed and the experiment fails.
	ReasonInjectionTimedOut   = "InjectionTimedOut"
	ReasonInjecting           = "Injecting"
	ReasonWaitingForRecovery  = "WaitingForRecovery"
	ReasonWorkloadsRecovered  = "WorkloadsRecovered"
	ReasonRecoveryTimedOut    = "RecoveryTimedOut"
	ReasonEmergencyStop       = "EmergencyStop"
	ReasonBlastRadiusExceeded = "BlastRadiusExceeded"
	ReasonUnsupportedAction   = "UnsupportedAction"
	ReasonNotInjected         = "NotInjected"
	ReasonPreflightFailed     = "PreflightFailed"
	// ReasonCacheRefused: the cache refused the flush for good (credentials, permissions, a
	// snapshot over its caps, a server that turned replica); nothing more is tried.
	ReasonCacheRefused = "CacheRefused"
	// ReasonProtectedNamespace: the experiment names a protected namespace for a target that is
	// not picked by a pod selector (a cache's Service); it is refused, not skipped.
	ReasonProtectedNamespace = "ProtectedNamespace"
	// ReasonRestoreFailed (Recovered condition): a cache snapshot could not be put back, in full
	// or in part (keys Redis refused, or a restore still failing past the manager's cache restore
	// timeout). The experiment ends anyway; its snapshot Secrets are kept, released from the
	// Experiment, for a restore by hand.
	ReasonRestoreFailed = "RestoreFailed"
	// ReasonTooManyDestinations: a network fault's destinations (cidrs plus the IPs of the pods
	// podSelector matches) are more than an Injection holds (MaxInjectedCIDRs).
	ReasonTooManyDestinations = "TooManyDestinations"
)

// AnnotationAbort on an Experiment asks it to stop at once and remove its faults; the value is
// the reason. The GameDay controller sets it when the game day aborts (the spec is frozen once an
// experiment runs, so the request is an annotation).
const AnnotationAbort = "chaos.firedrill.dev/abort"

// ReasonAbortRequested: the Experiment was aborted through AnnotationAbort (by its GameDay).
const ReasonAbortRequested = "AbortRequested"

// GameDay condition types.
const (
	// ConditionFrozen is True while the game day waits for error budget to start.
	ConditionFrozen = "Frozen"
	// ConditionCompleted is True once every step succeeded.
	ConditionCompleted = "Completed"
	// ConditionGuarded is False while the guard cannot query Prometheus and the game day goes on
	// (onError: Continue).
	ConditionGuarded = "Guarded"
)

// GameDay reasons.
const (
	ReasonBudgetExhausted       = "BudgetExhausted"
	ReasonBudgetAvailable       = "BudgetAvailable"
	ReasonBurnRateExceeded      = "BurnRateExceeded"
	ReasonAbortConditionHeld    = "AbortConditionHeld"
	ReasonPrometheusUnreachable = "PrometheusUnreachable"
	ReasonStepFailed            = "StepFailed"
	ReasonAllStepsSucceeded     = "AllStepsSucceeded"
	ReasonGuardEvaluating       = "Evaluating"
	// ReasonNoData: an SLO or abort condition query returned no sample while the game day ran,
	// so the guard cannot tell whether it is burning; onError decides, as for a failed query.
	ReasonNoData = "NoData"
	// ReasonScheduleInvalid: spec.schedule's cron or time zone cannot be read, or the cron never
	// fires (30 February): the template starts no run until the spec is fixed.
	ReasonScheduleInvalid = "ScheduleInvalid"
	// ReasonStepsMismatch: status.steps no longer matches spec.steps (a spec edited while the
	// game day ran, past the schema's rule): the game day stops rather than run steps it cannot
	// follow.
	ReasonStepsMismatch = "StepsMismatch"
)

// Hypothesis conditions of a GameDay.
const (
	// ConditionSteadyState is False while a Before hypothesis does not hold: the game day waits.
	ConditionSteadyState = "SteadyState"
	// ConditionHypothesesHeld is False once any hypothesis failed during or after the game day.
	ConditionHypothesesHeld = "HypothesesHeld"

	ReasonSteady           = "Steady"
	ReasonNotSteady        = "NotSteady"
	ReasonHypothesesHeld   = "AllHeld"
	ReasonHypothesisFailed = "HypothesisFailed"
)

// Capacity model condition and reasons.
const (
	// ConditionWithinCapacity is False when the capacity model refused a step or aborted the
	// game day because a service is predicted to tip over.
	ConditionWithinCapacity = "WithinCapacity"
	// ReasonPredictedSaturation: a step's fault (or the live load) is predicted to take a
	// service over its maximum utilisation or its latency threshold; the message has the numbers.
	ReasonPredictedSaturation = "PredictedSaturation"
	// ReasonCapacityOK: every prediction so far kept every service under its limits.
	ReasonCapacityOK = "WithinCapacity"
	// ReasonCapacityLost: what was observed fits a service with far less capacity than modelled.
	ReasonCapacityLost = "CapacityLost"
	// ReasonCapacityModelError: the model's inputs could not be read (a query failed, a
	// workload is missing).
	ReasonCapacityModelError = "CapacityModelError"
)
