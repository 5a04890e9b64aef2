package main

import (
	"context"
	"fmt"
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
		r, err := qemu.Run(ctx, m.config(outs.Image), &noCR{w: e.stdout})
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
