package sock

import "syscall"

// unixQueue is an AF_UNIX socket's receive queue: what its peers sent and
// it has not read yet, with the state that decides what a read or a send
// answers when it is empty or closed. Pure logic (host tests); the owning
// socket's rq lock guards it.
//
// Stream sockets read across messages (bytes); datagram and seqpacket
// sockets read one message per call, the surplus of a message longer than
// the buffer discarded (MSG_TRUNC), zero-length messages included. The
// limit bounds the queued bytes (and datagrams to unixMaxMsgs): a send
// that does not fit answers EAGAIN (a stream send takes what fits) and
// the sender is remembered, to be told (EPOLLOUT) when a read makes room:
// that is the back-pressure.
type unixQueue struct {
	msgs    []unixMsg
	bytes   int  // unread bytes in msgs
	limit   int  // bytes the queue may hold
	records bool // datagram, seqpacket: message boundaries kept

	eof    bool          // the peer shut its sending side or closed: reads end (0) once empty
	shut   bool          // this socket shut its receiving side: reads answer 0, senders EPIPE
	closed bool          // the socket closed: senders get EPIPE or ECONNREFUSED
	err    syscall.Errno // pending error for the next read, or SO_ERROR (ECONNRESET)

	waiters []*unixSock // senders that found the queue full
}

// unixMsg is one send: its bytes (the unread part for streams) and the
// sender's name (datagrams: for recvfrom).
type unixMsg struct {
	data []byte
	from string
	fds  []int // SCM_RIGHTS: descriptors in flight (duplicates), given with the message's first byte
}

const (
	unixDefaultBuf = 256 << 10 // default queue limit (SO_RCVBUF)
	unixMinBuf     = 2 << 10
	unixMaxBuf     = 4 << 20
	unixMaxMsgs    = 512 // datagrams queued at most (Linux's max_dgram_qlen)
)

func newUnixQueue(records bool) unixQueue {
	return unixQueue{limit: unixDefaultBuf, records: records}
}

// put queues total bytes from bufs, sent by from: the bytes taken (all of
// a message, or for streams what fits), EAGAIN when nothing fits,
// EMSGSIZE for a message larger than the queue can ever hold.
func (q *unixQueue) put(bufs [][]byte, total int, from string, fds []int) (int, syscall.Errno) {
	room := q.limit - q.bytes
	if q.records {
		switch {
		case total > q.limit:
			return 0, syscall.EMSGSIZE
		case total > room || len(q.msgs) >= unixMaxMsgs:
			return 0, syscall.EAGAIN
		}
	} else {
		if total == 0 {
			return 0, 0 // nothing queued (descriptors need a byte to travel with)
		}
		if room <= 0 {
			return 0, syscall.EAGAIN
		}
		total = min(total, room)
	}
	data := make([]byte, 0, total)
	for _, b := range bufs {
		data = append(data, b[:min(len(b), total-len(data))]...)
	}
	q.msgs = append(q.msgs, unixMsg{data: data, from: from, fds: fds})
	q.bytes += total
	return total, 0
}

// get reads into bufs: for streams as much as is queued and fits, for
// records one message (trunc: it was longer than bufs), with the
// descriptors in flight that come with what was read. A stream read stops
// before a message that carries descriptors, so that they arrive with
// their message's first byte, as on Linux. empty is true when nothing was
// queued (n is then 0: the caller decides between EOF and EAGAIN).
func (q *unixQueue) get(bufs [][]byte) (n int, from string, fds []int, trunc, empty bool) {
	if len(q.msgs) == 0 {
		return 0, "", nil, false, true
	}
	if q.records {
		m := q.msgs[0]
		q.pop()
		q.bytes -= len(m.data)
		rest := m.data
		for _, b := range bufs {
			k := copy(b, rest)
			rest, n = rest[k:], n+k
		}
		return n, m.from, m.fds, len(rest) > 0, false
	}
	for _, b := range bufs {
		for len(b) > 0 && len(q.msgs) > 0 {
			m := &q.msgs[0]
			if m.fds != nil {
				if n > 0 || fds != nil {
					q.bytes -= n
					return n, "", fds, false, false
				}
				fds, m.fds = m.fds, nil
			}
			k := copy(b, m.data)
			b, m.data, n = b[k:], m.data[k:], n+k
			if len(m.data) == 0 {
				q.pop()
			}
		}
	}
	q.bytes -= n
	return n, "", fds, false, false
}

func (q *unixQueue) pop() {
	q.msgs[0] = unixMsg{}
	q.msgs = q.msgs[1:]
	if len(q.msgs) == 0 {
		q.msgs = nil // let the backing array go
	}
}

// drop discards everything queued (the socket closed): it reports
// whether anything was unread and returns the descriptors in flight, for
// the caller to close.
func (q *unixQueue) drop() (bool, []int) {
	unread := len(q.msgs) > 0
	var fds []int
	for _, m := range q.msgs {
		fds = append(fds, m.fds...)
	}
	q.msgs, q.bytes = nil, 0
	return unread, fds
}

// takeWaiters returns the senders to tell that the queue has room (or
// closed), forgetting them.
func (q *unixQueue) takeWaiters() []*unixSock {
	w := q.waiters
	q.waiters = nil
	return w
}

// wait remembers a sender that found the queue full (once).
func (q *unixQueue) wait(s *unixSock) {
	for _, w := range q.waiters {
		if w == s {
			return
		}
	}
	q.waiters = append(q.waiters, s)
}

// setLimit sets the queue's limit (SO_RCVBUF), clamped as Linux clamps
// it, and returns it.
func (q *unixQueue) setLimit(v int) int {
	q.limit = min(max(v, unixMinBuf), unixMaxBuf)
	return q.limit
}
