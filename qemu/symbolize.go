package qemu

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// Symbolize loads the kernel ELF at elfPath and formats r with it (see
// FormatPanic). If the ELF cannot be read it returns the report without
// symbols together with the error.
func Symbolize(r *PanicReport, elfPath string) (string, error) {
	s, err := LoadSymbols(elfPath)
	if err != nil {
		return FormatPanic(r, nil), err
	}
	return FormatPanic(r, s), nil
}

// FormatPanic writes r as a readable report: the message, the trap, rip
// as function+offset (file:line), the code bytes disassembled one
// instruction per line, the registers, and the stack dump with each word
// that points into a function named as a likely return address. s may be
// nil: the report is then unsymbolised.
func FormatPanic(r *PanicReport, s *Symbols) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("KERNEL PANIC: %s", r.Message)
	if t := trapLine(r); t != "" {
		p("  %s", t)
	}
	rip, hasRIP := r.Field("rip")
	if hasRIP {
		line := fmt.Sprintf("  rip %#x", rip)
		if d := s.Describe(rip); d != "" {
			line += " = " + d
		}
		p("%s", line)
	}
	if len(r.Code) > 0 {
		p("code:")
		for _, l := range Disassemble(r.CodeAddr, r.Code, s) {
			mark := "   "
			if hasRIP && l.Addr == rip {
				mark = "=> "
			}
			p("  %s%s", mark, l)
		}
	}
	if regs := registerLines(r); len(regs) > 0 {
		p("registers:")
		for _, l := range regs {
			p("  %s", l)
		}
	}
	if len(r.Stack) > 0 {
		p("stack (from %#x):", r.StackTop)
		for _, w := range r.Stack {
			line := fmt.Sprintf("  %#016x: %#016x", w.Addr, w.Value)
			if d := s.DescribeReturn(w.Value); d != "" {
				line += "  return to " + d
			}
			p("%s", line)
		}
	}
	if !r.Complete {
		p("(report incomplete: no %q line)", PanicEnd)
	}
	return b.String()
}

// Instruction is one disassembled instruction.
type Instruction struct {
	Addr  uint64
	Bytes []byte
	Text  string // Go assembler syntax; "(bad)" or "(truncated)" if undecodable
}

// String formats the instruction as "0xADDR  b0 b1 b2  TEXT".
func (i Instruction) String() string {
	hex := make([]string, len(i.Bytes))
	for k, c := range i.Bytes {
		hex[k] = fmt.Sprintf("%02x", c)
	}
	return fmt.Sprintf("%#016x  %-24s %s", i.Addr, strings.Join(hex, " "), i.Text)
}

// Disassemble decodes code, which starts at addr, as 64-bit x86 in Go
// syntax, naming branch and call targets with s (which may be nil). An
// undecodable byte is shown as "(bad)" and skipped; an instruction cut
// off by the end of code ends the listing as "(truncated)".
func Disassemble(addr uint64, code []byte, s *Symbols) []Instruction {
	var out []Instruction
	var lookup x86asm.SymLookup
	if s != nil {
		lookup = s.symname
	}
	for off := 0; off < len(code); {
		pc := addr + uint64(off)
		inst, err := x86asm.Decode(code[off:], 64)
		switch {
		case errors.Is(err, x86asm.ErrTruncated) || (err == nil && truncatedPrefix(inst, code[off:])):
			return append(out, Instruction{Addr: pc, Bytes: slices.Clone(code[off:]), Text: "(truncated)"})
		case err != nil || inst.Op == 0 || inst.Len == 0:
			out = append(out, Instruction{Addr: pc, Bytes: code[off : off+1], Text: "(bad)"})
			off++
			continue
		}
		out = append(out, Instruction{
			Addr:  pc,
			Bytes: slices.Clone(code[off : off+inst.Len]),
			Text:  x86asm.GoSyntax(inst, pc, lookup),
		})
		off += inst.Len
	}
	return out
}

// truncatedPrefix reports whether inst is the decoder's one-prefix-byte
// stand-in for an instruction that runs past the end of src: the same
// bytes followed by padding decode to a longer instruction.
func truncatedPrefix(inst x86asm.Inst, src []byte) bool {
	if inst.Op != 0 || inst.Len != 1 {
		return false
	}
	padded := append(slices.Clone(src), make([]byte, 15)...)
	longer, err := x86asm.Decode(padded, 64)
	return err == nil && longer.Op != 0 && longer.Len > len(src)
}
