package image

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// The owner rewrite. Lock ownership belongs to the goroutine (its g
// address), and Go code cannot read g: the runtime's getg is a compiler
// intrinsic (R14 under the internal ABI on amd64) that no other package
// may use, and an assembly function costs a call and a return, each an
// indirect jump under TCG, on every lock operation. So kern.Owner is an
// inlinable atomic load of kern.ownerG, a word nothing writes, and the
// image builder rewrites every load of it in the text into a move from
// R14 (Go code always has the running goroutine's g there) padded with a
// NOP to the same 7 bytes:
//
//	REX.W 8B /r [rip+disp32]   MOVQ kern.ownerG(SB), reg   (7 bytes)
//	REX.W.R(.B) 89 /r          MOVQ R14, reg               (3 bytes)
//	0F 1F 40 00                NOPL 0(AX)                  (4 bytes)
//
// Any other reference to the word (its address taken, a load folded into
// another instruction) fails the build. The builder also writes the number
// of sites into kern.ownerSites, which the kernel checks at boot: an image
// not built here (or a kernel with no rewritten site) stops with a message
// instead of giving every goroutine the same owner.
const (
	OwnerSlotSymbol  = "github.com/smpgo/smpgo/kern.ownerG"
	OwnerSitesSymbol = "github.com/smpgo/smpgo/kern.ownerSites"
	// OwnerSitesUnset is kern.ownerSites before the rewrite.
	OwnerSitesUnset = 0x4f574e4552554e53 // "SNURENWO"
)

// Func is one function of the text: its address and size.
type Func struct {
	Name       string
	Addr, Size uint64
}

// RewriteOwnerLoads rewrites, in text (the bytes at address base), every
// load of the word at slot made by one of funcs into a move from R14, and
// returns how many it rewrote. A reference to the word it cannot rewrite
// is an error.
func RewriteOwnerLoads(text []byte, base uint64, funcs []Func, slot uint64) (int, error) {
	n := 0
	for _, f := range funcs {
		if f.Addr < base || f.Addr+f.Size > base+uint64(len(text)) {
			continue
		}
		code := text[f.Addr-base : f.Addr-base+f.Size]
		for off := 0; off < len(code); {
			inst, err := x86asm.Decode(code[off:], 64)
			if err != nil || inst.Len == 0 {
				off++ // padding, or an instruction x86asm does not know
				continue
			}
			pc := f.Addr + uint64(off)
			if refersTo(inst, pc, slot) {
				if err := rewriteLoad(code[off:off+inst.Len], inst); err != nil {
					return n, fmt.Errorf("image: %s+%#x: %w", f.Name, off, err)
				}
				n++
			}
			off += inst.Len
		}
	}
	return n, nil
}

// refersTo reports whether inst at pc addresses any byte of the word at
// slot RIP-relatively.
func refersTo(inst x86asm.Inst, pc, slot uint64) bool {
	for _, a := range inst.Args {
		m, ok := a.(x86asm.Mem)
		if !ok || m.Base != x86asm.RIP {
			continue
		}
		t := pc + uint64(inst.Len) + uint64(m.Disp)
		if t >= slot && t < slot+8 {
			return true
		}
	}
	return false
}

// rewriteLoad turns b, a 7-byte MOVQ [rip+disp32], reg, into MOVQ R14,
// reg and a 4-byte NOP.
func rewriteLoad(b []byte, inst x86asm.Inst) error {
	dst, ok := inst.Args[0].(x86asm.Reg)
	if inst.Op != x86asm.MOV || len(b) != 7 || !ok || dst < x86asm.RAX || dst > x86asm.R15 ||
		b[0]&0xF8 != 0x48 || b[1] != 0x8B || b[2]&0xC7 != 0x05 {
		return fmt.Errorf("reference to the owner word that is not a 64-bit load: %v", inst)
	}
	d := byte(dst - x86asm.RAX)
	rex := byte(0x4C) // W, R (R14 in ModRM.reg)
	if d >= 8 {
		rex |= 0x01 // B
	}
	copy(b, []byte{rex, 0x89, 0xC0 | 6<<3 | d&7, 0x0F, 0x1F, 0x40, 0x00})
	return nil
}

// rewriteOwner applies the owner rewrite to img, the flat image of f's
// PT_LOAD segments starting at address lo (after the header page). An ELF
// without the owner word (not a kernel) is left alone.
func rewriteOwner(f *elf.File, img []byte, lo uint64) error {
	syms, err := f.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return nil
		}
		return fmt.Errorf("image: symbols: %w", err)
	}
	var slot, sites *elf.Symbol
	var funcs []Func
	for i := range syms {
		s := &syms[i]
		switch {
		case s.Name == OwnerSlotSymbol:
			slot = s
		case s.Name == OwnerSitesSymbol:
			sites = s
		case elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Size > 0:
			funcs = append(funcs, Func{Name: s.Name, Addr: s.Value, Size: s.Size})
		}
	}
	if slot == nil {
		return nil
	}
	if sites == nil || sites.Size != 8 {
		return errors.New("image: kernel has " + OwnerSlotSymbol + " but no 8-byte " + OwnerSitesSymbol)
	}
	so := sites.Value - lo
	if sites.Value < lo || so+8 > uint64(len(img)) {
		return fmt.Errorf("image: %s at %#x is not in the loaded file image", OwnerSitesSymbol, sites.Value)
	}
	if v := binary.LittleEndian.Uint64(img[so:]); v != OwnerSitesUnset {
		return fmt.Errorf("image: %s holds %#x, want the unset marker %#x", OwnerSitesSymbol, v, uint64(OwnerSitesUnset))
	}
	n, err := RewriteOwnerLoads(img, lo, funcs, slot.Value)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("image: no load of " + OwnerSlotSymbol + " found to rewrite")
	}
	binary.LittleEndian.PutUint64(img[so:], uint64(n))
	return nil
}
