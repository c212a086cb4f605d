package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GameDayStep is one step of a game day: an Experiment the GameDay creates and owns, or a pause.
// +kubebuilder:validation:XValidation:rule="has(self.experiment) != has(self.pause)",message="a step has exactly one of experiment or pause"
// +kubebuilder:validation:XValidation:rule="!has(self.experiment) || !has(self.experiment.plannedTargets)",message="steps[].experiment.plannedTargets is not taken: each run's Experiment is planned when it is created"
type GameDayStep struct {
	// name of the step, unique within the game day; it names the Experiment the step creates.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// experiment is the template of the Experiment this step runs.
	// +optional
	Experiment *ExperimentSpec `json:"experiment,omitempty"`

	// withPrevious starts this step together with the one before it: consecutive steps so marked
	// form a parallel group, and the next step starts when all of the group have finished.
	// +optional
	WithPrevious bool `json:"withPrevious,omitempty"`

	// pause waits this long (at most 24h) before the next step.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('24h')",message="pause must be greater than 0s and at most 24h"
	// +optional
	Pause *metav1.Duration `json:"pause,omitempty"`

	// capacityTargets are the services of spec.capacity this step's fault hits: the model
	// predicts them under it before the step starts, and while it runs.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	CapacityTargets []string `json:"capacityTargets,omitempty"`

	// allowSaturation runs the step even when the model predicts it tips a service over.
	// +optional
	AllowSaturation bool `json:"allowSaturation,omitempty"`
}

// GroupEnd is where the parallel group starting at steps[start] ends (exclusive): the step and
// the withPrevious steps after it. The controller runs such a group at once and the plan command
// judges it together, both through this.
func GroupEnd(steps []GameDayStep, start int) int {
	end := start + 1
	for end < len(steps) && steps[end].WithPrevious {
		end++
	}
	return end
}

// PrometheusOnError says what a running game day does when Prometheus cannot be queried.
// +kubebuilder:validation:Enum=Abort;Continue
type PrometheusOnError string

const (
	PrometheusAbort    PrometheusOnError = "Abort"
	PrometheusContinue PrometheusOnError = "Continue"
)

// PrometheusSource is where the SLIs and conditions are queried.
type PrometheusSource struct {
	// address of Prometheus's HTTP API ("http://prometheus.monitoring:9090").
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'http' || url(self).getScheme() == 'https')",message="spec.prometheus.address must be an http or https URL"
	// +required
	Address string `json:"address"`
	// timeout of each query; default 5s.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('100ms') && duration(self) <= duration('60s')",message="spec.prometheus.timeout must be between 100ms and 60s"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// onError: Abort (default, fail safe) stops a running game day when Prometheus cannot be
	// queried; Continue keeps going blind (and says so in a condition).
	// +kubebuilder:default=Abort
	// +optional
	OnError PrometheusOnError `json:"onError,omitempty"`
}

// RatioSLISpec counts events: total and exactly one of good or bad, PromQL with {{.window}} as
// every range ("sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))").
// +kubebuilder:validation:XValidation:rule="has(self.good) != has(self.bad)",message="set exactly one of good or bad"
type RatioSLISpec struct {
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{{.window}}')",message="the query must use {{.window}} as its range"
	// +kubebuilder:validation:XValidation:rule="!self.replace('{{.window}}', '').contains('{{')",message="{{.window}} is the only template action a query may use"
	// +optional
	Good string `json:"good,omitempty"`
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{{.window}}')",message="the query must use {{.window}} as its range"
	// +kubebuilder:validation:XValidation:rule="!self.replace('{{.window}}', '').contains('{{')",message="{{.window}} is the only template action a query may use"
	// +optional
	Bad string `json:"bad,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.contains('{{.window}}')",message="the query must use {{.window}} as its range"
	// +kubebuilder:validation:XValidation:rule="!self.replace('{{.window}}', '').contains('{{')",message="{{.window}} is the only template action a query may use"
	// +required
	Total string `json:"total"`
}

// LatencySLISpec counts an event good when a histogram puts it at or under threshold.
type LatencySLISpec struct {
	// metric is the histogram's name, without _bucket.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z_:][a-zA-Z0-9_:]*$`
	// +kubebuilder:validation:MaxLength=200
	// +required
	Metric string `json:"metric"`
	// matchers narrow it, without braces: job="checkout".
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Matchers string `json:"matchers,omitempty"`
	// threshold is the bucket boundary (le) in seconds: "0.3". The bucket is matched by value, so
	// "0.30" finds le="0.3" and "1" finds le="1.0".
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	// +kubebuilder:validation:MaxLength=32
	// +required
	Threshold string `json:"threshold"`
}

// BurnRateRule aborts when the error budget burns at least factor times too fast over both
// windows (the SRE workbook's multi-window, multi-burn-rate alerts).
// +kubebuilder:validation:XValidation:rule="duration(self.short) >= duration('1m')",message="short must be at least 1m: a rate over a window of fewer than a few scrapes has no samples, and no data aborts the game day"
// +kubebuilder:validation:XValidation:rule="duration(self.short) < duration(self.long)",message="short must be shorter than long"
type BurnRateRule struct {
	// +required
	Long metav1.Duration `json:"long"`
	// +required
	Short metav1.Duration `json:"short"`
	// factor, e.g. "14.4"; greater than 0 (at 0 every evaluation would abort).
	// +kubebuilder:validation:Pattern=`^[0-9]+(\.[0-9]+)?$`
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0",message="factor must be greater than 0"
	// +required
	Factor string `json:"factor"`
}

// SLOSpec is a service level objective the game day is guarded by.
// +kubebuilder:validation:XValidation:rule="has(self.ratio) != has(self.latency)",message="an SLO has exactly one of ratio or latency"
// At 100% errors the budget burns 100/(100 - objective) times too fast, and never faster: a rule
// whose factor is not below that can never abort.
// +kubebuilder:validation:XValidation:rule="!has(self.burnRates) || self.burnRates.all(r, double(r.factor) * (100.0 - double(self.objective)) < 100.0)",message="each burnRates factor must be below 100/(100 - objective): at 100% errors the budget burns that many times too fast and never faster, so a higher factor can never abort"
// +kubebuilder:validation:XValidation:rule="has(self.burnRates) || 14.4 * (100.0 - double(self.objective)) < 100.0",message="the default burn-rate rules (14.4 over 1h/5m, 6 over 6h/30m) cannot abort below an objective of 93.06% (objective is a percentage: 99.9, not 0.999); set burnRates with factors below 100/(100 - objective)"
// +kubebuilder:validation:XValidation:rule="!has(self.burnRates) || self.burnRates.all(r, duration(r.long) <= duration(self.window))",message="each burnRates long window must be at most the SLO's window"
type SLOSpec struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	// +required
	Name string `json:"name"`
	// objective in percent, above 0 and below 100: "99.9".
	// +kubebuilder:validation:Pattern=`^[0-9]{1,2}(\.[0-9]{1,4})?$`
	// +kubebuilder:validation:XValidation:rule="double(self) > 0.0 && double(self) < 100.0",message="objective is a percentage and must be greater than 0 and less than 100"
	// +required
	Objective string `json:"objective"`
	// window of the error budget, 1h to 90d.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h') && duration(self) <= duration('2160h')",message="window must be between 1h and 90d (2160h)"
	// +required
	Window metav1.Duration `json:"window"`
	// +optional
	Ratio *RatioSLISpec `json:"ratio,omitempty"`
	// +optional
	Latency *LatencySLISpec `json:"latency,omitempty"`
	// burnRates abort the game day; unset: the workbook's 1h/5m at 14.4 and 6h/30m at 6.
	// +kubebuilder:validation:MaxItems=4
	// +listType=atomic
	// +optional
	BurnRates []BurnRateRule `json:"burnRates,omitempty"`
}

// BudgetPolicy freezes game days on a spent budget.
type BudgetPolicy struct {
	// freezeBelowPercent: a game day does not start while any SLO's error budget left is below
	// this many percent.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +required
	FreezeBelowPercent int32 `json:"freezeBelowPercent"`
}

// ConditionOperator compares a query's value with a threshold.
// +kubebuilder:validation:Enum=">";">=";"<";"<="
type ConditionOperator string

// AbortCondition is a PromQL check that aborts the game day when it compares true for hold.
type AbortCondition struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	// +required
	Name string `json:"name"`
	// query (which must return one value), operator and threshold.
	PromQLCheck `json:",inline"`
	// for is how long it must hold before it aborts, 0s to 24h; 0 aborts at the first true
	// evaluation.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('24h')",message="for must be between 0s and 24h"
	// +optional
	For *metav1.Duration `json:"for,omitempty"`
}

// HypothesisPhase is when a hypothesis is checked.
// +kubebuilder:validation:Enum=Before;During;After
type HypothesisPhase string

const (
	HypothesisBefore HypothesisPhase = "Before"
	HypothesisDuring HypothesisPhase = "During"
	HypothesisAfter  HypothesisPhase = "After"
)

// PromQLCheck compares a query's value (a scalar or one sample) with a threshold.
type PromQLCheck struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +required
	Query string `json:"query"`
	// +required
	Operator ConditionOperator `json:"operator"`
	// +kubebuilder:validation:Pattern=`^-?[0-9]+(\.[0-9]+)?$`
	// +kubebuilder:validation:MaxLength=32
	// +required
	Threshold string `json:"threshold"`
}

// HTTPCheck expects a GET of url to answer with status.
type HTTPCheck struct {
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'http' || url(self).getScheme() == 'https')",message="url must be an http or https URL"
	// +required
	URL string `json:"url"`
	// status expected; default 200.
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	// +optional
	Status int32 `json:"status,omitempty"`
}

// Hypothesis is what the game day expects to stay true, written down before it starts.
// +kubebuilder:validation:XValidation:rule="has(self.promQL) != has(self.http)",message="a hypothesis has exactly one of promQL or http"
type Hypothesis struct {
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	// +required
	Name string `json:"name"`
	// +optional
	PromQL *PromQLCheck `json:"promQL,omitempty"`
	// +optional
	HTTP *HTTPCheck `json:"http,omitempty"`
	// when it is checked; default all three. Before is the steady state: not steady, no start.
	// +kubebuilder:validation:MaxItems=3
	// +listType=set
	// +optional
	When []HypothesisPhase `json:"when,omitempty"`
}

// ConcurrencyPolicy says what a schedule does when a run is still going at the next time.
// +kubebuilder:validation:Enum=Forbid;Replace
type ConcurrencyPolicy string

const (
	ConcurrencyForbid  ConcurrencyPolicy = "Forbid"
	ConcurrencyReplace ConcurrencyPolicy = "Replace"
)

// BlackoutWindow is a period no scheduled run starts in (a release freeze, a peak season).
// +kubebuilder:validation:XValidation:rule="self.end > self.start",message="a blackout ends after it starts"
type BlackoutWindow struct {
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Name string `json:"name,omitempty"`
	// +required
	Start metav1.Time `json:"start"`
	// +required
	End metav1.Time `json:"end"`
}

// GameDaySchedule makes a GameDay a template that starts a run (a child GameDay) at each time.
type GameDaySchedule struct {
	// cron in the standard five fields ("0 10 * * 2": Tuesdays at 10:00). Descriptors (@every,
	// @hourly, ...) and TZ= prefixes are refused: runs are named by the minute (two in one minute
	// would collide), and the zone is timeZone.
	// +kubebuilder:validation:MinLength=9
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:XValidation:rule="self.matches('^ *[0-9A-Za-z*?,/-]+( +[0-9A-Za-z*?,/-]+){4} *$')",message="cron must be five space-separated fields (minute hour day-of-month month day-of-week); @every, @hourly and other descriptors and TZ= prefixes are not accepted"
	// +required
	Cron string `json:"cron"`
	// timeZone of the cron, an IANA name ("Europe/Paris"); default UTC. "Local" is refused: it
	// would be whatever zone the manager runs in.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`
	// +kubebuilder:validation:XValidation:rule="self != 'Local'",message="timeZone must be an IANA zone name such as Europe/Paris or UTC; Local (the manager's own zone) is not accepted"
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
	// suspend stops new runs (running ones go on).
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// concurrencyPolicy: Forbid (default) skips a time while a run is going; Replace stops it
	// (its faults removed) and starts the new one.
	// +kubebuilder:default=Forbid
	// +optional
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`
	// startingDeadline: a time missed by more than this (the manager was down) is skipped; at
	// least 1s (less would skip every run).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="startingDeadline must be at least 1s: a shorter one skips every run"
	// +optional
	StartingDeadline *metav1.Duration `json:"startingDeadline,omitempty"`
	// blackouts: no run starts inside these windows.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Blackouts []BlackoutWindow `json:"blackouts,omitempty"`
	// historyLimit is how many finished runs are kept, and how many skipped times; default 3.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	HistoryLimit *int32 `json:"historyLimit,omitempty"`
}

// GameDaySpec declares a game day.
// +kubebuilder:validation:XValidation:rule="!has(self.steps[0].withPrevious) || !self.steps[0].withPrevious",message="spec.steps[0] has no previous step to run with"
// +kubebuilder:validation:XValidation:rule="!has(self.slos) || has(self.prometheus)",message="spec.slos need spec.prometheus"
// +kubebuilder:validation:XValidation:rule="self.steps.all(s, !has(s.capacityTargets) || (has(self.capacity) && s.capacityTargets.all(t, self.capacity.services.exists(c, c.name == t))))",message="each step's capacityTargets must name services of spec.capacity"
// +kubebuilder:validation:XValidation:rule="!has(self.capacity) || self.capacity.services.all(s, (!has(s.fronts) || self.capacity.services.exists(o, o.name == s.fronts)) && (!has(s.calls) || s.calls.all(c, self.capacity.services.exists(o, o.name == c.service))))",message="spec.capacity: calls and fronts must name services of spec.capacity"
// +kubebuilder:validation:XValidation:rule="!has(self.capacity) || has(self.prometheus) || self.capacity.services.all(s, (!has(s.load) || !has(s.load.promQL)) && !has(s.observed))",message="spec.capacity: promQL loads and observed queries need spec.prometheus"
// +kubebuilder:validation:XValidation:rule="!has(self.abortConditions) || has(self.prometheus)",message="spec.abortConditions need spec.prometheus"
// +kubebuilder:validation:XValidation:rule="!has(self.hypotheses) || has(self.prometheus) || self.hypotheses.all(h, !has(h.promQL))",message="promQL hypotheses need spec.prometheus"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.schedule) || has(self.schedule)",message="spec.schedule cannot be removed: the game day is a schedule's template (its runs are its children); delete it and create a game day without one"
type GameDaySpec struct {
	// steps run in order.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	// +listType=map
	// +listMapKey=name
	// +required
	Steps []GameDayStep `json:"steps"`

	// prometheus the SLOs and abort conditions are queried from.
	// +optional
	Prometheus *PrometheusSource `json:"prometheus,omitempty"`

	// slos guard the game day: budget freeze before, burn-rate abort during.
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=name
	// +optional
	SLOs []SLOSpec `json:"slos,omitempty"`

	// budgetPolicy freezes the game day on a spent budget.
	// +optional
	BudgetPolicy *BudgetPolicy `json:"budgetPolicy,omitempty"`

	// abortConditions are PromQL thresholds that stop the game day.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +optional
	AbortConditions []AbortCondition `json:"abortConditions,omitempty"`

	// hypotheses are checked before (steady state), during and after the game day.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +optional
	Hypotheses []Hypothesis `json:"hypotheses,omitempty"`

	// capacity describes the services in play for the capacity model.
	// +optional
	Capacity *CapacitySpec `json:"capacity,omitempty"`

	// schedule makes this GameDay a template: each time, it starts a run, a GameDay of the same
	// spec (without the schedule) that it owns, named <name>-<time>.
	// +optional
	Schedule *GameDaySchedule `json:"schedule,omitempty"`

	// evaluationInterval of the guard while a step runs: 1s to 5m, default 5s.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('5m')",message="spec.evaluationInterval must be between 1s and 5m"
	// +optional
	EvaluationInterval *metav1.Duration `json:"evaluationInterval,omitempty"`
}

// GameDayPhase is a coarse summary of a game day; conditions carry the detail.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Aborted;Failed;Frozen;Scheduled
type GameDayPhase string

const (
	GameDayPending   GameDayPhase = "Pending"
	GameDayRunning   GameDayPhase = "Running"
	GameDaySucceeded GameDayPhase = "Succeeded"
	GameDayAborted   GameDayPhase = "Aborted"
	GameDayFailed    GameDayPhase = "Failed"
	GameDayFrozen    GameDayPhase = "Frozen"
	// GameDayScheduled: a template with a schedule, starting runs.
	GameDayScheduled GameDayPhase = "Scheduled"
)

// GameDayStatus is what the manager observed and did.
type GameDayStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase summarises the game day.
	// +optional
	Phase GameDayPhase `json:"phase,omitempty"`

	// startedAt and finishedAt bound the run.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// steps: one record per step, in order.
	// +listType=atomic
	// +optional
	Steps []GameDayStepStatus `json:"steps,omitempty"`

	// budgets: each SLO's error budget left before and after the game day, and what it spent.
	// +listType=atomic
	// +optional
	Budgets []SLOBudget `json:"budgets,omitempty"`

	// holding: abort conditions true since a time, not yet for their hold.
	// +listType=atomic
	// +optional
	Holding []HoldingCondition `json:"holding,omitempty"`

	// hypotheses: the latest result of each hypothesis in each phase it is checked in.
	// +listType=atomic
	// +optional
	Hypotheses []HypothesisResult `json:"hypotheses,omitempty"`

	// capacity is the NALSD summary of spec.capacity's services at the start.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Capacity []CapacitySummary `json:"capacity,omitempty"`

	// abort is the abort decided while the game day ran: what fired and when. It is recorded
	// before the Experiments are told, so that a pass that could not tell them all is finished
	// by the next ones as decided, even once the guard no longer fires.
	// +optional
	Abort *GameDayAbort `json:"abort,omitempty"`

	// lastEvaluation of the guard.
	// +optional
	LastEvaluation *metav1.Time `json:"lastEvaluation,omitempty"`

	// lastScheduleTime is the last time a run was due (started or skipped).
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// nextScheduleTime is when the next run is due; empty while the schedule is invalid.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`
	// runs: the scheduled runs kept (historyLimit finished ones, historyLimit skipped times, and
	// the active one).
	// +listType=atomic
	// +optional
	Runs []ScheduledRun `json:"runs,omitempty"`

	// conditions of the game day: Frozen, Aborted, Completed.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// StepPhase is where one step is.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Aborted
type StepPhase string

const (
	StepPending   StepPhase = "Pending"
	StepRunning   StepPhase = "Running"
	StepSucceeded StepPhase = "Succeeded"
	StepFailed    StepPhase = "Failed"
	StepAborted   StepPhase = "Aborted"
)

// GameDayStepStatus is one step's record.
type GameDayStepStatus struct {
	Name  string    `json:"name"`
	Phase StepPhase `json:"phase"`
	// experiment the step created.
	// +optional
	Experiment string `json:"experiment,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// predictions of the capacity model for the step's targets (and what calls them), with what
	// was observed while the step ran.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Predictions []ServicePrediction `json:"predictions,omitempty"`
}

// SLOBudget is one SLO's error budget around the game day, in percent of the budget.
type SLOBudget struct {
	Name string `json:"name"`
	// +optional
	Before string `json:"before,omitempty"`
	// +optional
	After string `json:"after,omitempty"`
	// spent = before − after.
	// +optional
	Spent string `json:"spent,omitempty"`
}

// GameDayAbort is an abort decision: the Aborted condition's reason and message, and when.
type GameDayAbort struct {
	// reason that fired (BurnRateExceeded, AbortConditionHeld, NoData, EmergencyStop, ...).
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
	// message says what fired, with the values.
	// +kubebuilder:validation:MaxLength=32768
	Message string `json:"message"`
	// decidedAt is when the abort was decided.
	DecidedAt metav1.Time `json:"decidedAt"`
}

// HoldingCondition is an abort condition found true, waiting out its hold.
type HoldingCondition struct {
	Name string `json:"name"`
	// since, with microseconds: a hold of a few seconds must not lose up to one to rounding.
	Since metav1.MicroTime `json:"since"`
}

// GameDay is a planned exercise: steps of experiments, guarded by SLOs.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gd,categories=chaos
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Aborted",type=string,JSONPath=`.status.conditions[?(@.type=="Aborted")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// The name is a label value (max 63) on the game day's Experiments and a schedule's runs; a run is
// named <name>-<unix minute> (8 digits until the year 2160), so a schedule leaves 54.
// The name is checked at creation, and when an update adds a schedule, so a game day stored
// before the rule existed still accepts updates (and can be deleted).
// +kubebuilder:validation:XValidation:rule="oldSelf.hasValue() ? (has(oldSelf.value().spec.schedule) || !has(self.spec.schedule) || size(self.metadata.name) <= 54) : size(self.metadata.name) <= (has(self.spec.schedule) ? 54 : 63)",message="metadata.name must be at most 63 characters, and at most 54 with spec.schedule (each run is named <name>-<unix minute>): the name is a label value (max 63) on its Experiments and runs",optionalOldSelf=true
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.phase) || oldSelf.status.phase in ['Pending', 'Frozen', 'Scheduled'] || self.spec == oldSelf.spec",message="spec cannot change once the game day has started (status.phase is not Pending, Frozen or Scheduled): delete it and create a new one"
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

// Finished reports whether the game day has ended.
func (p GameDayPhase) Finished() bool {
	return p == GameDaySucceeded || p == GameDayAborted || p == GameDayFailed
}

// HypothesisResult is a hypothesis checked in one phase.
type HypothesisResult struct {
	Name  string          `json:"name"`
	Phase HypothesisPhase `json:"phase"`
	// held: the expectation was met (every time, for During).
	Held bool `json:"held"`
	// value measured (the query's value, or the HTTP status), and what was expected.
	// +optional
	Value string `json:"value,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// checks counts the evaluations (During is checked at every guard evaluation).
	// +optional
	Checks int32 `json:"checks,omitempty"`
	// +optional
	CheckedAt *metav1.Time `json:"checkedAt,omitempty"`
}

// Phases of a ScheduledRun beside its GameDay's own.
const (
	// ScheduledRunSkipped: the time was due but no run was started (message says why).
	ScheduledRunSkipped = "Skipped"
	// ScheduledRunDeleted: the run's GameDay was deleted before it finished (replaced under
	// concurrencyPolicy Replace, or by hand).
	ScheduledRunDeleted = "Deleted"
)

// ScheduledRun is one run a schedule started, or a time it skipped.
type ScheduledRun struct {
	// scheduledAt is the time it was due.
	ScheduledAt metav1.Time `json:"scheduledAt"`
	// gameDay is the run's GameDay; empty for a skipped time.
	// +optional
	GameDay string `json:"gameDay,omitempty"`
	// phase of the run when last seen, Skipped, or Deleted (its GameDay went before it finished).
	// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Aborted;Failed;Frozen;Scheduled;Skipped;Deleted
	// +optional
	Phase string `json:"phase,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}
