package qemu_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smpgo/smpgo/boot/app"
	"github.com/smpgo/smpgo/qemu"
)

// TestBoots boots the kernel once for every entry of the boot matrix of
// the tier named by SMPGO_QEMU (smoke or full), one after the other.
// SMPGO_KERNEL names the kernel image (default build/kernel.img in the
// repository root); panics are symbolised with kernel.elf beside it. The
// boots of the bootable ISO use SMPGO_ISO (default smpgo.iso beside the
// kernel image, from 'make image').
func TestBoots(t *testing.T) {
	env := os.Getenv("SMPGO_QEMU")
	if env == "" {
		t.Skip("QEMU boots are off: set SMPGO_QEMU=smoke or SMPGO_QEMU=full to run them " +
			"(the kernel image is SMPGO_KERNEL, default build/kernel.img from 'make build')")
	}
	tier, err := qemu.ParseTier(env)
	require.NoError(t, err, "SMPGO_QEMU")
	_, err = qemu.FindQEMU("")
	require.NoError(t, err)

	root, err := qemu.RepoRoot(".")
	require.NoError(t, err)
	kernel := os.Getenv("SMPGO_KERNEL")
	if kernel == "" {
		kernel = filepath.Join(root, qemu.KernelImage)
	}
	require.FileExists(t, kernel, "the kernel image: run 'make build' or set SMPGO_KERNEL")
	elfPath := filepath.Join(filepath.Dir(kernel), filepath.Base(qemu.KernelELF))
	iso := os.Getenv("SMPGO_ISO")
	if iso == "" {
		iso = filepath.Join(filepath.Dir(kernel), filepath.Base(qemu.BootISO))
	}

	for _, b := range qemu.Matrix(tier) {
		t.Run(b.Name, func(t *testing.T) {
			c := b.Config
			c.Kernel = kernel
			elfPath := elfPath
			if b.App != "" || b.Test != "" {
				outs := buildProgram(t, root, b)
				c.Kernel, elfPath = outs.Image, outs.ELF
			}
			expect := b.Expect
			if b.Modules != nil {
				paths, output, err := b.Modules(t.TempDir(), &c)
				require.NoError(t, err, "the boot's modules")
				c.Modules = append(c.Modules, paths...)
				expect.Output = append(slices.Clone(expect.Output), output...)
			}
			if c.Media == qemu.MediaCDROM || c.Media == qemu.MediaUSB {
				require.FileExists(t, iso, "the bootable image: run 'make image' or set SMPGO_ISO")
				c.Kernel, c.Image = "", iso
			}
			var ppm string
			if b.Expect.Screen {
				ppm = filepath.Join(t.TempDir(), "screen.ppm")
				c.MonitorAfter, c.Monitor = qemu.BannerMark, qemu.ScreenCommands(ppm)
			}
			var out io.Writer = io.Discard
			if testing.Verbose() {
				// Prefixed, so that the kernel's own "--- PASS" lines
				// are not taken for this test's.
				out = &prefixWriter{w: t.Output(), prefix: b.Name + "| "}
			}
			r, err := qemu.Run(t.Context(), c, out)
			require.NoError(t, err)
			t.Logf("%s: %s (first serial byte after %v)", b.Name, r.Summary(), r.FirstLine)
			if b.Test != "" {
				p, f, s := qemu.GoTestCounts(strings.ReplaceAll(r.Output, "\r", ""))
				t.Logf("%s: %d passed, %d failed, %d skipped (top-level tests and examples)", b.Test, p, f, s)
			}
			if err := expect.Check(r); err != nil {
				t.Fatalf("%s: %v\n%s", b.Name, err, failureReport(r, elfPath))
			}
			if b.Expect.Screen {
				if err := qemu.CheckScreen(r, ppm); err != nil {
					t.Fatalf("%s: screen: %v\n%s", b.Name, err, failureReport(r, elfPath))
				}
				t.Logf("%s: the banner is on the screen's status line", b.Name)
			}
		})
	}
}

// buildProgram builds b's App or Test image (with boot/app) into a
// temporary directory.
func buildProgram(t *testing.T, root string, b qemu.Boot) app.Outputs {
	t.Helper()
	dir := t.TempDir()
	bld := &app.Builder{Dir: root}
	if b.Tags != "" {
		bld.Flags = []string{"-tags", b.Tags}
	}
	outs := app.OutputsFor(filepath.Join(dir, "program.img"))
	if b.App != "" {
		require.NoError(t, bld.BuildProgram(t.Context(), b.App, outs), "build %s", b.App)
		return outs
	}
	pkgs, err := bld.List(t.Context(), b.Test)
	require.NoError(t, err)
	require.Len(t, pkgs, 1, b.Test)
	require.NoError(t, bld.BuildTest(t.Context(), pkgs[0], dir, outs), "build the tests of %s", b.Test)
	return outs
}

// prefixWriter starts every line written to w with prefix. Run writes
// whole lines, except maybe for the very last.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) > 0 {
			out = append(append(out, p.prefix...), line...)
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

// failureReport is the tail of the output, QEMU's stderr, and every
// panic report symbolised.
func failureReport(r *qemu.Result, elfPath string) string {
	var b strings.Builder
	b.WriteString("--- last lines of the serial console ---\n")
	b.WriteString(qemu.Tail(r.Output, 40))
	b.WriteString("\n")
	if r.Stderr != "" {
		b.WriteString("--- QEMU's stderr ---\n")
		b.WriteString(qemu.Tail(r.Stderr, 10))
		b.WriteString("\n")
	}
	for i := range r.Panics {
		report, err := qemu.Symbolize(&r.Panics[i], elfPath)
		b.WriteString("--- panic report ---\n")
		b.WriteString(report)
		if err != nil {
			b.WriteString("(not symbolised: " + err.Error() + ")\n")
		}
	}
	return b.String()
}

func TestPrefixWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &prefixWriter{w: &buf, prefix: "smp1| "}
	n, err := w.Write([]byte("--- PASS: X\nok\n"))
	require.NoError(t, err)
	require.Equal(t, 15, n)
	_, err = w.Write([]byte("partial"))
	require.NoError(t, err)
	require.Equal(t, "smp1| --- PASS: X\nsmp1| ok\nsmp1| partial", buf.String())
}

func TestFailureReport(t *testing.T) {
	out := "boot\nKERNEL PANIC: nil map\ncpu=1 vector=14 error=0x0\nrip=0x10\nEND KERNEL PANIC\n"
	r := &qemu.Result{Output: out, Stderr: "qemu-system-x86_64: warning: w\n", Panics: qemu.ParsePanics(out)}
	got := failureReport(r, filepath.Join(t.TempDir(), "kernel.elf"))
	require.Contains(t, got, "--- last lines of the serial console ---\nboot\nKERNEL PANIC: nil map\n")
	require.Contains(t, got, "--- QEMU's stderr ---\nqemu-system-x86_64: warning: w\n")
	require.Contains(t, got, "--- panic report ---\nKERNEL PANIC: nil map\n  cpu 1, vector 14 (#PF page fault), error 0x0 (not-present read kernel)\n  rip 0x10\n(not symbolised: ")
}
