// Package builder makes test objects with readable defaults: a test states only what it is about.
package builder

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
			Selector: chaosv1alpha1.TargetSelector{Namespaces: []string{ns}},
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
	b.e.Spec.Selector.LabelSelector = &metav1.LabelSelector{MatchLabels: l}
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

// Build returns the experiment.
func (b *ExperimentBuilder) Build() *chaosv1alpha1.Experiment { return b.e.DeepCopy() }

// Pod returns a minimal pod with labels, in phase Pending as the API server stores it.
func Pod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "firedrill.dev/pause:dev"}}},
	}
}

// Namespace returns a namespace object.
func Namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
