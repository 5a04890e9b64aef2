package lock

import (
	"unsafe"

	"github.com/smpgo/smpgo/witness"
)

// Giant is the kernel's one big lock (FreeBSD's Giant): an ordinary
// recursive sleep mutex that every sleep drops and takes back (Cond waits
// and Sleep call DropGiant and PickupGiant), so code written for Giant may
// sleep holding it. witness orders it by FreeBSD's special rules (before
// any non-sleepable lock; before or after sleepable ones).
var Giant = NewMutex(witness.GiantName, Recursive)

// DropGiant releases Giant completely if the caller holds it and returns
// how many times it was held (DROP_GIANT), for PickupGiant.
func DropGiant() int {
	if !Giant.Owned() {
		return 0
	}
	n := int(Giant.recurse) + 1
	for i := 0; i < n; i++ {
		Giant.Unlock()
	}
	return n
}

// PickupGiant takes Giant back n times (PICKUP_GIANT).
func PickupGiant(n int) {
	for i := 0; i < n; i++ {
		Giant.Lock()
	}
}

// Mutex pools (mtx_pool(9)): a fixed array of mutexes shared by objects
// too small or too many to carry their own, chosen by hashing the object's
// address. They are leaf locks of one DupOK class: hold one briefly.
const poolSize = 128

var pool [poolSize]Mutex

func init() {
	for i := range pool {
		pool[i].Init("mutex pool", DupOK)
	}
}

// PoolMutex returns the pool mutex for the object at p (mtx_pool_find).
func PoolMutex(p unsafe.Pointer) *Mutex {
	a := uint64(uintptr(p))
	return &pool[(a*0x9E3779B97F4A7C15)>>(64-7)]
}
