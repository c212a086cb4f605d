// Command manager runs Firedrill's controllers: it is deployed as a leader-elected Deployment.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	// The image holds the static binary alone: without the embedded zone database every
	// spec.schedule.timeZone fails to load and its schedule never runs.
	_ "time/tzdata"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/controllers"
	"github.com/firedrill-dev/firedrill/experiments/cacheflush"
	"github.com/firedrill-dev/firedrill/internal/selector"
	"github.com/firedrill-dev/firedrill/internal/webhookcert"
	"github.com/firedrill-dev/firedrill/internal/workload"
)

// The plan webhook's configuration, whose caBundle the manager sets (webhookcert.Trust).
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,resourceNames=firedrill-plan,verbs=get;patch

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr, protected string
		leaderElect                       bool
		maxTargets                        int
		recoveryTimeout, injectTimeout    time.Duration
		cacheRestoreTimeout               time.Duration
		apiQPS                            float64
		apiBurst                          int
		selectionIdle                     time.Duration
		selectionMaxPods                  int
		webhookPort                       int
		webhookService, webhookConfig     string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address the metrics endpoint binds to; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address the health probes bind to")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles")
	flag.StringVar(&protected, "protected-namespaces", "", "comma-separated namespaces never targeted, beside kube-system, kube-public, kube-node-lease and the manager's own")
	flag.IntVar(&maxTargets, "max-targets", 0, "cap on the pods any one experiment round may act on; 0 leaves only each experiment's own caps")
	flag.DurationVar(&recoveryTimeout, "recovery-timeout", 10*time.Minute, "how long an experiment waits for disrupted workloads to be whole again before it fails")
	flag.DurationVar(&injectTimeout, "inject-timeout", 2*time.Minute, "how long a round retries targets whose injection fails before the experiment fails")
	flag.DurationVar(&cacheRestoreTimeout, "cache-restore-timeout", cacheflush.DefaultRestoreTimeout, "how long a CacheFlush restore that keeps failing is retried, from its first failed attempt, before it is given up (the snapshot Secrets are kept)")
	flag.DurationVar(&selectionIdle, "selection-cache-idle", 15*time.Minute, "how long the pods of a selection are kept after the last experiment that used it, so that the same selection is picked from memory, not listed, on the path to a fault; 0 lists every time")
	flag.IntVar(&selectionMaxPods, "selection-cache-max-pods", 10000, "cap on the pods kept for recent selections, all together")
	// client-go's default of 5 requests/s throttles a kill behind recovery polling and status
	// writes (measured: ~90 ms of client-side waiting per kill); API Priority and Fairness protects
	// the API server.
	flag.Float64Var(&apiQPS, "kube-api-qps", 50, "client-side limit of API requests per second")
	flag.IntVar(&apiBurst, "kube-api-burst", 100, "client-side burst of API requests")
	flag.IntVar(&webhookPort, "webhook-port", 9443, "port of the admission webhook that plans a PodKill's first round when it is created (see spec.plannedTargets); 0 serves none")
	flag.StringVar(&webhookService, "webhook-service", "firedrill-webhook", "the Service, in the manager's namespace, through which the API server calls the webhook: the certificate's name")
	flag.StringVar(&webhookConfig, "webhook-configuration", "firedrill-plan", "the MutatingWebhookConfiguration whose caBundle the manager sets to its certificate")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	cacheflush.RouteClientLogs(ctrl.Log)
	log := ctrl.Log.WithName("setup")

	ownNamespace := os.Getenv("POD_NAMESPACE")
	if ownNamespace == "" {
		ownNamespace = "firedrill-system"
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(chaosv1alpha1.AddToScheme(scheme))

	restCfg := ctrl.GetConfigOrDie()
	restCfg.QPS, restCfg.Burst = float32(apiQPS), apiBurst
	var cert *webhookcert.Cert
	webhookOpts := webhook.Options{Port: webhookPort}
	if webhookPort > 0 {
		svc := webhookService + "." + ownNamespace
		// A year: a restart makes a new one. Past it the API server refuses the certificate and,
		// with failurePolicy Ignore, experiments are created unplanned (one write slower).
		var err error
		if cert, err = webhookcert.New([]string{svc + ".svc", svc, svc + ".svc.cluster.local"}, time.Now(), 365*24*time.Hour); err != nil {
			return err
		}
		webhookOpts.TLSOpts = []func(*tls.Config){cert.Serve}
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		WebhookServer:                 webhook.NewServer(webhookOpts),
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "manager.chaos.firedrill.dev",
		LeaderElectionNamespace:       ownNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	pods, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("creating the pod client: %w", err)
	}
	prot := selector.NewProtected(ownNamespace, strings.Split(protected, ",")...)
	ctx := ctrl.SetupSignalHandler()
	var selections *selector.Cache
	if selectionIdle > 0 {
		selections = &selector.Cache{Pods: pods, Clock: clock.RealClock{}, Idle: selectionIdle, MaxPods: selectionMaxPods, MaxSelections: 64}
	}
	experimentReconciler := &controllers.ExperimentReconciler{
		Client:          mgr.GetClient(),
		APIReader:       mgr.GetAPIReader(),
		Recorder:        mgr.GetEventRecorder("firedrill-manager"),
		Protected:       prot,
		Faults:          controllers.Faults(mgr.GetClient(), mgr.GetAPIReader(), controllers.FaultOptions{CacheRestoreTimeout: cacheRestoreTimeout, Protected: prot}),
		MaxTargets:      maxTargets,
		RecoveryTimeout: recoveryTimeout,
		InjectTimeout:   injectTimeout,
		Tracker:         &workload.Tracker{Reader: mgr.GetAPIReader(), Pods: pods, Clock: clock.RealClock{}},
		Selections:      selections,
	}
	if err := experimentReconciler.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the Experiment controller: %w", err)
	}
	if cert != nil {
		mgr.GetWebhookServer().Register(controllers.PlanPath, &webhook.Admission{Handler: &controllers.PlanWebhook{Reconciler: experimentReconciler}})
		trust := &webhookcert.Trust{Cert: cert, Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Name: webhookConfig}
		if err := mgr.Add(trust); err != nil {
			return err
		}
		// Ready, and in the webhook Service's endpoints, once it serves and is trusted.
		if err := mgr.AddReadyzCheck("webhook-serving", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("webhook-trusted", trust.Checker); err != nil {
			return err
		}
	}
	if err := (&controllers.GameDayReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("firedrill-manager"),
	}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the GameDay controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}

	log.Info("starting manager", "protectedNamespaces", prot.List(), "leaderElect", leaderElect)
	return mgr.Start(ctx)
}
