// Command agent is Firedrill's node agent, deployed as a DaemonSet. It applies and removes the
// network faults of its node's Injections in pod network namespaces through netlink, removes
// expired ones by itself, and sweeps its node's pods for leftovers at start.
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chaosv1alpha1 "github.com/firedrill-dev/firedrill/api/v1alpha1"
	"github.com/firedrill-dev/firedrill/internal/agent"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

func run() error {
	var metricsAddr, probeAddr string
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8090", "address the metrics endpoint binds to; 0 disables it")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8091", "address the health probes bind to")
	var procRoot string
	flag.StringVar(&procRoot, "proc", "/proc", "the host's /proc (the DaemonSet runs with hostPID, so its own /proc is the host's)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	nodeName := os.Getenv("NODE_NAME")
	if nodeName == "" {
		return fmt.Errorf("NODE_NAME is not set: the DaemonSet must pass spec.nodeName through the downward API")
	}

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(chaosv1alpha1.AddToScheme(scheme))
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme: scheme,
		// Each agent watches only its own node's Injections.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&chaosv1alpha1.Injection{}: {Label: labels.SelectorFromSet(labels.Set{chaosv1alpha1.LabelInjectionNode: nodeName})},
		}},
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("node", agent.NodeCheck(mgr.GetAPIReader(), nodeName)); err != nil {
		return err
	}
	if err := (&agent.InjectionReconciler{
		Client:   mgr.GetClient(),
		NodeName: nodeName,
		Resolver: agent.ProcResolver{Root: procRoot},
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the injection controller: %w", err)
	}
	ctrl.Log.WithName("setup").Info("starting agent", "node", nodeName)
	return mgr.Start(ctrl.SetupSignalHandler())
}
