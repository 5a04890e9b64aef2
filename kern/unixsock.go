package kern

import (
	"syscall"
	"unsafe"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/vm"
)

// AF_UNIX sockets: the trap-context half.
//
// socket(AF_UNIX, ...) and socketpair(AF_UNIX, ...) allocate descriptors
// here, like AF_INET's socket (see extSocketCall): Go makes both with
// RawSyscall. The handle says AF_UNIX (sockHandleUnix) and, for a
// socketpair, which end (sockHandlePair, bit 0); the socket provider
// (net/sock) creates the objects on first use, both ends of a pair at
// once.
//
// getsockname and getpeername are answered here too, from the
// descriptor's entry in unixNames: the provider publishes a socket's
// names (SetUnixAddrs) when it binds, connects or is accepted, and the
// file entry's sockLocal/sockPeer carry the sockAddrUnix mark. The table
// is per descriptor (a dup copies the entry), guarded by sched.lock.

// UnixName is an AF_UNIX socket address as getsockname reports it: Len
// bytes of sun_path (a path with its terminating NUL, an abstract name
// with its leading NUL, nothing for an unnamed socket).
type UnixName struct {
	Len  uint8
	Path [108]byte
}

const (
	sysSocketpair = 53
	EOPNOTSUPP    = 95

	sockStream    = 1
	sockDgram     = 2
	sockSeqpacket = 5

	// unixAddrMax is sizeof(struct sockaddr_un): family and sun_path.
	unixAddrMax = 110
	// sockAddrUnix marks a descriptor's sockLocal/sockPeer as an AF_UNIX
	// name held in unixNames (SockAddr values carry bit 48 instead).
	sockAddrUnix = 1 << 49

	extSetUnix = 9 // (fd, handle, *UnixName local, *UnixName peer)
)

// unixNames holds each descriptor's AF_UNIX names (sched.lock).
var unixNames [maxFds]struct{ local, peer UnixName }

// unixSockType checks socket(AF_UNIX, type, protocol)'s type and protocol.
func unixSockType(st, proto int32) int64 {
	if proto != 0 && proto != 1 { // 0 or PF_UNIX, as Linux accepts
		return -EPROTONOSUPPORT
	}
	switch st {
	case sockStream, sockDgram, sockSeqpacket:
		return 0
	}
	return -ESOCKTNOSUPPORT
}

// unixSocketpair serves socketpair(AF_UNIX, type, 0, sv): two connected
// descriptors whose handles differ in bit 0.
func unixSocketpair(sv uintptr, st int32, nonblock bool) int64 {
	if !vm.Ensure(sv, 8) {
		return -EFAULT
	}
	lockSched()
	a := extNewSocketLocked(sockHandleUnix|sockHandlePair, st, nonblock)
	if a < 0 {
		unlockSched()
		return a
	}
	b := extNewSocketLocked(sockHandleUnix|sockHandlePair, st, nonblock)
	if b < 0 {
		files[a] = file{epQueued: files[a].epQueued} // never used: nothing to tell the provider
		unlockSched()
		return b
	}
	files[b].handle = files[a].handle | 1
	unlockSched()
	amd64.Store32(sv, uint32(a))
	amd64.Store32(sv+4, uint32(b))
	return 0
}

// unixNameLocked builds fd's struct sockaddr_un (local, else the peer's)
// in sa and returns its length. A socket that never published a name is
// unnamed; one with no peer answers ENOTCONN.
func unixNameLocked(fd int, x *file, local bool, sa *[unixAddrMax]byte) (int, int64) {
	const afUnix = 1
	sa[0] = afUnix
	nm := &unixNames[fd].local
	if !local {
		if x.sockPeer&sockAddrUnix == 0 {
			return 0, -ENOTCONN
		}
		nm = &unixNames[fd].peer
	} else if x.sockLocal&sockAddrUnix == 0 {
		return 2, 0
	}
	n := int(min(nm.Len, 108))
	copy(sa[2:2+n], nm.Path[:n])
	return 2 + n, 0
}

// SetUnixAddrs records an AF_UNIX socket descriptor's local name and its
// peer's (nil leaves one unchanged) for getsockname and getpeername, on
// fd and every copy of it, if fd still names handle.
func SetUnixAddrs(fd int, handle uint64, local, peer *UnixName) {
	syscall.RawSyscall6(sysSmpgoExt, extSetUnix, uintptr(fd), uintptr(handle),
		uintptr(unsafe.Pointer(local)), uintptr(unsafe.Pointer(peer)), 0)
}

// extSetUnixLocked serves SetUnixAddrs: the caller is blocked in the
// call, so the names it points to stay put while they are copied.
func extSetUnixLocked(fd int, handle uint64, local, peer uintptr) int64 {
	x := fileLocked(fd)
	if x == nil || x.kind != fdExt || x.handle != handle {
		return 0 // closed (or reused) meanwhile: nothing to record
	}
	sz := unsafe.Sizeof(UnixName{})
	if local != 0 && !vm.Ensure(local, sz) || peer != 0 && !vm.Ensure(peer, sz) {
		return -EFAULT
	}
	set := func(i int, y *file) {
		if local != 0 {
			unixNames[i].local = *(*UnixName)(userPtr(local))
			y.sockLocal = sockAddrUnix
		}
		if peer != 0 {
			unixNames[i].peer = *(*UnixName)(userPtr(peer))
			y.sockPeer = sockAddrUnix
		}
	}
	set(fd, x)
	copiesLocked(fd, set)
	return 0
}
