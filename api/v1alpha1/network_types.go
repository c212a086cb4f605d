package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NetworkDirection says which of a pod's traffic a network fault acts on.
// +kubebuilder:validation:Enum=Egress;Ingress;Both
type NetworkDirection string

const (
	DirectionEgress  NetworkDirection = "Egress"
	DirectionIngress NetworkDirection = "Ingress"
	DirectionBoth    NetworkDirection = "Both"
)

// NetworkProtocol narrows a network fault to one IP protocol.
// +kubebuilder:validation:Enum=TCP;UDP;ICMP
type NetworkProtocol string

// Percent is a percentage from 0 to 100 with up to three decimals, as a string ("0.5", "30").
// +kubebuilder:validation:Pattern=`^(100(\.0{1,3})?|[0-9]{1,2}(\.[0-9]{1,3})?)$`
// +kubebuilder:validation:MaxLength=7
type Percent string

// PortRange is an inclusive range of the remote side's ports.
// +kubebuilder:validation:XValidation:rule="!has(self.to) || self.to >= self.from",message="to must not be below from"
type PortRange struct {
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	From int32 `json:"from"`
	// to defaults to from (a single port).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	To *int32 `json:"to,omitempty"`
}

// NetworkDestinations narrows a fault to traffic with some remote ends; unset, the fault acts on
// all of the pod's IPv4 traffic. On egress the remote end is the destination, on ingress the source.
// +kubebuilder:validation:XValidation:rule="!has(self.ports) || (has(self.protocol) && self.protocol in ['TCP', 'UDP'])",message="ports need protocol TCP or UDP"
// +kubebuilder:validation:XValidation:rule="!has(self.podNamespaces) || has(self.podSelector)",message="podNamespaces needs podSelector"
type NetworkDestinations struct {
	// cidrs are IPv4 prefixes ("10.0.0.0/8", "10.1.2.3/32").
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=18
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4",message="each cidr must be an IPv4 prefix such as 10.0.0.0/8"
	// +listType=set
	// +optional
	CIDRs []string `json:"cidrs,omitempty"`

	// ports of the remote end.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	Ports []PortRange `json:"ports,omitempty"`

	// protocol narrows to TCP, UDP or ICMP.
	// +optional
	Protocol NetworkProtocol `json:"protocol,omitempty"`

	// podSelector adds the IPs of the pods it matches (in podNamespaces, default the
	// experiment's own namespace), kept current while the fault lasts.
	// +optional
	PodSelector *LabelSelector `json:"podSelector,omitempty"`

	// podNamespaces to look for podSelector's pods in.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	PodNamespaces []string `json:"podNamespaces,omitempty"`
}

// NetworkShaping is what a network fault does to the packets it matches. Shared by the
// Experiment's spec.network and the Injection the agent applies.
type NetworkShaping struct {
	// delay added to every matched packet, at most 10s.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('10s')",message="delay must be greater than 0s and at most 10s"
	// +optional
	Delay *metav1.Duration `json:"delay,omitempty"`
	// jitter varies the delay by up to this much.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="jitter must not be negative"
	// +optional
	Jitter *metav1.Duration `json:"jitter,omitempty"`
	// delayCorrelation of each packet's delay with the previous one's.
	// +optional
	DelayCorrelation *Percent `json:"delayCorrelation,omitempty"`
	// loss drops this share of matched packets.
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0",message="loss must be greater than 0 (a zero loss drops nothing: leave loss unset instead)"
	// +optional
	Loss *Percent `json:"loss,omitempty"`
	// lossCorrelation makes losses come in bursts.
	// +optional
	LossCorrelation *Percent `json:"lossCorrelation,omitempty"`
	// corrupt flips a bit in this share of packets.
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0",message="corrupt must be greater than 0 (zero corrupts nothing: leave corrupt unset instead)"
	// +optional
	Corrupt *Percent `json:"corrupt,omitempty"`
	// duplicate sends this share of packets twice.
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0",message="duplicate must be greater than 0 (zero duplicates nothing: leave duplicate unset instead)"
	// +optional
	Duplicate *Percent `json:"duplicate,omitempty"`
	// reorder sends this share of packets at once while the rest wait out the delay.
	// +optional
	Reorder *Percent `json:"reorder,omitempty"`
	// rateLimitKbps caps the matched traffic's throughput, in kilobits per second.
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=100000000
	// +optional
	RateLimitKbps *int64 `json:"rateLimitKbps,omitempty"`
}

// NetworkSpec holds the settings of the network actions (NetworkLatency, PacketLoss,
// NetworkRateLimit, NetworkPartition). NetworkLatency needs delay, PacketLoss needs loss,
// NetworkRateLimit needs rateLimitKbps; a partition takes no shaping field.
// +kubebuilder:validation:XValidation:rule="!has(self.jitter) || has(self.delay)",message="spec.network.jitter needs spec.network.delay"
// +kubebuilder:validation:XValidation:rule="!has(self.jitter) || !has(self.delay) || duration(self.jitter) <= duration(self.delay)",message="spec.network.jitter must not exceed spec.network.delay"
// +kubebuilder:validation:XValidation:rule="!has(self.delayCorrelation) || has(self.delay)",message="spec.network.delayCorrelation needs spec.network.delay"
// +kubebuilder:validation:XValidation:rule="!has(self.reorder) || has(self.delay)",message="spec.network.reorder needs spec.network.delay (reordered packets skip it)"
// +kubebuilder:validation:XValidation:rule="!has(self.lossCorrelation) || has(self.loss)",message="spec.network.lossCorrelation needs spec.network.loss"
type NetworkSpec struct {
	// direction: Egress (default), Ingress (through an IFB device in the pod's namespace) or Both.
	// +kubebuilder:default=Egress
	// +optional
	Direction NetworkDirection `json:"direction,omitempty"`

	// destinations narrows the fault; unset is all traffic.
	// +optional
	Destinations *NetworkDestinations `json:"destinations,omitempty"`

	// What the fault does to matched packets.
	NetworkShaping `json:",inline"`

	// allowHostNetwork lets the fault reach hostNetwork pods, whose namespace is the node's own:
	// the fault then shapes the node's traffic. Off, such pods are refused.
	// +optional
	AllowHostNetwork bool `json:"allowHostNetwork,omitempty"`
}

// InjectedFault is one network fault as the agent applies it: destinations resolved to CIDRs.
type InjectedFault struct {
	// id is stable for the fault's life; it names the fault's class in the pod's tc tree.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=300
	// +required
	ID string `json:"id"`
	// +required
	Direction NetworkDirection `json:"direction"`
	// cidrs are IPv4 prefixes, at most 256 (MaxInjectedCIDRs).
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=18
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c) && cidr(c).ip().family() == 4)",message="each cidr must be an IPv4 prefix such as 10.0.0.0/8"
	// +listType=atomic
	// +optional
	CIDRs []string `json:"cidrs,omitempty"`
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	Ports []PortRange `json:"ports,omitempty"`
	// +optional
	Protocol NetworkProtocol `json:"protocol,omitempty"`
	// partition drops every matched packet.
	// +optional
	Partition bool `json:"partition,omitempty"`
	// noMatch is set when the destinations resolved to nothing (a podSelector matching no pod):
	// the fault then touches no traffic until they resolve to something.
	// +optional
	NoMatch bool `json:"noMatch,omitempty"`
	// The shaping, as in the experiment's spec.network.
	NetworkShaping `json:",inline"`
}

// MaxInjectedCIDRs is the most destination prefixes one InjectedFault holds (its cidrs'
// MaxItems marker, which must say the same): the manager refuses more before writing.
const MaxInjectedCIDRs = 256

// InjectionPod names the pod an Injection acts on.
type InjectionPod struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="!(self in ['kube-system', 'kube-public', 'kube-node-lease'])",message="pod.namespace must not be kube-system, kube-public or kube-node-lease: no fault is injected there"
	// +required
	Namespace string `json:"namespace"`
	// +required
	Name string `json:"name"`
	// uid pins the pod: a pod recreated under the same name is not this target.
	// +required
	UID string `json:"uid"`
}

// InjectionSpec is the desired network fault set of one experiment on one pod, and when it ends.
type InjectionSpec struct {
	// nodeName is the pod's node: the agent there applies the Injection.
	// +kubebuilder:validation:MinLength=1
	// +required
	NodeName string `json:"nodeName"`
	// pod is the target.
	// +required
	Pod InjectionPod `json:"pod"`
	// faults is the full set this experiment wants on the pod.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:XValidation:rule="self.all(f, self.exists_one(g, g.id == f.id))",message="each fault's id must be unique: it names the fault's class in the pod's tc tree"
	// +listType=atomic
	// +required
	Faults []InjectedFault `json:"faults"`
	// expiresAt is absolute: the agent removes the faults by itself at this time, with or without
	// the manager (the dead man's switch). The agent refuses one further than MaxFaultDuration
	// from the Injection's creation.
	// +required
	ExpiresAt metav1.Time `json:"expiresAt"`
	// hostNetwork: the pod's spec says it uses the node's network namespace.
	// +optional
	HostNetwork bool `json:"hostNetwork,omitempty"`
	// allowHostNetwork: see NetworkSpec.
	// +optional
	AllowHostNetwork bool `json:"allowHostNetwork,omitempty"`
}

// InjectionStatus is written by the agent.
type InjectionStatus struct {
	// observedGeneration is the generation the agent last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// appliedAt is when the faults were last put in place.
	// +optional
	AppliedAt *metav1.Time `json:"appliedAt,omitempty"`
	// removedAt is when the agent took them off (expiry or deletion).
	// +optional
	RemovedAt *metav1.Time `json:"removedAt,omitempty"`
	// conditions: Applied (reasons FaultApplied, KernelUnsupported, HostNetworkRefused,
	// FaultConflict, PodNotFound, ApplyFailed, Expired, EmergencyStop).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Injection carries one experiment's network faults for one pod to the agent on that pod's node.
// The manager writes spec; the agent writes status. Internal: created and owned by an Experiment.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=chaos
// +kubebuilder:printcolumn:name="Pod",type=string,JSONPath=`.spec.pod.name`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Applied",type=string,JSONPath=`.status.conditions[?(@.type=="Applied")].reason`
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.spec.expiresAt`
type Injection struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec InjectionSpec `json:"spec"`
	// +optional
	Status InjectionStatus `json:"status,omitempty"`
}

// InjectionList is a list of Injections.
// +kubebuilder:object:root=true
type InjectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Injection `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Injection{}, &InjectionList{})
}

// Labels and the finalizer that tie Injections to nodes, pods and the agent.
const (
	// LabelInjectionNode selects a node's Injections (each agent watches only its own).
	LabelInjectionNode = "chaos.firedrill.dev/node"
	// LabelInjectionPod is the target pod's UID: the agent composes every Injection of a pod.
	LabelInjectionPod = "chaos.firedrill.dev/pod-uid"
	// LabelInjectionExperiment is the owning Experiment's name.
	LabelInjectionExperiment = "chaos.firedrill.dev/experiment"
	// FinalizerAgentCleanup holds an Injection until the agent has taken its faults off the pod
	// (or the pod is gone).
	FinalizerAgentCleanup = "chaos.firedrill.dev/agent-cleanup"
)

// Injection condition type and reasons.
const (
	ConditionApplied = "Applied"

	ReasonFaultApplied       = "FaultApplied"
	ReasonKernelUnsupported  = "KernelUnsupported"
	ReasonHostNetworkRefused = "HostNetworkRefused"
	ReasonFaultConflict      = "FaultConflict"
	ReasonPodNotFound        = "PodNotFound"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonExpired            = "Expired"
	ReasonRemoved            = "Removed"
	// ReasonExpiryTooFar: expiresAt is further from the Injection's creation than any
	// experiment lasts (MaxFaultDuration): the agent refuses it, so no Injection written by hand
	// defeats the dead man's switch.
	ReasonExpiryTooFar = "ExpiryTooFar"
)

// MaxFaultDuration is the longest an experiment lasts (spec.duration's bound), and so the
// furthest an Injection's expiresAt is from its creation.
const MaxFaultDuration = 24 * time.Hour
