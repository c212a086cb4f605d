package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Decimal is a non-negative decimal number written as a string ("0.9", "450", "0.004").
// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
// +kubebuilder:validation:MaxLength=32
type Decimal string

// Ratio is a decimal from 0 to 1 ("0.9").
// +kubebuilder:validation:Pattern=`^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$`
// +kubebuilder:validation:MaxLength=8
type Ratio string

// CapacitySpec describes the services a game day touches, for the capacity model: before each
// step it predicts their utilisation and p99 under the step's fault, and refuses a step
// predicted to tip one over.
type CapacitySpec struct {
	// maxUtilisation above which a service counts as saturated; default 0.9.
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0",message="maxUtilisation must be greater than 0"
	// +optional
	MaxUtilisation Ratio `json:"maxUtilisation,omitempty"`

	// services in play.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +required
	Services []CapacityService `json:"services"`
}

// CapacityWorkload names the workload whose ready replicas a service has, in the GameDay's
// namespace.
type CapacityWorkload struct {
	// +kubebuilder:validation:Enum=Deployment;StatefulSet;ReplicaSet
	// +required
	Kind string `json:"kind"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// CapacityLoad is the requests/s a service receives from outside the model: a value, or a
// PromQL query read at every evaluation.
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.promQL)",message="load has exactly one of value or promQL"
type CapacityLoad struct {
	// +optional
	Value Decimal `json:"value,omitempty"`
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	PromQL string `json:"promQL,omitempty"`
}

// CapacityCPU derives one replica's capacity from CPU: cores per replica ÷ CPU-seconds per
// request.
type CapacityCPU struct {
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0",message="coresPerReplica must be greater than 0: no cores serve nothing, and the model would not count the service as a queue"
	// +required
	CoresPerReplica Decimal `json:"coresPerReplica"`
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0",message="cpuSecondsPerRequest must be greater than 0"
	// +required
	CPUSecondsPerRequest Decimal `json:"cpuSecondsPerRequest"`
}

// CapacityObservation is one replica's load (requests/s) and busy fraction (0–1) at one time.
type CapacityObservation struct {
	// +required
	Load Decimal `json:"load"`
	// +required
	Busy Ratio `json:"busy"`
}

// ScalabilityPoint is a throughput (requests/s) observed at a concurrency.
type ScalabilityPoint struct {
	// +required
	Concurrency Decimal `json:"concurrency"`
	// +required
	Throughput Decimal `json:"throughput"`
}

// CapacityCall says that a service calls another.
type CapacityCall struct {
	// service called (a name in spec.capacity.services).
	// +kubebuilder:validation:MaxLength=63
	// +required
	Service string `json:"service"`
	// ratio of calls per request; default 1.
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0",message="ratio must be greater than 0 (a service not called has no call)"
	// +optional
	Ratio Decimal `json:"ratio,omitempty"`
	// retries the caller makes on a failed call: loss p amplifies its calls by Σ pⁱ, i ≤ retries.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	Retries int32 `json:"retries,omitempty"`
	// pool is the caller's concurrency limit toward the service (connections); by Little's law
	// it is full at load = pool / latency.
	// +kubebuilder:validation:Minimum=1
	// +optional
	Pool int32 `json:"pool,omitempty"`
}

// CapacityObserved are queries of what a service really does, read while a step runs, to set
// next to the prediction.
type CapacityObserved struct {
	// throughput in requests/s.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	Throughput string `json:"throughput,omitempty"`
	// latencyP99 in seconds.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	LatencyP99 string `json:"latencyP99,omitempty"`
	// errorRatio from 0 to 1.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	ErrorRatio string `json:"errorRatio,omitempty"`
}

// CapacityService is one service's capacity inputs. A service with a serviceTime is a queue
// (replicas × workers); one without (a cache) only passes load on.
// +kubebuilder:validation:XValidation:rule="!has(self.serviceTime) || has(self.concurrencyLimit) || has(self.perReplica) || has(self.cpu) || has(self.fitted)",message="a service with serviceTime needs concurrencyLimit, perReplica, cpu or fitted (its workers per replica)"
// +kubebuilder:validation:XValidation:rule="!has(self.fitted) || (has(self.serviceTime) && !has(self.perReplica) && !has(self.cpu) && !has(self.concurrencyLimit))",message="fitted needs serviceTime, and replaces concurrencyLimit, perReplica and cpu"
// +kubebuilder:validation:XValidation:rule="!(has(self.concurrencyLimit) && has(self.perReplica))",message="set concurrencyLimit or perReplica, not both"
// +kubebuilder:validation:XValidation:rule="!(has(self.perReplica) && has(self.cpu))",message="set perReplica or cpu, not both"
// +kubebuilder:validation:XValidation:rule="has(self.serviceTime) || has(self.cpu) || has(self.cacheHitRatio)",message="a service needs serviceTime (or cpu), or is a cache with cacheHitRatio"
// +kubebuilder:validation:XValidation:rule="!has(self.fronts) || has(self.cacheHitRatio)",message="fronts needs cacheHitRatio: only a cache fronts a store"
// +kubebuilder:validation:XValidation:rule="!has(self.fronts) || self.fronts != self.name",message="a cache cannot front itself"
// +kubebuilder:validation:XValidation:rule="!has(self.calls) || self.calls.all(c, c.service != self.name)",message="a service cannot call itself: its load would feed itself without end"
// +kubebuilder:validation:XValidation:rule="[has(self.workload), has(self.selector), has(self.replicas)].filter(x, x).size() <= 1",message="set at most one of workload, selector and replicas"
type CapacityService struct {
	// name of the service in the model.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	// +required
	Name string `json:"name"`

	// workload whose ready replicas the service has (read live).
	// +optional
	Workload *CapacityWorkload `json:"workload,omitempty"`
	// selector counts the ready pods it matches in the GameDay's namespace as the replicas.
	// +optional
	Selector *LabelSelector `json:"selector,omitempty"`
	// replicas, when no workload or selector is given.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// load arriving from outside the model.
	// +optional
	Load *CapacityLoad `json:"load,omitempty"`

	// serviceTime is the mean time a worker spends on one request; with cpu and without it,
	// the CPU-seconds per request.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('1h')",message="serviceTime must be greater than 0s and at most 1h"
	// +optional
	ServiceTime *metav1.Duration `json:"serviceTime,omitempty"`
	// concurrencyLimit is the requests one replica serves at once (its workers).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +optional
	ConcurrencyLimit *int32 `json:"concurrencyLimit,omitempty"`
	// perReplica is a declared requests/s one replica serves at full utilisation; with
	// serviceTime it sets the workers (perReplica × serviceTime).
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0",message="perReplica must be greater than 0: a replica that serves nothing would not be counted as a queue"
	// +optional
	PerReplica Decimal `json:"perReplica,omitempty"`
	// cpu derives perReplica from CPU.
	// +optional
	CPU *CapacityCPU `json:"cpu,omitempty"`
	// fitted derives perReplica from observations of one replica: its load against the busy
	// fraction of its workers (or of its CPU limit), by least squares through the origin.
	// +kubebuilder:validation:MinItems=2
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Fitted []CapacityObservation `json:"fitted,omitempty"`

	// scalability points (concurrency, throughput) fit the Universal Scalability Law: the
	// summary then gives contention σ, coherency κ and the concurrency of peak throughput.
	// +kubebuilder:validation:MinItems=3
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Scalability []ScalabilityPoint `json:"scalability,omitempty"`

	// latencyThreshold is the p99 the service must keep (its SLO's latency threshold).
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="latencyThreshold must be greater than 0s"
	// +optional
	LatencyThreshold *metav1.Duration `json:"latencyThreshold,omitempty"`

	// cacheHitRatio makes the service a cache answering this share of lookups.
	// +optional
	CacheHitRatio Ratio `json:"cacheHitRatio,omitempty"`
	// fronts names the store behind this cache: it receives the misses.
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Fronts string `json:"fronts,omitempty"`

	// calls are the services this one calls.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Calls []CapacityCall `json:"calls,omitempty"`

	// observed queries, for predicted against observed.
	// +optional
	Observed *CapacityObserved `json:"observed,omitempty"`
}

// ServicePrediction is the model's view of one service during one step, and what was observed.
type ServicePrediction struct {
	Service string `json:"service"`
	// load in requests/s, replicas, utilisation (0–1), predicted p99, and λ* (the load at which
	// it tips over) with the limit that binds.
	Load        string `json:"load"`
	Replicas    int32  `json:"replicas"`
	Utilisation string `json:"utilisation,omitempty"`
	// +optional
	P99 string `json:"p99,omitempty"`
	// +optional
	SaturationLoad string `json:"saturationLoad,omitempty"`
	// saturated says why the service is predicted to tip over.
	// +optional
	Saturated string `json:"saturated,omitempty"`
	// observedLoad, observedP99 and observedErrorRatio: the latest observation while the step ran.
	// +optional
	ObservedLoad string `json:"observedLoad,omitempty"`
	// +optional
	ObservedP99 string `json:"observedP99,omitempty"`
	// +optional
	ObservedErrorRatio string `json:"observedErrorRatio,omitempty"`
	// p99Error is (predicted − observed) / observed p99, in percent.
	// +optional
	P99Error string `json:"p99Error,omitempty"`
	// capacityLost: the observations fit a service with far less capacity than modelled (a
	// silent capacity loss); the message has the numbers.
	// +optional
	CapacityLost string `json:"capacityLost,omitempty"`
}

// CapacitySummary is the NALSD line of one service in the steady state.
type CapacitySummary struct {
	Service     string `json:"service"`
	Load        string `json:"load"`
	Replicas    int32  `json:"replicas"`
	PerReplica  string `json:"perReplica,omitempty"`
	Capacity    string `json:"capacity,omitempty"`
	Utilisation string `json:"utilisation,omitempty"`
	// needed: replicas for the load at the maximum utilisation, plus one spare (N+1).
	Needed int32 `json:"needed,omitempty"`
	// headroom: requests/s more that fit under the maximum utilisation.
	Headroom string `json:"headroom,omitempty"`
	// scalability: the USL fit of spec scalability points (σ, κ, peak).
	// +optional
	Scalability string `json:"scalability,omitempty"`
}
