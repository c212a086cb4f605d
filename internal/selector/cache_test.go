package selector

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

// A kept selection whose watch has ended is not answered from memory (client-go reports no error
// for a stream that ended, and keeps the store as it was until it has listed again after a
// backoff); it is answered again once a watch is open. The watch is a fake the test ends; the
// real API server's side is in test/integration (TestKeptSelectionsFollowThePodsAndStayBounded).
func TestKeptSelectionIsNotUsedWhileItsWatchIsDown(t *testing.T) {
	web := map[string]string{"app": "web"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-a", Labels: web, ResourceVersion: "5"}}
	cs := fake.NewClientset(pod.DeepCopy())
	var (
		mu       sync.Mutex
		current  *watch.FakeWatcher
		refuse   atomic.Bool
		watchRVs []string
	)
	cs.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if refuse.Load() {
			return true, nil, errors.New("refused by the test")
		}
		mu.Lock()
		defer mu.Unlock()
		watchRVs = append(watchRVs, a.(k8stesting.WatchAction).GetWatchRestrictions().ResourceVersion)
		current = watch.NewFakeWithChanSize(2, false)
		return true, current, nil
	})
	c := startCache(t, cs)
	sel := labels.SelectorFromSet(web)

	// The selection's list, just made by the caller, is the watch's first list: the watch starts
	// from its resourceVersion and lists nothing itself.
	c.warm(t.Context(), "shop", sel, &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "5"}, Items: []corev1.Pod{*pod}})
	untilAnswered(t, c, "shop", sel, true)
	if pods, _ := c.get("shop", sel); len(pods) != 1 || pods[0].Name != "web-a" {
		t.Fatalf("kept pods %v, want web-a", pods)
	}
	if n := lists(cs); n != 0 {
		t.Fatalf("the watch listed the pods %d times: want it started from the list it was given", n)
	}
	mu.Lock()
	if len(watchRVs) != 1 || watchRVs[0] != "5" {
		t.Fatalf("watches opened at resourceVersions %q, want one at the given list's \"5\"", watchRVs)
	}
	mu.Unlock()

	// The stream ends and the reflector cannot watch again: the selection must be listed.
	refuse.Store(true)
	mu.Lock()
	current.Stop()
	mu.Unlock()
	untilAnswered(t, c, "shop", sel, false)
	if kept, synced, _ := c.Selections(); kept != 1 || synced != 0 {
		t.Fatalf("kept %d, answering %d: want the selection kept but not answering", kept, synced)
	}

	// Watching again (after client-go's backoff): answered from memory again.
	refuse.Store(false)
	untilAnswered(t, c, "shop", sel, true)
}

// A list without a resourceVersion cannot start a watch (the watch would begin at "now" and
// never see a pod deleted since the list): the watch then lists for itself.
func TestKeptSelectionListsItselfGivenAListWithoutAVersion(t *testing.T) {
	web := map[string]string{"app": "web"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-a", Labels: web, ResourceVersion: "5"}}
	cs := fake.NewClientset(pod.DeepCopy())
	c := startCache(t, cs)
	sel := labels.SelectorFromSet(web)

	c.warm(t.Context(), "shop", sel, &corev1.PodList{Items: []corev1.Pod{*pod}})
	untilAnswered(t, c, "shop", sel, true)
	if lists(cs) == 0 {
		t.Fatal("the watch did not list the pods: want a list of its own when the given one has no resourceVersion")
	}
}

// untilAnswered waits until c answers (or, want false, stops answering) the selection from memory.
func untilAnswered(t *testing.T, c *Cache, namespace string, sel labels.Selector, want bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, ok := c.get(namespace, sel)
		return ok == want, nil
	})
	if err != nil {
		t.Fatalf("kept selection answered: %v, want %v", !want, want)
	}
}

// lists is how many lists cs was asked for.
func lists(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "list" {
			n++
		}
	}
	return n
}

// startCache runs a Cache on cs until the test ends.
func startCache(t *testing.T, cs *fake.Clientset) *Cache {
	t.Helper()
	c := &Cache{Pods: cs, Clock: clocktesting.NewFakeClock(time.Now()), Idle: time.Hour}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// The pods kept for a selection are what selection reads of them, and no more.
func TestKeepStripsAPod(t *testing.T) {
	now := metav1.Now()
	in := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-a", UID: "u1", ResourceVersion: "7",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"big": "x"}, DeletionTimestamp: &now,
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-1", Controller: ptrTrue()}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		Spec:   corev1.PodSpec{NodeName: "n1", HostNetwork: true, Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1"},
	}
	o, err := keep(in)
	if err != nil {
		t.Fatal(err)
	}
	p := o.(*corev1.Pod)
	if p.Name != "web-a" || p.Namespace != "shop" || p.UID != "u1" || p.Labels["app"] != "web" || p.DeletionTimestamp == nil ||
		metav1.GetControllerOf(p) == nil || p.Spec.NodeName != "n1" || !p.Spec.HostNetwork || p.Status.Phase != corev1.PodRunning {
		t.Errorf("kept %+v: lost a field selection or a preflight reads", p)
	}
	if len(p.Annotations) != 0 || len(p.ManagedFields) != 0 || len(p.Spec.Containers) != 0 || p.Status.PodIP != "" {
		t.Errorf("kept %+v: want only what selection reads", p)
	}
}

func ptrTrue() *bool { b := true; return &b }
