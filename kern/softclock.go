package kern

import "sync/atomic"

// The tick hook: how the callout wheels learn that time has passed.
//
// Every CPU's scheduler tick (HZ per second, LAPIC timer) calls the
// installed hook in trap context, before the scheduler picks the next
// thread, with the CPU's index and the tick's time. The hook follows
// trap-context rules (docs/execution-model.md §2): no allocation, no
// blocking, no heap pointer stores; it may wake threads through WakeAddr,
// which is what package callout does to run its per-CPU softclock
// thread, as FreeBSD's hardclock schedules the softclock swi.

type tickHookSlot struct{ fn func(cpu int, now int64) }

var tickHook atomic.Pointer[tickHookSlot]

// SetTickHook installs fn as the per-CPU tick hook (nil removes it). There
// is one hook; a second installation replaces the first.
func SetTickHook(fn func(cpu int, now int64)) {
	if fn == nil {
		tickHook.Store(nil)
		return
	}
	tickHook.Store(&tickHookSlot{fn})
}

// TickNs is the length of one scheduler tick in nanoseconds.
const TickNs = 1000000000 / HZ

// Ticks returns the monotonic clock in ticks since boot: the time base of
// the callout wheels (FreeBSD's ticks, derived from the TSC here so that a
// tick missed under an overloaded emulator is not time lost).
func Ticks() int64 { return nanotime() / TickNs }
