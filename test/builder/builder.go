// Package builder makes test objects with readable defaults: a test states only what it is about.
package builder

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
)

// ExperimentBuilder builds an Experiment: a PodKill of one pod in its own namespace by default.
type ExperimentBuilder struct{ e chaosv1alpha1.Experiment }

// Experiment starts a PodKill experiment named name in namespace ns, targeting ns.
func Experiment(ns, name string) *ExperimentBuilder {
	return &ExperimentBuilder{e: chaosv1alpha1.Experiment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: chaosv1alpha1.ExperimentSpec{
			Action:   chaosv1alpha1.ActionPodKill,
			Selector: &chaosv1alpha1.TargetSelector{Namespaces: []string{ns}},
			Mode:     chaosv1alpha1.ModeOne,
			PodKill:  &chaosv1alpha1.PodKillSpec{},
		},
	}}
}

// Namespaces sets the selector's namespaces.
func (b *ExperimentBuilder) Namespaces(ns ...string) *ExperimentBuilder {
	b.e.Spec.Selector.Namespaces = ns
	return b
}

// Labels sets the selector's matchLabels.
func (b *ExperimentBuilder) Labels(l map[string]string) *ExperimentBuilder {
	b.e.Spec.Selector.LabelSelector = &chaosv1alpha1.LabelSelector{MatchLabels: l}
	return b
}

// Mode sets the mode and its value (ignored for one and all).
func (b *ExperimentBuilder) Mode(m chaosv1alpha1.SelectionMode, value int32) *ExperimentBuilder {
	b.e.Spec.Mode = m
	b.e.Spec.Value = nil
	if m == chaosv1alpha1.ModeFixed || m == chaosv1alpha1.ModePercent {
		b.e.Spec.Value = &value
	}
	return b
}

// DryRun marks the experiment dry-run.
func (b *ExperimentBuilder) DryRun() *ExperimentBuilder {
	b.e.Spec.DryRun = true
	return b
}

// Planned sets spec.plannedTargets, as a manifest that did not pass the plan webhook could.
func (b *ExperimentBuilder) Planned(pods ...*corev1.Pod) *ExperimentBuilder {
	for _, p := range pods {
		b.e.Spec.PlannedTargets = append(b.e.Spec.PlannedTargets, chaosv1alpha1.PlannedTarget{Namespace: p.Namespace, Name: p.Name, UID: p.UID})
	}
	return b
}

// Build returns the experiment.
func (b *ExperimentBuilder) Build() *chaosv1alpha1.Experiment { return b.e.DeepCopy() }

// Pod returns a minimal pod with labels, in phase Pending as the API server stores it.
func Pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "firedrill.dev/pause:dev"}}},
	}
}

// Namespace returns a namespace object.
func Namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// OnNode sets spec.nodeName, so the pod counts as scheduled there.
func OnNode(p *corev1.Pod, node string) *corev1.Pod {
	p.Spec.NodeName = node
	return p
}

// OwnedBy makes owner the pod's controller.
func OwnedBy(p *corev1.Pod, kind, name string, uid types.UID) *corev1.Pod {
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}}
	return p
}

// RunningStatus is the status a kubelet writes for a running, ready pod.
func RunningStatus(readySince time.Time) corev1.PodStatus {
	return corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(readySince)}},
	}
}

// ReplicaSet returns a ReplicaSet selecting labels, with replicas.
func ReplicaSet(ns, name string, replicas int32, labels map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "firedrill.dev/pause:dev"}}},
			},
		},
	}
}

// NodeInZone returns a node labelled with a zone.
func NodeInZone(name, zone string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"topology.kubernetes.io/zone": zone}}}
}

// Interval makes the PodKill repeat every interval for duration.
func (b *ExperimentBuilder) Interval(interval, duration time.Duration) *ExperimentBuilder {
	b.e.Spec.PodKill.Interval = &metav1.Duration{Duration: interval}
	b.e.Spec.Duration = &metav1.Duration{Duration: duration}
	return b
}

// Grace sets the PodKill grace period.
func (b *ExperimentBuilder) Grace(seconds int64) *ExperimentBuilder {
	b.e.Spec.PodKill.GracePeriodSeconds = &seconds
	return b
}

// Zone selects pods on nodes of a zone.
func (b *ExperimentBuilder) Zone(z string) *ExperimentBuilder {
	b.e.Spec.Selector.Zone = z
	return b
}

// MaxTargets sets spec.safety.maxTargets.
func (b *ExperimentBuilder) MaxTargets(n int32) *ExperimentBuilder {
	b.e.Spec.Safety = &chaosv1alpha1.SafetyLimits{MaxTargets: &n}
	return b
}

// CacheFlush turns the experiment into a CacheFlush of the cache spec names (no selector).
func (b *ExperimentBuilder) CacheFlush(spec chaosv1alpha1.CacheFlushSpec) *ExperimentBuilder {
	b.e.Spec.Action, b.e.Spec.Selector, b.e.Spec.PodKill = chaosv1alpha1.ActionCacheFlush, nil, nil
	b.e.Spec.CacheFlush = &spec
	return b
}

// Duration sets spec.duration.
func (b *ExperimentBuilder) Duration(d time.Duration) *ExperimentBuilder {
	b.e.Spec.Duration = &metav1.Duration{Duration: d}
	return b
}

// Latency turns the experiment into a NetworkLatency of delay lasting duration.
func (b *ExperimentBuilder) Latency(delay, duration time.Duration) *ExperimentBuilder {
	b.e.Spec.Action, b.e.Spec.PodKill = chaosv1alpha1.ActionNetworkLatency, nil
	b.e.Spec.Duration = &metav1.Duration{Duration: duration}
	b.e.Spec.Network = &chaosv1alpha1.NetworkSpec{NetworkShaping: chaosv1alpha1.NetworkShaping{Delay: &metav1.Duration{Duration: delay}}}
	return b
}
