package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EmergencyStopSpec says who stopped game days and why.
type EmergencyStopSpec struct {
	// reason is shown on every experiment the stop aborts or refuses.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Reason string `json:"reason"`
}

// EmergencyStop is the cluster-wide stop switch: while any EmergencyStop exists, every running
// experiment is aborted (its faults removed) and every new one is refused. Delete it to lift the
// stop. Guard who may create and delete it with RBAC.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=estop,categories=chaos
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type EmergencyStop struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec EmergencyStopSpec `json:"spec"`
}

// EmergencyStopList is a list of EmergencyStops.
// +kubebuilder:object:root=true
type EmergencyStopList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EmergencyStop `json:"items"`
}

func init() {
	SchemeBuilder.Register(&EmergencyStop{}, &EmergencyStopList{})
}
