package e1000

// Ring index arithmetic (§3.2.6 receive, §3.4 transmit). Head (RDH/TDH) is
// owned by the device, tail (RDT/TDT) by software; descriptors from head up
// to tail-1 belong to the device. A ring of n descriptors holds at most n-1
// in flight: head == tail means empty.

// Ring tracks one descriptor ring's software indices.
type Ring struct {
	N    int // descriptors (a multiple of 8: RDLEN/TDLEN are 128-byte units)
	Next int // next descriptor software will look at (the oldest in flight)
	Tail int // the tail value last written to the device
}

// Advance returns i+1 modulo the ring size.
func (r *Ring) Advance(i int) int {
	if i+1 == r.N {
		return 0
	}
	return i + 1
}

// InFlight is how many descriptors the device owns.
func (r *Ring) InFlight() int { return (r.Tail - r.Next + r.N) % r.N }

// Free is how many descriptors software may still hand to the device.
func (r *Ring) Free() int { return r.N - 1 - r.InFlight() }

// Full reports whether no descriptor can be added.
func (r *Ring) Full() bool { return r.Free() == 0 }

// Push claims the tail descriptor for the device and returns its index;
// the caller fills it, then writes r.Tail to the tail register.
func (r *Ring) Push() (int, bool) {
	if r.Full() {
		return 0, false
	}
	i := r.Tail
	r.Tail = r.Advance(i)
	return i, true
}

// Pop retires the oldest in-flight descriptor and returns its index.
func (r *Ring) Pop() (int, bool) {
	if r.InFlight() == 0 {
		return 0, false
	}
	i := r.Next
	r.Next = r.Advance(i)
	return i, true
}

// ValidHead reports whether a head value read from the device lies in
// the in-flight window [Next, Tail] (a device that reports anything else
// is broken or was reset).
func (r *Ring) ValidHead(h int) bool {
	if h < 0 || h >= r.N {
		return false
	}
	return (h-r.Next+r.N)%r.N <= r.InFlight()
}
