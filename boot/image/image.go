// Package image builds the bootable kernel image from the kernel ELF: a
// header page holding the Multiboot 1 header (Multiboot Specification
// 0.6.96 §3.1, with the a.out kludge of flag bit 16) for QEMU's -kernel,
// then the Multiboot2 header (Multiboot2 Specification §3.1, with the
// address and entry tags: the same flat layout) for GRUB's multiboot2
// command on BIOS and UEFI machines, followed by the flat image of the
// PT_LOAD segments. The header page is loaded just below the lowest
// segment. The rest of the header page is the 32-bit entry's stack
// (boot/entry_amd64.s): it is the one page the loader is sure to have
// placed where the kernel expects it.
package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/smpgo/smpgo/boot/multiboot"
)

// Multiboot 1 header fields.
const (
	Magic      = 0x1BADB002
	FlagAlign  = 1 << 0  // modules page-aligned
	FlagMemory = 1 << 1  // memory map wanted
	FlagAddr   = 1 << 16 // a.out kludge: address fields valid
	HeaderPage = 4096

	// Header2Offset is where the Multiboot2 header starts in the header
	// page: after the 32-byte Multiboot 1 header, 8-byte aligned.
	Header2Offset = 32
)

// Info describes a built image.
type Info struct {
	LoadAddr, LoadEnd, BSSEnd, Entry uint64
}

// Build converts a 64-bit ELF into the image.
func Build(elfBytes []byte) ([]byte, Info, error) {
	f, err := elf.NewFile(bytes.NewReader(elfBytes))
	if err != nil {
		return nil, Info{}, fmt.Errorf("image: %w", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, Info{}, errors.New("image: not an x86-64 ELF")
	}
	var lo, fileEnd, memEnd uint64
	lo = ^uint64(0)
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		lo = min(lo, p.Vaddr)
		fileEnd = max(fileEnd, p.Vaddr+p.Filesz)
		memEnd = max(memEnd, p.Vaddr+p.Memsz)
	}
	if lo == ^uint64(0) {
		return nil, Info{}, errors.New("image: no PT_LOAD segment")
	}
	if lo%HeaderPage != 0 || lo < HeaderPage {
		return nil, Info{}, fmt.Errorf("image: lowest segment %#x not page-aligned", lo)
	}
	if memEnd > 1<<32 {
		return nil, Info{}, fmt.Errorf("image: kernel ends at %#x, above 4 GiB", memEnd)
	}
	if f.Entry < lo || f.Entry >= fileEnd {
		return nil, Info{}, fmt.Errorf("image: entry %#x outside the loaded image", f.Entry)
	}
	load := lo - HeaderPage
	img := make([]byte, HeaderPage+(fileEnd-lo))
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Filesz == 0 {
			continue
		}
		off := HeaderPage + (p.Vaddr - lo)
		if _, err := p.ReadAt(img[off:off+p.Filesz], 0); err != nil {
			return nil, Info{}, fmt.Errorf("image: segment at %#x: %w", p.Vaddr, err)
		}
	}
	if err := rewriteOwner(f, img[HeaderPage:], lo); err != nil {
		return nil, Info{}, err
	}
	info := Info{LoadAddr: load, LoadEnd: load + uint64(len(img)), BSSEnd: memEnd, Entry: f.Entry}
	flags := uint32(FlagAlign | FlagMemory | FlagAddr)
	h := []uint32{
		Magic, flags, -(Magic + flags),
		uint32(load),         // header_addr: the header is at the start of the page
		uint32(load),         // load_addr
		uint32(info.LoadEnd), // load_end_addr
		uint32(info.BSSEnd),  // bss_end_addr: the loader zeroes up to here
		uint32(info.Entry),   // entry_addr
	}
	for i, v := range h {
		binary.LittleEndian.PutUint32(img[i*4:], v)
	}
	h2 := multiboot.Header2(multiboot.Layout{
		HeaderAddr: uint32(load + Header2Offset),
		LoadAddr:   uint32(load),
		LoadEnd:    uint32(info.LoadEnd),
		BSSEnd:     uint32(info.BSSEnd),
		Entry:      uint32(info.Entry),
	}, &multiboot.FramebufferPref{})
	if Header2Offset+len(h2) > HeaderPage/2 {
		return nil, Info{}, fmt.Errorf("image: multiboot2 header of %d bytes leaves no stack in the header page", len(h2))
	}
	copy(img[Header2Offset:], h2)
	return img, info, nil
}

// Header finds and decodes the Multiboot 1 header in the first 8 KiB of an
// image (what a loader does), for tests and diagnostics.
func Header(img []byte) (flags uint32, info Info, err error) {
	for off := 0; off+32 <= len(img) && off < 8192; off += 4 {
		if binary.LittleEndian.Uint32(img[off:]) != Magic {
			continue
		}
		le := func(i int) uint32 { return binary.LittleEndian.Uint32(img[off+4*i:]) }
		if le(0)+le(1)+le(2) != 0 {
			return 0, Info{}, errors.New("image: bad multiboot checksum")
		}
		return le(1), Info{LoadAddr: uint64(le(4)), LoadEnd: uint64(le(5)), BSSEnd: uint64(le(6)), Entry: uint64(le(7))}, nil
	}
	return 0, Info{}, errors.New("image: no multiboot header in the first 8 KiB")
}
