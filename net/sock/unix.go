package sock

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/smpgo/smpgo/fs/kfs"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/nlock"
)

// AF_UNIX sockets: SOCK_STREAM, SOCK_DGRAM and SOCK_SEQPACKET between
// sockets of this machine, served by the socket provider like AF_INET's
// (socket and socketpair make the descriptors in trap context; see
// kern/unixsock.go).
//
// Names: a path (bind creates a socket node in the file system, fs/kfs:
// stat shows S_IFSOCK, unlink removes it, a name that exists answers
// EADDRINUSE; connect finds the socket through the node, so an unlinked
// name is gone and a closed socket's node answers ECONNREFUSED), a Linux
// abstract name (sun_path starting with NUL: a table here, freed when the
// socket closes), or none (autobind on bind with no name, or listen, picks
// an abstract name of five hex digits, as Linux does).
//
// Data: each socket has a receive queue (unixQueue) that its peers write
// into directly; its limit (SO_RCVBUF, 256 KiB) is the back-pressure: a
// sender that finds it full gets EAGAIN and is told (EPOLLOUT) when a read
// makes room. A stream socket's peer closing makes reads end (0) once the
// queue is empty, with ECONNRESET first if it closed with unread data, and
// writes EPIPE; a datagram sent to a closed socket answers ECONNREFUSED.
// Descriptors travel with SCM_RIGHTS (duplicates made at sendmsg).
//
// # Locking
//
// Every socket has three mutexes, never two of one class at once:
//
//	unix socket → unix accept → unix rcvq
//	unix socket → unix names (and the file system's, for path names)
//
// mu guards the socket's state (name, peer, shutdown); aq a listener's
// queue of connections not yet accepted; rq the receive queue. A sender
// holds its own mu at most while it takes the receiver's rq; a connect
// holds its mu while it queues on the listener's aq. Notifications
// (kern.Notify, blocked calls' wake-ups) are made with no lock held.
type unixSock struct {
	handle uint64 // (c)
	typ    int    // (c) sockStream, sockDgram, sockSeqpacket
	fd     atomic.Int64
	w      waiter // blocked calls wait here

	mu        nlock.Mutex // "unix socket"
	name      string      // (mu) bound name, sun_path bytes as reported ("" unnamed)
	peer      *unixSock   // (mu) connected: the other end (datagrams: the default destination)
	peerName  string      // (mu) the peer's name when connected
	listening bool        // (mu)
	conn      bool        // (mu) stream, seqpacket: connected
	shutWr    bool        // (mu)
	closed    bool        // (mu)
	opts      map[[2]int]int

	aq struct {
		mu      nlock.Mutex // "unix accept"
		on      bool        // listening
		name    string      // the listener's name (accepted sockets' local name)
		backlog int
		q       []*unixSock // connections waiting for accept
	}

	rq struct {
		mu nlock.Mutex // "unix rcvq"
		unixQueue
	}
}

// waiter wakes the calls of blocking sockets that wait for a change.
type waiter struct {
	mu sync.Mutex // leaf
	ch chan struct{}
}

// changed returns a channel closed by the next wake.
func (w *waiter) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *waiter) wake() {
	w.mu.Lock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
	w.mu.Unlock()
}

const (
	afUnix        = 1
	sockSeqpacket = 5

	epollErr   = 0x8
	epollHup   = 0x10
	epollRdhup = 0x2000

	msgTrunc = 0x20
)

var (
	unixSocks    = map[uint64]*unixSock{} // (sockMu) handle → socket
	unixNamesMu  nlock.Mutex              // "unix names"
	unixAbstract = map[string]*unixSock{} // (unixNamesMu) abstract name → socket
	unixAutobind atomic.Uint32
)

func init() {
	unixNamesMu.Init("unix names")
}

// OpenUnix returns how many AF_UNIX sockets are open (included in Open).
func OpenUnix() int {
	sockMu.Lock()
	defer sockMu.Unlock()
	return len(unixSocks)
}

func newUnixSock(typ int) *unixSock {
	u := &unixSock{typ: typ, opts: map[[2]int]int{}}
	u.fd.Store(-1)
	u.mu.Init("unix socket")
	u.aq.mu.Init("unix accept")
	u.rq.mu.Init("unix rcvq")
	u.rq.unixQueue = newUnixQueue(typ != sockStream)
	return u
}

// notify posts events for epoll on the socket's descriptor and wakes its
// blocked calls.
func (u *unixSock) notify(events uint32) {
	if fd := u.fd.Load(); fd >= 0 && events != 0 {
		kern.Notify(int(fd), u.handle, events)
	}
	u.w.wake()
}

// serveUnix is the provider's handler for AF_UNIX descriptors.
func serveUnix(r *kern.Request) int64 {
	sockMu.Lock()
	u := unixSocks[r.Handle]
	if u == nil && kern.SockHandleUnix(r.Handle) {
		// The first call on a descriptor socket(2) or socketpair(2)
		// made: create the object, and a pair's other end with it.
		typ := kern.SockHandleType(r.Handle)
		u = newUnixSock(typ)
		u.handle = r.Handle
		unixSocks[r.Handle] = u
		if ph, ok := kern.SockHandlePeer(r.Handle); ok {
			p := newUnixSock(typ)
			p.handle = ph
			u.peer, p.peer = p, u
			u.conn, p.conn = typ != sockDgram, typ != sockDgram
			unixSocks[ph] = p
		}
	}
	if r.Nr == sysClose {
		delete(unixSocks, r.Handle)
	}
	sockMu.Unlock()
	if u == nil {
		return fail(syscall.EBADF)
	}
	if r.Fd >= 0 && u.fd.Load() < 0 && r.Nr != sysClose {
		u.fd.Store(int64(r.Fd)) // a pair's end learns its descriptor on its first call
		if _, ok := kern.SockHandlePeer(r.Handle); ok {
			u.publishPair()
		}
	}
	return dispatch(u, r)
}

// wait runs op (sockObj.wait); the socket's next change is its waiter's
// next wake.
func (u *unixSock) wait(r *kern.Request, nonblock bool, op func() int64) int64 {
	return u.waitFor(r, nonblock, nil, op)
}

// waitFor is wait, retrying on a change of u or of other (when set).
func (u *unixSock) waitFor(r *kern.Request, nonblock bool, other *unixSock, op func() int64) int64 {
	ch := u.w.changed()
	var och <-chan struct{}
	if other != nil {
		och = other.w.changed()
	}
	res := op()
	if res != eagain || nonblock {
		return res
	}
	go func() {
		for {
			select {
			case <-ch:
			case <-och:
			}
			ch = u.w.changed()
			if other != nil {
				och = other.w.changed()
			}
			if res := op(); res != eagain {
				r.Complete(res)
				return
			}
		}
	}()
	return kern.Deferred
}

// unixAddr is a parsed struct sockaddr_un.
type unixAddr struct {
	name     string // sun_path bytes as getsockname reports them
	path     string // a path name ("" for abstract or unnamed)
	abstract bool
}

func (a unixAddr) unnamed() bool { return a.name == "" }

// getUnixAddr reads a struct sockaddr_un of n bytes: family AF_UNIX,
// then a path (up to its NUL), an abstract name (a leading NUL, then n-3
// bytes, NULs included) or nothing (n == 2: unnamed).
func getUnixAddr(addr uintptr, n int) (unixAddr, syscall.Errno) {
	if n < 2 || n > 110 {
		return unixAddr{}, syscall.EINVAL
	}
	b := kern.UserBytes(addr, n)
	if b == nil {
		return unixAddr{}, syscall.EFAULT
	}
	if fam := binary.LittleEndian.Uint16(b); fam != afUnix {
		return unixAddr{}, syscall.EINVAL
	}
	p := b[2:]
	switch {
	case len(p) == 0:
		return unixAddr{}, 0
	case p[0] == 0:
		return unixAddr{name: string(p), abstract: true}, 0
	}
	if i := strings.IndexByte(string(p), 0); i >= 0 {
		p = p[:i]
	}
	return unixAddr{name: string(p) + "\x00", path: string(p)}, 0
}

// putUnixAddr writes name as a struct sockaddr_un at addr, truncated to
// the caller's *addrLen, and stores the full length there.
func putUnixAddr(addr, addrLen uintptr, name string) int64 {
	lb, have, e := userLen(addrLen)
	if e != 0 {
		return fail(e)
	}
	sa := make([]byte, 2+len(name))
	sa[0] = afUnix
	copy(sa[2:], name)
	if k := min(have, len(sa)); k > 0 {
		b := kern.UserBytes(addr, k)
		if b == nil {
			return fail(syscall.EFAULT)
		}
		copy(b, sa[:k])
	}
	putLen(lb, len(sa))
	return 0
}

// kernName converts a name to kern's form for getsockname/getpeername.
func kernName(name string) *kern.UnixName {
	n := &kern.UnixName{Len: uint8(len(name))}
	copy(n.Path[:], name)
	return n
}

// publish records the socket's names in its descriptor (nil: unchanged).
func (u *unixSock) publish(local, peer *string) {
	fd := u.fd.Load()
	if fd < 0 {
		return
	}
	var l, p *kern.UnixName
	if local != nil {
		l = kernName(*local)
	}
	if peer != nil {
		p = kernName(*peer)
	}
	kern.SetUnixAddrs(int(fd), u.handle, l, p)
}

// publishPair records a socketpair end's names: both unnamed, connected.
func (u *unixSock) publishPair() {
	u.mu.Lock()
	local, peer, conn := u.name, u.peerName, u.peer != nil
	u.mu.Unlock()
	if conn {
		u.publish(&local, &peer)
	} else {
		u.publish(&local, nil)
	}
}

// lookup finds the socket a name is bound to.
func lookupUnix(a unixAddr) (*unixSock, syscall.Errno) {
	if a.abstract {
		unixNamesMu.Lock()
		t := unixAbstract[a.name]
		unixNamesMu.Unlock()
		if t == nil {
			return nil, syscall.ECONNREFUSED
		}
		return t, 0
	}
	obj, err := kfs.FindSocket(a.path)
	if err != nil {
		e, ok := err.(syscall.Errno)
		if !ok {
			e = syscall.EIO
		}
		return nil, e
	}
	t, ok := obj.(*unixSock)
	if !ok {
		return nil, syscall.ECONNREFUSED
	}
	return t, 0
}

// bindLocked gives the socket name a (an autobound abstract name if a is
// unnamed).
func (u *unixSock) bindLocked(a unixAddr) syscall.Errno {
	if a.unnamed() {
		unixNamesMu.Lock()
		defer unixNamesMu.Unlock()
		for range 1 << 20 {
			n := fmt.Sprintf("\x00%05x", unixAutobind.Add(1)&0xfffff)
			if unixAbstract[n] == nil {
				unixAbstract[n] = u
				u.name = n
				return 0
			}
		}
		return syscall.EADDRINUSE
	}
	if a.abstract {
		unixNamesMu.Lock()
		defer unixNamesMu.Unlock()
		if unixAbstract[a.name] != nil {
			return syscall.EADDRINUSE
		}
		unixAbstract[a.name] = u
		u.name = a.name
		return 0
	}
	if err := kfs.BindSocket(a.path, u); err != nil {
		e, ok := err.(syscall.Errno)
		if !ok {
			e = syscall.EIO
		}
		return e
	}
	u.name = a.name
	return 0
}

func (u *unixSock) bind(addr uintptr, n int) int64 {
	a, e := getUnixAddr(addr, n)
	if e != 0 {
		return fail(e)
	}
	u.mu.Lock()
	switch {
	case u.closed:
		e = syscall.EBADF
	case u.name != "":
		e = syscall.EINVAL
	default:
		e = u.bindLocked(a)
	}
	name := u.name
	u.mu.Unlock()
	if e != 0 {
		return fail(e)
	}
	u.publish(&name, nil)
	return 0
}

func (u *unixSock) listen(backlog int) int64 {
	if u.typ == sockDgram {
		return fail(syscall.EOPNOTSUPP)
	}
	u.mu.Lock()
	var e syscall.Errno
	switch {
	case u.closed:
		e = syscall.EBADF
	case u.conn:
		e = syscall.EINVAL
	case u.name == "":
		e = u.bindLocked(unixAddr{})
	}
	if e != 0 {
		u.mu.Unlock()
		return fail(e)
	}
	u.listening = true
	name := u.name
	u.aq.mu.Lock()
	u.aq.on, u.aq.name = true, name
	u.aq.backlog = min(max(backlog, 1), 4096)
	u.aq.mu.Unlock()
	u.mu.Unlock()
	u.publish(&name, nil)
	return 0
}

func (u *unixSock) accept(addr, addrLen uintptr, flags int) int64 {
	u.aq.mu.Lock()
	if !u.aq.on {
		u.aq.mu.Unlock()
		return fail(syscall.EINVAL)
	}
	if len(u.aq.q) == 0 {
		u.aq.mu.Unlock()
		return eagain
	}
	ns := u.aq.q[0]
	u.aq.q[0] = nil
	u.aq.q = u.aq.q[1:]
	u.aq.mu.Unlock()
	u.notify(0) // a connect waiting for room in the backlog retries

	ns.handle = handles.Add(1)
	fd := install(unixSocks, ns.handle, ns, &ns.fd, flags)
	if fd < 0 {
		return fd
	}
	ns.mu.Lock()
	local, peer := ns.name, ns.peerName
	ns.mu.Unlock()
	ns.publish(&local, &peer)
	if addr != 0 {
		if e := putUnixAddr(addr, addrLen, peer); e != 0 {
			return e // the connection stays open on fd, as on Linux
		}
	}
	return fd
}

func (u *unixSock) connect(r *kern.Request, nonblock bool, addr uintptr, n int) int64 {
	if n >= 2 {
		if b := kern.UserBytes(addr, 2); b != nil && b[0] == 0 && b[1] == 0 && u.typ == sockDgram {
			return u.disconnect() // AF_UNSPEC
		}
	}
	a, e := getUnixAddr(addr, n)
	if e == 0 && a.unnamed() {
		e = syscall.EINVAL
	}
	if e != 0 {
		return fail(e)
	}
	t, e := lookupUnix(a)
	if e != 0 {
		return fail(e)
	}
	if t.typ != u.typ {
		return fail(syscall.EPROTOTYPE)
	}
	if u.typ == sockDgram {
		return u.connectDgram(t)
	}
	return u.waitFor(r, nonblock, t, func() int64 { return u.connectStream(t) })
}

// connectStream queues a new server-side socket on listener t's accept
// queue, connected to u: EAGAIN when the backlog is full.
func (u *unixSock) connectStream(t *unixSock) int64 {
	u.mu.Lock()
	var e syscall.Errno
	switch {
	case u.closed:
		e = syscall.EBADF
	case u.listening:
		e = syscall.EINVAL
	case u.conn:
		e = syscall.EISCONN
	}
	if e != 0 {
		u.mu.Unlock()
		return fail(e)
	}
	ns := newUnixSock(u.typ)
	ns.peer, ns.peerName, ns.conn = u, u.name, true
	t.aq.mu.Lock()
	switch {
	case !t.aq.on:
		e = syscall.ECONNREFUSED
	case len(t.aq.q) >= t.aq.backlog:
		t.aq.mu.Unlock()
		u.mu.Unlock()
		return eagain
	default:
		ns.name = t.aq.name
		t.aq.q = append(t.aq.q, ns)
	}
	t.aq.mu.Unlock()
	if e != 0 {
		u.mu.Unlock()
		return fail(e)
	}
	u.peer, u.peerName, u.conn = ns, ns.name, true
	local, peer := u.name, u.peerName
	u.mu.Unlock()
	t.notify(epollIn)
	u.publish(&local, &peer)
	return 0
}

func (u *unixSock) connectDgram(t *unixSock) int64 {
	t.mu.Lock()
	closed, name := t.closed, t.name
	t.mu.Unlock()
	if closed {
		return fail(syscall.ECONNREFUSED)
	}
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return fail(syscall.EBADF)
	}
	u.peer, u.peerName = t, name
	local := u.name
	u.mu.Unlock()
	u.publish(&local, &name)
	return 0
}

func (u *unixSock) disconnect() int64 {
	u.mu.Lock()
	u.peer, u.peerName = nil, ""
	u.mu.Unlock()
	return 0
}

// close is close(2) on the socket (see end).
func (u *unixSock) close() { u.end(false) }

// end ends the socket. A stream peer reads what is queued, then EOF;
// ECONNRESET first when u had unread data or reset is set (a connection
// its listener closed before accepting it), as Linux answers.
func (u *unixSock) end(reset bool) {
	u.mu.Lock()
	u.closed = true
	peer, name, listening := u.peer, u.name, u.listening
	u.mu.Unlock()
	var pending []*unixSock
	if listening {
		u.aq.mu.Lock()
		pending, u.aq.q, u.aq.on = u.aq.q, nil, false
		u.aq.mu.Unlock()
	}
	u.rq.mu.Lock()
	unread, inflight := u.rq.drop()
	u.rq.closed = true
	waiters := u.rq.takeWaiters()
	u.rq.mu.Unlock()
	if peer != nil && u.typ != sockDgram {
		peer.rq.mu.Lock()
		peer.rq.eof = true
		if unread || reset {
			peer.rq.err = syscall.ECONNRESET
		}
		peer.rq.mu.Unlock()
		peer.notify(epollIn | epollOut | epollHup | epollRdhup)
	}
	closeInFlight(inflight)
	for _, w := range waiters {
		w.notify(epollOut | epollErr)
	}
	for _, ns := range pending {
		ns.end(true) // connections never accepted: their clients see a reset
	}
	if strings.HasPrefix(name, "\x00") {
		unixNamesMu.Lock()
		if unixAbstract[name] == u {
			delete(unixAbstract, name)
		}
		unixNamesMu.Unlock()
	}
	u.fd.Store(-1)
	u.notify(0) // blocked calls fail now
}

func (u *unixSock) shutdown(how int) int64 {
	if how < shutRd || how > shutRdwr {
		return fail(syscall.EINVAL)
	}
	u.mu.Lock()
	if u.typ != sockDgram && !u.conn {
		u.mu.Unlock()
		return fail(syscall.ENOTCONN)
	}
	if how != shutRd {
		u.shutWr = true
	}
	peer := u.peer
	u.mu.Unlock()
	if how != shutWr {
		u.rq.mu.Lock()
		u.rq.shut = true
		waiters := u.rq.takeWaiters()
		u.rq.mu.Unlock()
		u.notify(epollIn | epollRdhup)
		for _, w := range waiters {
			w.notify(epollOut)
		}
	}
	if how != shutRd && peer != nil && u.typ != sockDgram {
		peer.rq.mu.Lock()
		peer.rq.eof = true
		peer.rq.mu.Unlock()
		peer.notify(epollIn | epollRdhup)
	}
	return 0
}

func (u *unixSock) recvFrom(iov []iovec, from, fromLen uintptr) int64 {
	return u.recv(iov, from, fromLen, nil, nil)
}

func (u *unixSock) sendTo(iov []iovec, to uintptr, toLen int) int64 {
	return u.send(iov, to, toLen, nil)
}

// recvmsgOp reads the msghdr once, before the first attempt.
func (u *unixSock) recvmsgOp(msg uintptr) (func() int64, syscall.Errno) {
	m, iov, e := msghdr(msg)
	if e != 0 {
		return nil, e
	}
	return func() int64 { return u.recvmsg(m, msg, iov) }, 0
}

// sendmsgOp reads the msghdr and its SCM_RIGHTS descriptors once, before
// the first attempt.
func (u *unixSock) sendmsgOp(msg uintptr) (func() int64, syscall.Errno) {
	m, iov, e := msghdr(msg)
	if e != 0 {
		return nil, e
	}
	rights, e := getRights(uintptr(le64(m[32:])), int(min(le64(m[40:]), 1<<20)))
	if e != 0 {
		return nil, e
	}
	name, nameLen := uintptr(le64(m[0:])), int(binary.LittleEndian.Uint32(m[8:]))
	if name == 0 {
		nameLen = 0
	}
	return func() int64 { return u.send(iov, name, nameLen, rights) }, 0
}

func (u *unixSock) recvmsg(m []byte, msg uintptr, iov []iovec) int64 {
	var trunc bool
	var fds []int
	n := u.recv(iov, uintptr(le64(m[0:])), msg+8, &trunc, &fds)
	if n < 0 {
		return n
	}
	flags := uint32(0)
	if trunc {
		flags = msgTrunc
	}
	used, ctrunc := putRights(uintptr(le64(m[32:])), int(min(le64(m[40:]), 1<<20)), fds)
	if ctrunc {
		flags |= msgCtrunc
	}
	binary.LittleEndian.PutUint64(m[40:], uint64(used))
	binary.LittleEndian.PutUint32(m[48:], flags)
	return n
}

// SCM_RIGHTS (unix(7)): descriptors sent with a message travel as
// duplicates the kernel makes at sendmsg (dup: the same open file), held
// in the receiver's queue, and become the receiver's at recvmsg (the
// numbers are the duplicates': one process, one descriptor table).
// Duplicates nobody receives — read with read(2), a control buffer too
// small (MSG_CTRUNC), the receiver closed — are closed.
const (
	scmRights  = 1
	msgCtrunc  = 0x8
	scmMaxFd   = 253 // SCM_MAX_FD
	cmsgHdrLen = 16  // struct cmsghdr: len (8), level (4), type (4)
)

// getRights reads the control messages of a sendmsg: the descriptors of
// its SCM_RIGHTS messages (EINVAL for other kinds, bad lengths, more than
// SCM_MAX_FD).
func getRights(ctl uintptr, n int) ([]int, syscall.Errno) {
	if ctl == 0 || n == 0 {
		return nil, 0
	}
	b := kern.UserBytes(ctl, n)
	if b == nil {
		return nil, syscall.EFAULT
	}
	var fds []int
	for len(b) >= cmsgHdrLen {
		l := le64(b)
		level, typ := binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:])
		if l < cmsgHdrLen || l > uint64(len(b)) {
			return nil, syscall.EINVAL
		}
		if level != solSocket || typ != scmRights || (l-cmsgHdrLen)%4 != 0 {
			return nil, syscall.EINVAL
		}
		for p := b[cmsgHdrLen:l]; len(p) >= 4; p = p[4:] {
			fds = append(fds, int(int32(binary.LittleEndian.Uint32(p))))
		}
		if len(fds) > scmMaxFd {
			return nil, syscall.EINVAL
		}
		b = b[min(uint64(len(b)), (l+7)&^7):]
	}
	return fds, 0
}

// dupRights duplicates the descriptors to send (EBADF for one that is
// not open: none is then kept).
func dupRights(fds []int) ([]int, syscall.Errno) {
	if len(fds) == 0 {
		return nil, 0
	}
	out := make([]int, 0, len(fds))
	for _, fd := range fds {
		nfd, err := syscall.Dup(fd)
		if err != nil {
			closeInFlight(out)
			e, _ := err.(syscall.Errno)
			if e == 0 || e == syscall.EINVAL {
				e = syscall.EBADF
			}
			return nil, e
		}
		out = append(out, nfd)
	}
	return out, 0
}

// closeInFlight closes descriptors nobody will receive. In a goroutine of
// its own: closing a provider's object waits for the provider, which may
// be the caller (kern/extfile.go).
func closeInFlight(fds []int) {
	if len(fds) == 0 {
		return
	}
	go func() {
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	}()
}

// putRights writes the received descriptors as one SCM_RIGHTS control
// message into the caller's buffer ctl of n bytes and returns the bytes
// used; those that do not fit are closed (ctrunc).
func putRights(ctl uintptr, n int, fds []int) (used int, ctrunc bool) {
	if len(fds) == 0 {
		return 0, false
	}
	fit := 0
	if n >= cmsgHdrLen {
		fit = min(len(fds), (n-cmsgHdrLen)/4)
	}
	var b []byte
	if fit > 0 {
		b = kern.UserBytes(ctl, n)
	}
	if b == nil {
		closeInFlight(fds)
		return 0, true
	}
	l := cmsgHdrLen + 4*fit
	binary.LittleEndian.PutUint64(b, uint64(l))
	binary.LittleEndian.PutUint32(b[8:], solSocket)
	binary.LittleEndian.PutUint32(b[12:], scmRights)
	for i, fd := range fds[:fit] {
		binary.LittleEndian.PutUint32(b[cmsgHdrLen+4*i:], uint32(fd))
	}
	closeInFlight(fds[fit:])
	return min(n, (l+7)&^7), fit < len(fds)
}

// recv reads from the receive queue; from gets a datagram's sender, fds
// the descriptors that came with the data (nil: they are closed).
func (u *unixSock) recv(iov []iovec, from, fromLen uintptr, trunc *bool, fds *[]int) int64 {
	bufs, _, e := userBufs(iov)
	if e != 0 {
		return fail(e)
	}
	u.mu.Lock()
	closed, listening, conn := u.closed, u.listening, u.conn
	u.mu.Unlock()
	switch {
	case closed:
		return fail(syscall.EBADF)
	case listening:
		return fail(syscall.EINVAL)
	case u.typ != sockDgram && !conn:
		return fail(syscall.ENOTCONN)
	}
	u.rq.mu.Lock()
	n, sender, got, cut, empty := u.rq.get(bufs)
	var res int64
	var waiters []*unixSock
	switch {
	case !empty:
		res = int64(n)
		waiters = u.rq.takeWaiters()
	case u.rq.err != 0:
		res = fail(u.rq.err)
		u.rq.err = 0
	case u.rq.eof || u.rq.shut:
		res = 0
	default:
		res = eagain
	}
	u.rq.mu.Unlock()
	for _, w := range waiters {
		w.notify(epollOut)
	}
	if empty {
		return res
	}
	if fds != nil {
		*fds = got
	} else {
		closeInFlight(got)
	}
	if trunc != nil {
		*trunc = cut
	}
	if from != 0 && u.typ == sockDgram && sender != "" {
		if e := putUnixAddr(from, fromLen, sender); e != 0 {
			return e
		}
	} else if from != 0 && fromLen != 0 {
		// Connection-oriented, or a datagram from an unnamed socket:
		// no address, as Linux answers (unix_copy_addr), so Go sees
		// AF_UNSPEC and reports a nil address.
		if lb, _, e := userLen(fromLen); e == 0 {
			putLen(lb, 0)
		}
	}
	return res
}

// send queues iov on the peer's receive queue (datagrams: to's, or the
// connected peer's), with duplicates of the descriptors in rights.
func (u *unixSock) send(iov []iovec, to uintptr, toLen int, rights []int) int64 {
	bufs, total, e := userBufs(iov)
	if e != 0 {
		return fail(e)
	}
	u.mu.Lock()
	closed, shutWr, conn, peer, name := u.closed, u.shutWr, u.conn, u.peer, u.name
	u.mu.Unlock()
	switch {
	case closed:
		return fail(syscall.EBADF)
	case shutWr:
		return fail(syscall.EPIPE)
	case u.typ != sockDgram && to != 0 && conn:
		return fail(syscall.EISCONN)
	case u.typ != sockDgram && to != 0:
		return fail(syscall.EOPNOTSUPP)
	case u.typ != sockDgram && !conn:
		return fail(syscall.ENOTCONN)
	}
	t := peer
	if u.typ == sockDgram {
		if to != 0 {
			a, e := getUnixAddr(to, toLen)
			if e == 0 && a.unnamed() {
				e = syscall.EINVAL
			}
			if e != 0 {
				return fail(e)
			}
			if t, e = lookupUnix(a); e != 0 {
				return fail(e)
			}
			if t.typ != sockDgram {
				return fail(syscall.EPROTOTYPE)
			}
		}
		if t == nil {
			return fail(syscall.ENOTCONN)
		}
		t.mu.Lock()
		tclosed, tpeer := t.closed, t.peer
		t.mu.Unlock()
		switch {
		case tclosed:
			return fail(syscall.ECONNREFUSED)
		case tpeer != nil && tpeer != u:
			return fail(syscall.EPERM) // t only hears from its own peer
		}
	}
	fds, e := dupRights(rights)
	if e != 0 {
		return fail(e)
	}
	t.rq.mu.Lock()
	var n int
	switch {
	case t.rq.closed && u.typ == sockDgram:
		e = syscall.ECONNREFUSED
	case t.rq.closed || t.rq.shut:
		e = syscall.EPIPE
	default:
		n, e = t.rq.put(bufs, total, name, fds)
		if e == syscall.EAGAIN {
			t.rq.wait(u)
		}
	}
	t.rq.mu.Unlock()
	if e != 0 || n == 0 && u.typ == sockStream {
		closeInFlight(fds) // not queued
	}
	switch e {
	case 0:
		if n > 0 || total == 0 {
			t.notify(epollIn)
		}
		return int64(n)
	case syscall.EAGAIN:
		return eagain
	}
	return fail(e)
}

func (u *unixSock) setsockopt(level, name int, val uintptr, n int) int64 {
	raw, e := getOptVal(val, n)
	if e != 0 {
		return fail(e)
	}
	v := int(int32(raw))
	if level != solSocket {
		return fail(syscall.EOPNOTSUPP)
	}
	switch name {
	case soRcvbuf:
		u.rq.mu.Lock()
		u.rq.setLimit(v)
		u.rq.mu.Unlock()
	case soReuseaddr, soReuseport, soBroadcast, soSndbuf, soLinger, soKeepalive:
	default:
		return fail(syscall.ENOPROTOOPT)
	}
	u.mu.Lock()
	u.opts[[2]int{level, name}] = v
	u.mu.Unlock()
	return 0
}

func (u *unixSock) getsockopt(level, name int, val, lenp uintptr) int64 {
	lb, have, e := userLen(lenp)
	if e != 0 {
		return fail(e)
	}
	if level != solSocket {
		return fail(syscall.EOPNOTSUPP)
	}
	var v int
	switch name {
	case soError:
		u.rq.mu.Lock()
		v, u.rq.err = int(u.rq.err), 0
		u.rq.mu.Unlock()
	case soType:
		v = u.typ
	case soAcceptconn:
		u.mu.Lock()
		if u.listening {
			v = 1
		}
		u.mu.Unlock()
	case soRcvbuf:
		u.rq.mu.Lock()
		v = u.rq.limit
		u.rq.mu.Unlock()
	case soSndbuf:
		v = unixDefaultBuf
		u.mu.Lock()
		if o, ok := u.opts[[2]int{level, name}]; ok {
			v = o
		}
		u.mu.Unlock()
	default:
		u.mu.Lock()
		v = u.opts[[2]int{level, name}]
		u.mu.Unlock()
	}
	return putOptVal(val, lb, have, v)
}
