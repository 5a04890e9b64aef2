package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/smpgo/smpgo/boot/app"
)

func (e *env) builder(o options) *app.Builder {
	b := &app.Builder{Log: e.stderr}
	if o.tags != "" {
		b.Flags = append(b.Flags, "-tags", o.tags)
	}
	return b
}

// build: smpgo build [-o IMAGE] PACKAGE.
func (e *env) build(ctx context.Context, args []string) int {
	o, err := parseFlags("build", args)
	if err != nil {
		return e.errorf("%v", err)
	}
	b := e.builder(o)
	out := o.out
	if out == "" {
		pkgs, err := b.List(ctx, o.pkgs[0])
		if err != nil {
			return e.errorf("%v", err)
		}
		out = path.Base(pkgs[0].ImportPath) + ".img"
	}
	outs := app.OutputsFor(out)
	if err := b.BuildProgram(ctx, o.pkgs[0], outs); err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintf(e.stderr, "smpgo: wrote %s (and %s)\n", outs.Image, outs.ELF)
	return 0
}

// workDir returns the directory images go to and a function removing it
// if it is temporary.
func workDir(o options) (string, func(), error) {
	if o.work != "" {
		if err := os.MkdirAll(o.work, 0o755); err != nil {
			return "", nil, err
		}
		return o.work, func() {}, nil
	}
	d, err := os.MkdirTemp("", "smpgo")
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// imageName is a file name for package path p's image in the work dir.
func imageName(dir, p, suffix string) app.Outputs {
	name := filepath.Base(p)
	if name == "." || name == "/" {
		name = "main"
	}
	return app.OutputsFor(filepath.Join(dir, name+suffix+".img"))
}
