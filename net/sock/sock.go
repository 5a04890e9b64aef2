// Package sock is the kernel's socket layer: the socket system calls Go's
// unmodified net package makes (socket, bind, listen, accept4, connect,
// getsockname, getpeername, setsockopt, getsockopt, read, write, readv,
// writev, sendto, recvfrom, sendmsg, recvmsg, shutdown, close) served by
// the kernel's IPv4 stack (net/inet), for AF_INET stream and datagram
// sockets. It is the socket provider of kern's provider mechanism
// (kern/extfile.go): the calls run in goroutine context, on descriptors
// that epoll can watch, so the Go runtime's netpoller works as on Linux —
// sockets are non-blocking (SOCK_NONBLOCK), a call that would wait
// returns EAGAIN, and the stack's upcalls post EPOLLIN/EPOLLOUT edges
// (inet.TCPConn.SetUpcall → kern.Notify). Blocking sockets work too: their
// calls wait in a goroutine of their own (kern.Deferred). Errors are Linux
// errnos (EAGAIN, EINPROGRESS, ECONNREFUSED, EADDRINUSE, ...).
//
// # The kernel's stack
//
// Sockets use the stack registered with SetStack: net/kstack registers
// the system's stack (the machine's NICs and its loopback) when it brings
// the network up at boot. Until one is registered (net=off, or no
// start-up work), the first socket call creates a stack with only the
// loopback interface (127.0.0.1/8), so sockets work with no NIC at all.
// In Giant mode a call takes the stack's Giant before the socket's lock
// (Giant is never acquired after another mutex).
//
// AF_UNIX sockets are in unix.go. Not done: AF_INET6 (EAFNOSUPPORT: Go's
// net then uses IPv4 only), socket options beyond the ones Go sets (accepted and stored),
// out-of-band data, MSG_PEEK, SO_RCVTIMEO, file descriptor passing.
package sock

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/smpgo/smpgo/fs/kfs"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/inet"
	"github.com/smpgo/smpgo/net/nlock"
)

var (
	stackMu sync.Mutex
	stack   atomic.Pointer[inet.Stack]
)

// SetStack makes st the stack that new sockets use (the kernel's stack,
// with its interfaces). Sockets already open keep theirs.
func SetStack(st *inet.Stack) {
	stackMu.Lock()
	stack.Store(st)
	stackMu.Unlock()
}

// Stack returns the sockets' stack, creating a loopback-only one on first
// use if none was registered.
func Stack() (*inet.Stack, error) {
	if st := stack.Load(); st != nil {
		return st, nil
	}
	stackMu.Lock()
	defer stackMu.Unlock()
	if st := stack.Load(); st != nil {
		return st, nil
	}
	st, err := inet.New(inet.Config{CPU: kern.CPUID})
	if err != nil {
		return nil, err
	}
	stack.Store(st)
	return st, nil
}

// socket is one socket object (a descriptor's handle).
type socket struct {
	handle uint64 // (c)
	typ    int    // (c) sockStream or sockDgram
	st     *inet.Stack
	fd     atomic.Int64 // the descriptor, for upcalls; -1 until installed

	mu         nlock.Mutex // the socket's state below; before the stack's locks
	laddr      netip.AddrPort
	bound      bool
	lis        *inet.TCPListener
	conn       *inet.TCPConn
	connecting bool
	udp        *inet.UDPConn
	peer       netip.AddrPort // connected UDP
	shutRd     bool
	closed     bool
	opts       map[[2]int]int // options set (level, name) → value
	// abortOnClose: SO_LINGER on with a zero timeout, close resets.
	abortOnClose bool

	wmu sync.Mutex    // leaf: the wake-up channel of blocking calls
	wch chan struct{} // (wmu) closed by the next upcall
}

var (
	sockMu  sync.Mutex
	sockets = map[uint64]*socket{} // (sockMu)
	handles atomic.Uint64

	// Errors counts failed calls by errno (bad input is counted).
	Errors [256]atomic.Uint64
)

// Open returns how many sockets are open (AF_INET and AF_UNIX).
func Open() int {
	sockMu.Lock()
	defer sockMu.Unlock()
	return len(sockets) + len(unixSocks)
}

func init() {
	kern.RegisterProvider(kern.ProvSock, serve)
}

// Linux constants.
const (
	afInet       = 2
	sockStream   = 1
	sockDgram    = 2
	sockNonblock = 0x800
	sockCloexec  = 0x80000
	oNonblock    = 0x800
	oRdwr        = 2

	solSocket    = 1
	ipprotoIP    = 0
	ipprotoTCP   = 6
	ipprotoUDP   = 17
	soReuseaddr  = 2
	soType       = 3
	soError      = 4
	soBroadcast  = 6
	soSndbuf     = 7
	soRcvbuf     = 8
	soKeepalive  = 9
	soLinger     = 13
	soReuseport  = 15
	soAcceptconn = 30
	tcpNodelay   = 1

	msgDontwait = 0x40
	msgPeek     = 0x2

	shutRd   = 0
	shutWr   = 1
	shutRdwr = 2

	epollIn  = 0x1
	epollOut = 0x4
)

// System call numbers.
const (
	sysRead        = 0
	sysWrite       = 1
	sysClose       = 3
	sysFstat       = 5
	sysIoctl       = 16
	sysSendfile    = 40
	sysReadv       = 19
	sysWritev      = 20
	sysSocket      = 41
	sysConnect     = 42
	sysAccept      = 43
	sysSendto      = 44
	sysRecvfrom    = 45
	sysSendmsg     = 46
	sysRecvmsg     = 47
	sysShutdown    = 48
	sysBind        = 49
	sysListen      = 50
	sysGetsockname = 51
	sysGetpeername = 52
	sysSocketpair  = 53
	sysSetsockopt  = 54
	sysGetsockopt  = 55
	sysAccept4     = 288
)

// fail counts and returns errno e, negated.
func fail(e syscall.Errno) int64 {
	if int(e) < len(Errors) {
		Errors[e].Add(1)
	}
	return -int64(e)
}

// eagain is a call's answer when it would block (not counted: it is the
// netpoller's ordinary signal to wait).
const eagain = -int64(syscall.EAGAIN)

// result is a stack call's failure as the system call's answer: EAGAIN
// when it would block, else the errno, counted.
func result(err error) int64 {
	if errors.Is(err, inet.ErrWouldBlock) {
		return eagain
	}
	return fail(errnoOf(err))
}

// addrPort is a stack address's IPv4 address and port.
func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// errnoOf maps the stack's errors to Linux errnos.
func errnoOf(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, inet.ErrWouldBlock):
		return syscall.EAGAIN
	case errors.Is(err, inet.ErrConnRefused):
		return syscall.ECONNREFUSED
	case errors.Is(err, inet.ErrConnReset):
		return syscall.ECONNRESET
	case errors.Is(err, inet.ErrAddrInUse):
		return syscall.EADDRINUSE
	case errors.Is(err, inet.ErrNoRoute):
		return syscall.ENETUNREACH
	case errors.Is(err, inet.ErrHostDown):
		return syscall.EHOSTUNREACH
	case errors.Is(err, inet.ErrMsgSize):
		return syscall.EMSGSIZE
	case errors.Is(err, inet.ErrConnAborted), errors.Is(err, inet.ErrTimeout):
		return syscall.ETIMEDOUT
	case errors.Is(err, inet.ErrNoBufs):
		return syscall.ENOBUFS
	case errors.Is(err, inet.ErrBadAddress):
		return syscall.EADDRNOTAVAIL
	case errors.Is(err, inet.ErrNotConnected):
		return syscall.ENOTCONN
	case errors.Is(err, inet.ErrClosed):
		return syscall.EPIPE
	case errors.Is(err, net.ErrClosed):
		return syscall.EBADF
	case errors.Is(err, inet.ErrStackClosed):
		return syscall.ENETDOWN
	}
	return syscall.EIO
}

// serve is the provider's handler.
func serve(r *kern.Request) int64 {
	sockMu.Lock()
	s := sockets[r.Handle]
	if s == nil && (kern.SockHandleUnix(r.Handle) || unixSocks[r.Handle] != nil) {
		sockMu.Unlock()
		return serveUnix(r) // unix.go
	}
	switch {
	case r.Nr == sysClose:
		delete(sockets, r.Handle)
	case s == nil && kern.SockHandleType(r.Handle) != 0:
		// The first call on a descriptor socket(2) made (in trap
		// context, see kern/extfile.go): create the object now.
		st, err := Stack()
		if err != nil {
			sockMu.Unlock()
			return fail(syscall.ENETDOWN)
		}
		s = newSocket(st, kern.SockHandleType(r.Handle))
		s.handle = r.Handle
		s.fd.Store(int64(r.Fd))
		sockets[r.Handle] = s
	}
	sockMu.Unlock()
	if s == nil {
		if r.Nr == sysClose {
			return 0 // never used: nothing to release
		}
		return fail(syscall.EBADF)
	}
	// In Giant mode the stack's calls take Giant, which must come
	// before the socket's lock: take it first for the whole call.
	if g := s.st.GiantLock(); g != nil {
		g.Lock()
		defer g.Unlock()
	}
	return dispatch(s, r)
}

// sockObj is a socket object the provider serves: an AF_INET socket
// (socket, here) or an AF_UNIX one (unixSock, unix.go). dispatch decodes a
// call's arguments and runs the object's method for it.
type sockObj interface {
	close()
	bind(addr uintptr, n int) int64
	listen(backlog int) int64
	// accept takes a connection off the queue (EAGAIN if none); its
	// flags are SOCK_NONBLOCK and SOCK_CLOEXEC (checked by dispatch).
	accept(addr, addrLen uintptr, flags int) int64
	connect(r *kern.Request, nonblock bool, addr uintptr, n int) int64
	setsockopt(level, name int, val uintptr, n int) int64
	getsockopt(level, name int, val, lenp uintptr) int64
	shutdown(how int) int64
	// recvFrom and sendTo are one attempt of read, readv and recvfrom
	// (from: where a datagram's sender goes), of write, writev and sendto
	// (to: a datagram's destination).
	recvFrom(iov []iovec, from, fromLen uintptr) int64
	sendTo(iov []iovec, to uintptr, toLen int) int64
	// recvmsgOp and sendmsgOp read a recvmsg's or sendmsg's struct
	// msghdr at msg as far as the socket does before the first attempt
	// and return the attempt (or why the call fails at once).
	recvmsgOp(msg uintptr) (func() int64, syscall.Errno)
	sendmsgOp(msg uintptr) (func() int64, syscall.Errno)
	// wait runs op; for a blocking socket whose op would block, it waits
	// in a goroutine of its own for the socket's next change and retries
	// (kern.Deferred), so a blocked call never holds up the provider.
	wait(r *kern.Request, nonblock bool, op func() int64) int64
}

// dispatch serves call r on socket o.
func dispatch(o sockObj, r *kern.Request) int64 {
	a := r.Args
	nonblock := r.Flags&oNonblock != 0
	switch r.Nr {
	case sysClose:
		o.close()
		return 0
	case sysBind:
		return o.bind(uintptr(a[1]), int(a[2]))
	case sysListen:
		return o.listen(int(int32(a[1])))
	case sysAccept, sysAccept4:
		var flags int
		if r.Nr == sysAccept4 {
			flags = int(a[3])
		}
		if flags&^(sockNonblock|sockCloexec) != 0 {
			return fail(syscall.EINVAL)
		}
		return o.wait(r, nonblock, func() int64 { return o.accept(uintptr(a[1]), uintptr(a[2]), flags) })
	case sysConnect:
		return o.connect(r, nonblock, uintptr(a[1]), int(a[2]))
	case sysSetsockopt:
		return o.setsockopt(int(a[1]), int(a[2]), uintptr(a[3]), int(a[4]))
	case sysGetsockopt:
		return o.getsockopt(int(a[1]), int(a[2]), uintptr(a[3]), uintptr(a[4]))
	case sysShutdown:
		return o.shutdown(int(a[1]))
	case sysRead, sysReadv, sysRecvfrom, sysRecvmsg, sysWrite, sysWritev, sysSendto, sysSendmsg:
		return transfer(o, r, nonblock)
	case sysFstat:
		return fstatSocket(uintptr(a[1]))
	case sysSendfile:
		return sendfile(o, r, nonblock)
	case sysIoctl:
		return fail(syscall.ENOTTY)
	}
	return fail(syscall.ENOSYS)
}

// transfer serves the data calls: read, readv, recvfrom and recvmsg;
// write, writev, sendto and sendmsg. Their flags argument's MSG_DONTWAIT
// makes one call non-blocking.
func transfer(o sockObj, r *kern.Request, nonblock bool) int64 {
	a := r.Args
	one := func() []iovec { return []iovec{{uintptr(a[1]), int(min(a[2], 1<<30))}} }
	var op func() int64
	switch r.Nr {
	case sysRead:
		iov := one()
		op = func() int64 { return o.recvFrom(iov, 0, 0) }
	case sysWrite:
		iov := one()
		op = func() int64 { return o.sendTo(iov, 0, 0) }
	case sysReadv, sysWritev:
		iov, e := readIovecs(uintptr(a[1]), int(a[2]))
		if e != 0 {
			return fail(e)
		}
		op = func() int64 { return o.recvFrom(iov, 0, 0) }
		if r.Nr == sysWritev {
			op = func() int64 { return o.sendTo(iov, 0, 0) }
		}
	case sysRecvfrom:
		if a[3]&msgPeek != 0 {
			return fail(syscall.EOPNOTSUPP)
		}
		iov := one()
		op = func() int64 { return o.recvFrom(iov, uintptr(a[4]), uintptr(a[5])) }
	case sysSendto:
		iov := one()
		op = func() int64 { return o.sendTo(iov, uintptr(a[4]), int(a[5])) }
	case sysRecvmsg, sysSendmsg:
		var e syscall.Errno
		if r.Nr == sysRecvmsg {
			op, e = o.recvmsgOp(uintptr(a[1]))
		} else {
			op, e = o.sendmsgOp(uintptr(a[1]))
		}
		if e != 0 {
			return fail(e)
		}
	}
	switch r.Nr {
	case sysRecvfrom, sysSendto:
		nonblock = nonblock || a[3]&msgDontwait != 0
	case sysRecvmsg, sysSendmsg:
		nonblock = nonblock || a[2]&msgDontwait != 0
	}
	return o.wait(r, nonblock, op)
}

func (s *socket) recvFrom(iov []iovec, from, fromLen uintptr) int64 {
	return s.recv(iov, from, fromLen, nil)
}

func (s *socket) sendTo(iov []iovec, to uintptr, toLen int) int64 {
	return s.send(iov, to, toLen)
}

// recvmsgOp and sendmsgOp: an AF_INET socket reads the msghdr in every
// attempt.
func (s *socket) recvmsgOp(msg uintptr) (func() int64, syscall.Errno) {
	return func() int64 { return s.recvmsg(msg) }, 0
}

func (s *socket) sendmsgOp(msg uintptr) (func() int64, syscall.Errno) {
	return func() int64 { return s.sendmsg(msg) }, 0
}

// wait runs op (sockObj.wait); the socket's next change is its next
// upcall.
func (s *socket) wait(r *kern.Request, nonblock bool, op func() int64) int64 {
	ch := s.changed()
	res := op()
	if res != eagain || nonblock {
		return res
	}
	go func() {
		for {
			<-ch
			ch = s.changed()
			if res := s.giantOp(op); res != eagain {
				r.Complete(res)
				return
			}
		}
	}()
	return kern.Deferred
}

// giantOp runs op under the stack's Giant in Giant mode (see serve).
func (s *socket) giantOp(op func() int64) int64 {
	if g := s.st.GiantLock(); g != nil {
		g.Lock()
		defer g.Unlock()
	}
	return op()
}

// changed returns a channel closed by the socket's next upcall (or close).
func (s *socket) changed() <-chan struct{} {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wch == nil {
		s.wch = make(chan struct{})
	}
	return s.wch
}

// upcall is installed in the stack's socket: it posts events for epoll
// and wakes blocked calls. The stack's lock is held: no socket lock here.
func (s *socket) upcall(events uint32) func() {
	return func() {
		if fd := s.fd.Load(); fd >= 0 {
			kern.Notify(int(fd), s.handle, events)
		}
		s.wmu.Lock()
		if s.wch != nil {
			close(s.wch)
			s.wch = nil
		}
		s.wmu.Unlock()
	}
}

// publish records the socket's addresses in its descriptor, for
// getsockname and getpeername (served in trap context); an invalid one is
// left as it was.
func (s *socket) publish(local, peer netip.AddrPort) {
	fd := s.fd.Load()
	if fd < 0 {
		return
	}
	enc := func(ap netip.AddrPort) uint64 {
		if !ap.IsValid() {
			return 0
		}
		return kern.SockAddr(ap.Addr().Unmap().As4(), ap.Port())
	}
	kern.SetSockAddrs(int(fd), s.handle, enc(local), enc(peer))
}

func newSocket(st *inet.Stack, typ int) *socket {
	s := &socket{handle: handles.Add(1), typ: typ, st: st, opts: map[[2]int]int{}}
	s.fd.Store(-1)
	s.mu.Init("socket", nlock.DupOK)
	return s
}

// install gives socket o, known by handle in table tab (sockets or
// unixSocks), a descriptor (flags: SOCK_NONBLOCK) and stores it in fd;
// when none is left, o leaves the table and is closed.
func install[T sockObj](tab map[uint64]T, handle uint64, o T, fd *atomic.Int64, flags int) int64 {
	fl := uint32(oRdwr)
	if flags&sockNonblock != 0 {
		fl |= oNonblock
	}
	sockMu.Lock()
	tab[handle] = o
	sockMu.Unlock()
	n := kern.NewFd(kern.ProvSock, handle, fl, true)
	if n < 0 {
		sockMu.Lock()
		delete(tab, handle)
		sockMu.Unlock()
		o.close()
		return int64(n)
	}
	fd.Store(int64(n))
	return int64(n)
}

func (s *socket) close() {
	s.mu.Lock()
	s.closed = true
	lis, conn, udp, abort := s.lis, s.conn, s.udp, s.abortOnClose
	s.mu.Unlock()
	if lis != nil {
		lis.SetUpcall(nil)
		_ = lis.Close()
	}
	if conn != nil {
		conn.SetUpcall(nil, nil)
		if abort {
			_ = conn.Abort()
		} else {
			_ = conn.Close()
		}
	}
	if udp != nil {
		udp.SetUpcall(nil)
		_ = udp.Close()
	}
	s.fd.Store(-1) // no descriptor is left to notify
	s.upcall(0)()  // wake blocked calls: they fail now
}

// localLocked is the socket's local address.
func (s *socket) localLocked() netip.AddrPort {
	switch {
	case s.lis != nil:
		return addrPort(s.lis.Addr())
	case s.conn != nil:
		return addrPort(s.conn.LocalAddr())
	case s.udp != nil:
		return addrPort(s.udp.LocalAddr())
	}
	if s.bound {
		return s.laddr
	}
	return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
}

// peerAddr is the connected peer's address.
func (s *socket) peerAddr() (netip.AddrPort, bool) {
	s.mu.Lock()
	conn, peer := s.conn, s.peer
	s.mu.Unlock()
	if conn != nil {
		if ok, _ := conn.Connected(); !ok {
			return netip.AddrPort{}, false
		}
		return addrPort(conn.RemoteAddr()), true
	}
	return peer, peer.IsValid()
}

func (s *socket) bind(addr uintptr, n int) int64 {
	ap, e := getSockaddr(addr, n)
	if e != 0 {
		return fail(e)
	}
	if a := ap.Addr(); !a.IsUnspecified() && !s.st.IsLocal(a.As4()) {
		return fail(syscall.EADDRNOTAVAIL)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bound || s.conn != nil || s.lis != nil || s.udp != nil {
		return fail(syscall.EINVAL)
	}
	if s.typ == sockDgram {
		u, err := s.st.ListenUDP(ap)
		if err != nil {
			return fail(errnoOf(err))
		}
		s.setUDPLocked(u)
	}
	s.laddr, s.bound = ap, true
	s.publish(s.localLocked(), netip.AddrPort{})
	return 0
}

func (s *socket) setUDPLocked(u *inet.UDPConn) {
	s.udp = u
	u.SetUpcall(s.upcall(epollIn))
}

func (s *socket) listen(backlog int) int64 {
	if s.typ != sockStream {
		return fail(syscall.EOPNOTSUPP)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis != nil {
		return 0 // a second listen only changes the backlog
	}
	if s.conn != nil {
		return fail(syscall.EINVAL)
	}
	laddr := s.laddr
	if !s.bound {
		laddr = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	backlog = min(max(backlog, 1), 4096)
	l, err := s.st.ListenTCP(laddr, backlog)
	if err != nil {
		return fail(errnoOf(err))
	}
	s.lis = l
	l.SetUpcall(s.upcall(epollIn))
	s.publish(s.localLocked(), netip.AddrPort{})
	return 0
}

func (s *socket) accept(addr, addrLen uintptr, flags int) int64 {
	s.mu.Lock()
	lis := s.lis
	s.mu.Unlock()
	if lis == nil {
		return fail(syscall.EINVAL)
	}
	c, err := lis.TryAccept()
	if err != nil {
		return result(err)
	}
	ns := newSocket(s.st, sockStream)
	ns.conn = c
	s.mu.Lock()
	keep := s.opts[[2]int{solSocket, soKeepalive}]
	s.mu.Unlock()
	if keep != 0 {
		_ = c.SetKeepAlive(true)
	}
	fd := install(sockets, ns.handle, ns, &ns.fd, flags)
	if fd < 0 {
		return fd
	}
	c.SetUpcall(ns.upcall(epollIn), ns.upcall(epollOut))
	peer := addrPort(c.RemoteAddr())
	ns.publish(addrPort(c.LocalAddr()), peer)
	if addr != 0 {
		if e := putSockaddr(addr, addrLen, peer); e != 0 {
			return e // the connection stays open on fd, as on Linux
		}
	}
	return fd
}

func (s *socket) connect(r *kern.Request, nonblock bool, addr uintptr, n int) int64 {
	ap, e := getSockaddr(addr, n)
	if e != 0 {
		return fail(e)
	}
	if s.typ == sockDgram {
		return s.connectUDP(ap)
	}
	c, res := s.startTCP(ap)
	if c == nil {
		return res
	}
	c.SetUpcall(s.upcall(epollIn), s.upcall(epollOut))
	if nonblock {
		if ok, err := c.Connected(); ok || err != nil {
			return s.connectDone()
		}
		return -int64(syscall.EINPROGRESS)
	}
	return s.wait(r, false, s.connectDone)
}

// connectUDP sets a datagram socket's peer.
func (s *socket) connectUDP(ap netip.AddrPort) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp == nil {
		u, err := s.st.DialUDP(ap)
		if err != nil {
			return result(err)
		}
		s.setUDPLocked(u)
	} else if err := s.udp.Connect(ap); err != nil {
		return result(err)
	}
	s.peer = ap
	s.publish(s.localLocked(), ap)
	return 0
}

// startTCP starts a stream socket's connection to ap (0.0.0.0 means this
// machine, as on Linux); on failure it returns nil and the answer.
func (s *socket) startTCP(ap netip.AddrPort) (*inet.TCPConn, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conn != nil && s.connecting:
		return nil, fail(syscall.EALREADY)
	case s.lis != nil, s.conn != nil:
		return nil, fail(syscall.EISCONN)
	}
	if ap.Addr().IsUnspecified() {
		ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port())
	}
	c, err := s.st.StartDialTCP(ap)
	if err != nil {
		return nil, result(err)
	}
	s.conn, s.connecting = c, true
	if s.opts[[2]int{solSocket, soKeepalive}] != 0 {
		_ = c.SetKeepAlive(true)
	}
	s.publish(s.localLocked(), netip.AddrPort{})
	return c, 0
}

// connectDone ends a connect: 0 once connected, the error if it failed,
// EAGAIN while it is under way.
func (s *socket) connectDone() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e := s.connectStateLocked(); e {
	case 0:
		return 0
	case syscall.EINPROGRESS:
		return eagain
	default:
		return fail(e)
	}
}

// connectStateLocked checks a connect under way: 0 once connected (the
// peer is published), EINPROGRESS while it waits, or why it failed.
func (s *socket) connectStateLocked() syscall.Errno {
	ok, err := s.conn.Connected()
	switch {
	case err != nil:
		s.connecting = false
		return errnoOf(err)
	case !ok:
		return syscall.EINPROGRESS
	}
	s.connecting = false
	s.publish(netip.AddrPort{}, addrPort(s.conn.RemoteAddr()))
	return 0
}

func (s *socket) shutdown(how int) int64 {
	s.mu.Lock()
	conn, udp := s.conn, s.udp
	s.mu.Unlock()
	if how < shutRd || how > shutRdwr {
		return fail(syscall.EINVAL)
	}
	if conn == nil && (udp == nil || !s.peerOK()) {
		return fail(syscall.ENOTCONN)
	}
	if how != shutWr {
		s.mu.Lock()
		s.shutRd = true
		s.mu.Unlock()
		s.upcall(epollIn)()
	}
	if how != shutRd && conn != nil {
		if err := conn.CloseWrite(); err != nil {
			return fail(errnoOf(err))
		}
	}
	return 0
}

func (s *socket) peerOK() bool {
	_, ok := s.peerAddr()
	return ok
}

// iovec is one buffer of the caller's.
type iovec struct {
	base uintptr
	len  int
}

func readIovecs(iov uintptr, cnt int) ([]iovec, syscall.Errno) {
	if cnt < 0 || cnt > 1024 {
		return nil, syscall.EINVAL
	}
	raw := kern.UserBytes(iov, 16*cnt)
	if raw == nil {
		return nil, syscall.EFAULT
	}
	out := make([]iovec, cnt)
	for i := range out {
		out[i] = iovec{uintptr(le64(raw[16*i:])), int(min(le64(raw[16*i+8:]), 1<<30))}
	}
	return out, 0
}

// userBufs maps the caller's buffers; total is their length.
func userBufs(iov []iovec) (bufs [][]byte, total int, e syscall.Errno) {
	bufs = make([][]byte, len(iov))
	for i, v := range iov {
		if bufs[i] = kern.UserBytes(v.base, v.len); bufs[i] == nil {
			return nil, 0, syscall.EFAULT
		}
		total += v.len
	}
	return bufs, total, 0
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// userLen maps the caller's socklen_t at p: its bytes, to store a length
// back with putLen, and the length it holds (EFAULT, EINVAL if negative).
func userLen(p uintptr) ([]byte, int, syscall.Errno) {
	lb := kern.UserBytes(p, 4)
	if lb == nil {
		return nil, 0, syscall.EFAULT
	}
	n := int(int32(binary.LittleEndian.Uint32(lb)))
	if n < 0 {
		return nil, 0, syscall.EINVAL
	}
	return lb, n, 0
}

func putLen(lb []byte, n int) { binary.LittleEndian.PutUint32(lb, uint32(n)) }

// recv reads into iov; for datagrams it stores the sender at from. trunc,
// when set, learns whether a datagram was cut short.
func (s *socket) recv(iov []iovec, from, fromLen uintptr, trunc *bool) int64 {
	bufs, total, e := userBufs(iov)
	if e != 0 {
		return fail(e)
	}
	s.mu.Lock()
	conn, udp, shut, closed := s.conn, s.udp, s.shutRd, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return fail(syscall.EBADF)
	case conn != nil:
		if shut {
			return 0
		}
		got := 0
		for _, b := range bufs {
			if len(b) == 0 {
				continue
			}
			n, err := conn.TryRead(b)
			got += n
			if err != nil {
				if got > 0 {
					break
				}
				if err == io.EOF {
					return 0
				}
				return result(err)
			}
			if n < len(b) {
				break
			}
		}
		return int64(got)
	case udp != nil:
		if shut {
			return 0
		}
		tmp := make([]byte, max(total, 1))
		n, ap, err := udp.TryReadFrom(tmp)
		if err != nil {
			return result(err)
		}
		tmp = tmp[:n]
		if trunc != nil {
			*trunc = n > total
		}
		copied := 0
		for _, b := range bufs {
			copied += copy(b, tmp[copied:])
		}
		if from != 0 {
			if e := putSockaddr(from, fromLen, ap); e != 0 {
				return e
			}
		}
		return int64(copied)
	case s.typ == sockDgram:
		return eagain // unbound: nothing can arrive
	}
	return fail(syscall.ENOTCONN)
}

// send writes iov; datagram sockets send one datagram to to (or the
// connected peer), binding an ephemeral port first if needed.
func (s *socket) send(iov []iovec, to uintptr, toLen int) int64 {
	bufs, total, e := userBufs(iov)
	if e != 0 {
		return fail(e)
	}
	s.mu.Lock()
	closed, conn := s.closed, s.conn
	s.mu.Unlock()
	switch {
	case closed:
		return fail(syscall.EBADF)
	case s.typ == sockStream && conn == nil:
		return fail(syscall.ENOTCONN)
	case s.typ == sockStream:
		sent := 0
		for _, b := range bufs {
			for len(b) > 0 {
				n, err := conn.TryWrite(b)
				sent += n
				b = b[n:]
				if err != nil {
					if sent > 0 {
						return int64(sent)
					}
					return result(err)
				}
			}
		}
		return int64(sent)
	}
	udp, dst, res := s.datagramTo(to, toLen)
	if udp == nil {
		return res
	}
	p := bufs[0]
	if len(bufs) > 1 {
		p = make([]byte, 0, total)
		for _, b := range bufs {
			p = append(p, b...)
		}
	}
	n, err := udp.WriteToAddrPort(p, dst)
	if err != nil {
		return fail(errnoOf(err))
	}
	return int64(n)
}

// datagramTo is where a datagram goes (to, or the connected peer) and
// the UDP endpoint that sends it, bound to an ephemeral port first if
// needed; on failure it returns nil and the answer.
func (s *socket) datagramTo(to uintptr, toLen int) (*inet.UDPConn, netip.AddrPort, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, netip.AddrPort{}, fail(syscall.EBADF)
	}
	dst := s.peer
	if to != 0 {
		ap, e := getSockaddr(to, toLen)
		if e != 0 {
			return nil, dst, fail(e)
		}
		dst = ap
	}
	if !dst.IsValid() {
		return nil, dst, fail(syscall.EDESTADDRREQ)
	}
	if s.udp == nil {
		u, err := s.st.ListenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 0))
		if err != nil {
			return nil, dst, fail(errnoOf(err))
		}
		s.setUDPLocked(u)
		s.publish(s.localLocked(), netip.AddrPort{})
	}
	return s.udp, dst, 0
}

// msghdr maps the caller's struct msghdr — name(8) namelen(4) pad(4)
// iov(8) iovlen(8) control(8) controllen(8) flags(4) — and its iovecs.
func msghdr(msg uintptr) ([]byte, []iovec, syscall.Errno) {
	m := kern.UserBytes(msg, 56)
	if m == nil {
		return nil, nil, syscall.EFAULT
	}
	iov, e := readIovecs(uintptr(le64(m[16:])), int(le64(m[24:])))
	return m, iov, e
}

func (s *socket) recvmsg(msg uintptr) int64 {
	m, iov, e := msghdr(msg)
	if e != 0 {
		return fail(e)
	}
	var trunc bool
	n := s.recv(iov, uintptr(le64(m[0:])), msg+8, &trunc)
	if n < 0 {
		return n
	}
	binary.LittleEndian.PutUint64(m[40:], 0) // no control messages
	flags := uint32(0)
	if trunc {
		flags = 0x20 // MSG_TRUNC
	}
	binary.LittleEndian.PutUint32(m[48:], flags)
	return n
}

func (s *socket) sendmsg(msg uintptr) int64 {
	m, iov, e := msghdr(msg)
	if e != 0 {
		return fail(e)
	}
	if le64(m[40:]) != 0 {
		return fail(syscall.EOPNOTSUPP) // control messages
	}
	name := uintptr(le64(m[0:]))
	nameLen := int(binary.LittleEndian.Uint32(m[8:]))
	if name == 0 {
		nameLen = 0
	}
	return s.send(iov, name, nameLen)
}

// getSockaddr reads a struct sockaddr_in.
func getSockaddr(addr uintptr, n int) (netip.AddrPort, syscall.Errno) {
	if n < 2 {
		return netip.AddrPort{}, syscall.EINVAL
	}
	b := kern.UserBytes(addr, min(n, 16))
	if b == nil {
		return netip.AddrPort{}, syscall.EFAULT
	}
	if fam := int(b[0]) | int(b[1])<<8; fam != afInet {
		return netip.AddrPort{}, syscall.EAFNOSUPPORT
	}
	if n < 16 {
		return netip.AddrPort{}, syscall.EINVAL
	}
	port := uint16(b[2])<<8 | uint16(b[3])
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), 0
}

// putSockaddr writes ap as a struct sockaddr_in at addr, truncated to the
// caller's *addrLen, and stores the full length there.
func putSockaddr(addr, addrLen uintptr, ap netip.AddrPort) int64 {
	lb, have, e := userLen(addrLen)
	if e != 0 {
		return fail(e)
	}
	var sa [16]byte
	sa[0] = afInet
	sa[2], sa[3] = byte(ap.Port()>>8), byte(ap.Port())
	a4 := ap.Addr().Unmap().As4()
	copy(sa[4:8], a4[:])
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

func (s *socket) setsockopt(level, name int, val uintptr, n int) int64 {
	raw, e := getOptVal(val, n)
	if e != 0 {
		return fail(e)
	}
	v := int(raw)
	switch level {
	case solSocket:
		switch name {
		case soReuseaddr, soReuseport, soBroadcast, soSndbuf, soRcvbuf:
		case soLinger:
			// struct linger {int l_onoff; int l_linger}: on with a
			// zero timeout makes close an abort (a reset).
			if n < 8 {
				return fail(syscall.EINVAL)
			}
			b := kern.UserBytes(val, 8)
			if b == nil {
				return fail(syscall.EFAULT)
			}
			s.mu.Lock()
			s.abortOnClose = binary.LittleEndian.Uint32(b) != 0 && binary.LittleEndian.Uint32(b[4:]) == 0
			s.mu.Unlock()
		case soKeepalive:
			s.mu.Lock()
			conn := s.conn
			s.mu.Unlock()
			if conn != nil {
				_ = conn.SetKeepAlive(v != 0)
			}
		default:
			return fail(syscall.ENOPROTOOPT)
		}
	case ipprotoTCP:
		if s.typ != sockStream {
			return fail(syscall.ENOPROTOOPT)
		}
		// TCP_NODELAY (the stack sends at once already), keepalive
		// timing (TCP_KEEPIDLE 4, TCP_KEEPINTVL 5, TCP_KEEPCNT 6):
		// stored; the stack's keepalive timers are its own.
	case ipprotoIP:
	default:
		return fail(syscall.ENOPROTOOPT)
	}
	s.mu.Lock()
	s.opts[[2]int{level, name}] = v
	s.mu.Unlock()
	return 0
}

func (s *socket) getsockopt(level, name int, val, lenp uintptr) int64 {
	lb, have, e := userLen(lenp)
	if e != 0 {
		return fail(e)
	}
	var v int
	s.mu.Lock()
	switch {
	case level == solSocket && name == soError:
		if s.conn != nil && s.connecting {
			v = int(s.connectStateLocked())
			if v != 0 && v != int(syscall.EINPROGRESS) {
				// The non-blocking connect failed: counted like one
				// that fails at once.
				fail(syscall.Errno(v))
			}
		}
	case level == solSocket && name == soType:
		v = s.typ
	case level == solSocket && name == soAcceptconn:
		if s.lis != nil {
			v = 1
		}
	case level == solSocket && (name == soSndbuf || name == soRcvbuf):
		v = 256 << 10
		if o, ok := s.opts[[2]int{level, name}]; ok {
			v = o
		}
	case level == solSocket || level == ipprotoTCP || level == ipprotoIP:
		v = s.opts[[2]int{level, name}]
	default:
		s.mu.Unlock()
		return fail(syscall.ENOPROTOOPT)
	}
	s.mu.Unlock()
	return putOptVal(val, lb, have, v)
}

// getOptVal reads a setsockopt value of n bytes at val: its first 4
// bytes, little-endian (0 for n == 0, zero-extended when shorter).
func getOptVal(val uintptr, n int) (uint32, syscall.Errno) {
	if n < 0 {
		return 0, syscall.EINVAL
	}
	if n == 0 {
		return 0, 0
	}
	b := kern.UserBytes(val, min(n, 4))
	if b == nil {
		return 0, syscall.EFAULT
	}
	var vb [4]byte
	copy(vb[:], b)
	return binary.LittleEndian.Uint32(vb[:]), 0
}

// putOptVal answers a getsockopt: v as a 4-byte int at val, truncated to
// the caller's length have, whose word lb is set to what was written.
func putOptVal(val uintptr, lb []byte, have, v int) int64 {
	k := min(have, 4)
	b := kern.UserBytes(val, k)
	if b == nil {
		return fail(syscall.EFAULT)
	}
	var vb [4]byte
	binary.LittleEndian.PutUint32(vb[:], uint32(v))
	copy(b, vb[:k])
	putLen(lb, k)
	return 0
}

// fstatSocket answers fstat on a socket (AF_INET or AF_UNIX): a struct
// stat of zeros but st_mode S_IFSOCK|0777 (0o140777, little-endian at
// offset 24).
func fstatSocket(addr uintptr) int64 {
	b := kern.UserBytes(addr, 144)
	if b == nil {
		return fail(syscall.EFAULT)
	}
	clear(b)
	b[24], b[25] = 0xff, 0xc1
	return 0
}

// sendfileChunk is the most one sendfile attempt reads from the file.
const sendfileChunk = 64 << 10

// SendfileBytes counts the bytes sendfile(2) has sent.
var SendfileBytes atomic.Uint64

// sendfile(2) from an open file of the file system to the socket: each
// attempt reads up to count bytes (at most sendfileChunk) at *offset, or
// at the file's offset when offset is NULL, and sends them as write(2)
// would; the offset moves by what the socket took (*offset is updated
// instead when given). A blocking socket waits and retries like write;
// a non-blocking one answers EAGAIN. An input that is not a file of the
// file system (a socket, a pipe) answers EINVAL, after which Go copies
// with read and write.
func sendfile(o sockObj, r *kern.Request, nonblock bool) int64 {
	a := r.Args
	h, ok := kern.FdHandle(int(int32(a[1])), kern.ProvFS)
	if !ok {
		return fail(syscall.EINVAL)
	}
	offp, count := uintptr(a[2]), int64(min(a[3], 1<<31-1))
	var off int64
	if offp != 0 {
		b := kern.UserBytes(offp, 8)
		if b == nil {
			return fail(syscall.EFAULT)
		}
		if off = int64(binary.LittleEndian.Uint64(b)); off < 0 {
			return fail(syscall.EINVAL)
		}
	}
	if count == 0 {
		return 0
	}
	buf := make([]byte, min(count, sendfileChunk))
	op := func() int64 {
		n, err := kfs.SendfileRead(h, buf, off, offp != 0)
		if err != nil {
			e := syscall.EIO
			errors.As(err, &e)
			return fail(e)
		}
		if n == 0 {
			return 0 // end of file
		}
		w := o.sendTo([]iovec{{uintptr(unsafe.Pointer(&buf[0])), n}}, 0, 0)
		runtime.KeepAlive(buf)
		if w <= 0 {
			return w
		}
		SendfileBytes.Add(uint64(w))
		if offp != 0 {
			if b := kern.UserBytes(offp, 8); b != nil {
				binary.LittleEndian.PutUint64(b, uint64(off+w))
			}
		} else {
			kfs.SendfileAdvance(h, w)
		}
		return w
	}
	return o.wait(r, nonblock, op)
}
