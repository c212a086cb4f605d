package controllers

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/workload"
)

// seed makes a round's random pick reproducible: the same experiment and round pick the same pods.
func seed(uid types.UID, round int32) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(round))
	_, _ = h.Write(b[:])
	return h.Sum64()
}

func modeOf(exp *chaosv1alpha1.Experiment) chaosv1alpha1.SelectionMode {
	if exp.Spec.Mode == "" {
		return chaosv1alpha1.ModeOne
	}
	return exp.Spec.Mode
}

func skippedNote(ns []string) string {
	if len(ns) == 0 {
		return ""
	}
	return "; protected namespaces skipped: " + strings.Join(ns, ", ")
}

func interval(exp *chaosv1alpha1.Experiment) time.Duration {
	if exp.Spec.PodKill != nil && exp.Spec.PodKill.Interval != nil {
		return exp.Spec.PodKill.Interval.Duration
	}
	return 0
}

// endOf is when the experiment's duration runs out, counted from its start.
func endOf(exp *chaosv1alpha1.Experiment) (time.Time, bool) {
	if exp.Spec.Duration == nil || exp.Status.StartedAt == nil {
		return time.Time{}, false
	}
	return exp.Status.StartedAt.Add(exp.Spec.Duration.Duration), true
}

func findWorkload(ws []chaosv1alpha1.WorkloadStatus, ref workload.Ref) *chaosv1alpha1.WorkloadStatus {
	for i := range ws {
		if ws[i].Kind == ref.Kind && ws[i].Namespace == ref.Namespace && ws[i].Name == ref.Name {
			return &ws[i]
		}
	}
	return nil
}

// targetWorkload finds the workload a target's pod belonged to.
func targetWorkload(ws []chaosv1alpha1.WorkloadStatus, t chaosv1alpha1.TargetStatus) (*chaosv1alpha1.WorkloadStatus, bool) {
	for i := range ws {
		if belongsTo(t, ws[i]) {
			return &ws[i], true
		}
	}
	return nil, false
}

// belongsTo reports whether a target's pod belonged to w: w is its owner, or the Deployment that
// owns its ReplicaSet. A Deployment's ReplicaSets are named <deployment>-<pod-template-hash>, and
// the hash has no dash: so web-api-7d9f4 is web-api's, never web's.
func belongsTo(t chaosv1alpha1.TargetStatus, w chaosv1alpha1.WorkloadStatus) bool {
	if w.Namespace != t.Namespace {
		return false
	}
	if w.Kind == t.OwnerKind && w.Name == t.OwnerName {
		return true
	}
	hash, ok := strings.CutPrefix(t.OwnerName, w.Name+"-")
	return ok && w.Kind == "Deployment" && t.OwnerKind == "ReplicaSet" && hash != "" && !strings.Contains(hash, "-")
}

// lastDisruption is the latest injection into a pod of w: from the targets, or from w's own
// record when those targets' records were dropped to keep status.targets bounded.
func lastDisruption(ts []chaosv1alpha1.TargetStatus, w *chaosv1alpha1.WorkloadStatus) time.Time {
	last := lastInjection(ts, w)
	if w.LastDisruptedAt != nil && w.LastDisruptedAt.After(last) {
		last = w.LastDisruptedAt.Time
	}
	return last
}

// lastInjection is the latest injection into a pod of w, or into any target when w is nil.
func lastInjection(ts []chaosv1alpha1.TargetStatus, w *chaosv1alpha1.WorkloadStatus) time.Time {
	var last time.Time
	for _, t := range ts {
		if t.InjectedAt != nil && (w == nil || belongsTo(t, *w)) && t.InjectedAt.After(last) {
			last = t.InjectedAt.Time
		}
	}
	return last
}

func recoverySummary(ws []chaosv1alpha1.WorkloadStatus) string {
	if len(ws) == 0 {
		return "no workload to wait for"
	}
	parts := make([]string, 0, len(ws))
	for _, w := range ws {
		if w.TimeToRecover != nil {
			parts = append(parts, fmt.Sprintf("%s %s/%s whole again %s after the last kill", w.Kind, w.Namespace, w.Name, w.TimeToRecover.Duration.Round(time.Millisecond)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s/%s is gone", w.Kind, w.Namespace, w.Name))
		}
	}
	return strings.Join(parts, "; ")
}
