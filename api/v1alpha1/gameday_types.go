package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GameDayStep is one step of a game day: an Experiment the GameDay creates and owns.
type GameDayStep struct {
	// name of the step, unique within the game day; it names the Experiment the step creates.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// experiment is the template of the Experiment this step runs.
	// +required
	Experiment ExperimentSpec `json:"experiment"`
}

// GameDaySpec declares a game day.
type GameDaySpec struct {
	// steps run in order.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +listType=map
	// +listMapKey=name
	// +required
	Steps []GameDayStep `json:"steps"`
}

// GameDayPhase is a coarse summary of a game day; conditions carry the detail.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Aborted;Failed;Frozen
type GameDayPhase string

const (
	GameDayPending   GameDayPhase = "Pending"
	GameDayRunning   GameDayPhase = "Running"
	GameDaySucceeded GameDayPhase = "Succeeded"
	GameDayAborted   GameDayPhase = "Aborted"
	GameDayFailed    GameDayPhase = "Failed"
	GameDayFrozen    GameDayPhase = "Frozen"
)

// GameDayStatus is what the manager observed and did.
type GameDayStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the game day.
	// +optional
	Phase GameDayPhase `json:"phase,omitempty"`

	// conditions of the game day.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GameDay is a planned exercise: steps of experiments, guarded by SLOs.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gd,categories=chaos
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type GameDay struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec GameDaySpec `json:"spec"`
	// +optional
	Status GameDayStatus `json:"status,omitempty"`
}

// GameDayList is a list of GameDays.
// +kubebuilder:object:root=true
type GameDayList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GameDay `json:"items"`
}

func init() {
	SchemeBuilder.Register(&GameDay{}, &GameDayList{})
}
