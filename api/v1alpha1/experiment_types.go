package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Action names one fault kind. Each kind is implemented by one package in experiments/.
// +kubebuilder:validation:Enum=PodKill;NetworkLatency;PacketLoss;NetworkPartition;CacheFlush
type Action string

const (
	ActionPodKill          Action = "PodKill"
	ActionNetworkLatency   Action = "NetworkLatency"
	ActionPacketLoss       Action = "PacketLoss"
	ActionNetworkPartition Action = "NetworkPartition"
	ActionCacheFlush       Action = "CacheFlush"
)

// SelectionMode says how many of the matching pods an experiment acts on.
// +kubebuilder:validation:Enum=one;fixed;percent;all
type SelectionMode string

const (
	ModeOne     SelectionMode = "one"
	ModeFixed   SelectionMode = "fixed"
	ModePercent SelectionMode = "percent"
	ModeAll     SelectionMode = "all"
)

// TargetSelector picks the pods an experiment may act on. Protected namespaces are never
// selected, whatever the selector says.
type TargetSelector struct {
	// namespaces to select pods from. An explicit list keeps the blast radius visible in the
	// manifest.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +required
	Namespaces []string `json:"namespaces"`

	// labelSelector narrows the pods in those namespaces; empty selects every pod in them.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
}

// PodKillSpec holds the settings of a PodKill experiment.
type PodKillSpec struct {
	// gracePeriodSeconds passed to the pod deletion; 0 kills at once. Unset uses the pod's own.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
}

// ExperimentSpec declares one fault.
// +kubebuilder:validation:XValidation:rule="self.mode in ['fixed', 'percent'] ? has(self.value) : !has(self.value)",message="spec.value is required when spec.mode is fixed or percent, and must be unset otherwise"
// +kubebuilder:validation:XValidation:rule="self.mode != 'percent' || !has(self.value) || self.value <= 100",message="spec.value must be between 1 and 100 when spec.mode is percent"
// +kubebuilder:validation:XValidation:rule="self.action == 'PodKill' ? has(self.podKill) : !has(self.podKill)",message="spec.podKill must be set when spec.action is PodKill, and only then"
type ExperimentSpec struct {
	// action is the fault kind.
	// +required
	Action Action `json:"action"`

	// selector picks the candidate target pods.
	// +required
	Selector TargetSelector `json:"selector"`

	// mode says how many candidates are acted on: one, a fixed number, a percentage, or all.
	// +kubebuilder:default=one
	// +optional
	Mode SelectionMode `json:"mode,omitempty"`

	// value is the count for mode fixed, or the percentage (1-100) for mode percent.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Value *int32 `json:"value,omitempty"`

	// duration the fault lasts, at most 24h.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('24h')",message="spec.duration must be greater than 0s and at most 24h"
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`

	// dryRun selects and reports targets and touches nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// podKill holds the PodKill settings; set exactly when action is PodKill.
	// +optional
	PodKill *PodKillSpec `json:"podKill,omitempty"`
}

// ExperimentPhase is a coarse summary of where an experiment is; conditions carry the detail.
// +kubebuilder:validation:Enum=Pending;Running;Recovering;Succeeded;Aborted;Failed
type ExperimentPhase string

const (
	ExperimentPending    ExperimentPhase = "Pending"
	ExperimentRunning    ExperimentPhase = "Running"
	ExperimentRecovering ExperimentPhase = "Recovering"
	ExperimentSucceeded  ExperimentPhase = "Succeeded"
	ExperimentAborted    ExperimentPhase = "Aborted"
	ExperimentFailed     ExperimentPhase = "Failed"
)

// ExperimentStatus is what the manager observed and did.
type ExperimentStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the lifecycle.
	// +optional
	Phase ExperimentPhase `json:"phase,omitempty"`

	// selectedTargets is how many pods the selector and mode pick.
	// +optional
	SelectedTargets int32 `json:"selectedTargets,omitempty"`

	// conditions: TargetsSelected (and, as fault kinds land, Injected and Recovered).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Experiment is one fault against a selected set of pods.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=exp,categories=chaos
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Targets",type=integer,JSONPath=`.status.selectedTargets`
// +kubebuilder:printcolumn:name="Selected",type=string,JSONPath=`.status.conditions[?(@.type=="TargetsSelected")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Experiment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec ExperimentSpec `json:"spec"`
	// +optional
	Status ExperimentStatus `json:"status,omitempty"`
}

// ExperimentList is a list of Experiments.
// +kubebuilder:object:root=true
type ExperimentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Experiment `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Experiment{}, &ExperimentList{})
}
