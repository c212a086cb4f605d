//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
)

const (
	scaleNamespaces = 10
	scaleLabels     = 100
)

func scalePods() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_SCALE_PODS")); err == nil && n > 0 {
		return n
	}
	return 50000
}

// TestBenchScale (`make bench-scale`): an API server and etcd (the source-built binaries) holding
// 1,000 and then 50,000 pods in 10 namespaces with 100 label values; the manager binary runs as
// its own process against it. Reported: the manager's RSS idle and after 30 kills, and the PodKill
// latency from Create returning to the pod watch seeing the deletion, at each size.
func TestBenchScale(t *testing.T) {
	e := startManagerEnv(t, "bench-scale")
	cfg := e.cfg
	cfg.QPS, cfg.Burst = 2000, 4000
	c := benchClient(t, cfg)

	ctx := t.Context()
	for i := 0; i < scaleNamespaces; i++ {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("scale-%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	created := 0
	for _, size := range []int{1000, scalePods()} {
		rate := populate(t, c, created, size)
		created = size
		mgr, stop := e.run(t, fmt.Sprintf("manager-%d.log", size))
		time.Sleep(5 * time.Second) // caches synced, idle
		idle := rssMiB(t, mgr.Process.Pid)
		lat, latSend := scaleKills(t, c, size, 30)
		time.Sleep(2 * time.Second)
		after := rssMiB(t, mgr.Process.Pid)
		stop()
		fmt.Printf("\n%d pods (created at %.0f pods/s): manager RSS idle %.1f MiB, after 30 kills %.1f MiB\n  PodKill Create returned -> deletion seen %s\n  PodKill Create sent -> deletion seen %s\n",
			size, rate, idle, after, lat, latSend)
	}
	fmt.Printf("Targets (issue 3): at 50k pods manager RSS < 100 MiB and PodKill median <= 20 ms\n\n")
}

// populate creates pods from..to-1 across the namespaces, 100 label values, and returns pods/s.
func populate(t *testing.T, c client.Client, from, to int) float64 {
	t.Helper()
	start := time.Now()
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				p := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("scale-%d", i%scaleNamespaces), Name: fmt.Sprintf("pod-%d", i),
						Labels: map[string]string{"app": fmt.Sprintf("svc-%d", (i/scaleNamespaces)%scaleLabels)}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "firedrill.dev/pause:dev"}}},
				}
				if err := c.Create(context.Background(), p); err != nil {
					failed.Store(err)
					return
				}
				// The pods run nowhere; mark them Running as a kubelet would, so they are targetable.
				p.Status.Phase = corev1.PodRunning
				if err := c.Status().Update(context.Background(), p); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("populating pods: %v", err)
	}
	return float64(to-from) / time.Since(start).Seconds()
}

// scaleKills runs n PodKill experiments (mode one) in scale-0, each against another label value.
func scaleKills(t *testing.T, c client.WithWatch, size, n int) (fromReturn, fromSend stats) {
	t.Helper()
	fromReturn, fromSend = measure(t, c, "scale-0", n, nil, func(i int) error {
		return c.Create(t.Context(), &chaosv1alpha1.Experiment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "scale-0", Name: fmt.Sprintf("kill-%d-%d", size, i)},
			Spec: chaosv1alpha1.ExperimentSpec{
				Action: chaosv1alpha1.ActionPodKill,
				Selector: &chaosv1alpha1.TargetSelector{Namespaces: []string{"scale-0"},
					LabelSelector: &chaosv1alpha1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("svc-%d", i%scaleLabels)}}},
				Mode:    chaosv1alpha1.ModeOne,
				PodKill: &chaosv1alpha1.PodKillSpec{GracePeriodSeconds: ptr.To[int64](0)},
			},
		})
	})
	return fromReturn, fromSend
}

func rssMiB(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func writeKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}
