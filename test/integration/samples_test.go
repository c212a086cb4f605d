//go:build integration

package integration

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/firedrill-dev/firedrill/test/builder"
)

// TestSamplesAreAccepted dry-runs every Firedrill object in config/samples against the real API
// server: a sample the schema would refuse is a broken promise in the docs.
func TestSamplesAreAccepted(t *testing.T) {
	files, err := filepath.Glob("../../config/samples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	mustCreate(t, builder.Namespace("firedrill-demo"))
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var u unstructured.Unstructured
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if u.GetAPIVersion() != "chaos.firedrill.dev/v1alpha1" {
				continue
			}
			n++
			if err := k8s.Create(t.Context(), &u, client.DryRunAll); err != nil {
				t.Errorf("%s: %s %s refused: %v", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
		}
	}
	if n < 5 {
		t.Errorf("only %d Firedrill objects in the samples", n)
	}
	t.Logf("%d sample objects accepted", n)
}
