package kern

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// Providers: system calls served in goroutine context.
//
// Trap context cannot allocate, take sleep locks or run the network stack,
// so files whose behaviour is Go code — the in-memory file system, sockets
// — are served by providers registered from packages above kern
// (RegisterProvider, like RegisterCommand). A call that belongs to a
// provider (an fdExt descriptor's read, write, close...; a path call such
// as openat once a file-system provider exists; socket once a socket
// provider exists) is handed over in continuation style:
//
//  1. trap context copies the call (number, arguments, the descriptor's
//     provider handle and open flags) into the calling thread's request
//     slot, blocks the thread (waitExt), and gives the request to a
//     waiting worker (or queues it);
//  2. a dispatcher goroutine reads requests from the kernel's request
//     queue descriptor (fdExtQueue: read(2) returns whole Requests,
//     EAGAIN when none; pollable, so the dispatcher parks in the runtime's
//     netpoller without holding an M or a P, and a queued request wakes
//     it through epoll like a socket would) and runs the provider's
//     handler (inline for the last request of a batch, on a goroutine of
//     its own for the others), which reads and writes the
//     caller's buffers directly (one address space; the caller is blocked
//     in the system call, so its stack cannot move and its heap buffers
//     stay alive);
//  3. the handler's result completes the call (extDone): the caller is
//     woken with it in RAX, like a futex wake.
//
// A handler must not wait for long (the dispatcher may run it inline): one
// that would (a blocking socket's read) returns Deferred and completes the
// request later from another goroutine. Descriptors of provider objects are fdExt entries in the
// file table (NewFd); their readiness reaches the runtime's netpoller
// through epoll (Notify, edge-triggered: see files.go).
//
// The cost is a netpoller wake-up and two thread switches per call (make
// bench: Files/Fstat against Files/TrapGetpid). While every P is busy, a
// queued request waits for the runtime's next netpoll check.

// Provider kinds.
const (
	ProvFS   = 1 // path calls (openat, mkdirat, ...) and their descriptors
	ProvSock = 2 // socket, socketpair and socket descriptors
	nProv    = 3
)

// Deferred is returned by a Handler that completes the request later with
// Request.Complete.
const Deferred = int64(-1 << 61)

// Request is one system call handed to a provider. Pointer-free: trap
// context copies it into the worker's buffer.
type Request struct {
	Nr     int       // system call number
	Args   [6]uint64 // RDI, RSI, RDX, R10, R8, R9
	Fd     int       // the descriptor the call names (a0, or the dirfd of *at calls), -1 if none
	Handle uint64    // the provider's object behind Fd (fdExt), 0 if none
	Flags  uint32    // Fd's open flags (access mode, O_APPEND, O_NONBLOCK)
	Prov   int32     // the provider
	slot   int32     // the caller's thread index
	tid    int32     // the caller's thread id
}

// Handler serves one request and returns the system call's result (a
// negative errno on failure), or Deferred.
type Handler func(r *Request) int64

// sysSmpgoExt is the private system call of providers and their workers.
const (
	sysSmpgoExt = 501

	extQueueFd  = 1 // (): the request queue's descriptor (fdExtQueue)
	extDone     = 2 // (slot, tid, result): complete a request
	extNewFd    = 3 // (prov, handle, flags|pollable<<32): a descriptor
	extNotify   = 4 // (fd, handle, events): readiness for epoll
	extUserOK   = 5 // (addr, len): back the range, or -EFAULT
	extRegister = 6 // (prov): route calls to prov from now on
	extFdInfo   = 7 // (fd, prov): fd's handle if it is prov's, else -EBADF
	extSetAddrs = 8 // (fd, handle, local, peer): a socket's addresses
)

type extSlot struct {
	queued bool
	next   int32 // queue link, -1 = none
	req    Request
	retFd  int32 // descriptor+1 the call returns instead of the provider's answer (dup2 over an object: dup.go), 0 = none
}

// ext is guarded by sched.lock (trap context).
var ext struct {
	on         [nProv]bool
	slots      [MaxThreads]extSlot // indexed by the caller's thread index
	head, tail int32               // requests waiting for the dispatcher, -1 = none
	queueFd    int32               // the fdExtQueue descriptor
	calls      [nProv]uint64
	queuedMax  int32
	nqueued    int32
	nextSock   uint64 // socket handles made by socket(2)
}

var (
	handlers   [nProv]atomic.Pointer[Handler]
	dispatchOn sync.Once
	extPanics  atomic.Uint64
)

// RegisterProvider routes prov's system calls to h. Call it once per
// provider, from an init function or later; calls made before it get the
// kernel's built-in answers.
func RegisterProvider(prov int, h Handler) {
	if prov <= 0 || prov >= nProv {
		panic("kern.RegisterProvider: bad provider")
	}
	handlers[prov].Store(&h)
	if !Booted() {
		return // a host process (tests): there is no kernel to route calls
	}
	dispatchOn.Do(func() {
		fd, _, _ := syscall.RawSyscall(sysSmpgoExt, extQueueFd, 0, 0)
		if int(fd) < 0 {
			panic("kern.RegisterProvider: no descriptor for the request queue")
		}
		go extDispatch(os.NewFile(fd, "ext-requests"))
	})
	syscall.RawSyscall(sysSmpgoExt, extRegister, uintptr(prov), 0)
}

// extDispatch reads requests (several per read when they are queued) and
// serves each on its own goroutine.
func extDispatch(q *os.File) {
	const size = int(unsafe.Sizeof(Request{}))
	buf := make([]Request, 16)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf)*size)
	for {
		n, err := q.Read(raw)
		if err != nil {
			panic("kern: provider request queue: " + err.Error())
		}
		// The last request of a batch is served here (no goroutine
		// hand-off for the common single request), the others each on
		// their own goroutine, so concurrent callers are served in
		// parallel.
		k := n / size
		for i := range k {
			r := buf[i]
			if i == k-1 {
				serveOne(&r)
				continue
			}
			go serveOne(&r)
		}
	}
}

func serveOne(r *Request) {
	if res := serveExt(r); res != Deferred {
		r.Complete(res)
	}
}

// serveExt runs the handler; a panic in it is reported, counted, and the
// call fails with EIO rather than taking the kernel down.
func serveExt(r *Request) (res int64) {
	defer func() {
		if e := recover(); e != nil {
			extPanics.Add(1)
			buf := make([]byte, 4096)
			buf = buf[:runtime.Stack(buf, false)]
			fmt.Printf("kern: provider %d panicked on system call %d (%s): %v\n%s\n",
				r.Prov, r.Nr, SyscallName(r.Nr), e, buf)
			res = -EIO
		}
	}()
	h := handlers[r.Prov].Load()
	if h == nil {
		return -ENOSYS
	}
	return (*h)(r)
}

// Complete ends a request with result res (once; a Deferred request's
// provider calls it when the call can finish).
func (r *Request) Complete(res int64) {
	syscall.RawSyscall6(sysSmpgoExt, extDone, uintptr(r.slot), uintptr(r.tid), uintptr(res), 0, 0)
}

// ProviderPanics returns how many requests failed because their handler
// panicked.
func ProviderPanics() uint64 { return extPanics.Load() }

// NewFd installs a descriptor for a provider's object: the lowest free
// one, with open flags (O_NONBLOCK, O_APPEND and the access mode are kept
// for fcntl) and whether epoll may watch it. It returns the descriptor or
// -EMFILE.
func NewFd(prov int, handle uint64, flags uint32, pollable bool) int {
	a := uint64(flags)
	if pollable {
		a |= 1 << 32
	}
	r, _, _ := syscall.RawSyscall6(sysSmpgoExt, extNewFd, uintptr(prov), uintptr(handle), uintptr(a), 0, 0)
	return int(r)
}

// FdHandle returns the handle of descriptor fd if it is one of prov's.
// Handles are positive (below 1<<62).
func FdHandle(fd, prov int) (uint64, bool) {
	r, _, _ := syscall.RawSyscall6(sysSmpgoExt, extFdInfo, uintptr(fd), uintptr(prov), 0, 0, 0)
	if int64(r) < 0 {
		return 0, false
	}
	return uint64(r), true
}

// Notify reports that events (EPOLLIN 0x1, EPOLLOUT 0x4, EPOLLERR 0x8,
// EPOLLHUP 0x10, EPOLLRDHUP 0x2000) occurred on descriptor fd, if fd
// still names handle. Any goroutine may call it, with locks held: it does
// not block.
func Notify(fd int, handle uint64, events uint32) {
	syscall.RawSyscall6(sysSmpgoExt, extNotify, uintptr(fd), uintptr(handle), uintptr(events), 0, 0)
}

// UserOK backs [addr, addr+n) and reports whether it is valid memory.
// Handlers check a caller's buffer with it before touching it.
func UserOK(addr uintptr, n int) bool {
	if n < 0 || addr+uintptr(n) < addr {
		return false
	}
	if n == 0 {
		return true
	}
	r, _, _ := syscall.RawSyscall(sysSmpgoExt, extUserOK, addr, uintptr(n))
	return r == 0
}

// UserBytes returns the caller's buffer [addr, addr+n) as a slice, or nil
// if it is not valid memory. The slice is valid until the request
// completes.
func UserBytes(addr uintptr, n int) []byte {
	if n == 0 {
		return []byte{}
	}
	if addr == 0 || !UserOK(addr, n) {
		return nil
	}
	return unsafe.Slice((*byte)(userPtr(addr)), n)
}

// UserString reads a NUL-terminated string of at most max bytes at addr
// (a path); ok is false for bad memory or a missing terminator.
func UserString(addr uintptr, max int) (s string, ok bool) {
	if addr == 0 {
		return "", false
	}
	var b []byte
	for len(b) < max {
		// One page (or its remainder) at a time: the string may end
		// before a page that is not mapped.
		n := int(vm.PageSize - (addr+uintptr(len(b)))%vm.PageSize)
		n = min(n, max-len(b)) // a NUL past max does not count
		p := UserBytes(addr+uintptr(len(b)), n)
		if p == nil {
			return "", false
		}
		for i, c := range p {
			if c == 0 {
				return string(append(b, p[:i]...)), true
			}
		}
		b = append(b, p...)
	}
	return "", false
}

// userPtr converts a caller's address to a pointer. Reinterpreting the
// uintptr's storage keeps go vet's unsafeptr check meaningful elsewhere;
// it is sound because the memory belongs to a caller blocked in the system
// call (its stack cannot move, its heap objects stay alive).
func userPtr(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

// Syscall classes for routing (extClass).
const (
	extNone     = iota
	extFdCall   // a0 is a descriptor: to its provider if it is fdExt
	extAtCall   // a path call (a0 a dirfd for *at calls): to ProvFS
	extPath     // a path call without a dirfd: to ProvFS
	extSocket   // socket, socketpair: served here (see extSocketCall)
	extName     // getsockname, getpeername: served here from the file table
	extQuiet    // splice, copy_file_range: EINVAL, the answer after which Go falls back to read/write
	extSendfile // sendfile: to the socket provider when the output is a socket, else EINVAL (Go falls back)
)

var extClass = func() (c [nSyscalls]uint8) {
	for _, nr := range []int{0, 1, 5, 8, 16, 17, 18, 19, 20, 42, 43, 44, 45, 46, 47, 48, 49, 50,
		54, 55, 73, 74, 75, 77, 78, 81, 91, 93, 138, 217, 221, 285, 288} {
		c[nr] = extFdCall
	}
	// open, stat, lstat, access, rename, mkdir, rmdir, creat, link,
	// unlink, symlink, readlink, chmod, getcwd, chdir, truncate, statfs
	for _, nr := range []int{2, 4, 6, 21, 76, 79, 80, 82, 83, 84, 85, 86, 87, 88, 89, 90, 137} {
		c[nr] = extPath
	}
	// openat, mkdirat, newfstatat, unlinkat, renameat, linkat,
	// readlinkat, fchmodat, faccessat, utimensat, renameat2, statx,
	// faccessat2 (a second dirfd, of renameat and linkat, is looked up by
	// the provider with FdHandle)
	for _, nr := range []int{257, 258, 262, 263, 264, 265, 267, 268, 269, 280, 316, 332, 439} {
		c[nr] = extAtCall
	}
	c[41], c[53] = extSocket, extSocket
	c[51], c[52] = extName, extName
	c[275], c[326] = extQuiet, extQuiet
	c[40] = extSendfile
	return
}()

// extRoute hands the current call to a provider when it belongs to one;
// handled is false when the kernel's own code should serve it. Trap
// context.
func extRoute(c *CPU, t *Thread, nr uint64) (r int64, handled bool) {
	if nr >= nSyscalls {
		return 0, false
	}
	cl := extClass[nr]
	switch cl {
	case extNone:
		if nr == sysClose {
			return extClose(c, t)
		}
		return 0, false
	case extSocket:
		return extSocketCall(t, nr), true
	case extName:
		return extNameCall(t, nr), true
	}
	lockSched()
	r, handled = extRouteLocked(c, t, nr, cl)
	unlockSched()
	return r, handled
}

func extRouteLocked(c *CPU, t *Thread, nr uint64, cl uint8) (r int64, handled bool) {
	f := &t.Frame
	fd, prov := -1, 0
	switch cl {
	case extQuiet:
		return -EINVAL, true
	case extSendfile:
		fd = int(int32(f.RDI))
		x := fileLocked(fd)
		switch {
		case x == nil:
			return -EBADF, true
		case x.kind != fdExt || x.prov != ProvSock:
			return -EINVAL, true
		}
		prov = ProvSock
	case extFdCall:
		fd = int(int32(f.RDI))
		x := fileLocked(fd)
		if x == nil && nr != sysRead && nr != sysWrite {
			return -EBADF, true
		}
		if x == nil || x.kind != fdExt {
			return 0, false
		}
		prov = int(x.prov)
	case extAtCall:
		if !ext.on[ProvFS] {
			return 0, false
		}
		prov = ProvFS
		if d := int(int32(f.RDI)); d != atFdcwd {
			fd = d
			if x := fileLocked(fd); x == nil || x.kind != fdExt {
				return -EBADF, true
			}
		}
	case extPath:
		if !ext.on[ProvFS] {
			return 0, false
		}
		prov = ProvFS
	}
	var h uint64
	var fl uint32
	if x := fileLocked(fd); x != nil && x.kind == fdExt {
		h, fl = x.handle, x.flags
	}
	extQueueLocked(c, t, nr, prov, fd, h, fl)
	return blocked, true
}

// Sockets are created here, in trap context, not by the provider: Go's
// syscall package makes socket, getsockname and getpeername with
// RawSyscall (no entersyscall), so a caller blocked in them would keep its
// P, and with every P held that way the provider could never run. socket
// allocates the descriptor with a handle that names the type
// (SockHandle); the socket provider creates its object on the first other
// call. The provider records each socket's addresses in its file entry
// (SetSockAddrs), from which getsockname and getpeername answer.

// SockHandle bits: handles made by socket(2) and socketpair(2) have bit 62
// set, the socket type in bits 56-59, bit 61 for AF_UNIX, and bit 60 for
// the two ends of a socketpair, whose handles differ only in bit 0.
const (
	SockHandleKernel = 1 << 62
	sockHandleUnix   = 1 << 61
	sockHandlePair   = 1 << 60
	sockTypeShift    = 56
)

// SockHandleType returns the socket type (SOCK_STREAM 1, SOCK_DGRAM 2,
// SOCK_SEQPACKET 5) of a handle made by socket(2) or socketpair(2), or 0.
func SockHandleType(h uint64) int {
	if h&SockHandleKernel == 0 {
		return 0
	}
	return int(h>>sockTypeShift) & 0xf
}

// SockHandleUnix reports whether a handle made by socket(2) or
// socketpair(2) is an AF_UNIX socket's.
func SockHandleUnix(h uint64) bool {
	return h&SockHandleKernel != 0 && h&sockHandleUnix != 0
}

// SockHandlePeer returns the other end's handle of a socketpair end.
func SockHandlePeer(h uint64) (uint64, bool) {
	if h&SockHandleKernel == 0 || h&sockHandlePair == 0 {
		return 0, false
	}
	return h ^ 1, true
}

func extSocketCall(t *Thread, nr uint64) int64 {
	const afUnix, afInet, sockNonblock, sockCloexec = 1, 2, 0x800, 0x80000
	f := &t.Frame
	domain, typ, proto := int32(f.RDI), int32(f.RSI), int32(f.RDX)
	if domain != afInet && domain != afUnix {
		return -EAFNOSUPPORT
	}
	if typ&^(0xf|sockNonblock|sockCloexec) != 0 {
		return -EINVAL
	}
	st := typ & 0xf
	if domain == afUnix {
		if e := unixSockType(st, proto); e != 0 {
			return e
		}
		if nr == sysSocketpair {
			return unixSocketpair(uintptr(f.R10), st, typ&sockNonblock != 0)
		}
		lockSched()
		r := extNewSocketLocked(sockHandleUnix, st, typ&sockNonblock != 0)
		unlockSched()
		return r
	}
	if nr == sysSocketpair {
		return -EOPNOTSUPP // as Linux answers for AF_INET
	}
	switch {
	case st == sockStream && (proto == 0 || proto == 6):
	case st == sockDgram && (proto == 0 || proto == 17):
	case st == sockStream || st == sockDgram:
		return -EPROTONOSUPPORT
	default:
		return -ESOCKTNOSUPPORT
	}
	lockSched()
	r := extNewSocketLocked(0, st, typ&sockNonblock != 0)
	unlockSched()
	return r
}

// extNewSocketLocked installs a socket descriptor whose handle names its
// family bits, type and (for socketpair) pair bit.
func extNewSocketLocked(bits uint64, typ int32, nonblock bool) int64 {
	if !ext.on[ProvSock] {
		return -EAFNOSUPPORT
	}
	i := freeFdLocked(3)
	if i < 0 {
		return -EMFILE
	}
	ext.nextSock++
	if bits&sockHandlePair != 0 && ext.nextSock&1 != 0 {
		ext.nextSock++ // a pair's first end: an even number (unixSocketpair gives the other end the odd one after it)
	}
	fl := uint32(2) // O_RDWR
	if nonblock {
		fl |= oNonblock
	}
	files[i] = file{kind: fdExt, prov: ProvSock, flags: fl, pollable: true, epQueued: files[i].epQueued,
		handle: SockHandleKernel | bits | uint64(typ)<<sockTypeShift | ext.nextSock&(1<<sockTypeShift-1)}
	return int64(i)
}

// extNameCall is getsockname/getpeername(fd, addr, addrlen).
func extNameCall(t *Thread, nr uint64) int64 {
	f := &t.Frame
	fd, addr, lenp := int(int32(f.RDI)), uintptr(f.RSI), uintptr(f.RDX)
	// The address is built under the lock (an AF_UNIX name is copied out
	// of the descriptor's table entry) and stored after it.
	var sa [unixAddrMax]byte
	var n int
	var e int64
	lockSched()
	x := fileLocked(fd)
	switch {
	case x == nil:
		e = -EBADF
	case x.kind != fdExt || x.prov != ProvSock:
		e = -ENOTSOCK
	case x.sockLocal&sockAddrUnix != 0 || SockHandleUnix(x.handle):
		n, e = unixNameLocked(fd, x, nr == 51, &sa)
	case nr == 51:
		n = inetName(x.sockLocal, &sa)
	case x.sockPeer == 0:
		e = -ENOTCONN
	default:
		n = inetName(x.sockPeer, &sa)
	}
	unlockSched()
	if e != 0 {
		return e
	}
	if !vm.Ensure(lenp, 4) {
		return -EFAULT
	}
	have := int32(amd64.Load32(lenp))
	if have < 0 {
		return -EINVAL
	}
	k := min(int(have), n)
	if k > 0 && !vm.Ensure(addr, uintptr(k)) {
		return -EFAULT
	}
	for i := range k {
		amd64.Store8(addr+uintptr(i), sa[i])
	}
	amd64.Store32(lenp, uint32(n))
	return 0
}

// inetName writes a SockAddr value as a struct sockaddr_in — family, port
// (big-endian), address, zero — and returns its length.
func inetName(v uint64, sa *[unixAddrMax]byte) int {
	sa[0] = 2
	sa[2], sa[3] = byte(v>>8), byte(v)
	sa[4], sa[5], sa[6], sa[7] = byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16)
	return 16
}

// SockAddr encodes an IPv4 address and port for SetSockAddrs (0: none).
func SockAddr(ip [4]byte, port uint16) uint64 {
	return 1<<48 | uint64(ip[0])<<40 | uint64(ip[1])<<32 | uint64(ip[2])<<24 | uint64(ip[3])<<16 | uint64(port)
}

// SetSockAddrs records a socket descriptor's local and peer addresses
// (SockAddr values; 0 leaves one unchanged) for getsockname and
// getpeername.
func SetSockAddrs(fd int, handle, local, peer uint64) {
	syscall.RawSyscall6(sysSmpgoExt, extSetAddrs, uintptr(fd), uintptr(handle), uintptr(local), uintptr(peer), 0)
}

const (
	atFdcwd         = -100
	EIO             = 5
	EAFNOSUPPORT    = 97
	ENOTSOCK        = 88
	EPROTONOSUPPORT = 93
	ESOCKTNOSUPPORT = 94
	ENOTCONN        = 107
	oAppend         = 0x400
)

// extClose releases an fdExt descriptor at once (the number is free for
// reuse when close returns, as on Linux) and has its provider drop the
// object; other descriptors are closed by closeFd.
func extClose(c *CPU, t *Thread) (int64, bool) {
	fd := int(int32(t.Frame.RDI))
	lockSched()
	x := fileLocked(fd)
	if x == nil || x.kind != fdExt {
		unlockSched()
		return 0, false
	}
	if !lastCopyLocked(fd) {
		// Another descriptor still refers to the object (dup.go).
		*x = file{epQueued: x.epQueued}
		unlockSched()
		return 0, true
	}
	prov, h, fl := int(x.prov), x.handle, x.flags
	*x = file{epQueued: x.epQueued}
	extQueueLocked(c, t, sysClose, prov, fd, h, fl)
	unlockSched()
	return blocked, true
}

// extQueueLocked builds t's request, hands it to a waiting worker or
// queues it, and blocks t.
func extQueueLocked(c *CPU, t *Thread, nr uint64, prov, fd int, handle uint64, flags uint32) {
	i := int32(threadIndex(t))
	s := &ext.slots[i]
	f := &t.Frame
	s.req = Request{Nr: int(nr), Args: [6]uint64{f.RDI, f.RSI, f.RDX, f.R10, f.R8, f.R9},
		Fd: fd, Handle: handle, Flags: flags, Prov: int32(prov), slot: i, tid: t.tid}
	ext.calls[prov]++
	s.next = -1
	s.queued = true
	if ext.tail < 0 {
		ext.head = i
	} else {
		ext.slots[ext.tail].next = i
	}
	ext.tail = i
	ext.nqueued++
	ext.queuedMax = max(ext.queuedMax, ext.nqueued)
	blockLocked(c, waitExt, uintptr(i), 0)
	postEpollLocked(int(ext.queueFd), epollIn)
}

// extReadLocked is read(2) of the request queue: whole Requests, as many
// as fit in n bytes and are queued; EAGAIN when none is (the dispatcher
// then waits in the netpoller).
func extReadLocked(buf, n uintptr) int64 {
	size := unsafe.Sizeof(Request{})
	if n < size {
		return -EINVAL
	}
	var done uintptr
	for done+size <= n && ext.head >= 0 {
		i := ext.head
		s := &ext.slots[i]
		ext.head = s.next
		if ext.head < 0 {
			ext.tail = -1
		}
		s.queued = false
		ext.nqueued--
		*(*Request)(userPtr(buf + done)) = s.req
		done += size
	}
	if done == 0 {
		return -EAGAIN
	}
	return int64(done)
}

// extSyscall serves sysSmpgoExt. Trap context: no defer here (a
// function with many returns gets heap-style defers, which need a real g).
func extSyscall(c *CPU, t *Thread) int64 {
	f := &t.Frame
	op, a1, a2, a3 := f.RDI, f.RSI, f.RDX, f.R10
	switch op {
	case extUserOK:
		if !vm.Ensure(uintptr(a1), uintptr(a2)) {
			return -EFAULT
		}
		return 0
	case extQueueFd, extDone, extNewFd, extNotify, extFdInfo, extRegister, extSetAddrs, extSetUnix:
	default:
		return -EINVAL
	}
	lockSched()
	if op == extSetUnix {
		r := extSetUnixLocked(int(a1), a2, uintptr(a3), uintptr(f.R8))
		unlockSched()
		return r
	}
	if op == extSetAddrs {
		if x := fileLocked(int(a1)); x != nil && x.kind == fdExt && x.handle == a2 {
			set := func(_ int, x *file) {
				if a3 != 0 {
					x.sockLocal = a3
				}
				if f.R8 != 0 {
					x.sockPeer = f.R8
				}
			}
			set(int(a1), x)
			copiesLocked(int(a1), set)
		}
		unlockSched()
		return 0
	}
	r := extOpLocked(c, op, a1, a2, a3)
	unlockSched()
	return r
}

func extOpLocked(c *CPU, op, a1, a2, a3 uint64) int64 {
	switch op {
	case extQueueFd:
		i := freeFdLocked(3)
		if i < 0 {
			return -EMFILE
		}
		files[i] = file{kind: fdExtQueue, epQueued: files[i].epQueued}
		ext.queueFd = int32(i)
		return int64(i)
	case extDone:
		if a1 >= MaxThreads {
			return -EINVAL
		}
		w := &threads[a1]
		if w.state != tBlocked || w.waitFor != waitExt || w.tid != int32(a2) {
			return -ESRCH
		}
		res := int64(a3)
		if s := &ext.slots[a1]; s.retFd != 0 {
			res, s.retFd = int64(s.retFd-1), 0
		}
		wakeLocked(w, res)
		return 0
	case extNewFd:
		i := freeFdLocked(3)
		if i < 0 {
			return -EMFILE
		}
		files[i] = file{kind: fdExt, prov: int32(a1), handle: a2, flags: uint32(a3),
			pollable: a3>>32 != 0, epQueued: files[i].epQueued}
		return int64(i)
	case extNotify:
		x := fileLocked(int(a1))
		if x != nil && x.kind == fdExt && x.handle == a2 {
			postEpollLocked(int(a1), uint32(a3))
			copiesLocked(int(a1), func(i int, _ *file) { postEpollLocked(i, uint32(a3)) })
			return 0
		}
		// The provider's descriptor was closed, or reused: copies made
		// by dup may still watch the object.
		for i := range files {
			if y := &files[i]; y.kind == fdExt && y.dupped && y.pollable && y.handle == a2 {
				postEpollLocked(i, uint32(a3))
			}
		}
		return 0
	case extFdInfo:
		x := fileLocked(int(int32(a1)))
		if x == nil || x.kind != fdExt || x.prov != int32(a2) {
			return -EBADF
		}
		return int64(x.handle)
	case extRegister:
		if a1 <= 0 || a1 >= nProv {
			return -EINVAL
		}
		ext.on[a1] = true
		return 0
	}
	return -EINVAL
}

// ProviderCalls returns how many calls each provider was given.
func ProviderCalls() (fs, sock uint64) {
	return ext.calls[ProvFS], ext.calls[ProvSock]
}
