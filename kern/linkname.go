package kern

import _ "unsafe" // for go:linkname

// Runtime internals reached through //go:linkname. Keep them here, one
// comment per symbol: each is a hook the stock runtime keeps for known
// outside users ("hall of shame" in runtime/proc.go), so -checklinkname
// does not reject it.

// procPin disables Go preemption of the calling goroutine and returns the
// P's id: critical sections and spin mutexes pin the goroutine so it can
// neither be preempted nor move while it holds per-CPU state.
//
//go:linkname procPin runtime.procPin
func procPin() int

// procUnpin undoes procPin.
//
//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// vdsoClockgettimeSym is where the runtime found __vdso_clock_gettime in
// the image given as AT_SYSINFO_EHDR (0: none, it makes the system call).
// Read by Clock/VDSOUsed to see the runtime took the kernel's vDSO.
//
//go:linkname runtimeVDSOClockgettime runtime.vdsoClockgettimeSym
var runtimeVDSOClockgettime uintptr

// vdsoGettimeofdaySym, likewise for __vdso_gettimeofday (the syscall
// package's Gettimeofday calls it).
//
//go:linkname runtimeVDSOGettimeofday runtime.vdsoGettimeofdaySym
var runtimeVDSOGettimeofday uintptr

// nanotime is the runtime's monotonic clock (through the vDSO when the
// runtime took it); Clock/VDSOMonotonic interleaves it with the others.
//
//go:linkname runtimeNanotime runtime.nanotime
func runtimeNanotime() int64
