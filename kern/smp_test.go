package kern

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/arch/x86/x86asm"
)

// The AP trampoline decodes as written: in real mode it first claims its
// start (CPUID's APIC id + 1 swapped out of the claim word, a late AP
// halting for good), then enters long mode and jumps to the 64-bit part,
// which jumps to apEntry through trampTarget; nothing overlaps the data.
func TestTrampolineClaimsFirst(t *testing.T) {
	code := trampoline[:]
	require.Less(t, len(code), trampGDT, "code runs into the GDT")
	var ops []x86asm.Op
	at := map[int]x86asm.Inst{}
	p := 0
	for p < 0x68 {
		inst, err := x86asm.Decode(code[p:], 16)
		require.NoError(t, err, "offset %#x", p)
		at[p] = inst
		ops = append(ops, inst.Op)
		p += inst.Len
	}
	require.Equal(t, 0x68, p, "the 16-bit code ends where the 64-bit part starts")
	require.Equal(t, []x86asm.Op{
		x86asm.CLI, x86asm.CLD, x86asm.MOV, x86asm.MOV, // ds = cs
		x86asm.MOV, x86asm.CPUID, x86asm.SHR, x86asm.INC, x86asm.MOV, x86asm.XOR, x86asm.CMPXCHG, x86asm.JNE, // the claim
		x86asm.LGDT, x86asm.MOV, x86asm.MOV, x86asm.MOV, x86asm.MOV, // cr4, cr3
		x86asm.MOV, x86asm.RDMSR, x86asm.OR, x86asm.WRMSR, // EFER
		x86asm.MOV, x86asm.OR, x86asm.AND, x86asm.MOV, // cr0
		x86asm.LJMP,
		x86asm.CLI, x86asm.HLT, x86asm.JMP, // the halt loop
		x86asm.NOP, x86asm.NOP,
	}, ops)

	claim := at[0x1a]
	require.Equal(t, x86asm.CMPXCHG, claim.Op)
	require.Equal(t, x86asm.PrefixLOCK, claim.Prefix[0]&0xfff, "the claim is atomic")
	m, ok := claim.Args[0].(x86asm.Mem)
	require.True(t, ok, "cmpxchg's destination is memory: %v", claim)
	require.Equal(t, int64(trampWant), m.Disp)
	require.Zero(t, m.Base, "an absolute address (DS = the trampoline's segment)")
	require.Equal(t, x86asm.ECX, claim.Args[1])
	// jne and the halt loop's jmp stay in the loop at 0x62.
	require.Equal(t, x86asm.Rel(0x62-0x23), at[0x21].Args[0])
	require.Equal(t, x86asm.Rel(0x62-0x66), at[0x64].Args[0])
	// The far jump: selector 8 (64-bit code), offset trampAddr+0x68.
	require.Equal(t, uint32(trampAddr+0x68), binary.LittleEndian.Uint32(code[0x5c:]))
	require.Equal(t, uint16(8), binary.LittleEndian.Uint16(code[0x60:]))

	mov, err := x86asm.Decode(code[0x68:], 64)
	require.NoError(t, err)
	require.Equal(t, x86asm.MOV, mov.Op)
	require.Equal(t, x86asm.Mem{Scale: 1, Disp: trampAddr + trampTarget}, mov.Args[1])
	jmp, err := x86asm.Decode(code[0x68+mov.Len:], 64)
	require.NoError(t, err)
	require.Equal(t, x86asm.JMP, jmp.Op)
	require.Equal(t, x86asm.RAX, jmp.Args[0])
	require.Equal(t, len(code), 0x68+mov.Len+jmp.Len)

	// The data words do not overlap one another.
	words := [][2]int{{trampGDT, 24}, {trampTarget, 8}, {trampCR3, 4}, {trampWant, 4}, {trampGDTR, 6}}
	for i, a := range words {
		require.LessOrEqual(t, a[0]+a[1], 0x100)
		for _, b := range words[i+1:] {
			require.True(t, a[0]+a[1] <= b[0] || b[0]+b[1] <= a[0], "%#x and %#x overlap", a[0], b[0])
		}
	}
}
