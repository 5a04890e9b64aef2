package qemu

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDisassembleWithoutSymbols(t *testing.T) {
	code := []byte{0x0f, 0x0b, 0x48, 0x89, 0xc3, 0xe8, 0x10, 0, 0, 0, 0x06, 0xc3, 0x48, 0x89}
	got := Disassemble(0x1000, code, nil)
	require.Equal(t, []Instruction{
		{0x1000, []byte{0x0f, 0x0b}, "UD2"},
		{0x1002, []byte{0x48, 0x89, 0xc3}, "MOVQ AX, BX"},
		{0x1005, []byte{0xe8, 0x10, 0, 0, 0}, "CALL 0x101a"},
		{0x100a, []byte{0x06}, "(bad)"},
		{0x100b, []byte{0xc3}, "RET"},
		{0x100c, []byte{0x48, 0x89}, "(truncated)"},
	}, got)
	require.Equal(t, "0x0000000000001002  48 89 c3                 MOVQ AX, BX", got[1].String())
	require.Empty(t, Disassemble(0x1000, nil, nil))
	// A lone prefix at the end is truncated too.
	require.Equal(t, []Instruction{{0x2000, []byte{0x90}, "NOPL"}, {0x2001, []byte{0x66}, "(truncated)"}},
		Disassemble(0x2000, []byte{0x90, 0x66}, nil))
}

// tinyPanic builds a panic report against the tiny ELF at path: rip is
// inside main.main, the code holds UD2, MOVQ AX, BX and a CALL to
// main.work, and the stack holds a return address into main.main, a plain
// number, and an address inside main.work.
func tinyPanic(t *testing.T, path string) (string, uint64) {
	work := elfFunc(t, path, "main.work")
	main := elfFunc(t, path, "main.main")
	rip := main.Value + 0x20
	code := []byte{0x0f, 0x0b, 0x48, 0x89, 0xc3, 0xe8, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(code[6:], uint32(work.Value-(rip+10)))
	var hex []string
	for _, b := range code {
		hex = append(hex, fmt.Sprintf("%02x", b))
	}
	return fmt.Sprintf("KERNEL PANIC: invalid opcode\r\n"+
		"cpu=0 vector=6 error=0x0\r\n"+
		"rip=0x%016x cs=0x8 rflags=0x10046 rsp=0x00000000002fff00 ss=0x10\r\n"+
		"rax=0x1 rbx=0x2 rcx=0x3 rdx=0x4\r\n"+
		"code: 0x%016x: %s\r\n"+
		"stack: 0x00000000002fff00\r\n"+
		"0x00000000002fff00: 0x%016x 0x0000000000000005 0x%016x\r\n"+
		"END KERNEL PANIC\r\n", rip, rip, strings.Join(hex, " "), main.Value+0x30, work.Value+4), rip
}

func TestSymbolizeRealELF(t *testing.T) {
	path := buildTiny(t)
	out, rip := tinyPanic(t, path)
	ps := ParsePanics("boot\r\n" + out)
	require.Len(t, ps, 1)

	report, err := Symbolize(&ps[0], path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(report, "\n"), "\n")
	require.Equal(t, "KERNEL PANIC: invalid opcode", lines[0])
	require.Equal(t, "  cpu 0, vector 6 (#UD invalid opcode), error 0x0", lines[1])
	require.Regexp(t, fmt.Sprintf(`^  rip %#x = main\.main\+0x20 \(tiny/main\.go:\d+\)$`, rip), lines[2])
	require.Equal(t, "code:", lines[3])
	require.Equal(t, fmt.Sprintf("  => %#016x  0f 0b                    UD2", rip), lines[4])
	require.Equal(t, fmt.Sprintf("     %#016x  48 89 c3                 MOVQ AX, BX", rip+2), lines[5])
	require.Regexp(t, `^     0x[0-9a-f]{16}  e8 .. .. .. ..           CALL main\.work\(SB\)$`, lines[6])
	require.Equal(t, "registers:", lines[7])
	require.Equal(t, "  rax 0x0000000000000001  rbx 0x0000000000000002  rcx 0x0000000000000003  rdx 0x0000000000000004", lines[8])
	require.Equal(t, "  rsp 0x00000000002fff00", lines[9])
	require.Equal(t, "  cs  0x0000000000000008  ss  0x0000000000000010  rflags 0x0000000000010046", lines[10])
	require.Equal(t, "stack (from 0x2fff00):", lines[11])
	require.Regexp(t, `^  0x00000000002fff00: 0x[0-9a-f]{16}  return to main\.main\+0x30 \(tiny/main\.go:\d+\)$`, lines[12])
	require.Equal(t, "  0x00000000002fff08: 0x0000000000000005", lines[13])
	require.Regexp(t, `^  0x00000000002fff10: 0x[0-9a-f]{16}  return to main\.work\+0x4 \(tiny/main\.go:\d+\)$`, lines[14])
	require.Len(t, lines, 15, "a complete report has no trailer")
}

func TestSymbolizeWithoutELF(t *testing.T) {
	ps := ParsePanics(fullPanic)
	require.Len(t, ps, 1)
	report, err := Symbolize(&ps[0], filepath.Join(t.TempDir(), "kernel.elf"))
	require.Error(t, err)
	require.Equal(t, FormatPanic(&ps[0], nil), report, "the unsymbolised report comes back with the error")
	require.Contains(t, report, "  cpu 2, vector 14 (#PF page fault), error 0x2 (not-present write kernel), cr2 0x8\n")
	require.Contains(t, report, "  rip 0x1234567\n")
	require.Contains(t, report, "  => 0x0000000001234567  0f 0b                    UD2\n")
	require.Contains(t, report, "  r12 0x000000000000000c  r13 0x000000000000000d  r14 0x000000000000000e  r15 0xffffffffffffffff\n")
	require.Contains(t, report, "  0x00000000002fff00: 0x0000000001234600\n")
	require.NotContains(t, report, "return to")
}

func TestFormatPanicSparse(t *testing.T) {
	ps := ParsePanics("KERNEL PANIC: out of memory\n")
	require.Len(t, ps, 1)
	require.Equal(t, "KERNEL PANIC: out of memory\n(report incomplete: no \"END KERNEL PANIC\" line)\n", FormatPanic(&ps[0], nil))
	// Code that does not start at rip is listed without the => marker.
	ps = ParsePanics("KERNEL PANIC: x\nrip=0x10\ncode: 0x20: c3\nEND KERNEL PANIC\n")
	require.Equal(t, "KERNEL PANIC: x\n  rip 0x10\ncode:\n     0x0000000000000020  c3                       RET\n", FormatPanic(&ps[0], nil))
}
