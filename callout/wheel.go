package callout

// The callout wheel (FreeBSD's callwheel): pure bookkeeping, built and
// tested on the host. An entry due at tick t sits in bucket t mod size;
// processing tick k looks at bucket k mod size only and takes the entries
// due at or before k (later rotations stay). An entry inserted for a tick
// the wheel has already passed goes in the cursor's bucket, which the
// next processing looks at first, so it is taken at once. When more than
// a whole rotation of ticks is to be processed at once (a long stall),
// every bucket is scanned instead of walking tick by tick.

// wheelSize is the number of buckets (a power of two): at HZ = 250, one
// rotation is about a second.
const wheelSize = 256

// node is an entry's link in its bucket, embedded in what it schedules.
type node[T any] struct {
	due        int64 // the tick it is due at
	prev, next *node[T]
	bucket     int32 // index while on the wheel, -1 otherwise
	val        T
}

// wheel is a callout wheel. The zero value is not usable: call init.
type wheel[T any] struct {
	buckets [wheelSize]*node[T] // heads of doubly linked lists
	cursor  int64               // every tick <= cursor has been processed
	n       int                 // entries on the wheel
	lowest  int64               // no entry is due before it (a lower bound)
}

// init empties w and sets its clock: ticks up to now count as processed.
func (w *wheel[T]) init(now int64) {
	*w = wheel[T]{cursor: now, lowest: maxTick}
}

const maxTick = int64(^uint64(0) >> 1)

// onWheel reports whether nd is on a wheel.
func (nd *node[T]) onWheel() bool { return nd.bucket >= 0 }

// insert puts nd on the wheel, due at tick due. nd must not be on it.
func (w *wheel[T]) insert(nd *node[T], due int64) {
	nd.due = due
	at := due
	if at <= w.cursor {
		at = w.cursor // overdue: the next popDue takes it from there
	}
	b := int32(at & (wheelSize - 1))
	nd.bucket = b
	nd.prev = nil
	nd.next = w.buckets[b]
	if nd.next != nil {
		nd.next.prev = nd
	}
	w.buckets[b] = nd
	w.n++
	w.lowest = min(w.lowest, due)
}

// remove takes nd off the wheel. nd must be on it.
func (w *wheel[T]) remove(nd *node[T]) {
	if nd.prev != nil {
		nd.prev.next = nd.next
	} else {
		w.buckets[nd.bucket] = nd.next
	}
	if nd.next != nil {
		nd.next.prev = nd.prev
	}
	nd.prev, nd.next, nd.bucket = nil, nil, -1
	w.n--
	if w.n == 0 {
		w.lowest = maxTick
	}
}

// popDue takes one entry due at or before tick now off the wheel, in
// tick order across calls (entries due at the same tick in no particular
// order), or returns nil when none is left and the wheel's clock has
// reached now.
func (w *wheel[T]) popDue(now int64) *node[T] {
	now = max(now, w.cursor)
	if w.n == 0 || w.lowest > now {
		w.cursor = max(w.cursor, now)
		return nil
	}
	if now-w.cursor > wheelSize {
		// A stall of more than a rotation: scan everything.
		var best *node[T]
		for _, head := range w.buckets {
			for nd := head; nd != nil; nd = nd.next {
				if nd.due <= now && (best == nil || nd.due < best.due) {
					best = nd
				}
			}
		}
		if best != nil {
			w.remove(best)
			return best
		}
		w.cursor = now
		return nil
	}
	// Entries that were overdue when inserted sit in the cursor's bucket.
	for nd := w.buckets[w.cursor&(wheelSize-1)]; nd != nil; nd = nd.next {
		if nd.due <= w.cursor {
			w.remove(nd)
			return nd
		}
	}
	for w.cursor < now {
		k := w.cursor + 1
		for nd := w.buckets[k&(wheelSize-1)]; nd != nil; nd = nd.next {
			if nd.due <= k {
				w.remove(nd)
				return nd
			}
		}
		w.cursor = k
	}
	return nil
}

// nextDue returns the tick the earliest entry is due at (exact: it scans
// the wheel and tightens the lower bound), or maxTick when it is empty.
func (w *wheel[T]) nextDue() int64 {
	if w.n == 0 {
		w.lowest = maxTick
		return maxTick
	}
	low := maxTick
	for _, head := range w.buckets {
		for nd := head; nd != nil; nd = nd.next {
			low = min(low, nd.due)
		}
	}
	w.lowest = low
	return low
}

// len returns how many entries are on the wheel.
func (w *wheel[T]) len() int { return w.n }
