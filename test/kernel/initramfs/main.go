// Command initramfs writes the uncompressed newc cpio archive that hack/kernel-test.sh boots: the
// static test binary as /init, the kernel modules it loads under /lib/modules, and the few
// directories and device nodes PID 1 needs before it can mount anything.
//
//	initramfs -o initramfs.cpio -init kernel.test module.ko...
//
// The modules are loaded in the order given (a module must come after the ones it depends on);
// that order is written to /lib/modules/modules.order. The archive is left uncompressed because
// under software emulation the kernel decompressing it costs more than QEMU copying the bytes.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "initramfs:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "", "cpio archive to write")
	initBin := flag.String("init", "", "static binary to put at /init")
	flag.Parse()
	if *out == "" || *initBin == "" {
		return errors.New("-o and -init are required")
	}

	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := &writer{w: bufio.NewWriterSize(f, 1<<20)}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run", "lib", "lib/modules"} {
		w.entry(d, modeDir|0o755, 0, 0, nil)
	}
	// The kernel opens /dev/console for init's stdin, stdout and stderr before it runs /init.
	w.entry("dev/console", modeChar|0o600, 5, 1, nil)
	w.file("init", 0o755, *initBin)
	var order []string
	for _, m := range flag.Args() {
		name := filepath.Base(m)
		if !strings.HasSuffix(name, ".ko") {
			return fmt.Errorf("%s: not an uncompressed kernel module (.ko)", m)
		}
		w.file(path.Join("lib/modules", name), 0o644, m)
		order = append(order, name)
	}
	w.entry("lib/modules/modules.order", modeFile|0o644, 0, 0, []byte(strings.Join(order, "\n")+"\n"))
	w.entry("TRAILER!!!", 0, 0, 0, nil)
	if w.err != nil {
		f.Close()
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// File type bits of a cpio entry's mode (as in stat(2)).
const (
	modeDir  = 0o040000
	modeChar = 0o020000
	modeFile = 0o100000
)

// writer emits newc ("070701") entries; the first error sticks and later calls do nothing.
type writer struct {
	w   *bufio.Writer
	ino uint32
	n   int64 // bytes written, for the 4-byte alignment newc requires
	err error
}

func (w *writer) file(name string, perm uint32, src string) {
	if w.err != nil {
		return
	}
	data, err := os.ReadFile(src)
	if err != nil {
		w.err = err
		return
	}
	w.entry(name, modeFile|perm, 0, 0, data)
}

// entry writes one header, name and body. rdevMajor/rdevMinor are only meaningful for devices.
func (w *writer) entry(name string, mode, rdevMajor, rdevMinor uint32, data []byte) {
	if w.err != nil {
		return
	}
	w.ino++
	nlink := uint32(1)
	if mode&modeDir != 0 {
		nlink = 2
	}
	// Fields: ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor
	// namesize check. mtime 0 keeps the archive reproducible.
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		w.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	w.write([]byte(hdr))
	w.write([]byte(name + "\x00"))
	w.pad()
	w.write(data)
	w.pad()
}

func (w *writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(b)
	w.n += int64(n)
	w.err = err
}

func (w *writer) pad() {
	if r := w.n % 4; r != 0 {
		w.write(make([]byte, 4-r))
	}
}
