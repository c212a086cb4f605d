//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/yaml"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/controllers"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/experiments/podkill"
	"github.com/firedrill-dev/firedrill/internal/webhookcert"
	"github.com/firedrill-dev/firedrill/test/builder"
)

// servePlanWebhook serves controllers.PlanWebhook on loopback, with the certificate the manager
// makes (webhookcert), and registers it with the API server for namespace ns only: the shipped
// MutatingWebhookConfiguration (config/webhook) with its URL, a namespace selector, and
// failurePolicy Fail, so that a webhook that does not answer fails the test instead of leaving
// experiments unplanned. It returns once the API server calls it.
func servePlanWebhook(t *testing.T, ns string) {
	t.Helper()
	cert, err := webhookcert.New([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, TLSOpts: []func(*tls.Config){cert.Serve}})
	selections := newSelections()
	runUntilTestEnds(t, selections)
	srv.Register(controllers.PlanPath, &webhook.Admission{Handler: &controllers.PlanWebhook{Reconciler: &controllers.ExperimentReconciler{
		APIReader: k8s, Protected: testProtected, Selections: selections,
	}}})
	runUntilTestEnds(t, srv)

	cfg := shippedPlanWebhook(t)
	cfg.Name = "firedrill-plan-" + ns
	wh := &cfg.Webhooks[0]
	wh.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: ptr.To(fmt.Sprintf("https://127.0.0.1:%d%s", port, controllers.PlanPath))}
	wh.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}}
	wh.FailurePolicy = ptr.To(admissionregistrationv1.Fail)
	mustCreate(t, &cfg)
	t.Cleanup(func() {
		if err := k8s.Delete(context.Background(), &cfg); err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	})
	// The manager's way of trusting it.
	if _, err := cert.SetCABundle(t.Context(), k8s, k8s, cfg.Name); err != nil {
		t.Fatal(err)
	}
	// The API server picks the configuration up from its own watch: wait until a dry-run create
	// comes back planned.
	err = wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		probe := builder.Experiment(ns, "probe").Build()
		if err := k8s.Create(ctx, probe, client.DryRunAll); err != nil {
			t.Logf("dry-run create: %v", err)
			return false, nil
		}
		return len(probe.Spec.PlannedTargets) > 0, nil
	})
	if err != nil {
		t.Fatalf("the API server never called the plan webhook: %v", err)
	}
}

// shippedPlanWebhook reads the MutatingWebhookConfiguration make deploy applies.
func shippedPlanWebhook(t *testing.T) admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "config", "webhook", "webhook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var cfg admissionregistrationv1.MutatingWebhookConfiguration
		if err := yaml.UnmarshalStrict(doc, &cfg); err == nil && cfg.Kind == "MutatingWebhookConfiguration" {
			if len(cfg.Webhooks) != 1 {
				t.Fatalf("config/webhook/webhook.yaml: %d webhooks, want 1", len(cfg.Webhooks))
			}
			return cfg
		}
	}
	t.Fatal("config/webhook/webhook.yaml holds no MutatingWebhookConfiguration")
	return admissionregistrationv1.MutatingWebhookConfiguration{}
}

// deleteCounter counts the pods of namespace ns deleted through a client (the manager also
// resumes other tests' experiments).
type deleteCounter struct {
	ns      string
	mu      sync.Mutex
	deletes map[string]int
}

func (d *deleteCounter) client(t *testing.T) client.Client {
	t.Helper()
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	d.deletes = map[string]int{}
	return interceptor.NewClient(c, interceptor.Funcs{Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
		err := cl.Delete(ctx, obj, opts...)
		if _, isPod := obj.(*corev1.Pod); isPod && err == nil && obj.GetNamespace() == d.ns {
			d.mu.Lock()
			d.deletes[obj.GetName()]++
			d.mu.Unlock()
		}
		return err
	}})
}

func (d *deleteCounter) counts() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.deletes)
}

func plannedUIDs(e *chaosv1alpha1.Experiment) []types.UID {
	var out []types.UID
	for _, p := range e.Spec.PlannedTargets {
		out = append(out, p.UID)
	}
	slices.Sort(out)
	return out
}

func targetUIDs(e *chaosv1alpha1.Experiment) []types.UID {
	var out []types.UID
	for _, tg := range e.Status.Targets {
		out = append(out, tg.UID)
	}
	slices.Sort(out)
	return out
}

// A PodKill created through the plan webhook carries its round-1 pick from its first write, and
// the manager kills exactly those pods with no write before the kill: no version of the
// experiment ever shows a target Selected and not yet killed. The webhook replaces a plan the
// manifest gave.
func TestPlannedKillHasNoWriteBeforeIt(t *testing.T) {
	ns := "plan-first"
	labels, _ := deployment(t, ns, "web", 4)
	bystander := builder.Pod(ns, "bystander", map[string]string{"app": "other"})
	runningPods(t, bystander)
	servePlanWebhook(t, ns)

	w, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := w.Watch(t.Context(), &chaosv1alpha1.ExperimentList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Stop()
	dc := deleteCounter{ns: ns}
	startManager(t, managerOptions{podClient: dc.client(t)})

	exp := builder.Experiment(ns, "kill").Labels(labels).Mode(chaosv1alpha1.ModeFixed, 2).Grace(30).Planned(bystander).Build()
	mustCreate(t, exp)
	key := client.ObjectKeyFromObject(exp)
	if len(exp.Spec.PlannedTargets) != 2 {
		t.Fatalf("created with plan %+v; want the webhook's 2 pods", exp.Spec.PlannedTargets)
	}
	for _, p := range exp.Spec.PlannedTargets {
		if p.Name == bystander.Name || !strings.HasPrefix(p.Name, "web") {
			t.Errorf("planned %s: the webhook kept the manifest's plan or picked outside spec.selector", p.Name)
		}
	}
	got := waitForPhase(t, key, chaosv1alpha1.ExperimentRecovering)
	requireCondition(t, got, chaosv1alpha1.ConditionTargetsSelected, "True", chaosv1alpha1.ReasonTargetsFound)
	if !slices.Equal(targetUIDs(got), plannedUIDs(exp)) {
		t.Fatalf("targets %+v, want the planned %+v", got.Status.Targets, exp.Spec.PlannedTargets)
	}
	deletes := dc.counts()
	for _, p := range exp.Spec.PlannedTargets {
		if deletes[p.Name] != 1 {
			t.Errorf("planned pod %s deleted %d times, want once", p.Name, deletes[p.Name])
		}
	}
	if len(deletes) != 2 {
		t.Errorf("pods deleted %v, want the 2 planned", deletes)
	}

	// Every version of the experiment, from its creation to Recovering.
	versions := 0
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, open := <-watch.ResultChan():
			if !open {
				t.Fatalf("the watch ended after %d versions, before the experiment was Recovering", versions)
			}
			e, ok := ev.Object.(*chaosv1alpha1.Experiment)
			if !ok || e.Name != exp.Name {
				continue
			}
			versions++
			if !slices.Equal(plannedUIDs(e), plannedUIDs(exp)) {
				t.Errorf("version %s: plan %+v, want it unchanged", e.ResourceVersion, e.Spec.PlannedTargets)
			}
			for _, tg := range e.Status.Targets {
				if tg.State == chaosv1alpha1.TargetSelected {
					t.Errorf("version %s records %s Selected, not yet killed: a write went before the kill", e.ResourceVersion, tg.Name)
				}
			}
			if e.Status.Phase == chaosv1alpha1.ExperimentRecovering {
				if versions < 2 {
					t.Errorf("saw %d versions, want the creation and at least one status write", versions)
				}
				return
			}
		case <-deadline:
			t.Fatalf("the watch never showed the experiment Recovering (%d versions seen)", versions)
		}
	}
}

// A manager that dies after the planned kills, before it records anything, resumes the plan after
// a restart: each planned pod is killed exactly once and recorded at its kill, and no pod is
// picked afresh, though the killed pods are no longer selectable: whether they are still
// terminating or already gone (grace 0, or the kubelet done).
func TestRestartAfterAPlannedKillNeverKillsTwice(t *testing.T) {
	for _, tc := range []struct {
		name        string
		ns          string
		terminating bool
	}{
		{"killed pods still terminating", "plan-crash", true},
		{"killed pods gone", "plan-crash-gone", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := tc.ns
			labels, rsUID := deployment(t, ns, "pay", 4)
			if tc.terminating {
				keepTerminating(t, ns)
			}
			servePlanWebhook(t, ns)

			dc := deleteCounter{ns: ns}
			reader, err := client.New(cfg, client.Options{Scheme: scheme})
			if err != nil {
				t.Fatal(err)
			}
			pk := podkill.PodKill{Client: dc.client(t), Reader: reader}
			crashing := &crashingFault{inner: pk, at: crashAfterAllKills, n: 2, crashed: make(chan struct{})}
			stop1, crash1 := startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: crashing}})
			crashing.crash = crash1
			exp := builder.Experiment(ns, "kill").Labels(labels).Mode(chaosv1alpha1.ModeFixed, 2).Grace(30).Build()
			mustCreate(t, exp)
			key := client.ObjectKeyFromObject(exp)
			crashing.await(t, stop1)
			crashedAt := time.Now()
			var before chaosv1alpha1.Experiment
			if err := k8s.Get(t.Context(), key, &before); err != nil {
				t.Fatal(err)
			}
			if before.Status.Phase != "" || len(before.Status.Targets) != 0 || len(before.Spec.PlannedTargets) != 2 {
				t.Fatalf("before the restart: phase %q, targets %+v, plan %+v; want no status and a plan of 2 (the plan is the only intent)",
					before.Status.Phase, before.Status.Targets, before.Spec.PlannedTargets)
			}
			if d := dc.counts(); len(d) != 2 {
				t.Fatalf("before the restart: deleted %v, want the 2 planned", d)
			}
			// Nor can the spec change now, though status shows no start: a pass would select elsewhere.
			for what, edit := range map[string]func(*chaosv1alpha1.Experiment){
				"editing the selector": func(e *chaosv1alpha1.Experiment) { e.Spec.Selector.LabelSelector = nil },
				"removing the plan":    func(e *chaosv1alpha1.Experiment) { e.Spec.PlannedTargets = nil },
			} {
				edited := before.DeepCopy()
				edit(edited)
				if err := k8s.Update(t.Context(), edited); err == nil || !strings.Contains(err.Error(), "spec cannot change once its targets are planned") {
					t.Fatalf("%s of a planned experiment: %v, want it refused", what, err)
				}
			}
			time.Sleep(1500 * time.Millisecond) // status times are whole seconds: a resume's time would show
			steps, t0 := roundSteps(t, chaosv1alpha1.ActionPodKill), time.Now()

			startManager(t, managerOptions{faults: map[chaosv1alpha1.Action]experiments.Fault{chaosv1alpha1.ActionPodKill: pk}})
			// Gone targets count as recovered: nothing is left to wait for.
			phase := chaosv1alpha1.ExperimentSucceeded
			if tc.terminating {
				phase = chaosv1alpha1.ExperimentRecovering
			}
			got := waitForPhase(t, key, phase)
			if !slices.Equal(targetUIDs(got), plannedUIDs(exp)) {
				t.Fatalf("after restart: targets %+v, want the planned %+v", got.Status.Targets, exp.Spec.PlannedTargets)
			}
			deletes := dc.counts()
			for _, tg := range got.Status.Targets {
				if deletes[tg.Name] != 1 {
					t.Errorf("pod %s deleted %d times, want exactly once", tg.Name, deletes[tg.Name])
				}
				if !tc.terminating {
					// Gone: the resume cannot tell when it was killed, only that it was.
					if tg.State != chaosv1alpha1.TargetGone {
						t.Errorf("target %s state %s, want Gone", tg.Name, tg.State)
					}
					continue
				}
				if tg.State != chaosv1alpha1.TargetInjected {
					t.Errorf("target %s state %s, want Injected", tg.Name, tg.State)
				}
				if tg.InjectedAt == nil || tg.InjectedAt.After(crashedAt) {
					t.Errorf("target %s recorded injected at %v, after the crash (%s): the resume's time, not the kill's", tg.Name, tg.InjectedAt, crashedAt.Format(time.RFC3339Nano))
				}
			}
			if len(deletes) != 2 {
				t.Errorf("pods deleted %v, want the 2 planned", deletes)
			}
			// A resumed round is not a round started: the restarted manager times no step of it.
			requireStepsAdded(t, steps, roundSteps(t, chaosv1alpha1.ActionPodKill), nil, time.Since(t0))
			if tc.terminating {
				releasePods(t, ns)
				replace(t, ns, "pay", rsUID, labels, 2)
				waitForPhase(t, key, chaosv1alpha1.ExperimentSucceeded)
			}
		})
	}
}

// keepTerminating holds the namespace's pods once deleted (no kubelet finishes them), until the
// test ends.
func keepTerminating(t *testing.T, ns string) {
	t.Helper()
	var pods corev1.PodList
	if err := k8s.List(t.Context(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		p.Finalizers = append(p.Finalizers, "test.firedrill.dev/keep")
		if err := k8s.Update(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { releasePods(t, ns) })
}

// A plan in a manifest that did not pass the webhook is held to spec.selector and the mode: pods
// the selector does not select are left alone (the experiment selects as usual), and a plan of
// more pods than the mode picks fails the experiment, killing nothing.
func TestPlanFromAManifestIsHeldToTheSelector(t *testing.T) {
	ns := "plan-forged"
	labels, _ := deployment(t, ns, "web", 3)
	bystander := builder.Pod(ns, "bystander", map[string]string{"app": "other"})
	runningPods(t, bystander)
	dc := deleteCounter{ns: ns}
	startManager(t, managerOptions{podClient: dc.client(t)})

	// Not selected: a pod the labels do not match, and one outside spec.selector.namespaces.
	elsewhere := builder.Pod("default", "plan-forged-elsewhere", labels)
	runningPods(t, elsewhere)
	exp := builder.Experiment(ns, "outside").Labels(labels).Grace(0).Planned(bystander, elsewhere).Build()
	mustCreate(t, exp)
	got := waitForPhase(t, client.ObjectKeyFromObject(exp), chaosv1alpha1.ExperimentRecovering)
	if len(got.Status.Targets) != 1 || !strings.HasPrefix(got.Status.Targets[0].Name, "web") {
		t.Fatalf("targets %+v, want one web pod selected as usual", got.Status.Targets)
	}
	if d := dc.counts(); d[bystander.Name] != 0 || d[elsewhere.Name] != 0 || len(d) != 1 {
		t.Fatalf("deleted %v, want one web pod only", d)
	}

	var pods corev1.PodList
	if err := k8s.List(t.Context(), &pods, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		t.Fatal(err)
	}
	var two []*corev1.Pod
	for i := range pods.Items {
		if pods.Items[i].DeletionTimestamp == nil && len(two) < 2 {
			two = append(two, &pods.Items[i])
		}
	}
	over := builder.Experiment(ns, "over").Labels(labels).Grace(0).Planned(two...).Build()
	mustCreate(t, over)
	got = waitForPhase(t, client.ObjectKeyFromObject(over), chaosv1alpha1.ExperimentFailed)
	requireCondition(t, got, chaosv1alpha1.ConditionTargetsSelected, "False", chaosv1alpha1.ReasonBlastRadiusExceeded)
	if d := dc.counts(); len(d) != 1 {
		t.Fatalf("deleted %v, want nothing more after the refused plan", d)
	}
}
