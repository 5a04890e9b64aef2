package kern

import (
	"fmt"
	"syscall"
	"unsafe"
)

// PinToCPU restricts the calling thread to CPU cpu and returns once it
// runs there. The caller must have called runtime.LockOSThread, or the
// goroutine may leave the thread.
func PinToCPU(cpu int) error {
	if cpu < 0 || cpu >= NumCPU() {
		return fmt.Errorf("kern.PinToCPU: cpu %d of %d", cpu, NumCPU())
	}
	return SetAffinity(1 << uint(cpu))
}

// SetAffinity restricts the calling thread to the CPUs in mask.
func SetAffinity(mask uint64) error {
	_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, 8, uintptr(unsafe.Pointer(&mask)))
	if e != 0 {
		return e
	}
	return nil
}

// Unpin lets the calling thread run on every CPU again.
func Unpin() error {
	return SetAffinity(onlineMask())
}
