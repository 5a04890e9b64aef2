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
