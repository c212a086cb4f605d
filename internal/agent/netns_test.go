package agent

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPodUIDInPath(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"4:memory:/kubepods/besteffort/pod0f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b/0123abcd", "0f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
		{"11:cpu,cpuacct:/kubepods/pod0f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b/abc", "0f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
		{"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f6c1a2b_3c4d_4e5f_8a9b_0c1d2e3f4a5b.slice/cri-containerd-aa.scope", "0f6c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
		{"0::/system.slice/containerd.service", ""},
		{"4:memory:/kubepods/besteffort", ""},
		{"4:memory:/kubepods/besteffort/podnot-a-uid/x", ""},
		{"0::/", ""},
	} {
		if got := podUIDInPath(tc.line); got != tc.want {
			t.Errorf("podUIDInPath(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

// A fake /proc: two processes of one pod (in their own namespace), one of a hostNetwork pod (in
// the node's), and one node process. Namespaces are stood in for by files (their inodes).
func TestProcResolverFindsPodsAndHostNetwork(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const pod, hostPod = "11111111-2222-3333-4444-555555555555", "66666666-7777-8888-9999-000000000000"
	write(filepath.Join(root, "1/ns/net"), "node")
	write(filepath.Join(root, "1/cgroup"), "0::/\n")
	write(filepath.Join(root, "100/ns/net"), "podns")
	write(filepath.Join(root, "100/cgroup"), "4:memory:/kubepods/besteffort/pod"+pod+"/pause\n")
	write(filepath.Join(root, "101/cgroup"), "4:memory:/kubepods/besteffort/pod"+pod+"/app\n")
	link := func(from, to string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(from, to); err != nil {
			t.Fatal(err)
		}
	}
	link(filepath.Join(root, "100/ns/net"), filepath.Join(root, "101/ns/net"))
	write(filepath.Join(root, "200/cgroup"), "4:memory:/kubepods/pod"+hostPod+"/agent\n")
	link(filepath.Join(root, "1/ns/net"), filepath.Join(root, "200/ns/net"))
	r := ProcResolver{Root: root}
	pods, err := r.Pods()
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 2 {
		t.Fatalf("pods %v, want the two pods and not the node process", pods)
	}
	if ns := pods[pod]; ns.HostNetwork || (ns.Path != filepath.Join(root, "100/ns/net") && ns.Path != filepath.Join(root, "101/ns/net")) {
		t.Errorf("pod: %+v", ns)
	}
	if ns := pods[hostPod]; !ns.HostNetwork {
		t.Errorf("hostNetwork pod not recognised: %+v", ns)
	}
	if ns, err := r.HostNetNS(); err != nil || ns.Path != filepath.Join(root, "1/ns/net") || !ns.HostNetwork {
		t.Errorf("HostNetNS() = %+v, %v; want PID 1's namespace", ns, err)
	}
	if _, err := r.NetNS("00000000-0000-0000-0000-000000000000"); err == nil {
		t.Error("a pod with no process was found")
	}
}
