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
	ReasonDryRun              = "DryRun"
	ReasonFaultInjected       = "FaultInjected"
	ReasonInjectionFailed     = "InjectionFailed"
	ReasonInjecting           = "Injecting"
	ReasonWaitingForRecovery  = "WaitingForRecovery"
	ReasonWorkloadsRecovered  = "WorkloadsRecovered"
	ReasonRecoveryTimedOut    = "RecoveryTimedOut"
	ReasonEmergencyStop       = "EmergencyStop"
	ReasonBlastRadiusExceeded = "BlastRadiusExceeded"
	ReasonUnsupportedAction   = "UnsupportedAction"
	ReasonNotInjected         = "NotInjected"
	ReasonPreflightFailed     = "PreflightFailed"
)
