package kern

import (
	"sync"
	"sync/atomic"

	"github.com/smpgo/smpgo/apic"
	"github.com/smpgo/smpgo/arch/amd64"
)

// Application-processor start-up (Intel SDM vol. 3A §8.4.4.1: INIT, 10 ms,
// SIPI, 200 µs, SIPI), one AP at a time, before the Go runtime starts so
// that its CPU count includes every CPU that came up.
//
// The trampoline is 16-bit real-mode code copied to trampAddr (the SIPI
// vector is its page number). It goes directly to long mode with the boot
// page tables and jumps to apEntry (smp_amd64.s), which takes its stack and
// TLS from apStack/apTLS and calls apMain.
//
// An AP may start late: on a loaded host a virtual CPU's thread can wait
// longer than the BSP does (apTimeoutMs). Such an AP must not run the
// kernel's code: the BSP has given its stack and CPU slot to the next AP
// and, once every AP is started, made the trampoline page non-executable
// (apsStarted), so a late AP used to triple-fault the machine ("cpu 2 did
// not start within 200 ms", then QEMU exited). So the trampoline first
// claims its start, in real mode before it touches anything else: the
// word at trampWant holds the APIC id + 1 of the AP the BSP waits for,
// and the AP swaps it to 0 if it is its own (CPUID's initial APIC id);
// any other AP halts there for good. A BSP that gives up swaps the word
// to 0 itself: if that fails, the AP claimed its start in time and is
// running the kernel's code, and the BSP waits for it.
const (
	trampAddr   = 0x8000
	trampCR3    = 0xe0 // offset of the CR3 value (uint32)
	trampWant   = 0xe8 // offset of the claim word (uint32: APIC id + 1, or 0)
	trampTarget = 0xd8 // offset of the 64-bit entry address (uint64)
	trampGDT    = 0xb0
	trampGDTR   = 0xf0
	// apTimeoutMs bounds the wait for an AP to claim its start (Linux
	// waits 5 s for an AP's call-in): a CPU that never answers costs
	// that much boot time, and a late one is harmless (it halts), but a
	// virtual CPU's thread can go unscheduled for long on a loaded host
	// (200 ms was exceeded there: the CPU was lost).
	apTimeoutMs = 5000
	// apClaimedTimeoutMs bounds the wait for an AP that claimed its
	// start to reach its idle thread: it runs the kernel's code, so it
	// only fails to by a bug, which is reported, not waited on forever.
	apClaimedTimeoutMs = 60000
)

// trampoline is hand-assembled (offsets from trampAddr, DS = CS = 0x0800).
var trampoline = [...]byte{
	0xfa,       // 00 cli
	0xfc,       // 01 cld
	0x8c, 0xc8, // 02 mov ax, cs
	0x8e, 0xd8, // 04 mov ds, ax
	0x66, 0xb8, 0x01, 0x00, 0x00, 0x00, // 06 mov eax, 1
	0x0f, 0xa2, // 0c cpuid
	0x66, 0xc1, 0xeb, 0x18, // 0e shr ebx, 24 (the initial APIC id)
	0x66, 0x43, // 12 inc ebx
	0x66, 0x89, 0xd8, // 14 mov eax, ebx
	0x66, 0x31, 0xc9, // 17 xor ecx, ecx
	0xf0, 0x66, 0x0f, 0xb1, 0x0e, trampWant, 0x00, // 1a lock cmpxchg [trampWant], ecx
	0x75, 0x3f, // 21 jne 62 (not this AP's start: halt)
	0x0f, 0x01, 0x16, trampGDTR, 0x00, // 23 lgdt [trampGDTR]
	0x66, 0xb8, 0x20, 0x06, 0x00, 0x00, // 28 mov eax, 0x620 (PAE|OSFXSR|OSXMMEXCPT)
	0x0f, 0x22, 0xe0, // 2e mov cr4, eax
	0x66, 0xa1, trampCR3, 0x00, // 31 mov eax, [trampCR3]
	0x0f, 0x22, 0xd8, // 35 mov cr3, eax
	0x66, 0xb9, 0x80, 0x00, 0x00, 0xc0, // 38 mov ecx, IA32_EFER
	0x0f, 0x32, // 3e rdmsr
	0x66, 0x0d, 0x01, 0x09, 0x00, 0x00, // 40 or eax, SCE|LME|NXE
	0x0f, 0x30, // 46 wrmsr
	0x0f, 0x20, 0xc0, // 48 mov eax, cr0
	0x66, 0x0d, 0x03, 0x00, 0x01, 0x80, // 4b or eax, PG|WP|MP|PE
	0x66, 0x25, 0xf3, 0xff, 0xff, 0xff, // 51 and eax, ~(EM|TS)
	0x0f, 0x22, 0xc0, // 57 mov cr0, eax
	0x66, 0xea, 0x68, 0x80, 0x00, 0x00, 0x08, 0x00, // 5a jmp 0x08:trampAddr+0x68
	0xfa,       // 62 cli
	0xf4,       // 63 hlt
	0xeb, 0xfc, // 64 jmp 62
	0x90, 0x90, // 66 pad
	// 68: 64-bit mode
	0x48, 0x8b, 0x04, 0x25, trampTarget, 0x80, 0x00, 0x00, // mov rax, [trampAddr+trampTarget]
	0xff, 0xe0, // jmp rax
}

// The AP being started: read by apEntry (smp_amd64.s) and apMain.
var (
	//lint:ignore U1000 read by apEntry (smp_amd64.s)
	apStack uintptr // kernel stack top
	//lint:ignore U1000 read by apEntry (smp_amd64.s)
	apTLS     uintptr      // kernel FS base
	apIndex   int          // its CPU index
	apStarted atomic.Int32 // set by the AP when it runs Go code
	apFailed  [MaxCPU]bool
)

func apEntryAddr() uintptr

// cas32 is a compare-and-swap of the 32-bit word at physical (identity-
// mapped) address addr.
func cas32(addr uintptr, old, new uint32) bool

// startAPs starts every CPU of the MADT (scanMADT) other than this one.
func startAPs() {
	if madtCPUs <= 1 {
		return
	}
	t := uintptr(trampAddr)
	for i, b := range trampoline {
		amd64.Store8(t+uintptr(i), b)
	}
	// GDT: null, 64-bit code, data; GDTR limit 23 base trampAddr+trampGDT.
	amd64.Store64(t+trampGDT, 0)
	amd64.Store64(t+trampGDT+8, 0x00AF9B000000FFFF)
	amd64.Store64(t+trampGDT+16, 0x00CF93000000FFFF)
	amd64.Store8(t+trampGDTR, 23)
	amd64.Store8(t+trampGDTR+1, 0)
	amd64.Store32(t+trampGDTR+2, uint32(t+trampGDT))
	amd64.Store32(t+trampCR3, uint32(amd64.ReadCR3()))
	amd64.Store64(t+trampTarget, uint64(apEntryAddr()))

	me := apic.ID()
	for k := 0; k < madtCPUs; k++ {
		id := madtAPICIDs[k]
		if id == me {
			continue
		}
		if id > 255 {
			var l kline
			l.s("smp: cpu with x2APIC id ").u(uint64(id)).s(" skipped (xAPIC only)").nl().print()
			continue
		}
		i := ncpu
		prepareCPU(i)
		cpus[i].apicID = id
		apIndex, apStack, apTLS = i, cpus[i].kstackTop, cpus[i].ktls
		apStarted.Store(0)
		amd64.Store32(t+trampWant, id+1)
		apic.SendIPI(id, apic.ICR_DLV_INIT|apic.ICR_ASSERT|apic.ICR_LEVEL)
		udelay(10000)
		for try := 0; try < 2 && apStarted.Load() == 0; try++ {
			apic.SendIPI(id, apic.ICR_DLV_SIPI|apic.ICR_ASSERT|trampAddr>>12)
			udelay(200)
		}
		for w := 0; w < apTimeoutMs*10 && apStarted.Load() == 0 && amd64.Load32(t+trampWant) != 0; w++ {
			udelay(100)
		}
		if apStarted.Load() == 0 && cas32(t+trampWant, id+1, 0) {
			// Not claimed: if the AP comes now, it halts in the
			// trampoline.
			apFailed[i] = true
			var l kline
			l.s("smp: cpu ").d(int64(i)).s(" (apic ").u(uint64(id)).s(") did not start within ").d(apTimeoutMs).s(" ms; continuing without it").nl().print()
			continue
		}
		// Claimed: the AP runs the kernel's code on cpus[i].
		for w := 0; w < apClaimedTimeoutMs*10 && apStarted.Load() == 0; w++ {
			udelay(100)
		}
		if apStarted.Load() == 0 {
			var l kline
			l.s("smp: cpu ").d(int64(i)).s(" (apic ").u(uint64(id)).s(") started but did not reach its idle thread within ").d(apClaimedTimeoutMs).s(" ms").nl().print()
			Panic("kern.startAPs: an AP stuck in its start-up")
		}
		// The AP is now halted in its idle thread with interrupts on.
		ncpu++
	}
	if madtExtra > 0 {
		var l kline
		l.s("smp: ").d(int64(madtExtra)).s(" CPUs beyond MaxCPU ignored").nl().print()
	}
}

// apMain is the first Go code an AP runs, on its kernel stack.
//
//lint:ignore U1000 called from smp_amd64.s
func apMain() {
	i := apIndex
	loadCPU(i)
	apic.Init(vecSpurious)
	lockSched()
	idle := newIdleThreadLocked(i)
	cpus[i].idleIdx = int32(threadIndex(idle))
	switchLocked(&cpus[i], idle)
	unlockSched()
	idle.startNs = nanotime()
	startTick()
	apStarted.Store(1)
	resumeFirst()
}

// udelay busy-waits us microseconds on the calibrated TSC.
func udelay(us int64) {
	end := nanotime() + us*1000
	for nanotime() < end {
		amd64.Pause()
	}
}

// TLB shootdown. Unmapping code (vm) clears PTEs, then calls tlbShootdown
// before freeing the frames: every other CPU reloads CR3 and acknowledges
// by publishing the generation it has flushed to. Waiters (here and in
// spin-lock loops, through spin.OnSpin) service requests aimed at them, so
// two CPUs shooting at each other with interrupts off cannot deadlock.
var tlbGen atomic.Uint64

const vecTLB = 0xf1

func tlbShootdown() {
	c := curCPU()
	g := tlbGen.Add(1)
	amd64.WriteCR3(amd64.ReadCR3())
	c.tlbDone.Store(g)
	c.shootdowns++
	if ncpu == 1 {
		return
	}
	apic.SendIPI(0, apic.ICR_DLV_FIXED|apic.ICR_DST_OTHER|vecTLB)
	for i := 0; i < ncpu; i++ {
		o := &cpus[i]
		for o.online && o.tlbDone.Load() < g {
			servicePending()
			amd64.Pause()
		}
	}
}

// servicePending handles the cross-CPU requests a CPU must answer even
// while it spins with interrupts off.
//
// With interrupts enabled (a raw spin lock taken in goroutine context) it
// does nothing: the IPIs arrive as interrupts, and servicing a rendezvous
// here could be interrupted by the same IPI between the generation check
// and the join, joining it twice and corrupting the next one's counts.
func servicePending() {
	if amd64.Flags()&amd64.IF != 0 {
		return
	}
	serviceTLB()
	serviceRendezvous()
}

// serviceTLB flushes this CPU's TLB if a shootdown it has not seen is
// pending.
func serviceTLB() {
	c := curCPU()
	g := tlbGen.Load()
	if c.tlbDone.Load() < g {
		amd64.WriteCR3(amd64.ReadCR3())
		c.tlbDone.Store(g)
		c.tlbFlushes++
	}
}

// Rendezvous (FreeBSD's smp_rendezvous): run a function on every CPU at
// once, in trap context, and return when all have run it. Participants
// wait for each other before leaving, so the function sees every CPU
// inside the rendezvous. The function must be trap-safe (no allocation, no
// blocking, no growth of a goroutine stack).
//
// Initiators are serialised by rvMu in goroutine context; the protocol
// itself runs in the kernel (the private system call's opRendezvous), so
// no goroutine ever waits with interrupts off: such a goroutine could
// block (stack growth, a write barrier flush) and leave every CPU
// spinning. Every wait loop services TLB shootdowns, and spin-lock loops
// service a pending rendezvous (spin.OnSpin), so kernel code spinning
// with interrupts off cannot deadlock against an initiator.
const vecRendezvous = 0xf2

var (
	rvMu sync.Mutex // serialises initiators (goroutine context)
	rv   struct {
		fn      func(cpu int) // (rvMu) the function of the current rendezvous
		gen     atomic.Uint64
		arrived atomic.Int32
		left    atomic.Int32
		count   atomic.Uint64 // rendezvous completed
	}
)

// Rendezvous runs fn on every online CPU and waits for all.
func Rendezvous(fn func(cpu int)) {
	rvMu.Lock()
	rv.fn = fn
	rawSyscall(sysSmpgoDebug, opRendezvous, 0)
	rv.fn = nil
	rvMu.Unlock()
}

// rendezvousKernel is the initiator's side, in trap context.
func rendezvousKernel() {
	rv.arrived.Store(0)
	rv.left.Store(0)
	rv.gen.Add(1)
	if ncpu > 1 {
		apic.SendIPI(0, apic.ICR_DLV_FIXED|apic.ICR_DST_OTHER|vecRendezvous)
	}
	serviceRendezvous()
	for rv.left.Load() < int32(ncpu) {
		serviceTLB()
		amd64.Pause()
	}
	rv.count.Add(1)
}

// serviceRendezvous joins a pending rendezvous this CPU has not joined.
func serviceRendezvous() {
	c := curCPU()
	g := rv.gen.Load()
	if c.rvDone >= g {
		return
	}
	c.rvDone = g
	rv.fn(int(c.id))
	rv.arrived.Add(1)
	for rv.arrived.Load() < int32(ncpu) {
		serviceTLB()
		amd64.Pause()
	}
	rv.left.Add(1)
}
