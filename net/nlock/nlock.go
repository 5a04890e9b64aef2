// Package nlock is the network stack's locks: every mutex and reader/writer
// lock in net/ is an nlock.Mutex or nlock.RWMutex created with a class name
// (Init), so that in the kernel they are the lock package's witnessed,
// profiled locks (lock.Mutex, lock.RW) and the stack's lock order, declared
// once in witness.Order, is checked on every acquisition.
//
// # The host seam
//
// The lock package cannot run in a host process: its contested paths park
// on kern's turnstiles, whose chain locks enter kern critical sections that
// find the current CPU through the GS segment, which only the booted kernel
// sets up. So nlock decides once, at package initialisation, where it runs
// (kern.Booted):
//
//   - in the kernel, Lock and Unlock are lock.Mutex's and lock.RW's, which
//     report to witness.Default;
//   - on the host, they are sync.Mutex's and sync.RWMutex's, and every
//     operation is reported to HostWitness, a witness instance (the pure
//     witness package runs anywhere) enrolled with the same order lists, with
//     the goroutine as owner (kern.OwnerAnywhere reads g from TLS, which
//     works in any linux/amd64 process; kern.Owner works only in a kernel
//     image, whose builder rewrites it). Host tests of the stack thus check the declared
//     order, ownership of unlocks and duplicate-class acquisitions on every
//     test, and fail on any report (HostReports).
//
// The choice is one predictable branch per operation. A lock used before
// Init is a bug: on the host it panics (so host tests find every unnamed
// lock); in the kernel it works unwatched, as a zero lock.Mutex does.
package nlock

import (
	"runtime"
	"sync"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/lock"
	"github.com/smpgo/smpgo/witness"
)

// Opt qualifies a lock class (lock.Recursive, lock.DupOK, ...).
type Opt = lock.Opt

// Options passed through to the lock package.
const (
	Recursive = lock.Recursive
	DupOK     = lock.DupOK
)

// inKernel is fixed at initialisation: true in the booted kernel.
var inKernel = kern.Booted()

// InKernel reports whether the locks are the lock package's (the booted
// kernel) rather than the host fallback.
func InKernel() bool { return inKernel }

// HostWitness checks the host fallback's operations (nil in the kernel).
// It runs in Warn mode with a silent printer: reports are collected
// (HostReports), and host tests fail on them.
var HostWitness *witness.Witness

func init() {
	if inKernel {
		return
	}
	HostWitness = witness.New()
	HostWitness.SetPrinter(func(string, ...any) {})
	hostGiant = NewMutex(witness.GiantName, Recursive)
}

// HostReports returns the reports HostWitness made so far, one per
// distinct problem (nil in the kernel: there witness.Default reports).
func HostReports() []witness.Report {
	if HostWitness == nil {
		return nil
	}
	return HostWitness.Reports()
}

func hostClass(name string, kind witness.Kind, o Opt) *witness.Class {
	var f witness.ClassFlags
	if o&Recursive != 0 {
		f |= witness.Recursable
	}
	if o&DupOK != 0 {
		f |= witness.DupOK
	}
	if kind.Shareable() {
		f |= witness.Upgradable
	}
	return HostWitness.NewClass(name, kind, f)
}

func hostStack(pcs *[8]uintptr) []uintptr { return pcs[:runtime.Callers(3, pcs[:])] }

func orOpts(opts []Opt) Opt {
	var o Opt
	for _, x := range opts {
		o |= x
	}
	return o
}

// Mutex is a sleep mutex of a named class: lock.Mutex in the kernel.
type Mutex struct {
	k lock.Mutex

	// Host fallback.
	h  sync.Mutex
	hc *witness.Class // (c) nil until Init
	ho witness.Object
}

// NewMutex returns a mutex of class name.
func NewMutex(name string, opts ...Opt) *Mutex {
	m := new(Mutex)
	m.Init(name, opts...)
	return m
}

// Init names m's class; call it before first use.
func (m *Mutex) Init(name string, opts ...Opt) {
	if inKernel {
		m.k.Init(name, opts...)
		return
	}
	m.hc = hostClass(name, witness.Sleep, orOpts(opts))
	m.hc.Init(&m.ho, name)
}

// Lock acquires m.
func (m *Mutex) Lock() {
	if inKernel {
		m.k.Lock()
		return
	}
	m.hostLock()
}

// Unlock releases m.
func (m *Mutex) Unlock() {
	if inKernel {
		m.k.Unlock()
		return
	}
	m.hostUnlock()
}

// TryLock acquires m if that needs no wait.
func (m *Mutex) TryLock() bool {
	if inKernel {
		return m.k.TryLock()
	}
	m.hostCheck()
	if !m.h.TryLock() {
		return false
	}
	var pcs [8]uintptr
	HostWitness.TryLock(kern.OwnerAnywhere(), &m.ho, 0, hostStack(&pcs))
	return true
}

// AssertOwned panics (in the kernel: as lock.Mutex.AssertOwned) unless
// the caller holds m. On the host it checks nothing the witness does not.
func (m *Mutex) AssertOwned() {
	if inKernel {
		m.k.AssertOwned()
	}
}

func (m *Mutex) hostCheck() {
	if m.hc == nil {
		panic("nlock: Mutex used before Init (every network-stack lock needs a class name)")
	}
}

func (m *Mutex) hostLock() {
	m.hostCheck()
	me := kern.OwnerAnywhere()
	HostWitness.CheckOrder(me, &m.ho, 0)
	m.h.Lock()
	var pcs [8]uintptr
	HostWitness.Lock(me, &m.ho, 0, hostStack(&pcs))
}

func (m *Mutex) hostUnlock() {
	m.hostCheck()
	HostWitness.Unlock(kern.OwnerAnywhere(), &m.ho, 0)
	m.h.Unlock()
}

// RWMutex is a reader/writer lock of a named class: lock.RW in the kernel.
// Lock/Unlock are the writer's, RLock/RUnlock the readers' (sync's names).
type RWMutex struct {
	k lock.RW

	h  sync.RWMutex
	hc *witness.Class
	ho witness.Object
}

// Init names l's class; call it before first use.
func (l *RWMutex) Init(name string, opts ...Opt) {
	if inKernel {
		l.k.Init(name, opts...)
		return
	}
	l.hc = hostClass(name, witness.RW, orOpts(opts))
	l.hc.Init(&l.ho, name)
}

// Lock acquires l exclusively.
func (l *RWMutex) Lock() {
	if inKernel {
		l.k.WLock()
		return
	}
	l.hostLock(0)
}

// Unlock releases an exclusive hold.
func (l *RWMutex) Unlock() {
	if inKernel {
		l.k.WUnlock()
		return
	}
	l.hostUnlock(0)
}

// RLock acquires l shared.
func (l *RWMutex) RLock() {
	if inKernel {
		l.k.RLock()
		return
	}
	l.hostLock(witness.Shared)
}

// RUnlock releases a shared hold.
func (l *RWMutex) RUnlock() {
	if inKernel {
		l.k.RUnlock()
		return
	}
	l.hostUnlock(witness.Shared)
}

func (l *RWMutex) hostLock(f witness.Flags) {
	if l.hc == nil {
		panic("nlock: RWMutex used before Init (every network-stack lock needs a class name)")
	}
	me := kern.OwnerAnywhere()
	HostWitness.CheckOrder(me, &l.ho, f)
	if f&witness.Shared != 0 {
		l.h.RLock()
	} else {
		l.h.Lock()
	}
	var pcs [8]uintptr
	HostWitness.Lock(me, &l.ho, f, hostStack(&pcs))
}

func (l *RWMutex) hostUnlock(f witness.Flags) {
	if l.hc == nil {
		panic("nlock: RWMutex used before Init (every network-stack lock needs a class name)")
	}
	HostWitness.Unlock(kern.OwnerAnywhere(), &l.ho, f)
	if f&witness.Shared != 0 {
		l.h.RUnlock()
	} else {
		l.h.Unlock()
	}
}

// hostGiant is Giant on the host.
var hostGiant *Mutex

// Giant returns the system's Giant: lock.Giant in the kernel (a recursive
// sleep mutex with witness's Giant rules), a host Mutex of class "Giant"
// on the host.
func Giant() sync.Locker {
	if inKernel {
		return lock.Giant
	}
	return hostGiant
}
