package qemu

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// tinyProgram is built for linux/amd64 to get a real Go ELF.
const tinyProgram = `package main

//go:noinline
func work(n int) int {
	return n*3 + 1
}

func main() {
	println(work(4))
}
`

// buildTiny builds tinyProgram with -trimpath (so its files are named
// "tiny/main.go") and extra flags, and returns the binary's path.
func buildTiny(t *testing.T, flags ...string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build a test ELF")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module tiny\n\ngo 1.21\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(tinyProgram), 0o644))
	out := filepath.Join(dir, "tiny.elf")
	cmd := exec.Command(goBin, append(append([]string{"build", "-trimpath"}, flags...), "-o", out, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	return out
}

// elfFunc returns a function symbol of the ELF at path, read with
// debug/elf directly.
func elfFunc(t *testing.T, path, name string) elf.Symbol {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s has no symbol %s", path, name)
	return elf.Symbol{}
}

// workLine is the line of "return n*3 + 1" in tinyProgram.
var workLine = func() int {
	for i, l := range strings.Split(tinyProgram, "\n") {
		if strings.Contains(l, "return n*3") {
			return i + 1
		}
	}
	panic("no work line")
}()

func TestSymbolsRealELF(t *testing.T) {
	path := buildTiny(t)
	work := elfFunc(t, path, "main.work")
	main := elfFunc(t, path, "main.main")
	require.NotZero(t, work.Size)

	s, err := LoadSymbols(path)
	require.NoError(t, err)
	require.NotNil(t, s.lines, "the Go line table was read")

	sym, ok := s.Lookup(work.Value + 3)
	require.True(t, ok)
	require.Equal(t, Symbol{Name: "main.work", Addr: work.Value, Size: work.Size}, sym)
	sym, ok = s.Lookup(main.Value)
	require.True(t, ok)
	require.Equal(t, "main.main", sym.Name)
	_, ok = s.Lookup(0x10)
	require.False(t, ok)

	file, line, ok := s.Line(work.Value)
	require.True(t, ok)
	require.Equal(t, "tiny/main.go", file)
	require.Contains(t, []int{workLine - 1, workLine}, line, "main.work's entry is on its func line or its body")

	d := s.Describe(work.Value + 4)
	require.Regexp(t, `^main\.work\+0x4 \(tiny/main\.go:\d+\)$`, d)
	require.Equal(t, "", s.Describe(0x10))
	require.Regexp(t, `^main\.work\+0x5 \(tiny/main\.go:\d+\)$`, s.DescribeReturn(work.Value+5))

	name, base := s.symname(work.Value + 1)
	require.Equal(t, "main.work", name)
	require.Equal(t, work.Value, base)
	name, base = s.symname(1)
	require.Equal(t, "", name)
	require.Zero(t, base)
}

func TestSymbolsStrippedELF(t *testing.T) {
	// -s drops .symtab: the functions come from .gopclntab alone.
	path := buildTiny(t, "-ldflags=-s -w")
	f, err := elf.Open(path)
	require.NoError(t, err)
	_, err = f.Symbols()
	require.ErrorIs(t, err, elf.ErrNoSymbols)
	f.Close()

	s, err := LoadSymbols(path)
	require.NoError(t, err)
	var work Symbol
	for _, fn := range s.funcs {
		if fn.Name == "main.work" {
			work = fn
		}
	}
	require.NotZero(t, work.Addr, "main.work found through the line table")
	require.Regexp(t, `^main\.work\+0x2 \(tiny/main\.go:\d+\)$`, s.Describe(work.Addr+2))
}

func TestLoadSymbolsErrors(t *testing.T) {
	_, err := LoadSymbols(filepath.Join(t.TempDir(), "missing.elf"))
	require.ErrorContains(t, err, "no such file")
	notELF := filepath.Join(t.TempDir(), "x")
	require.NoError(t, os.WriteFile(notELF, []byte("not an elf at all, really"), 0o644))
	_, err = LoadSymbols(notELF)
	require.ErrorContains(t, err, "qemu: symbols:")
}

func TestLookupZeroSize(t *testing.T) {
	s := &Symbols{
		funcs: []Symbol{{"a", 0x100, 0}, {"b", 0x200, 0x10}, {"c", 0x300, 0}},
		text:  [2]uint64{0x100, 0x400},
	}
	for addr, want := range map[uint64]string{
		0xff: "", 0x100: "a", 0x1ff: "a", 0x200: "b", 0x20f: "b", 0x210: "",
		0x300: "c", 0x3ff: "c", 0x400: "",
	} {
		sym, ok := s.Lookup(addr)
		require.Equal(t, want != "", ok, "%#x", addr)
		require.Equal(t, want, sym.Name, "%#x", addr)
	}
	var none *Symbols
	_, ok := none.Lookup(0x100)
	require.False(t, ok)
	require.Equal(t, "", none.Describe(0x100))
	_, _, ok = none.Line(0x100)
	require.False(t, ok)
}
