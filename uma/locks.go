package uma

import (
	"sync"

	"github.com/smpgo/smpgo/lock"
)

// The zone's locks: the lock package's sleep mutexes and sx locks in the
// kernel (WITNESS checks their order, lock profiling sees contention);
// sync primitives on the host tests' fake machine, where the kernel's
// turnstiles do not exist. Classes, in lock order:
//
//	"uma zone trim" (sx: Drain binds itself to each CPU while holding it)
//	"uma zone domain" → "uma keg domain"
//	"uma single-lock slab" → "uma keg domain" → "uma slab map"
//
// No path nests two of them today; the order is what WITNESS will hold
// new code to.
type zmutex struct {
	k lock.Mutex
	h sync.Mutex
}

func (m *zmutex) init(name string) {
	if fake == nil {
		m.k.Init(name)
	}
}

func (m *zmutex) Lock() {
	if fake == nil {
		m.k.Lock()
	} else {
		m.h.Lock()
	}
}

func (m *zmutex) Unlock() {
	if fake == nil {
		m.k.Unlock()
	} else {
		m.h.Unlock()
	}
}

// zrw is a reader/writer lock (rw(9): never held across a sleep).
type zrw struct {
	k lock.RW
	h sync.RWMutex
}

func (l *zrw) init(name string) {
	if fake == nil {
		l.k.Init(name)
	}
}

func (l *zrw) Lock() {
	if fake == nil {
		l.k.WLock()
	} else {
		l.h.Lock()
	}
}

func (l *zrw) Unlock() {
	if fake == nil {
		l.k.WUnlock()
	} else {
		l.h.Unlock()
	}
}

func (l *zrw) RLock() {
	if fake == nil {
		l.k.RLock()
	} else {
		l.h.RLock()
	}
}

func (l *zrw) RUnlock() {
	if fake == nil {
		l.k.RUnlock()
	} else {
		l.h.RUnlock()
	}
}

// zsx is an sx lock (may be held across a sleep).
type zsx struct {
	k lock.SX
	h sync.Mutex
}

func (l *zsx) init(name string) {
	if fake == nil {
		l.k.Init(name)
	}
}

func (l *zsx) Lock() {
	if fake == nil {
		l.k.XLock()
	} else {
		l.h.Lock()
	}
}

func (l *zsx) Unlock() {
	if fake == nil {
		l.k.XUnlock()
	} else {
		l.h.Unlock()
	}
}
