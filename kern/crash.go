package kern

import (
	"runtime"

	"github.com/smpgo/smpgo/arch/amd64"
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
func debugSyscall(op, arg uint64) int64 {
	switch op {
	case opRendezvous:
		rendezvousKernel()
		return 0
	case opThreads:
		return snapshotThreads(uintptr(arg))
	case opIPIPing:
		return ipiPing(int(arg))
	case opKfault:
		// A read of a non-canonical address from trap context: #GP in
		// the kernel, reported as a kernel panic.
		return int64(amd64.Load64(0x8000000000000000))
	}
	return -EINVAL
}
