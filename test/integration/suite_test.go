//go:build integration

// Package integration runs the controllers against a real kube-apiserver and etcd (envtest), built
// from source by hack/k8s-binaries.sh. `make test-integration` sets KUBEBUILDER_ASSETS.
package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/controllers"
	"github.com/firedrill-dev/firedrill/experiments"
	"github.com/firedrill-dev/firedrill/internal/selector"
	"github.com/firedrill-dev/firedrill/internal/workload"
)

const ownNamespace = "firedrill-system"

var (
	cfg    *rest.Config
	k8s    client.Client
	scheme = k8sruntime.NewScheme()
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// A missing API server is a failure, never a skip.
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run `make test-integration` (it builds the binaries)")
		return 1
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(chaosv1alpha1.AddToScheme(scheme))

	_, file, _, _ := runtime.Caller(0)
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(filepath.Dir(file), "..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// testProtected are the in-process manager's protected namespaces.
var testProtected = selector.NewProtected(ownNamespace, "payments")

// managerOptions adjust the in-process manager for one test.
type managerOptions struct {
	// faults replaces the fault kinds (wrapping them to crash or count).
	faults     map[chaosv1alpha1.Action]experiments.Fault
	maxTargets int
	// maxTargetRecords lowers the bound on status.targets.
	maxTargetRecords int
	// apiReader wraps the Experiment controller's uncached reader (to fail a read).
	apiReader func(client.Reader) client.Reader
	// podClient is the client PodKill deletes with (to count deletions).
	podClient client.Client
	// gameDayClock replaces the GameDay controller's clock (schedules on an injected clock).
	gameDayClock clock.Clock
	// gameDayClient wraps the GameDay controller's client (to make some of its writes fail).
	gameDayClient func(client.Client) client.Client
	// onManager, when set, is given the manager before it starts (to read through its cache).
	onManager func(ctrl.Manager)
	// logs, when set, also receives the manager's logs (to check what they never contain).
	logs io.Writer
	// cacheRestoreTimeout bounds a failing CacheFlush restore (the kind's default when 0).
	cacheRestoreTimeout time.Duration
	// tracker follows workload recovery (one is made unless noTracker: recovery by polling only).
	tracker   *workload.Tracker
	noTracker bool
	// selections keeps recent selections' pods (one is made, as the manager runs by default).
	selections *selector.Cache
}

// startManager runs the controllers in-process. stop cancels it and waits for it to exit (it is
// also stopped when the test ends); crash only cancels it, from anywhere, like a process dying.
func startManager(t *testing.T, opts managerOptions) (stop, crash func()) {
	t.Helper()
	logger := ctrl.Log
	if opts.logs != nil {
		logger = zap.New(zap.UseDevMode(true), zap.WriteTo(io.MultiWriter(os.Stderr, opts.logs)))
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Logger:  logger,
		Metrics: metricsserver.Options{BindAddress: "0"},
		// Each test starts its own manager: controller names may repeat.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.onManager != nil {
		opts.onManager(mgr)
	}
	if opts.selections == nil {
		opts.selections = newSelections()
	}
	if opts.tracker == nil && !opts.noTracker {
		opts.tracker = newTracker()
	}
	faults := opts.faults
	if faults == nil {
		pc := opts.podClient
		if pc == nil {
			pc = mgr.GetClient()
		}
		faults = controllers.Faults(pc, mgr.GetAPIReader(), controllers.FaultOptions{CacheRestoreTimeout: opts.cacheRestoreTimeout, Protected: testProtected})
	}
	apiReader := mgr.GetAPIReader()
	if opts.apiReader != nil {
		apiReader = opts.apiReader(apiReader)
	}
	ctx, cancel := context.WithCancel(t.Context())
	if err := (&controllers.ExperimentReconciler{
		Client:           mgr.GetClient(),
		APIReader:        apiReader,
		Recorder:         mgr.GetEventRecorder("firedrill-manager"),
		Protected:        testProtected,
		Faults:           faults,
		MaxTargets:       opts.maxTargets,
		MaxTargetRecords: opts.maxTargetRecords,
		RecoveryTimeout:  time.Minute,
		RecoveryPoll:     100 * time.Millisecond,
		InjectTimeout:    2 * time.Second,
		Tracker:          opts.tracker,
		Selections:       opts.selections,
	}).SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	gdClient := mgr.GetClient()
	if opts.gameDayClient != nil {
		gdClient = opts.gameDayClient(gdClient)
	}
	if err := (&controllers.GameDayReconciler{
		Client:        gdClient,
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorder("firedrill-manager"),
		FrozenRecheck: 250 * time.Millisecond,
		Clock:         opts.gameDayClock,
	}).SetupWithManager(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	return runManager(t, ctx, cancel, mgr), cancel
}

// newTracker is the manager's workload recovery tracker, reading from the API server directly.
func newTracker() *workload.Tracker {
	return &workload.Tracker{Reader: k8s, Pods: kubernetes.NewForConfigOrDie(cfg), Clock: clock.RealClock{}}
}

// newSelections keeps recent selections' pods as the manager does by default.
func newSelections() *selector.Cache {
	return &selector.Cache{Pods: kubernetes.NewForConfigOrDie(cfg), Clock: clock.RealClock{}, Idle: 15 * time.Minute, MaxPods: 10000, MaxSelections: 64}
}

// runManager starts mgr until cancel; the returned stop cancels it and waits for it to end (also
// at the test's end).
func runManager(t *testing.T, ctx context.Context, cancel context.CancelFunc, mgr ctrl.Manager) (stop func()) {
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
