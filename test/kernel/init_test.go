//go:build kernel

package kernel

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// debugExitPort is the I/O port of QEMU's isa-debug-exit device
	// (-device isa-debug-exit,iobase=0xf4,iosize=0x04).
	debugExitPort = 0xf4
	// A byte written to debugExitPort makes QEMU exit with status (byte<<1)|1: 99 for exitPass and
	// 3 for exitFail. Neither is a status QEMU produces itself (0 for a guest shutdown, 1 for its
	// own errors and, with -action panic=exit-failure, for a guest panic).
	exitPass byte = 0x31
	exitFail byte = 0x01

	// resultMarker starts the last line the guest prints. hack/kernel-test.sh requires both the
	// line and the pass exit status, so neither a stray write to the port nor a stray line can pass
	// a run on its own.
	resultMarker = "FIREDRILL-KERNEL-RESULT"

	modulesDir = "/lib/modules"
)

func TestMain(m *testing.M) {
	if os.Getpid() != 1 {
		// An ordinary go test process (root, on a kernel that has netem): nothing to set up.
		os.Exit(m.Run())
	}
	code := exitFail
	if err := bootstrap(); err != nil {
		fmt.Printf("init: %v\n", err)
	} else if m.Run() == 0 {
		code = exitPass
	}
	result := "FAIL"
	if code == exitPass {
		result = "PASS"
	}
	fmt.Printf("%s %s\n", resultMarker, result)
	err := debugExit(code)
	// Only reached when the port write did not stop the VM. Returning from PID 1 panics the
	// kernel, which pvpanic turns into QEMU's failure status: the host then reports a failure
	// whatever the tests said, which is right, as the run's outcome cannot be trusted.
	panic(fmt.Sprintf("init: isa-debug-exit did not end the VM: %v", err))
}

// bootstrap does what an init system would before the tests can run: the pseudo file systems and
// the kernel modules.
func bootstrap() error {
	start := time.Now()
	mounts := []struct{ source, target, fstype string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		// devtmpfs gives /dev/port (for debugExit) and the nodes the kernel creates for devices.
		{"devtmpfs", "/dev", "devtmpfs"},
		{"tmpfs", "/tmp", "tmpfs"},
		{"tmpfs", "/run", "tmpfs"},
	}
	for _, mt := range mounts {
		if err := unix.Mount(mt.source, mt.target, mt.fstype, unix.MS_NOSUID, ""); err != nil {
			return fmt.Errorf("mounting %s on %s: %w", mt.fstype, mt.target, err)
		}
	}
	loaded, err := loadModules(modulesDir)
	if err != nil {
		return err
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	fmt.Printf("init: kernel %s, loaded %s in %s\n", unix.ByteSliceToString(uts.Release[:]),
		strings.Join(loaded, " "), time.Since(start).Round(time.Millisecond))
	return nil
}

// loadModules loads the modules named in dir/modules.order, in that order (dependencies first).
func loadModules(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, "modules.order"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var loaded []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" {
			continue
		}
		if err := loadModule(filepath.Join(dir, name)); err != nil {
			return loaded, err
		}
		loaded = append(loaded, strings.TrimSuffix(name, ".ko"))
	}
	return loaded, sc.Err()
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil // built in, or already loaded: either way it is there
	}
	if err != nil {
		return fmt.Errorf("loading %s: %w (the kernel log above may say why)", path, err)
	}
	return nil
}

// debugExit ends the VM with code through isa-debug-exit. A write to /dev/port at an offset is
// an outb to that port, which saves an assembly stub for the out instruction.
func debugExit(code byte) error {
	// Whatever the tests printed is on the console already: os.Stdout is unbuffered.
	port, err := os.OpenFile("/dev/port", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer port.Close()
	if _, err := port.WriteAt([]byte{code}, debugExitPort); err != nil {
		return fmt.Errorf("writing to I/O port %#x: %w", debugExitPort, err)
	}
	// QEMU exits on the write; give it a moment before calling it a failure.
	time.Sleep(5 * time.Second)
	return errors.New("still running after the write")
}
