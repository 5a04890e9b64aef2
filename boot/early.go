package boot

import "github.com/smpgo/smpgo/arch/amd64"

//go:nosplit
func load32(addr uintptr) uint32 { return amd64.Load32(addr) }

// earlyStackBounds reports the stack start64 runs on, so the kernel can
// describe it to the Go prologue checks and keep it out of the page pool.
//
//go:nosplit
func earlyStackBounds() (lo, hi uintptr) {
	return stackLo(), stackLo() + earlyStackSize
}

// stackLo is the address of earlyStack (entry_amd64.s): taking it in Go
// would need unsafe.
func stackLo() uintptr
