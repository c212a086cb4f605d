// Package kernel holds tests that need kernel features this machine's own kernel lacks (sch_netem
// above all). They are built with the build tag "kernel" into a static test binary that
// hack/kernel-test.sh (make test-kernel) boots as /init on Debian's stock kernel in QEMU.
//
// As PID 1 the binary mounts /proc, /sys and /dev, loads the modules listed in
// /lib/modules/modules.order, runs the tests, prints a result marker and ends the VM through
// QEMU's isa-debug-exit device. Run as an ordinary process (root, on a kernel with netem) it is a
// plain go test binary.
package kernel
