package qemu

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const fullPanic = "KERNEL PANIC: page fault in kernel\r\n" +
	"cpu=2 vector=14 error=0x2 cr2=0x0000000000000008\r\n" +
	"rip=0x0000000001234567 cs=0x8 rflags=0x10046 rsp=0x00000000002fff00 ss=0x10\r\n" +
	"rax=0x1 rbx=0x2 rcx=0x3 rdx=0x4\r\n" +
	"rsi=0x5 rdi=0x6 rbp=0x7 r8=0x8\r\n" +
	"r9=0x9 r10=0xa r11=0xb r12=0xc\r\n" +
	"r13=0xd r14=0xe r15=0xffffffffffffffff\r\n" +
	"code: 0x0000000001234567: 0f 0b 48 89 c3\r\n" +
	"stack: 0x00000000002fff00\r\n" +
	"0x00000000002fff00: 0x0000000001234600 0x0000000000000000 0x0000000000000001 0x00000000002fff40\r\n" +
	"0x00000000002fff20: 0x0000000000000042\r\n" +
	"END KERNEL PANIC\r\n"

func TestParsePanicsFull(t *testing.T) {
	out := "booting\r\nsmp: 4 CPUs\r\n" + fullPanic + "after\r\n"
	ps := ParsePanics(out)
	require.Len(t, ps, 1)
	p := ps[0]
	require.Equal(t, "page fault in kernel", p.Message)
	require.True(t, p.Complete)
	want := map[string]uint64{
		"cpu": 2, "vector": 14, "error": 2, "cr2": 8,
		"rip": 0x1234567, "cs": 8, "rflags": 0x10046, "rsp": 0x2fff00, "ss": 0x10,
		"rax": 1, "rbx": 2, "rcx": 3, "rdx": 4, "rsi": 5, "rdi": 6, "rbp": 7,
		"r8": 8, "r9": 9, "r10": 10, "r11": 11, "r12": 12, "r13": 13, "r14": 14, "r15": ^uint64(0),
	}
	require.Equal(t, want, p.Fields)
	rip, ok := p.Field("rip")
	require.True(t, ok)
	require.Equal(t, uint64(0x1234567), rip)
	_, ok = p.Field("cr3")
	require.False(t, ok)
	require.Equal(t, uint64(0x1234567), p.CodeAddr)
	require.Equal(t, []byte{0x0f, 0x0b, 0x48, 0x89, 0xc3}, p.Code)
	require.Equal(t, uint64(0x2fff00), p.StackTop)
	require.Equal(t, []StackWord{
		{0x2fff00, 0x1234600}, {0x2fff08, 0}, {0x2fff10, 1}, {0x2fff18, 0x2fff40},
		{0x2fff20, 0x42},
	}, p.Stack)
	require.Len(t, p.Lines, 12)
	require.Equal(t, strings.ReplaceAll(strings.TrimSuffix(fullPanic, "\r\n"), "\r", ""), p.Raw())
}

func TestParsePanicsNone(t *testing.T) {
	require.Empty(t, ParsePanics(""))
	require.Empty(t, ParsePanics("booting\n3 passed, 0 failed\nEND KERNEL PANIC\n"))
}

func TestParsePanicsSeveral(t *testing.T) {
	out := "[cpu1] KERNEL PANIC: first\n" +
		"cpu=1 vector=6\n" +
		"code: 0x1000: 0f 0b\n" +
		"END KERNEL PANIC\n" +
		"noise in between rip=0x99\n" +
		"KERNEL PANIC: second, interrupted\n" +
		"cpu=3\n" +
		"KERNEL PANIC: third\n" +
		"rip=0x2000 some junk line\n" +
		"code: 0x2000: <unreadable>\n" +
		"stack: 0x3000\n"
	ps := ParsePanics(out)
	require.Len(t, ps, 3)

	require.Equal(t, "first", ps[0].Message)
	require.True(t, ps[0].Complete)
	require.Equal(t, map[string]uint64{"cpu": 1, "vector": 6}, ps[0].Fields)
	require.Equal(t, []byte{0x0f, 0x0b}, ps[0].Code)
	require.Equal(t, "KERNEL PANIC: first", ps[0].Lines[0], "text before the marker is dropped")

	require.Equal(t, "second, interrupted", ps[1].Message)
	require.False(t, ps[1].Complete)
	require.Equal(t, map[string]uint64{"cpu": 3}, ps[1].Fields, "noise outside a block is ignored")

	require.Equal(t, "third", ps[2].Message)
	require.False(t, ps[2].Complete)
	require.Equal(t, map[string]uint64{"rip": 0x2000}, ps[2].Fields)
	require.Equal(t, uint64(0x2000), ps[2].CodeAddr)
	require.Empty(t, ps[2].Code)
	require.Equal(t, uint64(0x3000), ps[2].StackTop)
	require.Empty(t, ps[2].Stack)
}

func TestParsePanicsTolerant(t *testing.T) {
	out := "KERNEL PANIC:\n" +
		"cpu=x vector=08 =5 error=0xZZ RIP=0x10\n" +
		"code: 0x10: 0f 0b 1 48 89\n" + // stops at the malformed byte
		"code: nonsense\n" +
		"0x100: 0x1 junk 0x2\n" + // stops at junk
		"0xzz: 0x1\n" +
		"0x200 no colon\n" +
		"END KERNEL PANIC"
	ps := ParsePanics(out)
	require.Len(t, ps, 1)
	p := ps[0]
	require.Equal(t, "", p.Message)
	require.True(t, p.Complete)
	require.Equal(t, map[string]uint64{"vector": 8, "rip": 0x10}, p.Fields)
	require.Equal(t, []byte{0x0f, 0x0b}, p.Code)
	require.Equal(t, []StackWord{{0x100, 1}}, p.Stack)
}

func TestParseNum(t *testing.T) {
	for s, want := range map[string]uint64{"0": 0, "10": 10, "0x10": 16, "0X1f": 31, "010": 10} {
		v, ok := parseNum(s)
		require.True(t, ok, s)
		require.Equal(t, want, v, s)
	}
	for _, s := range []string{"", "0x", "x", "-1", "0b1", "1.5"} {
		_, ok := parseNum(s)
		require.False(t, ok, s)
	}
}
