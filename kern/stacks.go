package kern

import (
	"unsafe"

	"github.com/smpgo/smpgo/vm"
)

// Kernel stacks with guard pages. Each kind of stack is carved from one
// BSS array: a run of slots, each an unmapped guard page followed by the
// stack, the first slot starting at the array's first page boundary. A
// stack that overflows runs into its own guard page (below it) and the
// page fault is reported as a stack overflow naming the stack and the
// thread (stackOverflowReport), instead of silently running into the
// neighbouring CPU's stack. The fault itself is taken on an IST stack
// (every vector has one), so it is delivered even though the faulting
// stack is full.
//
// The Go runtime's own thread (M) stacks are not here: the runtime
// allocates them from its heap and checks their bounds in every function
// prologue (morestack).

const (
	guardSize     = vm.PageSize
	idleStackSize = vm.PageSize // idleLoop only: HLT, no calls
)

// stackKind is one array of guarded stacks.
type stackKind struct {
	name  string
	size  uintptr // usable bytes per stack
	slots int
}

var (
	kstackArea [MaxCPU*(kstackSize+guardSize) + vm.PageSize]byte
	istArea    [MaxCPU*nIST*(istSize+guardSize) + vm.PageSize]byte
	idleArea   [MaxCPU*(idleStackSize+guardSize) + vm.PageSize]byte
	mainArea   [mainStackSize + guardSize + vm.PageSize]byte
)

// stackKinds is static data (Boot uses it before package init runs).
var stackKinds = [...]stackKind{
	{"kernel", kstackSize, MaxCPU},
	{"IST", istSize, MaxCPU * nIST},
	{"idle", idleStackSize, MaxCPU},
	{"main", mainStackSize, 1},
}

const (
	stackKernel = iota
	stackIST
	stackIdle
	stackMain
)

// area returns the address of kind's backing array.
func area(kind int) uintptr {
	switch kind {
	case stackKernel:
		return uintptr(unsafe.Pointer(&kstackArea))
	case stackIST:
		return uintptr(unsafe.Pointer(&istArea))
	case stackIdle:
		return uintptr(unsafe.Pointer(&idleArea))
	}
	return uintptr(unsafe.Pointer(&mainArea))
}

// stackSlot returns stack i of kind: its guard page and bounds [lo, hi).
func stackSlot(kind, i int) (guard, lo, hi uintptr) {
	k := &stackKinds[kind]
	base := (area(kind) + vm.PageSize - 1) &^ (vm.PageSize - 1)
	guard = base + uintptr(i)*(k.size+guardSize)
	return guard, guard + guardSize, guard + guardSize + k.size
}

// stackBounds returns the bounds of stack i of kind.
func stackBounds(kind, i int) (lo, hi uintptr) {
	_, lo, hi = stackSlot(kind, i)
	return lo, hi
}

// guardHit reports whether a is in a guard page, and whose: the kind and
// the slot.
func guardHit(a uintptr) (kind, slot int, ok bool) {
	for k := range stackKinds {
		sk := &stackKinds[k]
		first, _, _ := stackSlot(k, 0)
		if a < first || a >= first+uintptr(sk.slots)*(sk.size+guardSize) {
			continue
		}
		off := a - first
		if off%(sk.size+guardSize) < guardSize {
			return k, int(off / (sk.size + guardSize)), true
		}
		return 0, 0, false
	}
	return 0, 0, false
}

// unmapGuards unmaps every guard page (boot, after the kernel pmap).
func unmapGuards() {
	for k := range stackKinds {
		sk := &stackKinds[k]
		for i := 0; i < sk.slots; i++ {
			g, _, _ := stackSlot(k, i)
			if err := vm.KernelUnmap(g, guardSize); err != nil {
				bootPmapFailed("unmapping a stack guard page", g, err)
			}
		}
	}
}

// stackOverflowMsg writes the panic message for a fault at a guard page
// (kind, slot) into l: "stack overflow: CPU 2 kernel stack (thread 17)".
func stackOverflowMsg(l *kline, kind, slot int, tid int32) {
	l.s("stack overflow: ")
	switch kind {
	case stackIST:
		l.s("CPU ").d(int64(slot / nIST)).s(" IST").d(int64(slot%nIST + 1)).s(" stack")
	case stackMain:
		l.s("the first thread's stack")
	default:
		l.s("CPU ").d(int64(slot)).s(" ").s(stackKinds[kind].name).s(" stack")
	}
	l.s(" (thread ").d(int64(tid)).s(")")
}
