package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/smpgo/smpgo/qemu"
)

// test: smpgo test [flags] [PACKAGES] [-- TEST FLAGS].
func (e *env) test(ctx context.Context, args []string) int {
	m, err := e.setUp(ctx, "test", args)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer m.done()
	b := e.builder(m.options)
	pkgs, err := b.List(ctx, m.pkgs...)
	if err != nil {
		return e.errorf("%v", err)
	}
	goroot, err := qemu.GoRoot()
	if err != nil {
		return e.errorf("%v", err)
	}
	status := 0
	for _, p := range pkgs {
		if !p.HasTests() {
			fmt.Fprintf(e.stdout, "?   \t%s\t[no test files]\n", p.ImportPath)
			continue
		}
		outs := imageName(m.dir, strings.ReplaceAll(p.ImportPath, "/", "_"), ".test")
		if err := b.BuildTest(ctx, p, m.dir, outs); err != nil {
			fmt.Fprintf(e.stderr, "%v\n", err)
			fmt.Fprintf(e.stdout, "FAIL\t%s [build failed]\n", p.ImportPath)
			status = 1
			continue
		}
		// The package's directory and testdata, GOROOT's zoneinfo.zip,
		// as go test would see them; the binary runs in the directory.
		// -k options come after GOROOT= and cwd=, so they may replace
		// them; -fs modules after the archive, so they may add files.
		tfs := qemu.TestFS{GOROOT: goroot, PkgDir: p.Dir}
		tar := filepath.Join(m.dir, strings.ReplaceAll(p.ImportPath, "/", "_")+".testfs.tar")
		if _, err := tfs.PackFile(tar); err != nil {
			return e.errorf("%s: %v", p.ImportPath, err)
		}
		c := m.config(outs.Image)
		c.Append = strings.Join(tfs.KernelArgs(), " ") + " " + c.Append
		c.Modules = append([]string{tar}, c.Modules...)
		r, err := qemu.Run(ctx, c, &noCR{w: e.stdout})
		if r == nil {
			return e.errorf("%v", err)
		}
		if ctx.Err() != nil {
			return e.report(r, outs.ELF, p.ImportPath)
		}
		if r.Outcome == qemu.Pass {
			fmt.Fprintf(e.stdout, "ok  \t%s\t%.3fs\n", p.ImportPath, r.Elapsed.Seconds())
			continue
		}
		e.report(r, outs.ELF, p.ImportPath)
		fmt.Fprintf(e.stdout, "FAIL\t%s\t%.3fs\n", p.ImportPath, r.Elapsed.Seconds())
		status = 1
	}
	return status
}
