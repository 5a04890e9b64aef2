package lock

import (
	"strconv"
	"sync/atomic"
)

// Refcount is an atomic reference count (refcount(9)).
//
// The rules, as in FreeBSD: an object is born with its initial reference
// (Init(1)), held by whoever made it or by the structure that publishes
// it. Acquire may only be called by someone who already holds a reference,
// or who found the object under a lock that also protects the initial
// reference (so it cannot drop to zero meanwhile): acquiring from zero is a
// use-after-free and panics. A lookup that does not hold such a lock uses
// AcquireIfNotZero, which fails once the count reached zero. Release
// returns true for exactly one caller, the one that dropped the last
// reference and must free the object. A count that reaches the saturation
// value (2^31) sticks there: the object leaks rather than being freed while
// referenced (an overflow cannot turn into a use-after-free).
type Refcount struct {
	n atomic.Uint32
}

const (
	refSaturated   = 1 << 31 // counts with this bit set never change
	refSaturateVal = 3 << 30 // stored on saturation, far from both edges
)

// Init sets the count (refcount_init); n is usually 1.
func (r *Refcount) Init(n uint32) { r.n.Store(n) }

// Load returns the count.
func (r *Refcount) Load() uint32 { return r.n.Load() }

// Acquire adds a reference (refcount_acquire). The caller holds one, or
// the lock protecting the initial one.
func (r *Refcount) Acquire() {
	old := r.n.Add(1) - 1
	if old == 0 {
		panic("lock.Refcount.Acquire: acquiring a reference on a released object (count was 0)")
	}
	if old&refSaturated != 0 {
		r.n.Store(refSaturateVal)
	}
}

// AcquireIfNotZero adds a reference unless the count is zero
// (refcount_acquire_if_not_zero), for lookups not protected by the lock
// of the initial reference.
func (r *Refcount) AcquireIfNotZero() bool { return r.AcquireIfGT(0) }

// AcquireIfGT adds a reference if the count is above n.
func (r *Refcount) AcquireIfGT(n uint32) bool {
	for {
		old := r.n.Load()
		if old <= n {
			return false
		}
		if old&refSaturated != 0 {
			return true
		}
		if r.n.CompareAndSwap(old, old+1) {
			return true
		}
	}
}

// Release drops a reference and reports whether it was the last
// (refcount_release): then, and only then, the caller frees the object.
func (r *Refcount) Release() bool {
	old := r.n.Add(^uint32(0)) + 1
	switch {
	case old&refSaturated != 0:
		r.n.Store(refSaturateVal)
		return false
	case old == 0:
		panic("lock.Refcount.Release: released more references than acquired")
	}
	return old == 1
}

// ReleaseIfNotLast drops a reference unless it is the last one
// (refcount_release_if_not_last): the caller then takes the slow path that
// may free, typically under a lock.
func (r *Refcount) ReleaseIfNotLast() bool { return r.ReleaseIfGT(1) }

// ReleaseIfGT drops a reference if the count is above n.
func (r *Refcount) ReleaseIfGT(n uint32) bool {
	for {
		old := r.n.Load()
		if old <= n {
			return false
		}
		if old&refSaturated != 0 {
			return true
		}
		if r.n.CompareAndSwap(old, old-1) {
			return true
		}
	}
}

// String shows the count.
func (r *Refcount) String() string {
	v := r.n.Load()
	if v&refSaturated != 0 {
		return "saturated"
	}
	return strconv.FormatUint(uint64(v), 10)
}
