//go:build !nowitness

package witness

import (
	"fmt"
	"math/bits"
)

// The order graph. Like subr_witness.c's w_rmatrix, it keeps the transitive
// closure (every class's ancestors and descendants as bitsets), so "is B
// ordered after A, directly or through a chain" is one bit test; adding an
// edge updates the closure in O(ancestors × descendants) words. The graph is
// kept acyclic: an acquisition that would close a cycle is a reversal and
// adds no edge.

type bitset [MaxClasses / 64]uint64

func (b *bitset) set(i int32)      { b[i>>6] |= 1 << (i & 63) }
func (b *bitset) has(i int32) bool { return b[i>>6]&(1<<(i&63)) != 0 }

func (b *bitset) or(o *bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

// firstAnd returns the lowest index set in both b and o, or -1.
func (b *bitset) firstAnd(o *bitset) int32 {
	for i := range b {
		if x := b[i] & o[i]; x != 0 {
			return int32(i*64 + bits.TrailingZeros64(x))
		}
	}
	return -1
}

func (b *bitset) each(f func(i int32)) {
	for i, x := range b {
		for x != 0 {
			t := bits.TrailingZeros64(x)
			f(int32(i*64 + t))
			x &^= 1 << t
		}
	}
}

// edge is a direct order between two classes with the stack of the
// acquisition that first established it (witness_lock_order_data).
type edge struct {
	from, to *Class
	declared bool
	stack    []uintptr // (c) nil when declared
}

func (e *edge) orderEdge() OrderEdge {
	return OrderEdge{From: e.from.name, To: e.to.name, Declared: e.declared, Stack: e.stack}
}

func clonePCs(s []uintptr) []uintptr {
	if len(s) == 0 {
		return nil
	}
	return append([]uintptr(nil), s...)
}

// addEdgeLocked records the order p → c and marks it known. The caller
// has checked that it closes no cycle (c is neither p nor an ancestor of
// p). w.mu is held.
func (w *Witness) addEdgeLocked(p, c *Class, stack []uintptr, declared bool, out []pending) []pending {
	key := [2]int32{p.index, c.index}
	if _, ok := w.edges[key]; !ok {
		e := &edge{from: p, to: c, declared: declared, stack: clonePCs(stack)}
		w.edges[key] = e
		p.children = append(p.children, e)
		up := p.anc
		up.set(p.index)
		down := c.desc
		down.set(c.index)
		up.each(func(a int32) { w.classes[a].desc.or(&down) })
		down.each(func(d int32) { w.classes[d].anc.or(&up) })
		// A new path from an interrupt-safe class to an interrupt-unsafe
		// one (Linux's "safe-A + unsafe-B").
		if a, b := up.firstAnd(&w.intrSet), down.firstAnd(&w.intrOnSet); a >= 0 && b >= 0 {
			out = append(out, w.intrReportLocked(w.classes[a], w.classes[b]))
		}
	}
	p.setKnown(c)
	return out
}

// pathLocked returns the chain of direct edges from → … → to, shortest
// first, or nil. w.mu is held.
func (w *Witness) pathLocked(from, to *Class) []OrderEdge {
	prev := make(map[int32]*edge)
	queue := []*Class{from}
	for len(queue) > 0 {
		x := queue[0]
		queue = queue[1:]
		for _, e := range x.children {
			if _, seen := prev[e.to.index]; seen || e.to == from {
				continue
			}
			if e.to != to && !e.to.desc.has(to.index) {
				continue
			}
			prev[e.to.index] = e
			if e.to != to {
				queue = append(queue, e.to)
				continue
			}
			var path []OrderEdge
			for c := to; c != from; {
				pe := prev[c.index]
				path = append([]OrderEdge{pe.orderEdge()}, path...)
				c = pe.from
			}
			return path
		}
	}
	return nil
}

// markUsageLocked records that a spin class was taken in interrupt context
// (usedIntr) or with interrupts enabled (usedIntrOn), and reports the
// combinations that can deadlock a CPU against its own interrupt handler:
// the same class used both ways, or an interrupt-safe class ordered before
// an interrupt-unsafe one. w.mu is held.
func (w *Witness) markUsageLocked(c *Class, bit uint32, stack []uintptr, out []pending) []pending {
	if c.usage.Load()&bit != 0 {
		return out
	}
	c.usage.Or(bit)
	if bit == usedIntr {
		c.intrStack = clonePCs(stack)
		w.intrSet.set(c.index)
		down := c.desc
		down.set(c.index)
		if b := down.firstAnd(&w.intrOnSet); b >= 0 {
			out = append(out, w.intrReportLocked(c, w.classes[b]))
		}
		return out
	}
	c.intrOnStack = clonePCs(stack)
	w.intrOnSet.set(c.index)
	up := c.anc
	up.set(c.index)
	if a := up.firstAnd(&w.intrSet); a >= 0 {
		out = append(out, w.intrReportLocked(w.classes[a], c))
	}
	return out
}

// intrReportLocked reports that a (taken in interrupt context) reaches b
// (taken with interrupts enabled), possibly a == b.
func (w *Witness) intrReportLocked(a, b *Class) pending {
	r := &Report{Kind: ReportIntrUnsafe, Class: b.name, LockKind: b.Kind(), Stack: b.intrOnStack,
		OtherClass: a.name, OtherKind: a.Kind(), OtherStack: a.intrStack}
	if a == b {
		r.Why = fmt.Sprintf("%q is taken in interrupt context and with interrupts enabled", a.name)
	} else {
		r.Why = fmt.Sprintf("interrupt-safe %q is ordered before interrupt-unsafe %q", a.name, b.name)
		r.Order = w.pathLocked(a, b)
	}
	return pending{key: reportKey{kind: ReportIntrUnsafe, a: a.index, b: b.index}, r: r}
}
