package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Action names one fault kind. Each kind is implemented by one package in experiments/.
// +kubebuilder:validation:Enum=PodKill;NetworkLatency;PacketLoss;NetworkRateLimit;NetworkPartition;CacheFlush
type Action string

const (
	ActionPodKill          Action = "PodKill"
	ActionNetworkLatency   Action = "NetworkLatency"
	ActionPacketLoss       Action = "PacketLoss"
	ActionNetworkRateLimit Action = "NetworkRateLimit"
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

// ZoneLabel is the well-known node label a zone outage selects on.
const ZoneLabel = "topology.kubernetes.io/zone"

// TargetPhase is a pod phase an experiment may select.
// +kubebuilder:validation:Enum=Pending;Running
type TargetPhase string

// TargetSelector picks the pods an experiment may act on. Protected namespaces are never
// selected, whatever the selector says.
// +kubebuilder:validation:XValidation:rule="has(self.namespaces) != (has(self.clusterWide) && self.clusterWide)",message="spec.selector: set namespaces, or clusterWide: true to select in every namespace, not both"
type TargetSelector struct {
	// namespaces to select pods from. Required unless clusterWide is true: an explicit list keeps
	// the blast radius visible in the manifest.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// clusterWide opts in to selecting pods in every namespace (protected ones excepted).
	// +optional
	ClusterWide bool `json:"clusterWide,omitempty"`

	// labelSelector narrows the pods; empty selects every pod in the namespaces.
	// +optional
	LabelSelector *LabelSelector `json:"labelSelector,omitempty"`

	// nodeNames keeps only pods scheduled on these nodes.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=set
	// +optional
	NodeNames []string `json:"nodeNames,omitempty"`

	// zone keeps only pods scheduled on nodes labelled topology.kubernetes.io/zone=<zone>: with
	// mode all, a zone outage.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	// +optional
	Zone string `json:"zone,omitempty"`

	// podPhases keeps only pods in these phases; default Running.
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	// +optional
	PodPhases []TargetPhase `json:"podPhases,omitempty"`
}

// LabelSelector is metav1.LabelSelector with bounds and an operator enum, so that the schema
// rejects a bad selector at apply time.
type LabelSelector struct {
	// matchLabels: every label must match.
	// +kubebuilder:validation:MaxProperties=32
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// matchExpressions: every requirement must hold.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one requirement of a LabelSelector.
// +kubebuilder:validation:XValidation:rule="self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",message="In and NotIn need values; Exists and DoesNotExist take none"
type LabelSelectorRequirement struct {
	// key is the label key.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	// +required
	Key string `json:"key"`
	// operator relates the key to the values.
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
	// +required
	Operator metav1.LabelSelectorOperator `json:"operator"`
	// values for In and NotIn.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=atomic
	// +optional
	Values []string `json:"values,omitempty"`
}

// AsMeta converts to the metav1 type the API machinery parses.
func (l *LabelSelector) AsMeta() *metav1.LabelSelector {
	if l == nil {
		return nil
	}
	out := &metav1.LabelSelector{MatchLabels: l.MatchLabels}
	for _, r := range l.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{Key: r.Key, Operator: r.Operator, Values: r.Values})
	}
	return out
}

// PodKillSpec holds the settings of a PodKill experiment.
type PodKillSpec struct {
	// gracePeriodSeconds passed to the pod deletion; 0 kills at once. Unset uses the pod's own.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`

	// interval kills again, a fresh selection each time, every interval while the experiment
	// lasts (spec.duration). Unset kills once.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="spec.podKill.interval must be at least 1s"
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`
}

// SafetyLimits cap an experiment's blast radius. An experiment whose selection exceeds a cap is
// refused before it touches anything.
type SafetyLimits struct {
	// maxTargets is the most pods one round may act on.
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxTargets *int32 `json:"maxTargets,omitempty"`

	// maxPercent is the most, in percent of the matching pods, that one round may act on.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxPercent *int32 `json:"maxPercent,omitempty"`
}

// ExperimentSpec declares one fault.
// +kubebuilder:validation:XValidation:rule="self.mode in ['fixed', 'percent'] ? has(self.value) : !has(self.value)",message="spec.value is required when spec.mode is fixed or percent, and must be unset otherwise"
// +kubebuilder:validation:XValidation:rule="self.mode != 'percent' || !has(self.value) || self.value <= 100",message="spec.value must be between 1 and 100 when spec.mode is percent"
// +kubebuilder:validation:XValidation:rule="self.action == 'PodKill' ? has(self.podKill) : !has(self.podKill)",message="spec.podKill must be set when spec.action is PodKill, and only then"
// +kubebuilder:validation:XValidation:rule="!has(self.podKill) || !has(self.podKill.interval) || has(self.duration)",message="spec.duration is required when spec.podKill.interval is set"
// +kubebuilder:validation:XValidation:rule="!has(self.podKill) || !has(self.podKill.interval) || !has(self.duration) || duration(self.podKill.interval) <= duration(self.duration)",message="spec.podKill.interval must not be longer than spec.duration"
// +kubebuilder:validation:XValidation:rule="(self.action in ['NetworkLatency', 'PacketLoss', 'NetworkRateLimit', 'NetworkPartition']) == has(self.network)",message="spec.network must be set when spec.action is NetworkLatency, PacketLoss, NetworkRateLimit or NetworkPartition, and only then"
// +kubebuilder:validation:XValidation:rule="!has(self.network) || has(self.duration)",message="spec.duration is required for network actions: every network fault has an absolute expiry"
// +kubebuilder:validation:XValidation:rule="self.action != 'NetworkLatency' || !has(self.network) || has(self.network.delay)",message="spec.network.delay is required when spec.action is NetworkLatency"
// +kubebuilder:validation:XValidation:rule="self.action != 'PacketLoss' || !has(self.network) || has(self.network.loss)",message="spec.network.loss is required when spec.action is PacketLoss"
// +kubebuilder:validation:XValidation:rule="self.action != 'NetworkRateLimit' || !has(self.network) || has(self.network.rateLimitKbps)",message="spec.network.rateLimitKbps is required when spec.action is NetworkRateLimit"
// +kubebuilder:validation:XValidation:rule="(self.action == 'CacheFlush') == has(self.cacheFlush)",message="spec.cacheFlush must be set when spec.action is CacheFlush, and only then"
// +kubebuilder:validation:XValidation:rule="(self.action == 'CacheFlush') != has(self.selector)",message="spec.selector is required for pod actions; CacheFlush names its cache in spec.cacheFlush and takes no selector"
// +kubebuilder:validation:XValidation:rule="self.action != 'CacheFlush' || self.mode == 'one'",message="spec.mode does not apply to CacheFlush, which acts on the one cache it names"
// +kubebuilder:validation:XValidation:rule="!has(self.cacheFlush) || !has(self.cacheFlush.restore) || has(self.duration)",message="spec.duration is required with spec.cacheFlush.restore: the snapshot is put back when it ends"
// +kubebuilder:validation:XValidation:rule="!has(self.plannedTargets) || (self.action == 'PodKill' && !(has(self.dryRun) && self.dryRun))",message="spec.plannedTargets is made only for a PodKill that is not a dry run"
// +kubebuilder:validation:XValidation:rule="self.action != 'NetworkPartition' || !has(self.network) || !(has(self.network.delay) || has(self.network.loss) || has(self.network.corrupt) || has(self.network.duplicate) || has(self.network.rateLimitKbps))",message="spec.network of a NetworkPartition drops every matched packet and takes no delay, loss, corrupt, duplicate or rateLimitKbps"
type ExperimentSpec struct {
	// action is the fault kind.
	// +required
	Action Action `json:"action"`

	// selector picks the candidate target pods; required for every action but CacheFlush.
	// +optional
	Selector *TargetSelector `json:"selector,omitempty"`

	// mode says how many candidates are acted on: one, a fixed number, a percentage, or all.
	// +kubebuilder:default=one
	// +optional
	Mode SelectionMode `json:"mode,omitempty"`

	// value is the count for mode fixed, or the percentage (1-100) for mode percent. Percent
	// rounds down but acts on at least one pod.
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

	// safety caps the blast radius.
	// +optional
	Safety *SafetyLimits `json:"safety,omitempty"`

	// podKill holds the PodKill settings; set exactly when action is PodKill.
	// +optional
	PodKill *PodKillSpec `json:"podKill,omitempty"`

	// network holds the settings of the network actions; set exactly when action is one.
	// +optional
	Network *NetworkSpec `json:"network,omitempty"`

	// cacheFlush holds the CacheFlush settings; set exactly when action is CacheFlush.
	// +optional
	CacheFlush *CacheFlushSpec `json:"cacheFlush,omitempty"`

	// plannedTargets are round 1's pods, picked by Firedrill's admission webhook when a PodKill
	// experiment is created: the pick is recorded in the write that creates the experiment, so
	// the kill needs no write of its own before it. Leave it unset: the webhook replaces what a
	// manifest gives. The manager kills only planned pods that spec.selector still selects, and
	// selects as usual when no plan was made (the webhook was not reachable).
	// +kubebuilder:validation:MaxItems=1000
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	// +optional
	PlannedTargets []PlannedTarget `json:"plannedTargets,omitempty"`
}

// PlannedTarget names a pod picked at admission.
type PlannedTarget struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	UID types.UID `json:"uid"`
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

// Finished reports whether the phase is terminal.
func (p ExperimentPhase) Finished() bool {
	return p == ExperimentSucceeded || p == ExperimentAborted || p == ExperimentFailed
}

// TargetState is where one target is in its round.
// +kubebuilder:validation:Enum=Selected;Injected;Recovered;Gone;RecoveryFailed
type TargetState string

const (
	// TargetSelected: chosen for the round and recorded before anything is done to it (intent).
	TargetSelected TargetState = "Selected"
	// TargetInjected: the fault was applied (for PodKill: the pod deletion was accepted).
	TargetInjected TargetState = "Injected"
	// TargetRecovered: the fault was removed, or the workload replaced the pod.
	TargetRecovered TargetState = "Recovered"
	// TargetGone: the pod disappeared before the fault reached it; it counts as recovered.
	TargetGone TargetState = "Gone"
	// TargetRecoveryFailed: the fault could not be removed and the kind gave up for good (a
	// cache restore that kept failing past its bound); message says why and what was kept.
	// Nothing is tried on it again, so it holds no finalizer; the Recovered condition is False.
	TargetRecoveryFailed TargetState = "RecoveryFailed"
)

// TargetStatus records what was done to one pod.
type TargetStatus struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
	// node the pod was scheduled on.
	// +optional
	Node string `json:"node,omitempty"`
	// ownerKind and ownerName name the pod's controller (e.g. ReplicaSet checkout-5d9c), recorded
	// at selection so that recovery can be followed after a restart.
	// +optional
	OwnerKind string `json:"ownerKind,omitempty"`
	// +optional
	OwnerName string `json:"ownerName,omitempty"`
	// round of the experiment this record belongs to (1 for the first).
	Round int32       `json:"round"`
	State TargetState `json:"state"`
	// injectedAt is when the fault reached the pod.
	// +optional
	InjectedAt *metav1.Time `json:"injectedAt,omitempty"`
	// recoveredAt is when the pod's fault ended or its workload was whole again.
	// +optional
	RecoveredAt *metav1.Time `json:"recoveredAt,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// WorkloadStatus records a workload whose pods were disrupted and when it was whole again: the
// time to recover an SRE wants to read.
type WorkloadStatus struct {
	// kind: Deployment, StatefulSet, ReplicaSet or DaemonSet.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// desiredReplicas it is judged against: its desired replicas as read at the last check, so
	// a workload scaled after the disruption must reach its new size to count as recovered.
	DesiredReplicas int32 `json:"desiredReplicas"`
	// disruptedAt is the first injection into one of its pods.
	DisruptedAt metav1.Time `json:"disruptedAt"`
	// lastDisruptedAt is the latest injection into one of its pods, which timeToRecover counts
	// from (kept here as well as in targets, whose oldest records may be dropped).
	// +optional
	LastDisruptedAt *metav1.Time `json:"lastDisruptedAt,omitempty"`
	// recoveredAt is when it was back to its desired ready replicas after the last injection.
	// +optional
	RecoveredAt *metav1.Time `json:"recoveredAt,omitempty"`
	// timeToRecover = recoveredAt - the last injection into its pods.
	// +optional
	TimeToRecover *metav1.Duration `json:"timeToRecover,omitempty"`
}

// MaxTargetRecords bounds status.targets (its MaxItems): what one object can carry in etcd.
const MaxTargetRecords = 1000

// ExperimentStatus is what the manager observed and did.
type ExperimentStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the lifecycle.
	// +optional
	Phase ExperimentPhase `json:"phase,omitempty"`

	// selectedTargets is how many pods the latest round selected.
	// +optional
	SelectedTargets int32 `json:"selectedTargets,omitempty"`

	// round is the current kill round (0 before the first).
	// +optional
	Round int32 `json:"round,omitempty"`

	// startedAt is when the first round was recorded.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// roundStartedAt is when the current round's targets were recorded.
	// +optional
	RoundStartedAt *metav1.Time `json:"roundStartedAt,omitempty"`

	// nextRoundAt is when the next round starts, for faults that repeat.
	// +optional
	NextRoundAt *metav1.Time `json:"nextRoundAt,omitempty"`

	// finishedAt is when the experiment reached a terminal phase.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// targets, one record per pod and round. It holds at most MaxTargetRecords: a round may not
	// select more, and the settled records of the oldest earlier rounds make room for a new one
	// (counted in earlierTargets).
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	// +optional
	Targets []TargetStatus `json:"targets,omitempty"`

	// earlierTargets counts the records of earlier rounds dropped from targets to keep it within
	// its bound (a kill repeated every interval for hours). Their workloads' recovery is still
	// recorded in workloads.
	// +optional
	EarlierTargets int32 `json:"earlierTargets,omitempty"`

	// workloads whose pods were disrupted, with their recovery.
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	// +optional
	Workloads []WorkloadStatus `json:"workloads,omitempty"`

	// cacheFlush records what a CacheFlush removed and the server's figures around it.
	// +optional
	CacheFlush *CacheFlushStatus `json:"cacheFlush,omitempty"`

	// conditions: TargetsSelected, Injected, Recovered.
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
// +kubebuilder:printcolumn:name="Recovered",type=string,JSONPath=`.status.conditions[?(@.type=="Recovered")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.phase) || oldSelf.status.phase == 'Pending' || self.spec == oldSelf.spec",message="spec cannot change once the experiment has started (status.phase is not Pending): delete it and create a new one"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.plannedTargets) || has(oldSelf.spec.plannedTargets)",message="spec.plannedTargets is made when the experiment is created and cannot be added afterwards"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.spec.plannedTargets) || self.spec == oldSelf.spec",message="spec cannot change once its targets are planned (spec.plannedTargets): its pods may already be killed; delete it and create a new one"
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
