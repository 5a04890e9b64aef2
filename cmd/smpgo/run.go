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
	o, err := parseFlags("run", args)
	if err != nil {
		return e.errorf("%v", err)
	}
	line, err := cmdline(o.kopts, o.args)
	if err != nil {
		return e.errorf("%v", err)
	}
	if _, err := qemu.EnsureQEMU(ctx, "", e.stderr); err != nil {
		return e.errorf("%v", err)
	}
	dir, done, err := workDir(o)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer done()
	outs := imageName(dir, o.pkgs[0], "")
	if err := e.builder(o).BuildProgram(ctx, o.pkgs[0], outs); err != nil {
		return e.errorf("%v", err)
	}
	c := o.cfg
	c.Kernel, c.Append, c.Stdin = outs.Image, line, e.stdin
	if c.Modules, err = fsModules(o.fs, dir); err != nil {
		return e.errorf("%v", err)
	}
	r, err := qemu.Run(ctx, c, &noCR{w: e.stdout})
	if r == nil {
		return e.errorf("%v", err)
	}
	return e.report(r, outs.ELF, o.pkgs[0])
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
