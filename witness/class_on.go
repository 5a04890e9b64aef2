//go:build !nowitness

package witness

import (
	"fmt"
	"sync/atomic"
)

// Class is a lock class (FreeBSD's struct witness): every lock of the class
// shares its place in the order graph. Create it once per name with
// NewClass; declaring a name in an order list creates it "unregistered"
// until the lock package registers it with a kind.
type Class struct {
	w     *Witness // (c)
	name  string   // (c)
	index int32    // (c) bit index in the bitsets

	info     atomic.Uint32  // (a) kind | flags<<8, 0 while unregistered; set once
	lastPC   atomic.Uintptr // (a) where a lock of the class was last acquired
	acquired atomic.Bool    // (a) a lock of the class has been acquired
	usage    atomic.Uint32  // (a) usedIntr/usedIntrOn bits; set under w.mu

	// known has bit j set once the order "this class, then class j" has
	// been checked and found consistent: the CheckOrder fast path reads
	// it without the graph lock. Bits are only ever set, under w.mu, with
	// the edge already in the graph, so a reader that sees a bit also
	// sees (through the atomic) everything that made it true.
	known [MaxClasses / 64]atomic.Uint64 // (a)

	desc, anc   bitset    // (g) transitive descendants and ancestors
	children    []*edge   // (g) direct edges out, in creation order
	declared    bool      // (g) named in an order list
	intrStack   []uintptr // (g) first acquisition in interrupt context
	intrOnStack []uintptr // (g) first acquisition with interrupts enabled
}

const (
	usedIntr   = 1 << iota // taken in interrupt context
	usedIntrOn             // taken with interrupts enabled
)

// Name returns the class name.
func (c *Class) Name() string { return c.name }

// Kind returns the class kind (0 while unregistered).
func (c *Class) Kind() Kind { return Kind(c.info.Load() & 0xff) }

// Flags returns the class flags.
func (c *Class) Flags() ClassFlags { return ClassFlags(c.info.Load() >> 8) }

func (c *Class) has(f ClassFlags) bool { return c.Flags()&f != 0 }

func (c *Class) isGiant() bool { return c.name == GiantName }

// isKnown reports whether the order c → d has already been checked.
func (c *Class) isKnown(d *Class) bool {
	return c.known[d.index>>6].Load()&(1<<(d.index&63)) != 0
}

func (c *Class) setKnown(d *Class) { c.known[d.index>>6].Or(1 << (d.index & 63)) }

// Object is the witness part of a lock (FreeBSD's struct lock_object): the
// lock package embeds one in every lock and initialises it with Class.Init.
// A zero Object is not watched, which is how witness's own locks and
// deliberately unchecked locks opt out. It must not be copied once used.
type Object struct {
	cls     atomic.Pointer[Class] // (a) nil: not watched
	name    string                // set by Init while nobody holds the lock
	holders atomic.Int32          // (a) owners holding it (a shared holder counts once)
	xowner  atomic.Uint64         // (a) exclusive owner, valid while held exclusively
	epoch   atomic.Uint32         // (a) witness epoch of the last acquisition
}

// Name returns the lock's instance name.
func (o *Object) Name() string { return o.name }

// Class returns the lock's class, nil if it is not watched.
func (o *Object) Class() *Class { return o.cls.Load() }

// sanitize drops flags the kind cannot have, as witness_init's checks do.
func sanitize(kind Kind, flags ClassFlags) (ClassFlags, string) {
	var why string
	if kind == SX {
		flags |= Sleepable
	}
	if kind == Spin && flags&Sleepable != 0 {
		flags &^= Sleepable
		why = "spin mutex can not be sleepable"
	}
	if !kind.Shareable() && flags&Upgradable != 0 {
		flags &^= Upgradable
		why = kind.String() + " can not be upgradable"
	}
	return flags, why
}

// NewClass returns the class called name, creating and registering it. A
// second call with the same name returns the same class; with a different
// kind or flags it also reports ReportBadClass. It returns nil (locks of a
// nil class are not watched) for an invalid kind or past MaxClasses.
func (w *Witness) NewClass(name string, kind Kind, flags ClassFlags) *Class {
	flags, why := sanitize(kind, flags)
	if kind < Spin || kind > RW {
		why = fmt.Sprintf("invalid kind %d", kind)
	}
	cfg := w.lock(&w.mu)
	c, overflow := w.classLocked(name)
	if c != nil && why == "" {
		info := uint32(kind) | uint32(flags)<<8
		if old := c.info.Load(); old == 0 {
			c.info.Store(info)
		} else if old != info {
			why = fmt.Sprintf("class %q registered as %s (%s), now as %s (%s)",
				name, Kind(old&0xff), ClassFlags(old>>8), kind, flags)
		}
	}
	w.unlock(&w.mu, cfg)
	if overflow {
		why = fmt.Sprintf("more than %d lock classes: %q and later classes are not watched", MaxClasses, name)
	}
	if why != "" {
		w.emit([]pending{{key: reportKey{kind: ReportBadClass, why: why},
			r: &Report{Kind: ReportBadClass, Class: name, LockKind: kind, Why: why}}})
	}
	if kind < Spin || kind > RW {
		return nil
	}
	return c
}

// LookupClass returns the class called name, or nil.
func (w *Witness) LookupClass(name string) *Class {
	cfg := w.lock(&w.mu)
	defer w.unlock(&w.mu, cfg)
	return w.byName[name]
}

// classLocked returns the class called name, creating it unregistered.
// Past MaxClasses it returns nil, and overflow is true the first time.
func (w *Witness) classLocked(name string) (c *Class, overflow bool) {
	if c = w.byName[name]; c != nil {
		return c, false
	}
	if len(w.classes) >= MaxClasses {
		first := !w.overflow
		w.overflow = true
		return nil, first
	}
	c = &Class{w: w, name: name, index: int32(len(w.classes))}
	w.classes = append(w.classes, c)
	w.byName[name] = c
	return c, false
}

// AddOrder declares that the named classes are acquired in the order given
// (one order list, like witness_defineorder for each adjacent pair). A pair
// that contradicts the order already known is refused with an error.
func (w *Witness) AddOrder(names ...string) error {
	var err error
	var out []pending
	cfg := w.lock(&w.mu)
	var prev *Class
	for _, n := range names {
		c, _ := w.classLocked(n)
		if c == nil {
			break
		}
		c.declared = true
		switch {
		case prev == nil:
		case prev == c || c.desc.has(prev.index):
			if err == nil {
				err = fmt.Errorf("witness: order list %q before %q contradicts the known order", prev.name, c.name)
			}
		default:
			out = w.addEdgeLocked(prev, c, nil, true, out)
		}
		prev = c
	}
	w.unlock(&w.mu, cfg)
	w.emit(out)
	return err
}

// Bless allows the classes a and b to be acquired in either order.
func (w *Witness) Bless(a, b string) {
	cfg := w.lock(&w.mu)
	w.blessed[[2]string{a, b}] = true
	w.blessed[[2]string{b, a}] = true
	w.unlock(&w.mu, cfg)
}

// Init binds o to the class c under the instance name name (witness_init).
// Re-initialising a lock that is held reports ReportDestroyHeld and leaves
// the lock as it was. A nil class leaves o unwatched.
func (c *Class) Init(o *Object, name string) {
	if c == nil {
		o.name = name
		return
	}
	w := c.w
	if c.Kind() == 0 {
		// Declared in an order list but never registered: no kind to
		// check against. Leave the lock unwatched and say so.
		why := fmt.Sprintf("lock %q initialised with unregistered class %q", name, c.name)
		w.emit([]pending{{key: reportKey{kind: ReportBadClass, a: c.index, why: why},
			r: &Report{Kind: ReportBadClass, Lock: name, Class: c.name, Why: why}}})
		o.name = name
		return
	}
	if old := o.cls.Load(); old != nil && o.holders.Load() > 0 &&
		o.epoch.Load() == w.epoch.Load() && w.Mode() != Off {
		w.emit([]pending{w.heldObjectReport(o, old, "re-initialising held lock")})
		return
	}
	o.name = name
	o.holders.Store(0)
	o.xowner.Store(0)
	o.epoch.Store(0)
	o.cls.Store(c)
}

// Destroy records that o is destroyed (witness_destroy): destroying a held
// lock reports ReportDestroyHeld. Afterwards o is not watched.
func (w *Witness) Destroy(owner uint64, o *Object) { w.destroyOp(owner, o) }

func (w *Witness) destroyOp(owner uint64, o *Object) {
	c := o.cls.Load()
	if c == nil {
		return
	}
	var out []pending
	if w.Mode() != Off && o.holders.Load() > 0 && o.epoch.Load() == w.epoch.Load() {
		out = append(out, w.heldObjectReport(o, c, "destroying held lock"))
		// Forget the caller's own hold so that it is not reported again
		// at thread exit; other holders keep theirs.
		sh := w.shard(owner)
		cfg := w.lock(&sh.mu)
		if ow := w.ownerLocked(sh, owner, false); ow != nil {
			l := ow.list(c.Kind())
			if i := findHeld(*l, o); i >= 0 {
				*l = append((*l)[:i], (*l)[i+1:]...)
				o.holders.Add(-1)
			}
		}
		w.unlock(&sh.mu, cfg)
	}
	o.cls.Store(nil)
	w.emit(out)
}

func (w *Witness) heldObjectReport(o *Object, c *Class, why string) pending {
	r := &Report{Kind: ReportDestroyHeld, Lock: o.name, Class: c.name, LockKind: c.Kind(), Why: why}
	if o.holders.Load() > 0 {
		r.Owner = o.xowner.Load()
	}
	return pending{key: reportKey{kind: ReportDestroyHeld, a: c.index, why: why}, r: r, cur: true}
}
