// Command qemurun boots the smpgo kernel under QEMU for one topology,
// streams its serial console, and exits with a status saying how the boot
// ended: 0 pass, 1 tests failed, 2 usage error, 3 timeout, 4 crash,
// 5 panic. A kernel panic report is printed symbolised against the
// kernel ELF.
//
//	go run ./qemu/cmd/qemurun -smp 4 -numa 2 -- test=.
//	go run ./qemu/cmd/qemurun -i -nic virtio -hostfwd tcp:127.0.0.1:8080-:80
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/smpgo/smpgo/qemu"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], ".", os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; dir is where the repository root is looked
// for. It returns the exit status.
func run(ctx context.Context, args []string, dir string, stdin io.Reader, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "qemurun: %s\n", strings.TrimPrefix(err.Error(), "qemu: "))
		return qemu.ExitUsage
	}
	o, err := parseFlags(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stderr, usage)
		return 0
	}
	if err != nil {
		return fail(err)
	}
	if _, err := qemu.FindQEMU(o.cfg.Binary); err != nil {
		return fail(err)
	}
	var kernelDir string
	if o.cfg.Media == "" {
		kernel, err := findKernel(ctx, o.kernel, dir, stderr)
		if err != nil {
			return fail(err)
		}
		o.cfg.Kernel, kernelDir = kernel, filepath.Dir(kernel)
	} else {
		if _, err := os.Stat(o.cfg.Image); err != nil {
			return fail(fmt.Errorf("-%s: %w (build it with 'make image')", o.cfg.Media, err))
		}
		kernelDir = filepath.Dir(o.cfg.Image) // build/: kernel.elf is beside smpgo.iso
	}
	o.cfg.Stdin = stdin
	elfPath := o.elf
	if elfPath == "" {
		elfPath = filepath.Join(kernelDir, filepath.Base(qemu.KernelELF))
	}

	res, err := qemu.Run(ctx, o.cfg, stdout)
	if res == nil {
		return fail(err)
	}
	if res.Output != "" && !strings.HasSuffix(res.Output, "\n") {
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stderr, "qemurun: %s\n", res.Summary())
	for _, f := range res.HostFwd {
		fmt.Fprintf(stderr, "qemurun: forwarded %s\n", f)
	}
	if res.HostErr != nil {
		fmt.Fprintf(stderr, "qemurun: host side: %v\n", res.HostErr)
		if res.Outcome == qemu.Pass {
			return qemu.Fail.ExitCode()
		}
	}
	for _, m := range o.cfg.Marks {
		if t, ok := res.Marks[m]; ok {
			fmt.Fprintf(stderr, "qemurun: mark %q at %.2fs\n", m, t.Seconds())
		} else {
			fmt.Fprintf(stderr, "qemurun: mark %q not seen\n", m)
		}
	}
	for i := range res.Panics {
		report, err := qemu.Symbolize(&res.Panics[i], elfPath)
		fmt.Fprint(stderr, report)
		if err != nil {
			fmt.Fprintf(stderr, "qemurun: panic not symbolised: %s\n", strings.TrimPrefix(err.Error(), "qemu: "))
		}
	}
	return res.Outcome.ExitCode()
}

// findKernel returns the kernel image to boot: the -kernel path, which
// must exist, or build/kernel.img in the repository root above dir,
// running 'make build' there first if it is missing.
func findKernel(ctx context.Context, given, dir string, log io.Writer) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("-kernel %s: %w", given, errors.Unwrap(err))
		}
		return given, nil
	}
	root, err := qemu.RepoRoot(dir)
	if err != nil {
		return "", fmt.Errorf("no -kernel given, and no repository root to find %s in: %w", qemu.KernelImage, err)
	}
	kernel := filepath.Join(root, qemu.KernelImage)
	if _, err := os.Stat(kernel); err == nil {
		return kernel, nil
	}
	fmt.Fprintf(log, "qemurun: %s is missing: running 'make build' in %s\n", qemu.KernelImage, root)
	cmd := exec.CommandContext(ctx, "make", "build")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("make build: %w", err)
	}
	if _, err := os.Stat(kernel); err != nil {
		return "", fmt.Errorf("make build did not produce %s", kernel)
	}
	return kernel, nil
}
