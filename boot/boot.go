// Package boot owns the machine's first instructions: the multiboot entry
// point in 32-bit protected mode, the early identity-mapped page tables and
// GDT, the switch to 64-bit long mode, and the hand-over to the kernel's Go
// start-up code (kern.Boot), which later enters the stock Go runtime.
//
// References: Multiboot Specification 0.6.96 §3.1 (header, machine state);
// Multiboot2 Specification 2.0 §3.3 (machine state), §3.6 (boot information);
// Intel SDM vol. 3A §9.8.5 (initialising IA-32e mode), §4.5 (4-level paging).
//
// The entry code lives in entry_amd64.s. It runs before paging, with no
// usable RIP-relative addressing, so it only uses the fixed physical
// addresses declared here and instructions that encode identically in
// 32-bit and 64-bit mode (no REX prefixes): check with `go tool objdump`.
package boot

import (
	"unsafe"

	"github.com/smpgo/smpgo/boot/multiboot"
	"github.com/smpgo/smpgo/kern"
)

// Fixed physical addresses used by the 32-bit entry code (1 MiB..1.1 MiB,
// which no boot loader or firmware uses once it has handed over).
//
//lint:ignore U1000 used by entry_amd64.s through go_asm.h
const (
	earlyPML4  = 0x100000 // level-4 table
	earlyPDPT  = 0x101000 // level-3 table for the first 512 GiB
	earlyPD    = 0x102000 // 4 level-2 tables: 4 GiB identity-mapped with 2 MiB pages
	earlyGDT   = 0x106000 // null, code64 (0x08), data (0x10)
	earlyGDTR  = 0x106100 // pseudo-descriptor for LGDT
	earlyMagic = 0x106200 // multiboot magic (EAX at entry)
	earlyInfo  = 0x106208 // multiboot information address (EBX at entry)
	earlySP32  = 0xfff000 // 32-bit stack top: end of the image's header page (boot/image), for the getPC calls only

	earlyStackSize = 64 << 10
	mb2InfoSize    = 64 << 10
)

// mb2Info receives the multiboot2 boot information from entry32, which
// copies it there before the early page tables can overwrite it: the
// kernel then reads it at leisure, and the loader's copy is free memory.
//
//lint:ignore U1000 written by entry_amd64.s
var mb2Info [mb2InfoSize]byte

// earlyStack is the bootstrap processor's stack from long-mode entry until
// kern.Boot hands the CPU to the first thread.
//
//lint:ignore U1000 used by entry_amd64.s
var earlyStack [earlyStackSize]byte

// earlyG is the fake goroutine descriptor read through FS:-8 by the Go
// function prologues while no runtime exists: only stack.lo, stack.hi and
// stackguard0/1 are ever read. See kern/percpu.go for the same scheme per CPU.
//
//lint:ignore U1000 used by entry_amd64.s
var earlyG [16]uintptr

// earlyTLS is the TLS block: FS base points at earlyTLS[1], so FS:-8 is
// earlyTLS[0] = &earlyG.
//
//lint:ignore U1000 used by entry_amd64.s
var earlyTLS [2]uintptr

// entry32 is the multiboot entry point (entry_amd64.s); named by the
// linker's -E flag.
//
//lint:ignore U1000 the ELF entry point (linker -E)
func entry32()

// start64 runs on earlyStack in 64-bit mode with FS set up for Go code.
// It never returns: kern.Boot ends by resuming the first thread.
//
//go:nosplit
//lint:ignore U1000 called from entry_amd64.s
func start64() {
	lo, hi := earlyStackBounds()
	magic, info := uintptr(load32(earlyMagic)), uintptr(load32(earlyInfo))
	// The multiboot2 information is handed over as the copy entry32
	// made; an information too large to copy (mb2 nil) is refused by
	// kern.Boot with a message.
	var mb2 []byte
	if magic == multiboot.BootMagic2 && info == uintptr(unsafe.Pointer(&mb2Info)) {
		mb2 = mb2Info[:]
	}
	kern.Boot(magic, info, mb2, lo, hi)
}
