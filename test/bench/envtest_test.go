//go:build bench

package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// managerEnv is an API server and etcd (envtest, the source-built binaries) with the manager
// binary built from this tree, ready to run against it as its own process.
type managerEnv struct {
	cfg             *rest.Config
	dir, kubeconfig string
	bin             string
}

// startManagerEnv starts envtest with Firedrill's CRDs and builds the manager; make names the
// make target that sets KUBEBUILDER_ASSETS, for the error when it is missing.
func startManagerEnv(t *testing.T, make string) *managerEnv {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatalf("KUBEBUILDER_ASSETS is not set: run `make %s`", make)
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join(root, "config", "crd", "bases")}, ErrorIfCRDPathMissing: true}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	e := &managerEnv{cfg: cfg, dir: t.TempDir()}
	e.kubeconfig = filepath.Join(e.dir, "kubeconfig")
	if err := writeKubeconfig(cfg, e.kubeconfig); err != nil {
		t.Fatal(err)
	}
	e.bin = filepath.Join(e.dir, "manager")
	build := exec.Command("go", "build", "-o", e.bin, "./cmd/manager")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	return e
}

// run starts the manager (no leader election, no metrics or probe ports, no plan webhook: its
// PodKills are unplanned, the path when the webhook cannot be reached, with the intent written to
// status before the kill), logging to logName in the env's directory; stop kills it and waits.
func (e *managerEnv) run(t *testing.T, logName string) (mgr *exec.Cmd, stop func()) {
	t.Helper()
	mgr = exec.Command(e.bin, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=0", "--webhook-port=0")
	mgr.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig, "POD_NAMESPACE=firedrill-system")
	logf, err := os.Create(filepath.Join(e.dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	mgr.Stdout, mgr.Stderr = logf, logf
	if err := mgr.Start(); err != nil {
		t.Fatal(err)
	}
	return mgr, func() { _ = mgr.Process.Kill(); _ = mgr.Wait(); logf.Close() }
}
