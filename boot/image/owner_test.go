package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/arch/x86/x86asm"
)

// ripRel encodes op bytes followed by the disp32 that makes an instruction
// at pc ending after the displacement address target.
func ripRel(pc, target uint64, op ...byte) []byte {
	end := pc + uint64(len(op)) + 4
	return binary.LittleEndian.AppendUint32(op, uint32(int32(int64(target)-int64(end))))
}

func TestRewriteOwnerLoads(t *testing.T) {
	const base, slot = 0x401000, 0x800008
	var text []byte
	loadAX := len(text)
	text = append(text, ripRel(base+uint64(len(text)), slot, 0x48, 0x8B, 0x05)...) // MOVQ slot(RIP), AX
	text = append(text, 0x48, 0x89, 0xC3)                                          // MOVQ AX, BX
	loadR9 := len(text)
	text = append(text, ripRel(base+uint64(len(text)), slot, 0x4C, 0x8B, 0x0D)...) // MOVQ slot(RIP), R9
	other := len(text)
	text = append(text, ripRel(base+uint64(len(text)), slot+8, 0x48, 0x8B, 0x05)...) // another word: untouched
	text = append(text, 0xC3, 0xCC, 0xCC)
	orig := append([]byte(nil), text...)

	n, err := RewriteOwnerLoads(text, base, []Func{{Name: "f", Addr: base, Size: uint64(len(text))}}, slot)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, c := range []struct {
		off int
		dst x86asm.Reg
	}{{loadAX, x86asm.RAX}, {loadR9, x86asm.R9}} {
		inst, err := x86asm.Decode(text[c.off:], 64)
		require.NoError(t, err)
		require.Equal(t, x86asm.MOV, inst.Op)
		require.Equal(t, 3, inst.Len)
		require.Equal(t, c.dst, inst.Args[0])
		require.Equal(t, x86asm.R14, inst.Args[1])
		nop, err := x86asm.Decode(text[c.off+3:], 64)
		require.NoError(t, err)
		require.Equal(t, x86asm.NOP, nop.Op)
		require.Equal(t, 4, nop.Len)
	}
	require.Equal(t, orig[loadAX+7:loadR9], text[loadAX+7:loadR9], "the instruction between is untouched")
	require.Equal(t, orig[other:], text[other:], "a load of another word is untouched")
}

func TestRewriteOwnerLoadsRefusesOtherReferences(t *testing.T) {
	const base, slot = 0x401000, 0x800000
	for name, op := range map[string][]byte{
		"LEAQ (address taken)": {0x48, 0x8D, 0x05},
		"CMPQ (folded load)":   {0x48, 0x39, 0x0D},
		"MOVL (32-bit load)":   {0x8B, 0x05},
		"MOVQ store":           {0x48, 0x89, 0x05},
	} {
		text := append(ripRel(base, slot+4, op...), 0xC3)
		_, err := RewriteOwnerLoads(text, base, []Func{{Name: "f", Addr: base, Size: uint64(len(text))}}, slot)
		require.Error(t, err, name)
	}
}

// The real kernel: every load is rewritten, the count is written where
// the kernel checks it, and no reference to the word is left.
func TestOwnerRewriteInKernel(t *testing.T) {
	raw, err := os.ReadFile(buildKernel(t))
	require.NoError(t, err)
	img, _, err := Build(raw)
	require.NoError(t, err)
	f, err := elf.NewFile(bytes.NewReader(raw))
	require.NoError(t, err)
	syms, err := f.Symbols()
	require.NoError(t, err)
	var lo = ^uint64(0)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Memsz > 0 {
			lo = min(lo, p.Vaddr)
		}
	}
	var slot, sites uint64
	var funcs []Func
	for _, s := range syms {
		switch {
		case s.Name == OwnerSlotSymbol:
			slot = s.Value
		case s.Name == OwnerSitesSymbol:
			sites = s.Value
		case elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size > 0:
			funcs = append(funcs, Func{Name: s.Name, Addr: s.Value, Size: s.Size})
		}
	}
	require.NotZero(t, slot)
	require.NotZero(t, sites)
	n := binary.LittleEndian.Uint64(img[HeaderPage+sites-lo:])
	require.NotEqual(t, uint64(OwnerSitesUnset), n)
	require.Greater(t, n, uint64(10), "kern.Owner inlines into the lock and witness code")
	left, err := RewriteOwnerLoads(append([]byte(nil), img[HeaderPage:]...), lo, funcs, slot)
	require.NoError(t, err)
	require.Zero(t, left, "loads left after the rewrite")
	t.Logf("%d owner loads rewritten", n)
}
