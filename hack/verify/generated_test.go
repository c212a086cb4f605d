// Package verify holds checks on the repository itself.
package verify

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestGeneratedOutputIsFresh regenerates deepcopy code, CRDs and RBAC into a scratch directory and
// fails when any committed file differs: run `make generate manifests` and commit.
func TestGeneratedOutputIsFresh(t *testing.T) {
	root := repoRoot(t)
	tmp := t.TempDir()
	cases := []struct {
		args      []string
		committed string
	}{
		{[]string{"object:headerFile=hack/boilerplate.go.txt", "paths=./api/...", "output:object:dir=" + filepath.Join(tmp, "object")}, "api/v1alpha1"},
		{[]string{"crd", "paths=./api/...", "output:crd:artifacts:config=" + filepath.Join(tmp, "crd")}, "config/crd/bases"},
		{[]string{"rbac:roleName=firedrill-manager", "paths=./controllers/...", "paths=./cmd/manager/...", "output:rbac:artifacts:config=" + filepath.Join(tmp, "rbac-manager")}, "config/rbac/manager"},
		{[]string{"rbac:roleName=firedrill-agent", "paths=./internal/agent/...", "output:rbac:artifacts:config=" + filepath.Join(tmp, "rbac-agent")}, "config/rbac/agent"},
	}
	for _, c := range cases {
		cmd := exec.Command("go", append([]string{"tool", "controller-gen"}, c.args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("controller-gen %v: %v\n%s", c.args, err, out)
		}
		outDir := c.args[len(c.args)-1]
		outDir = outDir[bytes.IndexByte([]byte(outDir), '=')+1:]
		generated, err := os.ReadDir(outDir)
		if err != nil {
			t.Fatal(err)
		}
		if len(generated) == 0 {
			t.Fatalf("controller-gen %v wrote nothing", c.args)
		}
		for _, g := range generated {
			want, err := os.ReadFile(filepath.Join(outDir, g.Name()))
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(root, c.committed, g.Name()))
			if err != nil {
				t.Errorf("%s/%s is not committed (run make generate manifests): %v", c.committed, g.Name(), err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s/%s is stale: run `make generate manifests` and commit the result", c.committed, g.Name())
			}
		}
	}
}
