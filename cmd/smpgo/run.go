package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/smpgo/smpgo/qemu"
)

// run: smpgo run [flags] PACKAGE [-- ARGS].
func (e *env) run(ctx context.Context, args []string) int {
	m, err := e.setUp(ctx, "run", args)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer m.done()
	outs := imageName(m.dir, m.pkgs[0], "")
	if err := e.builder(m.options).BuildProgram(ctx, m.pkgs[0], outs); err != nil {
		return e.errorf("%v", err)
	}
	c := m.config(outs.Image)
	c.Stdin = e.stdin
	r, err := qemu.Run(ctx, c, &noCR{w: e.stdout})
	if r == nil {
		return e.errorf("%v", err)
	}
	return e.report(r, outs.ELF, m.pkgs[0])
}

// machine is what run and test set up before they build: the parsed
// options, the kernel command line, QEMU, the work directory (removed by
// done) and the file system's boot modules (-fs).
type machine struct {
	options
	line    string
	dir     string
	modules []string
	done    func()
}

// setUp parses the command line of cmd ("run" or "test") and sets up its
// machine. The words after "--" are the program's arguments for run, the
// test flags for test (TestArgs).
func (e *env) setUp(ctx context.Context, cmd string, args []string) (*machine, error) {
	o, err := parseFlags(cmd, args)
	if err != nil {
		return nil, err
	}
	prog := o.args
	if cmd == "test" {
		prog = TestArgs(o.args, o.cfg.EffectiveTimeout())
	}
	line, err := cmdline(o.kopts, prog)
	if err != nil {
		return nil, err
	}
	if _, err := qemu.EnsureQEMU(ctx, "", e.stderr); err != nil {
		return nil, err
	}
	dir, done, err := workDir(o)
	if err != nil {
		return nil, err
	}
	modules, err := fsModules(o.fs, dir)
	if err != nil {
		done()
		return nil, err
	}
	return &machine{options: o, line: line, dir: dir, modules: modules, done: done}, nil
}

// config is the QEMU configuration that boots image.
func (m *machine) config(image string) qemu.Config {
	c := m.cfg
	c.Kernel, c.Append, c.Modules = image, m.line, m.modules
	return c
}

// report explains a run that did not end by the program's own exit and
// returns smpgo run's exit status for it.
func (e *env) report(r *qemu.Result, elf, what string) int {
	if r.Output != "" && !strings.HasSuffix(r.Output, "\n") {
		fmt.Fprintln(e.stdout)
	}
	for i := range r.Panics {
		report, err := qemu.Symbolize(&r.Panics[i], elf)
		fmt.Fprint(e.stderr, report)
		if err != nil {
			fmt.Fprintf(e.stderr, "smpgo: panic not symbolised: %v\n", err)
		}
	}
	switch r.Outcome {
	case qemu.Pass, qemu.Fail:
		return r.Status
	case qemu.Timeout:
		syms, _ := qemu.LoadSymbols(elf)
		if threads := qemu.ThreadDump(r.Output, syms); len(threads) > 0 {
			fmt.Fprintln(e.stderr, "smpgo: kernel threads when the machine was stopped:")
			for _, l := range threads {
				fmt.Fprintln(e.stderr, "  "+l)
			}
		}
		fmt.Fprintf(e.stderr, "smpgo: %s: %s\n", what, r.Summary())
		return exitTimeout
	case qemu.Panic:
		fmt.Fprintf(e.stderr, "smpgo: %s: %s\n", what, r.Summary())
		return exitPanic
	}
	fmt.Fprintf(e.stderr, "smpgo: %s: %s\n", what, r.Summary())
	return exitCrash
}

// noCR drops the carriage returns the serial console puts before every
// newline.
type noCR struct{ w io.Writer }

func (n *noCR) Write(p []byte) (int, error) {
	if _, err := n.w.Write(bytes.ReplaceAll(p, []byte("\r\n"), []byte("\n"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// fsModules turns -fs into the boot's modules: a directory is packed into
// a tar archive in the work directory, a file is passed as it is (the
// kernel unpacks tar archives, gzip-compressed or not, into its file
// system at boot: initfs=DIR says where, default /).
func fsModules(fs, work string) ([]string, error) {
	if fs == "" {
		return nil, nil
	}
	fi, err := os.Stat(fs)
	if err != nil {
		return nil, fmt.Errorf("-fs: %v", err)
	}
	if !fi.IsDir() {
		abs, err := filepath.Abs(fs)
		if err != nil {
			return nil, fmt.Errorf("-fs: %v", err)
		}
		return []string{abs}, nil
	}
	out := filepath.Join(work, "fs.tar")
	if err := qemu.PackDirFile(fs, out); err != nil {
		return nil, fmt.Errorf("-fs: %v", err)
	}
	return []string{out}, nil
}
