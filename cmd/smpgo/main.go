// Command smpgo builds Go programs into bootable smpgo kernel images, boots
// them under QEMU, and runs Go packages' tests inside the kernel.
//
//	smpgo build [-o IMAGE] [-tags T] PACKAGE
//	smpgo run   [machine flags] [-k OPT]... PACKAGE [-- ARGS...]
//	smpgo test  [machine flags] [-k OPT]... [PACKAGES...] [-- TEST FLAGS...]
//
// A program opts in with `import _ "github.com/smpgo/smpgo"` in its package
// main; test binaries need nothing (see package boot/app). ARGS become the
// program's os.Args[1:] through the kernel command line; -k adds a kernel
// option before them (e.g. -k test=Kern/ runs the kernel's self-tests in
// the program's image instead of the program). run exits with the program's
// status (0..126), or 124 when the timeout stopped it, 125 for a kernel
// panic, 126 when QEMU ended without a status (a crash); test exits 0 when
// every package passed, else 1. See docs/unikernel.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  smpgo build [-o IMAGE] [-tags TAGS] PACKAGE
  smpgo run   [machine flags] [-k OPT]... PACKAGE [-- ARGS...]
  smpgo test  [machine flags] [-k OPT]... [PACKAGES...] [-- TEST FLAGS...]

build links the package main PACKAGE (which imports github.com/smpgo/smpgo)
with the kernel into a bootable image (default NAME.img, and NAME.elf beside
it). run builds and boots it under QEMU; ARGS are the program's arguments.
test builds each package's test binary with the kernel linked in and boots
it; TEST FLAGS are passed to it (-v, -run, -short... mean -test.v etc.).

machine flags (run, test):
  -smp N | sockets=S,cores=C[,threads=T]   CPUs (default 4)
  -numa K            NUMA nodes (default none)
  -mem MiB           guest memory (default 1024)
  -nic none|e1000|virtio   network device, restricted user networking
  -hostfwd tcp:127.0.0.1:HOST-:GUEST   host port forward (repeatable; needs -nic)
  -guestfwd tcp:10.0.2.X:PORT-tcp:127.0.0.1:HOST   the guest's connections to 10.0.2.X:PORT
                     reach a host server listening on HOST (repeatable; needs -nic)
  -bios seabios|qboot      firmware (default qboot: faster)
  -machine pc|q35          machine type
  -accel tcg|kvm           accelerator (default tcg)
  -fs DIR|FILE.tar    the file system's initial contents: DIR is packed into a
                     tar archive (modes kept), a tar (or .tar.gz) file passed as
                     is; the kernel unpacks it at boot (-k initfs=DIR: where, default /)
  -timeout DURATION  stop the machine after this long (default 2m run, 10m test; 0 = none)
  -k OPT             kernel option before the program's arguments (repeatable)
  -i                 run only: interactive console (stdin forwarded; Ctrl-A x quits)
  -tags TAGS         build tags
  -work DIR          keep images in DIR instead of a temporary directory
`

// Exit statuses of run besides the program's own.
const (
	exitTimeout = 124
	exitPanic   = 125
	exitCrash   = 126
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	switch args[0] {
	case "build":
		return e.build(ctx, args[1:])
	case "run":
		return e.run(ctx, args[1:])
	case "test":
		return e.test(ctx, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "smpgo: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// env is where a command's input and output go.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func (e *env) errorf(format string, args ...any) int {
	fmt.Fprintf(e.stderr, "smpgo: "+format+"\n", args...)
	return exitUsage
}
