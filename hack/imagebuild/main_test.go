package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestBuildPutsTheBinaryAtTheEntrypoint(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "manager")
	if err := os.WriteFile(bin, []byte("#!fake binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := Build(bin, "65532")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/manager" || cfg.Config.User != "65532" || cfg.OS != "linux" {
		t.Fatalf("config: entrypoint %v user %q os %q", cfg.Config.Entrypoint, cfg.Config.User, cfg.OS)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manager" {
			found = true
			if h.Mode&0o111 == 0 {
				t.Errorf("binary mode %o is not executable", h.Mode)
			}
			b, _ := io.ReadAll(tr)
			if string(b) != "#!fake binary" {
				t.Errorf("binary content %q", b)
			}
		}
	}
	if !found {
		t.Fatal("binary not in the layer")
	}
	// Same input, same digest: images are reproducible.
	img2, err := Build(bin, "65532")
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := img2.Digest()
	if d1 != d2 {
		t.Errorf("digests differ for the same binary: %s vs %s", d1, d2)
	}
}
