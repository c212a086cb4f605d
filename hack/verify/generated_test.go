// Package verify holds checks on the repository itself.
package verify

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestGeneratedOutputIsFresh regenerates deepcopy code, CRDs and RBAC into a scratch directory
// with hack/generate.sh (what `make generate manifests` runs) and fails when any committed file
// differs or is missing.
func TestGeneratedOutputIsFresh(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	tmp := t.TempDir()
	cmd := exec.Command("hack/generate.sh", tmp)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/generate.sh: %v\n%s", err, out)
	}
	n := 0
	err := filepath.WalkDir(tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(tmp, path)
		want, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(root, rel))
		switch {
		case err != nil:
			t.Errorf("%s is not committed: run `make generate manifests`", rel)
		case !bytes.Equal(got, want):
			t.Errorf("%s is stale: run `make generate manifests` and commit the result", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("hack/generate.sh wrote %d files, expected deepcopy, 2 CRDs and 2 roles", n)
	}
}

// TestEveryCRDIsDeployed: each generated CRD is listed in config/crd's kustomization, so that
// `make deploy` installs it (a kind the manager watches but the cluster lacks stops its controller).
func TestEveryCRDIsDeployed(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	k, err := os.ReadFile(filepath.Join(root, "config", "crd", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crds, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs found: %v", err)
	}
	for _, c := range crds {
		if !bytes.Contains(k, []byte("- bases/"+filepath.Base(c))) {
			t.Errorf("config/crd/kustomization.yaml does not list bases/%s", filepath.Base(c))
		}
	}
}
