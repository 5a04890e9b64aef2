package kern

import (
	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Linux errno values returned (negated) by system calls.
const (
	EPERM     = 1
	ENOENT    = 2
	EINTR     = 4
	EBADF     = 9
	EAGAIN    = 11
	ENOMEM    = 12
	EFAULT    = 14
	EINVAL    = 22
	EMFILE    = 24
	ENOSYS    = 38
	ETIMEDOUT = 110
)

// System call numbers (arch/x86/entry/syscalls/syscall_64.tbl) of the
// runtime personality: exactly the calls of
// shared/reference/go1.26.8-hello-strace.txt plus their close relatives.
const (
	sysRead             = 0
	sysWrite            = 1
	sysClose            = 3
	sysLseek            = 8
	sysMmap             = 9
	sysMunmap           = 11
	sysRtSigaction      = 13
	sysRtSigprocmask    = 14
	sysRtSigreturn      = 15
	sysPread64          = 17
	sysPwrite64         = 18
	sysPipe             = 22
	sysSchedYield       = 24
	sysMadvise          = 28
	sysNanosleep        = 35
	sysGetpid           = 39
	sysClone            = 56
	sysExit             = 60
	sysKill             = 62
	sysFcntl            = 72
	sysGetuid           = 102
	sysGetgid           = 104
	sysGeteuid          = 107
	sysGetegid          = 108
	sysGetppid          = 110
	sysUmask            = 95
	sysSigaltstack      = 131
	sysPrctl            = 157
	sysArchPrctl        = 158
	sysGettid           = 186
	sysTkill            = 200
	sysFutex            = 202
	sysSchedSetaffinity = 203
	sysSchedGetaffinity = 204
	sysClockGettime     = 228
	sysExitGroup        = 231
	sysEpollCtl         = 233
	sysTgkill           = 234
	sysOpenat           = 257
	sysEpollPwait       = 281
	sysEventfd2         = 290
	sysEpollCreate1     = 291
	sysPipe2            = 293
	sysPrlimit64        = 302
	sysGetrandom        = 318
	nSyscalls           = 512
)

// syscallNames names the calls for the unknown-call report and the shell's
// `syscalls` command.
var syscallNames = [...]string{
	0: "read", 1: "write", 2: "open", 3: "close", 4: "stat", 5: "fstat", 7: "poll",
	8: "lseek", 9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk", 13: "rt_sigaction",
	14: "rt_sigprocmask", 15: "rt_sigreturn", 16: "ioctl", 17: "pread64", 20: "writev",
	21: "access", 22: "pipe", 24: "sched_yield", 25: "mremap", 27: "mincore", 28: "madvise",
	32: "dup", 33: "dup2", 35: "nanosleep", 39: "getpid", 41: "socket", 56: "clone",
	57: "fork", 59: "execve", 60: "exit", 61: "wait4", 62: "kill", 63: "uname",
	72: "fcntl", 89: "readlink", 96: "gettimeofday", 97: "getrlimit", 102: "getuid",
	131: "sigaltstack", 157: "prctl", 158: "arch_prctl", 186: "gettid", 200: "tkill",
	201: "time", 202: "futex", 203: "sched_setaffinity", 204: "sched_getaffinity",
	213: "epoll_create", 217: "getdents64", 228: "clock_gettime", 230: "clock_nanosleep",
	231: "exit_group", 232: "epoll_wait", 233: "epoll_ctl", 234: "tgkill", 257: "openat",
	262: "newfstatat", 270: "pselect6", 281: "epoll_pwait", 284: "eventfd", 290: "eventfd2",
	291: "epoll_create1", 292: "dup3", 293: "pipe2", 302: "prlimit64", 318: "getrandom", 324: "membarrier",
	334: "rseq", 435: "clone3", 42: "connect", 43: "accept", 44: "sendto", 45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 48: "shutdown", 49: "bind", 50: "listen", 51: "getsockname", 52: "getpeername", 53: "socketpair", 54: "setsockopt", 55: "getsockopt", 18: "pwrite64", 19: "readv", 258: "mkdirat", 263: "unlinkat", 264: "renameat", 288: "accept4", 77: "ftruncate", 74: "fsync",
}

// SyscallName returns the name of system call nr, or "".
func SyscallName(nr int) string {
	if nr >= 0 && nr < len(syscallNames) {
		return syscallNames[nr]
	}
	return ""
}

// syscallCount counts calls per number (approximate across CPUs: plain
// increments in trap context); unknownCount counts -ENOSYS answers.
var (
	syscallCount [nSyscalls]uint64
	unknownCount [nSyscalls]uint64
	unknownOther uint64
)

// SyscallCounts copies the per-call counters.
func SyscallCounts() (calls, unknown [nSyscalls]uint64) { return syscallCount, unknownCount }

// doSyscall dispatches the system call saved in t's frame: number in RAX,
// arguments in RDI, RSI, RDX, R10, R8, R9; the result goes back in RAX
// unless the thread blocked (its waker sets RAX) or the call rewrote the
// frame (rt_sigreturn, exit).
func doSyscall(c *CPU, t *Thread) {
	f := &t.Frame
	nr := f.RAX
	a0, a1, a2, a3, a4 := f.RDI, f.RSI, f.RDX, f.R10, f.R8
	if nr < nSyscalls {
		syscallCount[nr]++
	}
	if r, ok := extRoute(c, t, nr); ok {
		if r != blocked {
			f.RAX = uint64(r)
		}
		return
	}
	var r int64
	switch nr {
	case sysWrite:
		r = sysWriteFd(c, int(a0), uintptr(a1), uintptr(a2))
		if r == blocked {
			return
		}
	case sysRead:
		r = sysReadFd(c, int(a0), uintptr(a1), uintptr(a2))
		if r == blocked {
			return
		}
	case sysClose:
		r = closeFd(int(a0))
	case sysPread64, sysLseek, sysPwrite64:
		// Files are the providers' (extfile.go); what reaches here is
		// the console, a pipe end or the runtime's eventfd/epoll: none
		// has an offset (Linux: ESPIPE).
		r = espipe(int(a0))
	case sysOpenat:
		r = -ENOENT // no file system: the runtime falls back to defaults
	case sysMmap:
		r = sysMmapCall(uintptr(a0), uintptr(a1), a2, a3, int64(a4))
	case sysMunmap:
		r = 0
		if vm.Release(uintptr(a0), uintptr(a1)) != nil {
			r = -EINVAL
		}
	case sysMadvise:
		r = 0
		switch a2 {
		case 4, 8: // MADV_DONTNEED, MADV_FREE: must read back as zero
			vm.Discard(uintptr(a0), uintptr(a1))
		}
	case sysArchPrctl:
		r = -EINVAL
		switch a0 {
		case 0x1002: // ARCH_SET_FS
			t.fsbase = a1
			r = 0
		case 0x1003: // ARCH_GET_FS
			r = -EFAULT
			if vm.Ensure(uintptr(a1), 8) {
				amd64.Store64(uintptr(a1), t.fsbase)
				r = 0
			}
		}
	case sysPrctl:
		r = -EINVAL
	case sysUname:
		r = sysUnameCall(uintptr(a0))
	case sysGetuid, sysGeteuid, sysGetgid, sysGetegid:
		// The one program owns the machine: root, as init is on
		// Linux. What needs more than the calls served (chown, raw
		// sockets) still fails with the call's own error.
		r = 0
	case sysGetppid:
		r = 0 // no parent process: the kernel started it
	case sysUmask:
		r = int64(umask.Swap(uint32(a0) & 0o777))
	case sysGettid:
		r = int64(t.tid)
	case sysGetpid:
		r = 1
	case sysSchedYield:
		r = 0
		f.RAX = 0
		lockSched()
		yieldLocked(c)
		unlockSched()
		return
	case sysNanosleep:
		r = sysNanosleepCall(c, t, uintptr(a0))
		if r == blocked {
			return
		}
	case sysClockGettime:
		r = sysClockGettimeCall(int(a0), uintptr(a1))
	case sysFutex:
		r = sysFutexCall(c, t, uintptr(a0), int(a1), uint32(a2), uintptr(a3))
		if r == blocked {
			return
		}
	case sysClone:
		r = sysCloneCall(t, a0, a1, a4)
	case sysExit:
		lockSched()
		t.state = tFree
		sched.nthreads--
		reschedLocked(c)
		unlockSched()
		return
	case sysExitGroup:
		shutdown(int(a0) & 0x7f)
		return
	case sysRtSigaction:
		r = sysSigactionCall(int(a0), uintptr(a1), uintptr(a2))
	case sysRtSigprocmask:
		r = sysSigprocmaskCall(t, int(a0), uintptr(a1), uintptr(a2))
	case sysRtSigreturn:
		sigreturn(c, t)
		return
	case sysSigaltstack:
		r = sysSigaltstackCall(t, uintptr(a0), uintptr(a1))
	case sysTgkill, sysTkill, sysKill:
		tid, sig := int32(a1), int(a2)
		switch nr {
		case sysTkill:
			tid, sig = int32(a0), int(a1)
		case sysKill:
			tid, sig = t.tid, int(a1) // process-directed: the caller takes it
		}
		r = sysKillCall(tid, sig)
	case sysFcntl:
		r = sysFcntlCall(int(a0), int(a1), a2)
	case sysDup, sysDup2, sysDup3:
		r = sysDupCall(c, t, nr, int(int32(a0)), int(int32(a1)), int(int32(a2)))
		if r == blocked {
			return
		}
	case sysSchedGetaffinity:
		r = sysGetaffinityCall(t, int32(a0), uintptr(a1), uintptr(a2))
	case sysSchedSetaffinity:
		r = sysSetaffinityCall(c, t, int32(a0), uintptr(a1), uintptr(a2))
		if r == blocked {
			return
		}
	case sysPrlimit64:
		r = 0
		if a3 != 0 && vm.Ensure(uintptr(a3), 16) {
			amd64.Store64(uintptr(a3), 1024)
			amd64.Store64(uintptr(a3)+8, 4096)
		}
	case sysGetrandom:
		r = sysGetrandomCall(uintptr(a0), uintptr(a1))
	case sysPipe2:
		r = sysPipe2Call(uintptr(a0), a1)
	case sysPipe:
		r = sysPipe2Call(uintptr(a0), 0)
	case sysEpollCreate1:
		r = newFd(fdEpoll, 0)
	case sysEventfd2:
		r = newFd(fdEventfd, uint64(uint32(a0)))
	case sysEpollCtl:
		r = sysEpollCtlCall(int(a0), int(a1), int(a2), uintptr(a3))
	case sysEpollPwait:
		r = sysEpollWaitCall(c, t, int(a0), uintptr(a1), int(a2), int(int32(a3)))
		if r == blocked {
			return
		}
	case sysSmpgoDebug:
		r = debugSyscall(c, t, a0, a1, a2)
	case sysSmpgoExt:
		r = extSyscall(c, t)
		if r == blocked {
			return
		}
	default:
		r = -ENOSYS
		reportUnknown(nr)
	}
	f.RAX = uint64(r)
}

// blocked is returned by a call that stopped its thread: its waker stores
// the result.
const blocked = -1 << 62

const ESPIPE = 29

// reportUnknown counts an unimplemented call and names it the first time.
func reportUnknown(nr uint64) {
	if nr >= nSyscalls {
		unknownOther++
		var l kline
		l.s("kern: unknown system call ").u(nr).s(" -> ENOSYS").nl().print()
		return
	}
	unknownCount[nr]++
	if unknownCount[nr] == 1 {
		var l kline
		l.s("kern: unknown system call ").u(nr)
		if n := SyscallName(int(nr)); n != "" {
			l.s(" (").s(n).s(")")
		}
		l.s(" -> ENOSYS").nl().print()
	}
}

func sysMmapCall(addr, length uintptr, prot, flags uint64, fd int64) int64 {
	const mapFixed, mapAnon = 0x10, 0x20
	if flags&mapAnon == 0 || length == 0 {
		return -ENODEV
	}
	a, err := vm.Reserve(addr, length, flags&mapFixed != 0)
	if err != nil {
		if flags&mapFixed != 0 {
			return -EINVAL
		}
		return -ENOMEM
	}
	return int64(a)
}

const ENODEV = 19

func sysNanosleepCall(c *CPU, t *Thread, req uintptr) int64 {
	if !vm.Ensure(req, 16) {
		return -EFAULT
	}
	sec, nsec := int64(amd64.Load64(req)), int64(amd64.Load64(req+8))
	if sec < 0 || nsec < 0 || nsec >= 1e9 {
		return -EINVAL
	}
	d := sec*1e9 + nsec
	lockSched()
	blockLocked(c, waitSleep, 0, nanotime()+d)
	unlockSched()
	return blocked
}

func sysClockGettimeCall(clk int, ts uintptr) int64 {
	var ns int64
	switch clk {
	case 0, 5, 8: // REALTIME, REALTIME_COARSE, REALTIME_ALARM
		ns = nanotime() + realOffset.Load()
	case 1, 4, 6, 7, 9: // MONOTONIC, _RAW, _COARSE, BOOTTIME, BOOTTIME_ALARM
		ns = nanotime()
	case 2, 3: // PROCESS_CPUTIME_ID, THREAD_CPUTIME_ID (approximated)
		ns = nanotime()
	default:
		return -EINVAL
	}
	if !vm.Ensure(ts, 16) {
		return -EFAULT
	}
	amd64.Store64(ts, uint64(ns/1e9))
	amd64.Store64(ts+8, uint64(ns%1e9))
	return 0
}

// sysCloneCall creates a thread sharing everything (the runtime's newosproc
// flags): it starts as a copy of the caller returning 0, on stack, with TLS
// tls when CLONE_SETTLS.
func sysCloneCall(t *Thread, flags, stack, tls uint64) int64 {
	const cloneVM, cloneThread, cloneSettls = 0x100, 0x10000, 0x80000
	if flags&cloneVM == 0 || flags&cloneThread == 0 {
		return -EINVAL // no processes: only threads
	}
	lockSched()
	n := allocThreadLocked(false)
	if n == nil {
		unlockSched()
		return -EAGAIN
	}
	n.Frame = t.Frame
	n.Frame.RAX = 0
	if stack != 0 {
		n.Frame.RSP = stack
	}
	n.fsbase = t.fsbase
	if flags&cloneSettls != 0 {
		n.fsbase = tls
	}
	n.copyFX(t)
	n.sigmask = t.sigmask
	n.affinity = t.affinity // inherited, as on Linux
	tid := n.tid
	enqueueLocked(n)
	unlockSched()
	return int64(tid)
}

func sysSigactionCall(sig int, act, old uintptr) int64 {
	if sig < 1 || sig > nsig || (act != 0 && (sig == SIGKILL || sig == SIGSTOP)) {
		return -EINVAL
	}
	if (act != 0 && !vm.Ensure(act, 32)) || (old != 0 && !vm.Ensure(old, 32)) {
		return -EFAULT
	}
	lockSched()
	defer unlockSched()
	a := &sigactions[sig]
	if old != 0 {
		amd64.Store64(old, a.handler)
		amd64.Store64(old+8, a.flags)
		amd64.Store64(old+16, a.restorer)
		amd64.Store64(old+24, a.mask)
	}
	if act != 0 {
		a.handler = amd64.Load64(act)
		a.flags = amd64.Load64(act + 8)
		a.restorer = amd64.Load64(act + 16)
		a.mask = amd64.Load64(act + 24)
	}
	return 0
}

func sysSigprocmaskCall(t *Thread, how int, set, old uintptr) int64 {
	if (set != 0 && !vm.Ensure(set, 8)) || (old != 0 && !vm.Ensure(old, 8)) {
		return -EFAULT
	}
	prev := t.sigmask
	if set != 0 {
		s := amd64.Load64(set)
		switch how {
		case 0: // SIG_BLOCK
			t.sigmask |= s
		case 1: // SIG_UNBLOCK
			t.sigmask &^= s
		case 2: // SIG_SETMASK
			t.sigmask = s
		default:
			return -EINVAL
		}
		t.sigmask &^= unblockable
	}
	if old != 0 {
		amd64.Store64(old, prev)
	}
	return 0
}

func sysSigaltstackCall(t *Thread, ss, old uintptr) int64 {
	if (ss != 0 && !vm.Ensure(ss, 24)) || (old != 0 && !vm.Ensure(old, 24)) {
		return -EFAULT
	}
	if old != 0 {
		flags := uint64(ssDISABLE)
		if t.altSize != 0 {
			flags = 0
			if onAltStack(t, t.Frame.RSP) {
				flags = ssONSTACK
			}
		}
		amd64.Store64(old, t.altSP)
		amd64.Store64(old+8, flags)
		amd64.Store64(old+16, t.altSize)
	}
	if ss != 0 {
		if onAltStack(t, t.Frame.RSP) {
			return -EPERM
		}
		flags := int32(amd64.Load32(ss + 8))
		if flags&ssDISABLE != 0 {
			t.altSP, t.altSize, t.altFlags = 0, 0, ssDISABLE
		} else {
			size := amd64.Load64(ss + 16)
			if size < 2048 {
				return -ENOMEM
			}
			t.altSP, t.altSize, t.altFlags = amd64.Load64(ss), size, 0
		}
	}
	return 0
}

func sysKillCall(tid int32, sig int) int64 {
	if sig < 0 || sig > nsig {
		return -EINVAL
	}
	lockSched()
	defer unlockSched()
	t := threadByTidLocked(tid)
	if t == nil {
		return -ESRCH
	}
	if sig != 0 {
		postSignalLocked(t, sig, siTKILL, 0)
	}
	return 0
}

const ESRCH = 3

func onlineMask() uint64 {
	var m uint64
	for i := 0; i < ncpu && i < 64; i++ {
		if cpus[i].online {
			m |= 1 << uint(i)
		}
	}
	return m
}

func sysGetaffinityCall(t *Thread, tid int32, size, mask uintptr) int64 {
	if size < 8 || size%8 != 0 {
		return -EINVAL
	}
	if !vm.Ensure(mask, 8) {
		return -EFAULT
	}
	m := onlineMask()
	lockSched()
	if tid != 0 && tid != t.tid {
		if o := threadByTidLocked(tid); o != nil {
			t = o
		} else {
			unlockSched()
			return -ESRCH
		}
	}
	if t.affinity != 0 {
		m &= t.affinity
	}
	unlockSched()
	amd64.Store64(mask, m)
	return 8
}

// sysSetaffinityCall restricts a thread to a set of CPUs; the caller
// moves at once if its CPU left the set.
func sysSetaffinityCall(c *CPU, t *Thread, tid int32, size, mask uintptr) int64 {
	if size < 8 {
		return -EINVAL
	}
	if !vm.Ensure(mask, 8) {
		return -EFAULT
	}
	m := amd64.Load64(mask) & onlineMask()
	if m == 0 {
		return -EINVAL
	}
	lockSched()
	defer unlockSched()
	target := t
	if tid != 0 && tid != t.tid {
		if target = threadByTidLocked(tid); target == nil {
			return -ESRCH
		}
	}
	target.affinity = m
	if target == t && !t.allowedOn(int(c.id)) {
		t.Frame.RAX = 0
		enqueueLocked(t)
		reschedLocked(c)
		return blocked
	}
	return 0
}

// sysGetrandomCall fills buf from RDRAND when the CPU has it, else from a
// xorshift generator seeded by the TSC at boot.
func sysGetrandomCall(buf, n uintptr) int64 {
	if n > 1<<20 {
		n = 1 << 20
	}
	if !vm.Ensure(buf, n) {
		return -EFAULT
	}
	for i := uintptr(0); i < n; i++ {
		amd64.Store8(buf+i, uint8(random64()))
	}
	return int64(n)
}

var rngState uint64 = 0x9e3779b97f4a7c15

func random64() uint64 {
	if hasRDRAND {
		if v, ok := amd64.Rdrand(); ok {
			return v
		}
	}
	x := rngState
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	rngState = x
	return x
}

var hasRDRAND bool

// espipe answers a seek or positioned I/O on a descriptor that has no
// offset: ESPIPE, or EBADF for a free one.
func espipe(fd int) int64 {
	lockSched()
	defer unlockSched()
	if fileLocked(fd) == nil {
		return -EBADF
	}
	return -ESPIPE
}
