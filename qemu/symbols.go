package qemu

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
)

// Symbol is one function of the kernel ELF.
type Symbol struct {
	Name       string
	Addr, Size uint64
}

// Symbols maps kernel addresses to functions and source lines.
type Symbols struct {
	funcs []Symbol     // sorted by Addr
	lines *gosym.Table // from .gopclntab; nil if absent or unreadable
	text  [2]uint64    // [start, end) of .text
}

// LoadSymbols reads the function symbols (STT_FUNC) of the ELF at path
// and, if it has one, its Go line table (.gopclntab). A binary without a
// symbol table still works if its line table names the functions.
func LoadSymbols(path string) (*Symbols, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("qemu: symbols: %w", err)
	}
	defer f.Close()
	s := &Symbols{}
	if t := f.Section(".text"); t != nil {
		s.text = [2]uint64{t.Addr, t.Addr + t.Size}
	}
	syms, err := f.Symbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, fmt.Errorf("qemu: symbols of %s: %w", path, err)
	}
	textStart := s.text[0]
	for _, sym := range syms {
		if sym.Name == "runtime.text" {
			textStart = sym.Value
		}
		if elf.ST_TYPE(sym.Info) != elf.STT_FUNC || sym.Section == elf.SHN_UNDEF || sym.Value == 0 {
			continue
		}
		s.funcs = append(s.funcs, Symbol{Name: sym.Name, Addr: sym.Value, Size: sym.Size})
	}
	if pcln := f.Section(".gopclntab"); pcln != nil {
		if data, err := pcln.Data(); err == nil {
			if t, err := gosym.NewTable(nil, gosym.NewLineTable(data, textStart)); err == nil {
				s.lines = t
			}
		}
	}
	if len(s.funcs) == 0 && s.lines != nil {
		for _, fn := range s.lines.Funcs {
			s.funcs = append(s.funcs, Symbol{Name: fn.Name, Addr: fn.Entry, Size: fn.End - fn.Entry})
		}
	}
	if len(s.funcs) == 0 {
		return nil, fmt.Errorf("qemu: symbols: %s has no function symbols and no Go line table", path)
	}
	sort.Slice(s.funcs, func(i, j int) bool { return s.funcs[i].Addr < s.funcs[j].Addr })
	return s, nil
}

// Lookup returns the function containing addr. A symbol of size 0
// extends to the next symbol.
func (s *Symbols) Lookup(addr uint64) (Symbol, bool) {
	if s == nil {
		return Symbol{}, false
	}
	i := sort.Search(len(s.funcs), func(i int) bool { return s.funcs[i].Addr > addr }) - 1
	if i < 0 {
		return Symbol{}, false
	}
	sym := s.funcs[i]
	end := sym.Addr + sym.Size
	if sym.Size == 0 {
		end = s.text[1]
		if i+1 < len(s.funcs) {
			end = s.funcs[i+1].Addr
		}
	}
	if addr >= end {
		return Symbol{}, false
	}
	return sym, true
}

// Line returns the source position of pc from the Go line table, with
// the file shortened to its directory and name ("kern/trap.go").
func (s *Symbols) Line(pc uint64) (file string, line int, ok bool) {
	if s == nil || s.lines == nil {
		return "", 0, false
	}
	file, line, fn := s.lines.PCToLine(pc)
	if fn == nil || file == "" || line == 0 {
		return "", 0, false
	}
	return filepath.Join(filepath.Base(filepath.Dir(file)), filepath.Base(file)), line, true
}

// Describe names pc as "pkg.Func+0x1c (dir/file.go:123)", or returns ""
// if pc is in no function.
func (s *Symbols) Describe(pc uint64) string { return s.describe(pc, pc) }

// DescribeReturn is Describe for a return address: the line is that of
// the call before it.
func (s *Symbols) DescribeReturn(ret uint64) string { return s.describe(ret, ret-1) }

func (s *Symbols) describe(pc, linePC uint64) string {
	sym, ok := s.Lookup(pc)
	if !ok {
		return ""
	}
	d := fmt.Sprintf("%s+%#x", sym.Name, pc-sym.Addr)
	if file, line, ok := s.Line(linePC); ok {
		d += fmt.Sprintf(" (%s:%d)", file, line)
	}
	return d
}

// symname is an x86asm.SymLookup: the function containing addr and its
// start.
func (s *Symbols) symname(addr uint64) (string, uint64) {
	sym, ok := s.Lookup(addr)
	if !ok {
		return "", 0
	}
	return sym.Name, sym.Addr
}
