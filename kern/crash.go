package kern

import (
	"runtime"
	"syscall"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Deliberate crashes, for the harness's expected-crash boots (crash=NAME on
// the command line; never selected by test=).

func divide(a, b int64) int64
func ud2()
func rawSyscall(nr, a0, a1 uintptr) uintptr

// sysSmpgoDebug is the kernel's private system call, for what goroutine
// code must not do itself with interrupts off: opKfault faults in trap
// context (a kernel panic report), opRendezvous runs the rendezvous
// protocol (Rendezvous), opThreads copies a thread snapshot out.
const (
	sysSmpgoDebug = 500

	opKfault     = 1
	opRendezvous = 2
	opThreads    = 3

	opWriteText     = 7
	opStackOverflow = 8
)

// Crash performs the named deliberate crash; it reports false for an
// unknown name.
func Crash(name string) bool {
	switch name {
	case "ud2":
		ud2()
	case "kfault":
		rawSyscall(sysSmpgoDebug, opKfault, 0)
	case "divzero":
		divide(1, 0)
	case "wtext":
		rawSyscall(sysSmpgoDebug, opWriteText, 0)
	case "stackoverflow":
		// On the last CPU, so the report names a known kernel stack.
		runtime.LockOSThread()
		if err := PinToCPU(NumCPU() - 1); err != nil {
			return false
		}
		rawSyscall(sysSmpgoDebug, opStackOverflow, 0)
	case "vmorder":
		// A demand fault while this CPU holds a page allocator's domain
		// lock (what a stack growth inside the lock's section would do):
		// the fault path wants the address-space lock, which comes first
		// in vm's lock order, then the domain lock again. vm reports the
		// reversal as a kernel panic instead of spinning forever.
		b, err := syscall.Mmap(-1, 0, vm.PageSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return false
		}
		runtime.LockOSThread()
		vm.CrashHoldingDomainLock(func() { b[0] = 1 })
	case "appanic":
		// A kernel fault on the last CPU (an AP when there are several):
		// every other CPU must stop and report.
		runtime.LockOSThread()
		if err := PinToCPU(NumCPU() - 1); err != nil {
			return false
		}
		rawSyscall(sysSmpgoDebug, opKfault, 0)
	default:
		return false
	}
	return true
}

// debugSyscall serves sysSmpgoDebug.
func debugSyscall(c *CPU, t *Thread, op, arg, arg2 uint64) int64 {
	if op >= opPrioFirst {
		return prioSyscall(c, t, op, arg, arg2)
	}
	switch op {
	case opRendezvous:
		rendezvousKernel()
		return 0
	case opThreads:
		return snapshotThreads(uintptr(arg))
	case opIPIPing:
		return ipiPing(int(arg))
	case opPmap:
		var r pmapReq
		size := unsafe.Sizeof(r)
		if !vm.Ensure(uintptr(arg), size) {
			return -EFAULT
		}
		amd64.Memmove(uintptr(unsafe.Pointer(&r)), uintptr(arg), size)
		ret := pmapSyscall(&r)
		amd64.Memmove(uintptr(arg), uintptr(unsafe.Pointer(&r)), size)
		return ret
	case opWriteText:
		// A store into the kernel's text from trap context: a write to a
		// read-only page, reported as a kernel panic.
		amd64.Store8(textStart()+64, 0xcc)
		return 0
	case opStackOverflow:
		return int64(recurse(1 << 30))
	case opKfault:
		// A read of a non-canonical address from trap context: #GP in
		// the kernel, reported as a kernel panic.
		return int64(amd64.Load64(0x8000000000000000))
	}
	return -EINVAL
}

// recurse uses about 512 bytes of stack per level: from trap context it
// runs the CPU's kernel stack into its guard page (crash=stackoverflow).
//
//go:noinline
func recurse(n int) int {
	var buf [64]uint64
	buf[n&63] = uint64(n)
	if n == 0 {
		return 0
	}
	return recurse(n-1) + int(buf[(n*7)&63])
}
