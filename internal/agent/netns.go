package agent

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrPodNotFound means no process of the pod runs on this node: the pod is gone (or not here).
var ErrPodNotFound = errors.New("no process of the pod runs on this node")

// PodNetNS is where a pod's network namespace is, as a path the agent can open.
type PodNetNS struct {
	Path string
	// HostNetwork: the namespace is the node's own (a hostNetwork pod).
	HostNetwork bool
}

// Resolver finds pods' network namespaces on this node.
type Resolver interface {
	// NetNS returns the network namespace of the pod with this UID, or ErrPodNotFound.
	NetNS(podUID string) (PodNetNS, error)
	// Pods lists the UIDs of every pod with a process on this node (for the startup sweep).
	Pods() (map[string]PodNetNS, error)
	// HostNetNS is the node's own network namespace, which every hostNetwork pod shares.
	HostNetNS() (PodNetNS, error)
}

// ProcResolver finds a pod's network namespace from /proc: a process whose cgroup path names the
// pod's UID (kubelet puts every container, the sandbox's pause included, under pod<uid>, with
// the cgroupfs driver as "pod<uid>" and the systemd driver as "pod<uid with _ for ->.slice"). With
// hostPID the agent sees every process on the node. No container runtime API is needed, so it
// works with any CRI runtime.
type ProcResolver struct {
	// Root is the host's /proc.
	Root string
}

// NetNS implements Resolver.
func (r ProcResolver) NetNS(podUID string) (PodNetNS, error) {
	all, err := r.Pods()
	if err != nil {
		return PodNetNS{}, err
	}
	ns, ok := all[podUID]
	if !ok {
		return PodNetNS{}, fmt.Errorf("pod %s: %w", podUID, ErrPodNotFound)
	}
	return ns, nil
}

// HostNetNS implements Resolver: the node's namespace is PID 1's.
func (r ProcResolver) HostNetNS() (PodNetNS, error) {
	path := filepath.Join(r.root(), "1", "ns", "net")
	if _, err := nsInode(path); err != nil {
		return PodNetNS{}, fmt.Errorf("the node's network namespace: %w", err)
	}
	return PodNetNS{Path: path, HostNetwork: true}, nil
}

func (r ProcResolver) root() string {
	if r.Root == "" {
		return "/proc"
	}
	return r.Root
}

// Pods implements Resolver.
func (r ProcResolver) Pods() (map[string]PodNetNS, error) {
	root := r.root()
	// The node's namespace is PID 1's. Where PID 1 is out of reach (a sandbox's init that even
	// root may not inspect), hostNetwork is known from the pod's spec only (InjectionSpec).
	host, err := nsInode(filepath.Join(root, "1", "ns", "net"))
	if err != nil {
		host = 0
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	out := map[string]PodNetNS{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		uid := podUIDOf(filepath.Join(root, e.Name(), "cgroup"))
		if uid == "" {
			continue
		}
		path := filepath.Join(root, e.Name(), "ns", "net")
		ino, err := nsInode(path)
		if err != nil {
			continue // the process exited meanwhile
		}
		if prev, seen := out[uid]; seen && !prev.HostNetwork {
			continue
		}
		out[uid] = PodNetNS{Path: path, HostNetwork: host != 0 && ino == host}
	}
	return out, nil
}

func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// podUIDOf reads a /proc/<pid>/cgroup file and returns the pod UID in its path, if any.
func podUIDOf(cgroupFile string) string {
	f, err := os.Open(cgroupFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if uid := podUIDInPath(sc.Text()); uid != "" {
			return uid
		}
	}
	return ""
}

// podUIDInPath finds "pod<uid>" in a cgroup line such as
// "4:memory:/kubepods/besteffort/pod0f6c…/abc…" or
// "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0f6c_….slice/cri-containerd-….scope".
func podUIDInPath(line string) string {
	for _, part := range strings.FieldsFunc(line, func(r rune) bool { return r == '/' || r == ':' }) {
		part = strings.TrimSuffix(part, ".slice")
		i := strings.LastIndex(part, "pod")
		if i < 0 {
			continue
		}
		uid := strings.ReplaceAll(part[i+3:], "_", "-")
		if isUID(uid) {
			return uid
		}
	}
	return ""
}

func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c < '0' || c > '9') && (c < 'a' || c > 'f'):
			return false
		}
	}
	return true
}
