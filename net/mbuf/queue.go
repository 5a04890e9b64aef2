package mbuf

// Queue is a FIFO of packets linked through their first mbufs (FreeBSD's
// struct ifqueue). It is not safe for concurrent use: the owner's lock
// guards it. Limit 0 means unlimited.
type Queue struct {
	head, tail *Mbuf
	n          int
	Limit      int
	Drops      uint64 // packets refused because the queue was full
}

// Len returns the packets queued.
func (q *Queue) Len() int { return q.n }

// Full reports whether Enqueue would refuse a packet.
func (q *Queue) Full() bool { return q.Limit > 0 && q.n >= q.Limit }

// Enqueue appends packet m and reports true, or counts a drop and reports
// false when the queue is full; the caller still owns a refused packet.
func (q *Queue) Enqueue(m *Mbuf) bool {
	if q.Full() {
		q.Drops++
		stats.drops.Add(1)
		return false
	}
	m.nextPkt = nil
	if q.tail == nil {
		q.head = m
	} else {
		q.tail.nextPkt = m
	}
	q.tail = m
	q.n++
	return true
}

// Prepend puts packet m at the front, ignoring the limit (for a packet
// taken off and put back).
func (q *Queue) Prepend(m *Mbuf) {
	m.nextPkt = q.head
	q.head = m
	if q.tail == nil {
		q.tail = m
	}
	q.n++
}

// Dequeue removes and returns the first packet, or nil.
func (q *Queue) Dequeue() *Mbuf {
	m := q.head
	if m == nil {
		return nil
	}
	q.head = m.nextPkt
	if q.head == nil {
		q.tail = nil
	}
	m.nextPkt = nil
	q.n--
	return m
}

// Peek returns the first packet without removing it.
func (q *Queue) Peek() *Mbuf { return q.head }

// Drain frees every queued packet and returns how many there were.
func (q *Queue) Drain() int {
	n := 0
	for m := q.Dequeue(); m != nil; m = q.Dequeue() {
		m.FreeChain()
		n++
	}
	return n
}
