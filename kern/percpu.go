package kern

import (
	"sync/atomic"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
)

// MaxCPU bounds the CPUs the kernel brings up.
const MaxCPU = 32

const (
	kstackSize = 64 << 10
	istSize    = 16 << 10
	nIST       = 4 // 1: all vectors, 2: #DF, 3: NMI, 4: #MC
)

// CPU is the per-CPU data; GS base points at it. Offsets of the first
// fields are used by entry_amd64.s through go_asm.h (CPU_cur etc.).
//
// Fields are (c) constant after bring-up or (p) touched only by this CPU
// with interrupts off. The struct is pointer-free: it lives outside the
// Go heap's view and is written from trap context.
type CPU struct {
	self      uintptr // (c) address of this CPU struct
	cur       uintptr // (p) address of the current Thread
	kstackTop uintptr // (c)
	scratch   uintptr // (p) RSP saved at SYSCALL entry
	ktls      uintptr // (c) FS base while in the kernel
	inKernel  uint64  // (p) 1 while kernel code runs: a fault then is a kernel panic
	id        uint64  // (c)
	panicking uint64  // (p)

	curIdx  int32 // (p) index of the current thread
	idleIdx int32 // (c) this CPU's idle thread
	online  bool  // (c)
	apicID  uint32

	// kg is the fake g read through FS:-8 by Go prologues in trap context:
	// stack.lo, stack.hi, stackguard0, stackguard1 (runtime2.go). The
	// guards are set low so the check never fails; an overflow runs into
	// the unmapped guard page below the stack instead (stacks.go).
	kg       [16]uintptr
	ktlsSlot [2]uintptr

	tlbDone    atomic.Uint64 // (a) last shootdown generation flushed
	rvDone     uint64        // (p) last rendezvous generation joined
	shootdowns uint64        // (p) shootdowns initiated
	tlbFlushes uint64        // (p) flushes done for others

	kicks     uint64            // (s) reschedule IPIs sent to it
	ipis      [nIPITypes]uint64 // (p) IPIs received, by type (vecResched + i)
	ticks     uint64            // (p) timer interrupts taken
	syscalls  uint64            // (p)
	switches  uint64            // (p) thread switches
	idleTicks uint64            // (p)

	needResched  bool   // (s) a thread better than cur became runnable for it (checked at trap exit)
	prioPreempts uint64 // (p) running threads preempted for a better one

	gdt  [6]uint64
	tss  [26]uint32
	gdtr [10]byte
	idtr [10]byte
}

var (
	cpus [MaxCPU]CPU
	ncpu int
	idt  [256][2]uint64
)

// thisCPU returns this CPU's index (GS:CPU_id).
func thisCPU() int

func curCPU() *CPU { return &cpus[thisCPU()] }

// NumCPU returns the number of CPUs online.
func NumCPU() int { return ncpu }

// CPUID returns the index of the CPU the caller runs on (it may move at
// once unless pinned).
func CPUID() int { return thisCPU() }

// initCPU prepares and loads CPU i (the bootstrap processor).
func initCPU(i int) {
	prepareCPU(i)
	loadCPU(i)
}

// prepareCPU fills CPU i's descriptor tables, stacks and fake g; any CPU
// may do it (the BSP does it for an AP before starting it).
func prepareCPU(i int) {
	c := &cpus[i]
	c.self = uintptr(unsafe.Pointer(c))
	c.id = uint64(i)
	// Until the CPU first resumes a thread it runs kernel code: a fault
	// then must take the kernel-panic path, not save into a thread.
	c.inKernel = 1
	lo, hi := stackBounds(stackKernel, i)
	c.kstackTop = hi
	c.kg[0] = lo
	c.kg[1] = c.kstackTop
	c.kg[2] = 4096 // stackguard0: never above SP (see kg)
	c.kg[3] = 4096
	c.ktlsSlot[0] = uintptr(unsafe.Pointer(&c.kg))
	c.ktls = uintptr(unsafe.Pointer(&c.ktlsSlot[1]))

	// GDT: null, code64 0x08, data 0x10, TSS 0x18 (16 bytes).
	c.gdt[1] = 0x00AF9B000000FFFF
	c.gdt[2] = 0x00CF93000000FFFF
	tss := uintptr(unsafe.Pointer(&c.tss))
	c.gdt[3] = 103 | uint64(tss&0xFFFFFF)<<16 | 0x89<<40 | uint64(tss>>24&0xFF)<<56
	c.gdt[4] = uint64(tss >> 32)
	for k := 0; k < nIST; k++ {
		_, hi := stackBounds(stackIST, i*nIST+k)
		top := uint64(hi)
		// IST k+1 at byte offset 36+8k: dwords 9+2k, 10+2k.
		c.tss[9+2*k] = uint32(top)
		c.tss[10+2*k] = uint32(top >> 32)
	}
	c.tss[25] = 104 << 16 // I/O map base beyond the limit: no bitmap
	putDesc(&c.gdtr, uint16(len(c.gdt)*8-1), uintptr(unsafe.Pointer(&c.gdt)))
	putDesc(&c.idtr, uint16(len(idt)*16-1), uintptr(unsafe.Pointer(&idt)))
}

// loadCPU loads CPU i's tables, GS base and SYSCALL MSRs, on CPU i.
func loadCPU(i int) {
	c := &cpus[i]
	loadDescriptors(uintptr(unsafe.Pointer(&c.gdtr)), uintptr(unsafe.Pointer(&c.idtr)))
	initPaging()

	amd64.Wrmsr(amd64.IA32_GS_BASE, uint64(c.self))
	amd64.Wrmsr(amd64.IA32_STAR, 0x08<<32|0x10<<48)
	amd64.Wrmsr(amd64.IA32_LSTAR, uint64(syscallEntryAddr()))
	// Mask TF, IF, DF, IOPL, NT, AC on SYSCALL, as Linux does.
	amd64.Wrmsr(amd64.IA32_FMASK, 0x47700)
	c.online = true
}

func putDesc(d *[10]byte, limit uint16, base uintptr) {
	d[0], d[1] = byte(limit), byte(limit>>8)
	for k := 0; k < 8; k++ {
		d[2+k] = byte(base >> (8 * k))
	}
}

// initIDT fills the shared IDT: interrupt gates (IF cleared on entry) on
// IST1, with #DF, NMI and #MC on their own stacks.
func initIDT() {
	for v := 0; v < 256; v++ {
		h := uint64(vectorAddr(v))
		istIdx := uint64(1)
		switch v {
		case 8:
			istIdx = 2
		case 2:
			istIdx = 3
		case 18:
			istIdx = 4
		}
		idt[v][0] = h&0xFFFF | 0x08<<16 | istIdx<<32 | 0x8E<<40 | (h>>16&0xFFFF)<<48
		idt[v][1] = h >> 32
	}
}

// Defined in entry_amd64.s.
func syscallEntryAddr() uintptr
func vectorAddr(v int) uintptr

// loadDescriptors loads GDTR, reloads the segment registers, IDTR and TR.
func loadDescriptors(gdtr, idtr uintptr)
