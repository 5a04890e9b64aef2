package qemu

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVectorName(t *testing.T) {
	require.Equal(t, "#PF page fault", VectorName(14))
	require.Equal(t, "#UD invalid opcode", VectorName(6))
	require.Equal(t, "#DE divide error", VectorName(0))
	require.Equal(t, "", VectorName(15))
	require.Equal(t, "", VectorName(32))
}

func TestPageFaultError(t *testing.T) {
	require.Equal(t, "not-present read kernel", PageFaultError(0))
	require.Equal(t, "not-present write kernel", PageFaultError(2))
	require.Equal(t, "protection write user", PageFaultError(7))
	require.Equal(t, "protection read kernel fetch reserved-bit", PageFaultError(0x19))
	require.Equal(t, "not-present read kernel protection-key shadow-stack", PageFaultError(0x60))
}

func TestTrapLine(t *testing.T) {
	r := &PanicReport{Fields: map[string]uint64{"cpu": 1, "vector": 14, "error": 2, "cr2": 8}}
	require.Equal(t, "cpu 1, vector 14 (#PF page fault), error 0x2 (not-present write kernel), cr2 0x8", trapLine(r))
	r = &PanicReport{Fields: map[string]uint64{"vector": 13, "error": 0x10}}
	require.Equal(t, "vector 13 (#GP general protection), error 0x10", trapLine(r))
	r = &PanicReport{Fields: map[string]uint64{"vector": 48}}
	require.Equal(t, "vector 48", trapLine(r))
	require.Equal(t, "", trapLine(&PanicReport{}))
}

func TestRegisterLines(t *testing.T) {
	r := &PanicReport{Fields: map[string]uint64{
		"rax": 1, "rdx": 4, "r15": 0xff, "cs": 8, "rflags": 0x202,
		"rip": 5, "cpu": 0, "cr3": 0x1000, "fs": 7,
	}}
	require.Equal(t, []string{
		"rax 0x0000000000000001  rdx 0x0000000000000004",
		"r15 0x00000000000000ff",
		"cs  0x0000000000000008  rflags 0x0000000000000202",
		"cr3=0x1000 fs=0x7",
	}, registerLines(r))
	require.Empty(t, registerLines(&PanicReport{}))
}
