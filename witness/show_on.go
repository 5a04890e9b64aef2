//go:build !nowitness

package witness

import (
	"fmt"
	"sort"
	"strings"
)

// Text dumps for the kernel shell (DDB's "show locks", "show alllocks",
// "show witness" and the debug.witness.badstacks sysctl). Each copies what
// it needs under witness's locks and formats afterwards, so symbolising
// never happens with an internal lock held.

// heldByLocked returns owner's held locks, most recent first, sleep locks
// then spin locks, as witness_list_locks does. The shard lock is held.
func (w *Witness) heldByLocked(sh *shard, owner uint64) (hl []HeldLock, critnest int32) {
	ow := sh.owners[owner]
	if ow == nil || ow.epoch != w.epoch.Load() {
		return nil, 0
	}
	for i := len(ow.sleep) - 1; i >= 0; i-- {
		hl = append(hl, ow.sleep[i].info())
	}
	for i := len(ow.spin) - 1; i >= 0; i-- {
		hl = append(hl, ow.spin[i].info())
	}
	return hl, ow.critnest
}

func writeHeld(b *strings.Builder, sym Symbolizer, hl []HeldLock, critnest int32, indent string) {
	for _, h := range hl {
		b.WriteString(indent + heldLine(sym, h) + "\n")
	}
	if critnest > 0 {
		fmt.Fprintf(b, "%scritical section nesting %d\n", indent, critnest)
	}
}

// ShowLocks lists the locks owner holds, one FreeBSD-style line each:
// "exclusive sleep mutex vm page r = 0 locked @ func (file:line)".
func (w *Witness) ShowLocks(owner uint64) string {
	sh := w.shard(owner)
	cfg := w.lock(&sh.mu)
	hl, crit := w.heldByLocked(sh, owner)
	w.unlock(&sh.mu, cfg)
	var b strings.Builder
	writeHeld(&b, cfg.sym, hl, crit, "")
	return b.String()
}

// ShowAllLocks lists the held locks of every owner that holds any.
func (w *Witness) ShowAllLocks() string {
	type entry struct {
		owner uint64
		hl    []HeldLock
		crit  int32
	}
	var all []entry
	var cfg *config
	for i := range w.shards {
		sh := &w.shards[i]
		cfg = w.lock(&sh.mu)
		for id := range sh.owners {
			if hl, crit := w.heldByLocked(sh, id); len(hl) > 0 || crit > 0 {
				all = append(all, entry{id, hl, crit})
			}
		}
		w.unlock(&sh.mu, cfg)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].owner < all[j].owner })
	var b strings.Builder
	for _, e := range all {
		fmt.Fprintf(&b, "owner %#x\n", e.owner)
		writeHeld(&b, cfg.sym, e.hl, e.crit, " ")
	}
	return b.String()
}

// gnode is a class as ShowGraph sees it.
type gnode struct {
	name     string
	kind     Kind
	lastPC   uintptr
	acquired bool
	root     bool
	declared bool
	children []int32
	level    int
	shown    bool
}

// ShowGraph prints the order graph as indented trees from its roots, as
// DDB's "show witness" does: sleep locks, spin locks, classes known only
// from order lists, then classes never acquired.
func (w *Witness) ShowGraph() string {
	cfg := w.lock(&w.mu)
	nodes := make([]gnode, len(w.classes))
	for i, c := range w.classes {
		n := &nodes[i]
		n.name, n.kind, n.declared = c.name, c.Kind(), c.declared
		n.lastPC, n.acquired = c.lastPC.Load(), c.acquired.Load()
		n.root = c.anc == bitset{}
		for _, e := range c.children {
			n.children = append(n.children, e.to.index)
		}
	}
	nedges := len(w.edges)
	w.unlock(&w.mu, cfg)

	var level func(i int32, l int)
	level = func(i int32, l int) {
		if nodes[i].level > l || (nodes[i].level == l && l > 0) {
			return
		}
		nodes[i].level = l
		for _, c := range nodes[i].children {
			level(c, l+1)
		}
	}
	for i := range nodes {
		if nodes[i].root {
			level(int32(i), 0)
		}
	}
	var b strings.Builder
	var show func(i int32, indent int)
	show = func(i int32, indent int) {
		n := &nodes[i]
		fmt.Fprintf(&b, "%s%s (type: %s, depth: %d)", strings.Repeat(" ", indent), n.name, n.kind, n.level)
		switch {
		case n.shown:
			b.WriteString(" -- (already displayed)\n")
			return
		case n.lastPC != 0:
			fmt.Fprintf(&b, " -- last acquired @ %s\n", where(cfg.sym, []uintptr{n.lastPC}))
		case n.acquired:
			b.WriteString(" -- acquired\n")
		default:
			b.WriteString(" -- never acquired\n")
		}
		n.shown = true
		for _, c := range n.children {
			show(c, indent+1)
		}
	}
	inTree := func(n *gnode) bool { return n.root && (n.acquired || n.declared || len(n.children) > 0) }
	section := func(title string, want func(Kind) bool) {
		b.WriteString(title + "\n")
		for i := range nodes {
			if n := &nodes[i]; inTree(n) && want(n.kind) {
				show(int32(i), 0)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%d classes, %d direct relationships\n\n", len(nodes), nedges)
	section("Sleep locks:", Kind.Blocks)
	section("Spin locks:", func(k Kind) bool { return k == Spin })
	section("Unregistered classes (order lists only):", func(k Kind) bool { return k == 0 })
	b.WriteString("Locks which were never acquired:\n")
	for i := range nodes {
		if n := &nodes[i]; !n.shown && !n.acquired && !n.declared && len(n.children) == 0 && n.root {
			fmt.Fprintf(&b, "%s (type: %s)\n", n.name, n.kind)
		}
	}
	return b.String()
}

// ShowBadStacks prints every lock order reversal seen with the stacks of
// both orders (the debug.witness.badstacks sysctl).
func (w *Witness) ShowBadStacks() string {
	sym := w.cfg.Load().sym
	var b strings.Builder
	st := w.Stats()
	fmt.Fprintf(&b, "Number of known direct relationships is %d\n", st.Edges)
	for _, r := range w.Reports() {
		if r.Kind != ReportReversal {
			continue
		}
		fmt.Fprintf(&b, "\nLock order reversal between %q(%s) and %q(%s)! (seen %d times)\n",
			r.OtherClass, r.OtherKind, r.Class, r.LockKind, r.Count)
		if r.Why != "" {
			fmt.Fprintf(&b, "(%s)\n", r.Why)
		}
		for _, e := range r.Order {
			if e.Declared {
				fmt.Fprintf(&b, "Lock order %q -> %q declared in witness.Order\n", e.From, e.To)
				continue
			}
			fmt.Fprintf(&b, "Lock order %q -> %q first seen at:\n", e.From, e.To)
			writeStack(&b, sym, e.Stack, "  ")
		}
		fmt.Fprintf(&b, "Lock order %q -> %q attempted at:\n", r.OtherClass, r.Class)
		writeStack(&b, sym, r.Stack, "  ")
		fmt.Fprintf(&b, "with %q acquired at:\n", r.Other)
		writeStack(&b, sym, r.OtherStack, "  ")
	}
	return b.String()
}
