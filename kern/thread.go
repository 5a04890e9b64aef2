package kern

import "unsafe"

// Frame is a thread's saved register state, in the order entry_amd64.s
// pushes it (the layout of Linux's pt_regs): general registers, then the
// vector and error code, then the hardware interrupt frame.
type Frame struct {
	R15, R14, R13, R12, RBP, RBX, R11, R10, R9, R8 uint64
	RAX, RCX, RDX, RSI, RDI                        uint64
	Vector, Error                                  uint64
	RIP, CS, RFLAGS, RSP, SS                       uint64
}

// vecSyscall marks a frame saved by the SYSCALL entry.
const vecSyscall = 256

// Thread states.
const (
	tFree = iota
	tRunnable
	tRunning
	tBlocked
	tDead
)

// Why a thread is blocked.
const (
	waitNone = iota
	waitFutex
	waitSleep
	waitEpoll
	waitRead
	waitPipeRead  // waitKey: pipe index
	waitPipeWrite // waitKey: pipe index
	waitExt       // waitKey: ext request slot (extfile.go)
)

// MaxThreads bounds the kernel threads (Go Ms plus idle threads).
const MaxThreads = 512

// Thread is a kernel thread: one Go runtime M (created by clone) or a CPU's
// idle thread. Frame must stay first (entry_amd64.s saves into it through
// CPU.cur). Pointer-free, in the BSS.
//
// Fields are (s) guarded by sched.lock, or (o) touched only by the CPU the
// thread runs on while it runs.
type Thread struct {
	Frame  Frame   // (o)
	fxp    uintptr // (c) 16-byte aligned FXSAVE area inside fxbuf
	fsbase uint64  // (o) IA32_FS_BASE (arch_prctl)

	state    int32 // (s)
	tid      int32 // (c)
	next     int32 // (s) run-queue link, -1 = none
	cpu      int32 // (s) CPU running it, or last ran on
	idle     bool  // (c) a CPU's idle thread
	waitFor  int32 // (s) waitFutex, ...
	waitKey  uintptr
	wakeAt   int64 // (s) deadline in ns of monotonic time, 0 = none
	timedOut bool  // (s)

	affinity uint64 // (s) CPUs it may run on (bit i = CPU i); 0 = any

	basePri int32   // (s) priority set for it (prio.go; lower is better)
	lendPri int32   // (s) best priority lent through turnstiles, priNone = none
	boundG  uint64  // (s) goroutine bound to it by SetPriority, 0 = none
	tsKey   uintptr // (s) turnstile (lock address) its goroutine waits on, 0 = none

	critNest       int32 // (o) critical-section nesting (kern.CriticalEnter)
	preemptPending int32 // (o) a tick deferred preemption during it
	critBlockWhy   int32 // (o) waitFor of a block inside a critical section, 0 = none
	critQuiet      int32 // (o) nesting of bookkeeping sections (CriticalEnterQuiet)

	sigmask  uint64     // (o) blocked signals (bit n-1 for signal n)
	pending  uint64     // (s) pending signals
	altSP    uint64     // (o) sigaltstack
	altSize  uint64     // (o)
	altFlags int32      // (o)
	sigAddr  [32]uint64 // (s) fault address per pending signal
	sigCode  [32]int32  // (s) si_code per pending signal

	syscalls uint64 // (o)
	runNs    int64  // (o) accumulated run time
	startNs  int64

	fxbuf [512 + 16]byte
}

var threads [MaxThreads]Thread

// pri returns t's effective priority: its own, or a better one lent to it.
func (t *Thread) pri() int32 {
	if t.lendPri < t.basePri {
		return t.lendPri
	}
	return t.basePri
}

func (t *Thread) addr() uintptr { return uintptr(unsafe.Pointer(t)) }

// initFX points fxp at the 16-byte aligned part of fxbuf and gives the
// thread the default FPU state (FCW 0x37F, MXCSR 0x1F80: all exceptions
// masked, round to nearest), as a new Linux thread would have.
func (t *Thread) initFX() {
	a := uintptr(unsafe.Pointer(&t.fxbuf))
	off := (16 - a%16) % 16
	t.fxp = a + off
	for i := range t.fxbuf {
		t.fxbuf[i] = 0
	}
	b := t.fxbuf[off:]
	b[0], b[1] = 0x7f, 0x03   // FCW
	b[24], b[25] = 0x80, 0x1f // MXCSR
	b[28], b[29] = 0xff, 0xff // MXCSR_MASK
}

// copyFX copies src's FPU/SSE state to t.
func (t *Thread) copyFX(src *Thread) {
	ao := t.fxp - uintptr(unsafe.Pointer(&t.fxbuf))
	bo := src.fxp - uintptr(unsafe.Pointer(&src.fxbuf))
	copy(t.fxbuf[ao:ao+512], src.fxbuf[bo:bo+512])
}

// fx returns the 512-byte FXSAVE image.
func (t *Thread) fx() []byte {
	o := t.fxp - uintptr(unsafe.Pointer(&t.fxbuf))
	return t.fxbuf[o : o+512]
}

// threadIndex returns the index of thread t.
func threadIndex(t *Thread) int { return threadIndexOf(uintptr(unsafe.Pointer(t))) }

// threadIndexOf returns the index of the thread at address a.
//
//go:nosplit
func threadIndexOf(a uintptr) int {
	return int((a - uintptr(unsafe.Pointer(&threads[0]))) / unsafe.Sizeof(threads[0]))
}
