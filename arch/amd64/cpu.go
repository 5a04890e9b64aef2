// Package amd64 holds the thin Go wrappers over x86-64 instructions that the
// kernel needs and Go cannot express: port I/O, model-specific registers,
// control registers, CPUID, the TSC, descriptor-table loads, TLB
// invalidation, HLT and friends (Intel SDM vol. 2, instruction reference;
// vol. 3A ch. 2 for the system registers).
//
// Every function is a NOSPLIT leaf written in cpu_amd64.s, safe to call from
// trap context and before the Go runtime has started. Addresses are passed as
// uintptr so no caller needs unsafe.Pointer arithmetic.
package amd64

// Defined in cpu_amd64.s.

// Inb reads a byte from an I/O port.
func Inb(port uint16) uint8

// Outb writes a byte to an I/O port.
func Outb(port uint16, val uint8)

// Inw reads a word from an I/O port.
func Inw(port uint16) uint16

// Outw writes a word to an I/O port.
func Outw(port uint16, val uint16)

// Inl reads a double word from an I/O port.
func Inl(port uint16) uint32

// Outl writes a double word to an I/O port.
func Outl(port uint16, val uint32)

// Rdmsr reads a model-specific register.
func Rdmsr(msr uint32) uint64

// Wrmsr writes a model-specific register.
func Wrmsr(msr uint32, val uint64)

// ReadCR0 returns CR0.
func ReadCR0() uint64

// WriteCR0 sets CR0.
func WriteCR0(v uint64)

// ReadCR2 returns CR2 (the last page-fault linear address).
func ReadCR2() uint64

// ReadCR3 returns CR3.
func ReadCR3() uint64

// WriteCR3 sets CR3, flushing non-global TLB entries.
func WriteCR3(v uint64)

// ReadCR4 returns CR4.
func ReadCR4() uint64

// WriteCR4 sets CR4.
func WriteCR4(v uint64)

// Cpuid executes CPUID with EAX=leaf, ECX=sub.
func Cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

// Rdtsc returns the time-stamp counter.
func Rdtsc() uint64

// Lgdt loads the GDT register from the 10-byte pseudo-descriptor at p.
func Lgdt(p uintptr)

// Lidt loads the IDT register from the 10-byte pseudo-descriptor at p.
func Lidt(p uintptr)

// Ltr loads the task register.
func Ltr(sel uint16)

// Invlpg invalidates the TLB entry of the page holding addr.
func Invlpg(addr uintptr)

// Hlt halts until the next interrupt.
func Hlt()

// Cli clears RFLAGS.IF.
func Cli()

// Sti sets RFLAGS.IF.
func Sti()

// Pause is the spin-loop hint.
func Pause()

// Flags returns RFLAGS.
func Flags() uint64

// Rdrand returns a hardware random number, ok false if the CPU has none
// ready (or no RDRAND at all: check CPUID first).
func Rdrand() (v uint64, ok bool)

// ZeroPage clears the 4 KiB page at addr (REP STOSQ).
func ZeroPage(addr uintptr)

// CopyPage copies the 4 KiB page at src to dst (REP MOVSQ).
func CopyPage(dst, src uintptr)

// Load64 reads the 64-bit word at addr.
func Load64(addr uintptr) uint64

// Store64 writes the 64-bit word at addr.
func Store64(addr uintptr, v uint64)

// Load32 reads the 32-bit word at addr.
func Load32(addr uintptr) uint32

// Store32 writes the 32-bit word at addr.
func Store32(addr uintptr, v uint32)

// Load16 reads the 16-bit word at addr (one access: device registers
// with 16-bit fields, e.g. virtio's common configuration).
func Load16(addr uintptr) uint16

// Store16 writes the 16-bit word at addr (one access).
func Store16(addr uintptr, v uint16)

// Load8 reads the byte at addr.
func Load8(addr uintptr) uint8

// Store8 writes the byte at addr.
func Store8(addr uintptr, v uint8)

// Memmove copies n bytes from src to dst (forward, non-overlapping or dst < src).
func Memmove(dst, src, n uintptr)

// IF is RFLAGS.IF (SDM vol. 1 §3.4.3).
const IF = 1 << 9

// Model-specific registers (SDM vol. 4).
const (
	IA32_APIC_BASE = 0x1b
	IA32_EFER      = 0xc0000080
	IA32_STAR      = 0xc0000081
	IA32_LSTAR     = 0xc0000082
	IA32_FMASK     = 0xc0000084
	IA32_FS_BASE   = 0xc0000100
	IA32_GS_BASE   = 0xc0000101
	IA32_KERNEL_GS = 0xc0000102
	IA32_TSC_AUX   = 0xc0000103
)

// EFER bits.
const (
	EFER_SCE = 1 << 0
	EFER_LME = 1 << 8
	EFER_NXE = 1 << 11
)
