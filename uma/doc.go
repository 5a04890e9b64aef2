// Package uma is the kernel's zone allocator, after FreeBSD's UMA
// (uma(9); Bonwick, "The Slab Allocator", USENIX 1994, and Bonwick and
// Adams, "Magazines and Vmem", USENIX 2001, for the per-CPU layer).
//
// A zone hands out fixed-size items. Its layers, fastest first:
//
//   - per-CPU buckets (an alloc and a free bucket per CPU), touched only
//     inside a critical section (kern.CriticalEnter: the goroutine stays
//     on its CPU) with no lock and no atomic operation;
//   - per-domain caches of full buckets with a working-set estimate;
//     surplus beyond it is trimmed periodically (Trim, Reclaim);
//   - the keg: slabs of 2^k pages from vm (the allocating CPU's NUMA
//     domain first), cut into items, with off-page bookkeeping.
//
// Items live outside the Go heap, in identity-mapped physical memory, so
// drivers can DMA into them (PhysAddr) and the garbage collector never
// scans them: they must not hold the only reference to a Go object, and
// the typed API (NewTyped, Zone[T]) refuses element types with pointers.
//
// Ctor/Dtor run on every allocation and free; Init/Fini when an item
// enters or leaves the zone's caches. Limits: M_NOWAIT fails with
// ErrLimit, M_WAITOK sleeps (after WITNESS's may-sleep check; refused in
// a critical section). The Debug flag poisons free items and catches
// use after free, double free and frees of foreign addresses. NoCache
// makes a single-lock slab allocator of the same keg, for comparison.
//
// Locks (locks.go): the lock package's sleep mutexes, rw and sx locks,
// so WITNESS checks their order and lock profiling sees contention. None
// is held inside a critical section: the slow paths leave it, lock, and
// re-check the CPU's state when they come back (the goroutine may have
// moved).
//
// The bookkeeping is host-tested on a fake machine (uma_test.go); the
// self-tests in selftests.go run the same checks in the kernel.
package uma
