// Package app builds Go programs and Go test binaries in application mode:
// linked together with the kernel (the root package github.com/smpgo/smpgo,
// which pulls in the boot entry, kern and every kernel subsystem) by the
// stock toolchain for linux/amd64 with the kernel's linker flags, then turned
// into a bootable Multiboot image by boot/image. The smpgo command
// (cmd/smpgo) and the QEMU boot matrix (qemu/) use it.
//
// A program opts in with one blank import of the kernel package in its
// package main. A test binary needs nothing from its package: the builder
// adds the import through a build overlay (go build -overlay), as a file of
// the package's external test package, so any package's tests, including
// the standard library's, run inside the kernel.
package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/smpgo/smpgo/boot/image"
)

// The kernel as the linker sees it.
const (
	// KernelPackage is the package an application imports.
	KernelPackage = "github.com/smpgo/smpgo"
	// EntrySymbol is the Multiboot entry point (linker -E).
	EntrySymbol = "github.com/smpgo/smpgo/boot.entry32"
	// TextAddr is where the linker places the text segment (-T): the
	// image header page goes just below it.
	TextAddr = "0x1000000"
	// overlayName is the file the overlay adds to a package under test.
	overlayName = "zz_smpgo_kernel_test.go"
)

// LDFlags are the linker flags every kernel image is linked with.
func LDFlags() string { return "-E " + EntrySymbol + " -T " + TextAddr }

// Env is the build environment for kernel images, appended to os.Environ.
func Env() []string {
	return append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
}

// Package is what the builder needs to know of a Go package (a subset of
// `go list -json`).
type Package struct {
	ImportPath   string
	Name         string
	Dir          string
	Deps         []string
	TestGoFiles  []string
	XTestGoFiles []string
	Standard     bool
	Error        *struct{ Err string }
}

// HasTests reports whether the package has any test files.
func (p *Package) HasTests() bool { return len(p.TestGoFiles)+len(p.XTestGoFiles) > 0 }

// ImportsKernel reports whether the package links the kernel.
func (p *Package) ImportsKernel() bool {
	return p.ImportPath == KernelPackage || slices.Contains(p.Deps, KernelPackage)
}

// Builder runs the go command. The zero value builds in the current
// directory with "go" from PATH and discards the go command's output.
type Builder struct {
	// Dir is the directory the go command runs in: package patterns are
	// resolved from there, in its module.
	Dir string
	// Go is the go command (default "go").
	Go string
	// Flags are extra build flags (e.g. -race is not possible; -tags,
	// -gcflags, -trimpath are).
	Flags []string
	// Log receives the go command's diagnostics (nil: discarded, but
	// kept in the error on failure).
	Log io.Writer
}

func (b *Builder) goCmd(ctx context.Context, args ...string) *exec.Cmd {
	g := b.Go
	if g == "" {
		g = "go"
	}
	cmd := exec.CommandContext(ctx, g, args...)
	cmd.Dir = b.Dir
	cmd.Env = Env()
	return cmd
}

// run runs the go command, returning its stdout; its stderr goes to Log
// and, on failure, into the error.
func (b *Builder) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := b.goCmd(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if b.Log != nil {
		cmd.Stderr = io.MultiWriter(&stderr, b.Log)
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("go %s: %s", args[0], msg)
	}
	return stdout.Bytes(), nil
}

// List resolves package patterns (as the go command does, for
// linux/amd64) in pattern order.
func (b *Builder) List(ctx context.Context, patterns ...string) ([]Package, error) {
	args := append([]string{"list", "-e", "-json=ImportPath,Name,Dir,Deps,TestGoFiles,XTestGoFiles,Standard,Error"}, b.Flags...)
	out, err := b.run(ctx, append(args, patterns...)...)
	if err != nil {
		return nil, err
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list: %w", err)
		}
		if p.Error != nil {
			return nil, fmt.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no packages match %s", strings.Join(patterns, " "))
	}
	return pkgs, nil
}

// Outputs names what a build writes: the bootable image and the linked
// ELF beside it (for symbolising kernel panics).
type Outputs struct {
	Image, ELF string
}

// OutputsFor derives the ELF path from an image path: out.img → out.elf,
// anything else → anything.elf.
func OutputsFor(img string) Outputs {
	return Outputs{Image: img, ELF: strings.TrimSuffix(img, filepath.Ext(img)) + ".elf"}
}

// BuildProgram builds the package main pkg, which must import the kernel,
// into out.
func (b *Builder) BuildProgram(ctx context.Context, pkg string, out Outputs) error {
	pkgs, err := b.List(ctx, pkg)
	if err != nil {
		return err
	}
	if len(pkgs) != 1 {
		return fmt.Errorf("%s: want one package, it matches %d", pkg, len(pkgs))
	}
	p := pkgs[0]
	if p.Name != "main" {
		return fmt.Errorf("%s is package %s, not a program (package main)", p.ImportPath, p.Name)
	}
	if !p.ImportsKernel() {
		return fmt.Errorf("%s does not link the kernel: add `import _ %q` to one of its files", p.ImportPath, KernelPackage)
	}
	args := append([]string{"build", "-o", out.ELF, "-ldflags", LDFlags()}, b.Flags...)
	if _, err := b.run(ctx, append(args, pkg)...); err != nil {
		return err
	}
	return MakeImage(out)
}

// BuildTest builds p's test binary with the kernel linked in (an overlay
// adds `import _ "github.com/smpgo/smpgo"` in a file of p's external test
// package) into out. tmp holds the overlay files.
func (b *Builder) BuildTest(ctx context.Context, p Package, tmp string, out Outputs) error {
	if !p.HasTests() {
		return fmt.Errorf("%s: no test files", p.ImportPath)
	}
	ovl, err := writeOverlay(tmp, p)
	if err != nil {
		return err
	}
	args := append([]string{"test", "-c", "-o", out.ELF, "-overlay", ovl, "-ldflags", LDFlags()}, b.Flags...)
	if _, err := b.run(ctx, append(args, p.ImportPath)...); err != nil {
		return err
	}
	return MakeImage(out)
}

// OverlaySource is the file BuildTest adds to the package named name.
func OverlaySource(name string) string {
	return "// Code generated by smpgo test: links the kernel into the test binary. DO NOT EDIT.\n\n" +
		"package " + name + "_test\n\nimport _ " + fmt.Sprintf("%q", KernelPackage) + "\n"
}

// writeOverlay writes the overlay's file and its JSON description into
// tmp and returns the JSON's path.
func writeOverlay(tmp string, p Package) (string, error) {
	src := filepath.Join(tmp, strings.ReplaceAll(p.ImportPath, "/", "_")+"_"+overlayName)
	if err := os.WriteFile(src, []byte(OverlaySource(p.Name)), 0o644); err != nil {
		return "", err
	}
	js, err := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(p.Dir, overlayName): src},
	})
	if err != nil {
		return "", err
	}
	ovl := src + ".overlay.json"
	return ovl, os.WriteFile(ovl, js, 0o644)
}

// MakeImage turns out.ELF into the bootable out.Image.
func MakeImage(out Outputs) error {
	elfBytes, err := os.ReadFile(out.ELF)
	if err != nil {
		return err
	}
	img, _, err := image.Build(elfBytes)
	if err != nil {
		return err
	}
	return os.WriteFile(out.Image, img, 0o644)
}
