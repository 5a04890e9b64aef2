package kern

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Signals, as the Go runtime sees them on Linux/amd64: rt_sigaction,
// rt_sigprocmask, sigaltstack, tgkill, and delivery through an rt_sigframe
// (arch/x86/kernel/signal.c layout) whose return runs rt_sigreturn.
const (
	SIGHUP   = 1
	SIGINT   = 2
	SIGQUIT  = 3
	SIGILL   = 4
	SIGTRAP  = 5
	SIGABRT  = 6
	SIGBUS   = 7
	SIGFPE   = 8
	SIGKILL  = 9
	SIGSEGV  = 11
	SIGPIPE  = 13
	SIGTERM  = 15
	SIGCHLD  = 17
	SIGSTOP  = 19
	SIGURG   = 23
	SIGWINCH = 28
	SIGPROF  = 27
	nsig     = 64

	saSIGINFO   = 0x4
	saONSTACK   = 0x08000000
	saRESTORER  = 0x04000000
	saNODEFER   = 0x40000000
	saRESETHAND = 0x80000000

	ssONSTACK = 1
	ssDISABLE = 2

	siUSER     = 0
	siKERNEL   = 0x80
	siTKILL    = -6
	segvMAPERR = 1
	segvACCERR = 2
	fpeINTDIV  = 1
	illILLOPN  = 2
	trapBRKPT  = 1

	sigDFL = 0
	sigIGN = 1

	// rt_sigframe: pretcode(8) + ucontext(304) + siginfo(128).
	ucOff      = 8
	mctxOff    = ucOff + 40
	sigmaskOff = ucOff + 296
	infoOff    = ucOff + 304
	frameSize  = infoOff + 128
	fpSize     = 512
)

type sigaction struct {
	handler, flags, restorer, mask uint64
}

// sigDelivered counts signal frames built, per signal (approximate across
// CPUs: plain increments).
var sigDelivered [nsig + 1]uint64

// sigactions is the process's signal disposition table, guarded by sched.lock.
var sigactions [nsig + 1]sigaction

func sigbit(sig int) uint64 { return 1 << uint(sig-1) }

const unblockable = 1<<(SIGKILL-1) | 1<<(SIGSTOP-1)

// postSignalLocked marks sig pending on t, with its siginfo code and
// address; a thread running on another CPU is interrupted so it sees it.
func postSignalLocked(t *Thread, sig int, code int32, addr uint64) {
	t.pending |= sigbit(sig)
	if sig < len(t.sigCode) {
		t.sigCode[sig] = code
		t.sigAddr[sig] = addr
	}
	if t.state == tRunning && int(t.cpu) != thisCPU() {
		apicIPI(int(t.cpu), vecResched)
	}
}

// forceSignal delivers a synchronous fault signal to the current thread. As
// on Linux, a blocked or ignored fault signal kills the process.
func forceSignal(c *CPU, t *Thread, sig int, code int32, addr uint64) {
	lockSched()
	act := sigactions[sig]
	unlockSched()
	if t.sigmask&sigbit(sig) != 0 || act.handler == sigIGN || act.handler == sigDFL {
		fatalSignal(c, t, sig, addr)
		return
	}
	lockSched()
	postSignalLocked(t, sig, code, addr)
	unlockSched()
}

// deliverSignals builds a signal frame for the lowest pending, unblocked
// signal of t (the thread about to run on c).
func deliverSignals(c *CPU, t *Thread) {
	lockSched()
	ready := t.pending &^ t.sigmask
	if ready == 0 {
		unlockSched()
		return
	}
	sig := 1
	for ready&1 == 0 {
		ready >>= 1
		sig++
	}
	t.pending &^= sigbit(sig)
	act := sigactions[sig]
	var code int32
	var addr uint64
	if sig < len(t.sigCode) {
		code, addr = t.sigCode[sig], t.sigAddr[sig]
	}
	unlockSched()

	switch act.handler {
	case sigIGN:
		return
	case sigDFL:
		switch sig {
		case SIGURG, SIGCHLD, SIGWINCH:
			return
		}
		fatalSignal(c, t, sig, addr)
		return
	}
	if !buildSigframe(t, sig, code, addr, &act) {
		fatalSignal(c, t, SIGSEGV, addr)
	}
}

func onAltStack(t *Thread, sp uint64) bool {
	return t.altSize != 0 && sp > t.altSP && sp <= t.altSP+t.altSize
}

// buildSigframe pushes an rt_sigframe and redirects t to the handler.
func buildSigframe(t *Thread, sig int, code int32, addr uint64, act *sigaction) bool {
	f := &t.Frame
	sp := f.RSP
	onAlt := onAltStack(t, sp)
	if act.flags&saONSTACK != 0 && t.altSize != 0 && t.altFlags&ssDISABLE == 0 && !onAlt {
		sp = t.altSP + t.altSize
	} else {
		sp -= 128 // red zone
	}
	sp -= fpSize
	sp &^= 63
	fp := sp
	sp -= frameSize
	sp = sp&^15 - 8
	if !vm.Ensure(uintptr(sp), uintptr(fp+fpSize-sp)) {
		return false
	}
	b := uintptr(sp)
	for o := uintptr(0); o < frameSize; o += 8 {
		amd64.Store64(b+o, 0)
	}
	amd64.Store64(b, act.restorer)
	// ucontext: uc_flags, uc_link, uc_stack{ss_sp, ss_flags, ss_size}.
	amd64.Store64(b+ucOff+16, t.altSP)
	ssFlags := uint64(ssDISABLE)
	if t.altSize != 0 {
		ssFlags = 0
		if onAltStack(t, sp) {
			ssFlags = ssONSTACK
		}
	}
	amd64.Store64(b+ucOff+24, ssFlags)
	amd64.Store64(b+ucOff+32, t.altSize)
	// sigcontext: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip,
	// eflags, cs/gs/fs/ss, err, trapno, oldmask, cr2, fpstate.
	m := b + mctxOff
	regs := [...]uint64{f.R8, f.R9, f.R10, f.R11, f.R12, f.R13, f.R14, f.R15,
		f.RDI, f.RSI, f.RBP, f.RBX, f.RDX, f.RAX, f.RCX, f.RSP, f.RIP, f.RFLAGS,
		f.CS | f.SS<<48, f.Error, f.Vector, t.sigmask, addr, fp}
	for i, r := range regs {
		amd64.Store64(m+uintptr(i)*8, r)
	}
	amd64.Store64(b+sigmaskOff, t.sigmask)
	// siginfo: signo, errno, code, then the union at +16.
	in := b + infoOff
	amd64.Store32(in, uint32(sig))
	amd64.Store32(in+8, uint32(code))
	if code == siTKILL || code == siUSER {
		amd64.Store32(in+16, 1) // si_pid
	} else {
		amd64.Store64(in+16, addr) // si_addr
	}
	fx := t.fx()
	for i := 0; i < fpSize; i += 8 {
		amd64.Store64(uintptr(fp)+uintptr(i), le64(fx[i:]))
	}
	// The handler starts with a clean FPU state, as on Linux.
	t.initFX()

	sigDelivered[sig]++
	f.RSP = sp
	f.RIP = act.handler
	f.RDI = uint64(sig)
	f.RSI = uint64(in)
	f.RDX = uint64(b + ucOff)
	f.RAX = 0
	f.RFLAGS &^= 1<<8 | 1<<10 // TF, DF
	t.sigmask |= act.mask
	if act.flags&saNODEFER == 0 {
		t.sigmask |= sigbit(sig)
	}
	t.sigmask &^= unblockable
	if act.flags&saRESETHAND != 0 {
		lockSched()
		sigactions[sig].handler = sigDFL
		unlockSched()
	}
	return true
}

// sigreturn restores the state saved by buildSigframe (rt_sigreturn).
func sigreturn(c *CPU, t *Thread) {
	f := &t.Frame
	uc := uintptr(f.RSP)
	b := uc - ucOff
	if !vm.Ensure(b, frameSize) {
		fatalSignal(c, t, SIGSEGV, uint64(uc))
		return
	}
	m := b + mctxOff
	var r [24]uint64
	for i := range r {
		r[i] = amd64.Load64(m + uintptr(i)*8)
	}
	f.R8, f.R9, f.R10, f.R11, f.R12, f.R13, f.R14, f.R15 = r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
	f.RDI, f.RSI, f.RBP, f.RBX, f.RDX, f.RAX, f.RCX, f.RSP, f.RIP = r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15], r[16]
	// Flags the thread may set: CF PF AF ZF SF TF DF OF, AC, ID; IF as saved.
	const userFlags = 0xdd5 | 1<<18 | 1<<21 | 1<<9
	f.RFLAGS = r[17]&userFlags | 2
	f.CS, f.SS = 0x08, 0x10
	if fp := uintptr(r[23]); fp != 0 && vm.Ensure(fp, fpSize) {
		fx := t.fx()
		for i := 0; i < fpSize; i += 8 {
			put64(fx[i:], amd64.Load64(fp+uintptr(i)))
		}
		// MXCSR must not have reserved bits set, or FXRSTOR faults.
		fx[26], fx[27] = fx[26]&0xff, 0
	}
	t.sigmask = amd64.Load64(b+sigmaskOff) &^ unblockable
}

// fatalSignal ends the process as Linux's default action would.
func fatalSignal(c *CPU, t *Thread, sig int, addr uint64) {
	var l kline
	l.s("kern: thread ").d(int64(t.tid)).s(" killed by signal ").d(int64(sig)).s(" at rip ").x(t.Frame.RIP).s(" addr ").x(addr).nl().print()
	shutdown(0x40 | sig)
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func put64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}
