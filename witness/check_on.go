//go:build !nowitness

package witness

import "fmt"

// CheckOrder checks an acquisition of o by owner before the caller blocks
// for it (witness_checkorder), so that an acquisition that deadlocks is
// still reported: recursion and shared/exclusive mixing on o itself, a
// second lock of the same class, lock order reversals against every held
// lock of the same type, sleep locks in critical sections, under spin
// locks or in interrupt context. It records the new order edge. A Try
// operation cannot deadlock and is not checked here (see TryLock).
//
// The fast path: when the owner's most recently acquired lock of the same
// type has class P and the order P → C is already known (an atomic bit in
// P, set under the graph lock once that order was checked), CheckOrder
// returns after the owner's shard lock, without the graph lock. This is
// FreeBSD's witness_lock_order_check; it is sound because the graph is
// acyclic and every held lock was itself checked against the locks held
// before it. Known reversals are not marked known: they take the slow path
// again, where they are counted and not printed twice.
func (w *Witness) CheckOrder(owner uint64, o *Object, flags Flags) { w.checkOrder(owner, o, flags) }

func (w *Witness) checkOrder(owner uint64, o *Object, flags Flags) {
	c := o.cls.Load()
	if c == nil || flags&Try != 0 || Mode(w.mode.Load()) == Off {
		return
	}
	kind := c.Kind()
	var out []pending
	sh := w.shard(owner)
	cfg := w.lock(&sh.mu)
	ow := w.ownerLocked(sh, owner, false)
	if kind.Blocks() {
		out = w.contextChecksLocked(ow, owner, o, c, flags, out)
	}
	if ow != nil {
		out = w.orderChecksLocked(ow, o, c, flags, out)
	}
	w.unlock(&sh.mu, cfg)
	if kind == Spin && flags&(Interrupt|IntrEnabled) != 0 {
		out = w.markUsage(c, flags, nil, out)
	}
	w.emit(out)
}

// contextChecksLocked: a blocking lock may not be acquired in interrupt
// context, with a spin lock held, or in a critical section (FreeBSD's
// "acquiring blockable sleep lock with spinlock or critical section held",
// which also orders all sleep locks before all spin locks).
func (w *Witness) contextChecksLocked(ow *ownerState, owner uint64, o *Object, c *Class, flags Flags, out []pending) []pending {
	var kind ReportKind
	var h *held
	switch {
	case flags&Interrupt != 0:
		kind = ReportSleepInInterrupt
	case ow != nil && len(ow.spin) > 0:
		kind, h = ReportSleepUnderSpin, &ow.spin[len(ow.spin)-1]
	case flags&Critical != 0 || ow != nil && ow.critnest > 0:
		kind = ReportSleepInCritical
	default:
		return out
	}
	r := &Report{Kind: kind, Owner: owner, Lock: o.name, Class: c.name, LockKind: c.Kind()}
	key := reportKey{kind: kind, a: c.index}
	if h != nil {
		r.Other, r.OtherClass, r.OtherKind, r.OtherStack = h.obj.name, h.class.name, Spin, h.stack()
		key.b = h.class.index
	}
	return append(out, pending{key: key, r: r, cur: true})
}

// orderChecksLocked runs the checks that need the owner's held locks. The
// owner's shard lock is held; the graph lock is taken on the slow path.
func (w *Witness) orderChecksLocked(ow *ownerState, o *Object, c *Class, flags Flags, out []pending) []pending {
	list := *ow.list(c.Kind())
	if i := findHeld(list, o); i >= 0 {
		return w.recursionCheck(ow.id, &list[i], o, c, flags, out)
	}
	if len(list) == 0 {
		return out
	}
	plock := &list[len(list)-1]
	p := plock.class
	if p == c {
		// Another lock of the same class. Only the most recent lock needs
		// this check: older ones are caught as reversals.
		if flags&DupOKOp == 0 && !c.has(DupOK) {
			out = append(out, pending{key: reportKey{kind: ReportDuplicate, a: c.index}, cur: true,
				r: &Report{Kind: ReportDuplicate, Owner: ow.id, Lock: o.name, Class: c.name, LockKind: c.Kind(),
					Other: plock.obj.name, OtherClass: p.name, OtherKind: p.Kind(), OtherStack: plock.stack()}})
		}
		return out
	}
	if p.isKnown(c) {
		return out
	}
	w.slow.Add(1)
	cfg := w.lock(&w.mu)
	out = w.orderCheckLocked(ow.id, list, o, c, out)
	w.unlock(&w.mu, cfg)
	return out
}

// recursionCheck handles an acquisition of a lock the owner already holds.
func (w *Witness) recursionCheck(owner uint64, h *held, o *Object, c *Class, flags Flags, out []pending) []pending {
	shared := flags&Shared != 0 && c.Kind().Shareable()
	var kind ReportKind
	var why string
	switch {
	case h.exclusive && shared:
		kind, why = ReportModeMismatch, "shared lock while exclusively locked"
	case !h.exclusive && !shared:
		kind, why = ReportModeMismatch, "exclusive lock while share locked"
	case c.has(Recursable):
		return out
	case shared:
		kind, why = ReportRecursion, "shared recursion"
	default:
		kind, why = ReportRecursion, "exclusive recursion"
	}
	return append(out, pending{key: reportKey{kind: kind, a: c.index, why: why}, cur: true,
		r: &Report{Kind: kind, Owner: owner, Lock: o.name, Class: c.name, LockKind: c.Kind(),
			Other: o.name, OtherClass: c.name, OtherKind: c.Kind(), OtherStack: h.stack(), Why: why}})
}

// orderCheckLocked is the slow path: compare the new class c with every
// held lock of the same type, most recent first, then record the edge from
// the most recent one. Both locks are held (shard, then graph).
func (w *Witness) orderCheckLocked(owner uint64, list []held, o *Object, c *Class, out []pending) []pending {
	csleep := c.has(Sleepable)
	for i := len(list) - 1; i >= 0; i-- {
		h := &list[i]
		w1 := h.class
		if w1 == c {
			continue
		}
		hsleep := w1.has(Sleepable)
		var why string
		switch {
		case hsleep && c.isGiant(), csleep && w1.isGiant():
			// Giant may come before or after sleepable locks.
			continue
		case csleep && !hsleep:
			why = "sleepable after non-sleepable"
		case c.isGiant() && !hsleep:
			why = "Giant after non-sleepable"
		case !c.desc.has(w1.index):
			continue
		}
		if w.blessed[[2]string{c.name, w1.name}] {
			// Blessed: no report, and (as in FreeBSD) no new edge.
			return out
		}
		r := &Report{Kind: ReportReversal, Owner: owner, Lock: o.name, Class: c.name, LockKind: c.Kind(),
			Other: h.obj.name, OtherClass: w1.name, OtherKind: w1.Kind(), OtherStack: h.stack(), Why: why}
		if why == "" {
			r.Order = w.pathLocked(c, w1)
		}
		lo, hi := c.index, w1.index
		if lo > hi {
			lo, hi = hi, lo
		}
		return append(out, pending{key: reportKey{kind: ReportReversal, a: lo, b: hi}, r: r, cur: true})
	}
	p := list[len(list)-1].class
	switch {
	case p.isGiant() && csleep:
		// Sleepable locks belong before Giant: never record Giant → sx.
		p.setKnown(c)
	case c.desc.has(p.index):
		// Only reachable through the Giant exemptions: keep the graph
		// acyclic and check again next time.
	default:
		out = w.addEdgeLocked(p, c, captureCaller(), false, out)
	}
	return out
}

// Lock records that owner acquired o (witness_lock). stack is where, as
// captured by the caller; witness copies up to 16 frames. With Try in
// flags it behaves as TryLock.
func (w *Witness) Lock(owner uint64, o *Object, flags Flags, stack []uintptr) {
	w.lockOp(owner, o, flags, stack)
}

// TryLock records a successful try-acquisition: the order edge from the
// most recent held lock is recorded if it closes no cycle, and no reversal
// is ever reported, since a try cannot deadlock.
func (w *Witness) TryLock(owner uint64, o *Object, flags Flags, stack []uintptr) {
	w.lockOp(owner, o, flags|Try, stack)
}

func (w *Witness) lockOp(owner uint64, o *Object, flags Flags, stack []uintptr) {
	c := o.cls.Load()
	if c == nil || Mode(w.mode.Load()) == Off {
		return
	}
	kind := c.Kind()
	exclusive := flags&Shared == 0 || !kind.Shareable()
	var out []pending
	sh := w.shard(owner)
	cfg := w.lock(&sh.mu)
	ow := w.ownerLocked(sh, owner, true)
	l := ow.list(kind)
	if i := findHeld(*l, o); i >= 0 {
		(*l)[i].recurse++
		if flags&Try != 0 && !c.has(Recursable) {
			why := "try-lock succeeded on a non-recursable lock already held"
			out = append(out, pending{key: reportKey{kind: ReportRecursion, a: c.index, why: why},
				r: &Report{Kind: ReportRecursion, Owner: owner, Lock: o.name, Class: c.name, LockKind: kind,
					Stack: clonePCs(stack), OtherStack: (*l)[i].stack(), Why: why}})
		}
		w.unlock(&sh.mu, cfg)
		w.emit(out)
		return
	}
	if flags&Try != 0 && len(*l) > 0 {
		if p := (*l)[len(*l)-1].class; p != c && !p.isKnown(c) {
			w.slow.Add(1)
			gcfg := w.lock(&w.mu)
			if !c.desc.has(p.index) && !(p.isGiant() && c.has(Sleepable)) {
				out = w.addEdgeLocked(p, c, stack, false, out)
			}
			w.unlock(&w.mu, gcfg)
		}
	}
	*l = append(*l, held{obj: o, class: c, exclusive: exclusive})
	h := &(*l)[len(*l)-1]
	h.nstk = uint8(copy(h.stk[:], stack))
	o.holders.Add(1)
	if exclusive {
		o.xowner.Store(owner)
	}
	o.epoch.Store(w.epoch.Load())
	w.unlock(&sh.mu, cfg)
	if !c.acquired.Load() {
		c.acquired.Store(true)
	}
	if len(stack) > 0 && c.lastPC.Load() != stack[0] {
		c.lastPC.Store(stack[0])
	}
	if kind == Spin && flags&(Interrupt|IntrEnabled) != 0 {
		out = w.markUsage(c, flags, stack, out)
	}
	w.emit(out)
}

// markUsage records interrupt-context use of a spin class; only the first
// use of each kind takes the graph lock.
func (w *Witness) markUsage(c *Class, flags Flags, stack []uintptr, out []pending) []pending {
	var bits uint32
	if flags&Interrupt != 0 {
		bits |= usedIntr
	}
	if flags&IntrEnabled != 0 {
		bits |= usedIntrOn
	}
	if c.usage.Load()&bits == bits {
		return out
	}
	if stack == nil {
		stack = captureCaller()
	}
	cfg := w.lock(&w.mu)
	for _, b := range []uint32{usedIntr, usedIntrOn} {
		if bits&b != 0 {
			out = w.markUsageLocked(c, b, stack, out)
		}
	}
	w.unlock(&w.mu, cfg)
	return out
}

// Unlock records that owner releases o (witness_unlock); call it before
// the lock is actually released. Unlocking in any order is legal, as in
// FreeBSD. Unlocking a lock the owner does not hold reports
// ReportUnlockNotHeld, or ReportUnlockNotOwner when someone else holds it;
// a shared release of an exclusive hold (or the reverse) reports
// ReportUnlockMismatch.
func (w *Witness) Unlock(owner uint64, o *Object, flags Flags) { w.unlockOp(owner, o, flags) }

func (w *Witness) unlockOp(owner uint64, o *Object, flags Flags) {
	c := o.cls.Load()
	if c == nil || Mode(w.mode.Load()) == Off {
		return
	}
	kind := c.Kind()
	var out []pending
	sh := w.shard(owner)
	cfg := w.lock(&sh.mu)
	ow := w.ownerLocked(sh, owner, false)
	i := -1
	var l *[]held
	if ow != nil {
		l = ow.list(kind)
		i = findHeld(*l, o)
	}
	if i < 0 {
		var rk ReportKind
		var why string
		switch {
		case o.epoch.Load() != w.epoch.Load():
			// Acquired while witness was off: not ours to judge.
		case o.holders.Load() > 0:
			rk = ReportUnlockNotOwner
			if x := o.xowner.Load(); x != 0 {
				why = fmt.Sprintf("held by owner %#x", x)
			}
		default:
			rk = ReportUnlockNotHeld
		}
		w.unlock(&sh.mu, cfg)
		if rk != 0 {
			w.emit([]pending{{key: reportKey{kind: rk, a: c.index}, cur: true,
				r: &Report{Kind: rk, Owner: owner, Lock: o.name, Class: c.name, LockKind: kind, Why: why}}})
		}
		return
	}
	h := &(*l)[i]
	if kind.Shareable() {
		var why string
		switch shared := flags&Shared != 0; {
		case h.exclusive && shared:
			why = "shared unlock while exclusively locked"
		case !h.exclusive && !shared:
			why = "exclusive unlock while share locked"
		}
		if why != "" {
			out = append(out, pending{key: reportKey{kind: ReportUnlockMismatch, a: c.index, why: why}, cur: true,
				r: &Report{Kind: ReportUnlockMismatch, Owner: owner, Lock: o.name, Class: c.name, LockKind: kind,
					OtherStack: h.stack(), Why: why}})
		}
	}
	if h.recurse > 0 {
		h.recurse--
	} else {
		excl := h.exclusive
		*l = append((*l)[:i], (*l)[i+1:]...)
		o.holders.Add(-1)
		if excl {
			o.xowner.Store(0)
		}
	}
	w.unlock(&sh.mu, cfg)
	w.emit(out)
}

// Upgrade records a successful shared-to-exclusive upgrade of an sx or rw
// lock (witness_upgrade); Downgrade the reverse. Both require an
// Upgradable class and a held, unrecursed lock in the other mode, else
// ReportBadUpgrade. A blocking "exclusive while shared" acquisition is a
// deadlock and is caught by CheckOrder instead.
func (w *Witness) Upgrade(owner uint64, o *Object) { w.upgradeOp(owner, o, true) }

// Downgrade records an exclusive-to-shared downgrade.
func (w *Witness) Downgrade(owner uint64, o *Object) { w.upgradeOp(owner, o, false) }

func (w *Witness) upgradeOp(owner uint64, o *Object, up bool) {
	c := o.cls.Load()
	if c == nil || Mode(w.mode.Load()) == Off {
		return
	}
	kind := c.Kind()
	verb := "downgrade"
	if up {
		verb = "upgrade"
	}
	var why string
	if !kind.Shareable() {
		why = verb + " of " + kind.String()
	} else if !c.has(Upgradable) {
		why = verb + " of non-upgradable lock"
	}
	sh := w.shard(owner)
	cfg := w.lock(&sh.mu)
	i := -1
	var l *[]held
	if ow := w.ownerLocked(sh, owner, false); ow != nil {
		l = ow.list(kind)
		i = findHeld(*l, o)
	}
	var stk []uintptr
	if i < 0 {
		why = verb + " of unlocked lock"
	} else {
		h := &(*l)[i]
		stk = h.stack()
		switch {
		case up && h.exclusive:
			why = "upgrade of exclusive lock"
		case !up && !h.exclusive:
			why = "downgrade of shared lock"
		case h.recurse > 0:
			why = verb + " of recursed lock"
		default:
			h.exclusive = up
			if up {
				o.xowner.Store(owner)
			} else {
				o.xowner.Store(0)
			}
		}
	}
	w.unlock(&sh.mu, cfg)
	if why != "" {
		w.emit([]pending{{key: reportKey{kind: ReportBadUpgrade, a: c.index, why: why}, cur: true,
			r: &Report{Kind: ReportBadUpgrade, Owner: owner, Lock: o.name, Class: c.name, LockKind: kind,
				OtherStack: stk, Why: why}}})
	}
}

// CriticalEnter records that owner entered a critical section; sleep locks
// may not be acquired, nor may it block, until the matching CriticalExit.
// Callers that track the nesting themselves pass the Critical flag instead.
func (w *Witness) CriticalEnter(owner uint64) { w.critical(owner, 1) }

// CriticalExit records that owner left a critical section.
func (w *Witness) CriticalExit(owner uint64) { w.critical(owner, -1) }

func (w *Witness) critical(owner uint64, d int32) {
	if Mode(w.mode.Load()) == Off {
		return
	}
	sh := w.shard(owner)
	cfg := w.lock(&sh.mu)
	ow := w.ownerLocked(sh, owner, true)
	if ow.critnest += d; ow.critnest < 0 {
		ow.critnest = 0
	}
	w.unlock(&sh.mu, cfg)
}

// WarnSleep reports ReportBlocking, "blocking while holding non-sleepable
// lock(s)", if owner is about to block with a spin lock, a non-sleepable
// sleep lock (Giant excepted, as WARN_GIANTOK) or a critical section held
// (witness_warn with WARN_GIANTOK|WARN_SLEEPOK). The kernel calls it at
// every blocking point; why names the point and should be a constant
// ("cv_wait", "sleepq_wait"): it is part of the once-only key. It returns
// the number of offending locks (1 for a bare critical section).
func (w *Witness) WarnSleep(owner uint64, why string) int { return w.warnSleep(owner, nil, 0, why) }

// WarnSleepExcept is WarnSleep for a sleep that releases interlock (a
// condition variable's mutex, msleep's interlock), which is therefore not
// an offence; flags may carry Critical.
func (w *Witness) WarnSleepExcept(owner uint64, interlock *Object, flags Flags, why string) int {
	return w.warnSleep(owner, interlock, flags, why)
}

func (w *Witness) warnSleep(owner uint64, interlock *Object, flags Flags, why string) int {
	if Mode(w.mode.Load()) == Off {
		return 0
	}
	crit := flags&Critical != 0
	var hl []HeldLock
	sh := w.shard(owner)
	cfg := w.lock(&sh.mu)
	if ow := w.ownerLocked(sh, owner, false); ow != nil {
		crit = crit || ow.critnest > 0
		for i := len(ow.sleep) - 1; i >= 0; i-- {
			h := &ow.sleep[i]
			if h.obj != interlock && !h.class.has(Sleepable) && !h.class.isGiant() {
				hl = append(hl, h.info())
			}
		}
		for i := len(ow.spin) - 1; i >= 0; i-- {
			if h := &ow.spin[i]; h.obj != interlock {
				hl = append(hl, h.info())
			}
		}
	}
	w.unlock(&sh.mu, cfg)
	n := len(hl)
	if n == 0 && !crit {
		return 0
	}
	r := &Report{Kind: ReportBlocking, Owner: owner, Why: why, Held: hl}
	key := reportKey{kind: ReportBlocking, a: -1, why: why}
	if n > 0 {
		r.Lock, r.Class, r.LockKind, r.OtherStack = hl[0].Name, hl[0].Class, hl[0].Kind, hl[0].Stack
		key.a = w.classIndex(hl[0].Class)
	} else {
		r.Why = why + " in a critical section"
		n = 1
	}
	w.emit([]pending{{key: key, r: r, cur: true}})
	return n
}

func (w *Witness) classIndex(name string) int32 {
	if c := w.LookupClass(name); c != nil {
		return c.index
	}
	return -1
}

func (h *held) info() HeldLock {
	return HeldLock{Name: h.obj.name, Class: h.class.name, Kind: h.class.Kind(), Exclusive: h.exclusive,
		Recursed: int(h.recurse), Stack: h.stack()}
}

// ThreadExit reports ReportThreadExit if owner still holds locks
// (witness_thread_exit) and forgets the owner. The kernel must call it
// when a thread or goroutine ends: owner ids may be reused, and the owner
// table only shrinks here.
func (w *Witness) ThreadExit(owner uint64) { w.threadExit(owner) }

func (w *Witness) threadExit(owner uint64) {
	var hl []HeldLock
	sh := w.shard(owner)
	cfg := w.lock(&sh.mu)
	if ow := sh.owners[owner]; ow != nil {
		delete(sh.owners, owner)
		if ow.epoch == w.epoch.Load() {
			for i := len(ow.sleep) - 1; i >= 0; i-- {
				hl = append(hl, ow.sleep[i].info())
			}
			for i := len(ow.spin) - 1; i >= 0; i-- {
				hl = append(hl, ow.spin[i].info())
			}
		}
	}
	w.unlock(&sh.mu, cfg)
	if len(hl) == 0 || Mode(w.mode.Load()) == Off {
		return
	}
	r := &Report{Kind: ReportThreadExit, Owner: owner, Held: hl, Lock: hl[0].Name, Class: hl[0].Class,
		LockKind: hl[0].Kind, OtherStack: hl[0].Stack}
	w.emit([]pending{{key: reportKey{kind: ReportThreadExit, a: w.classIndex(hl[0].Class)}, r: r, cur: true}})
}
