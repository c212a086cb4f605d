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
