package kern

import (
	"sync/atomic"

	"github.com/smpgo/smpgo/vm"
)

// uname(2): the kernel serves Linux's system-call ABI, so it answers as
// a Linux of the generation whose calls the Go runtime and library use
// (sysname "Linux", release UnameRelease): programs and Go's own version
// checks (internal/syscall/unix.KernelVersion: copy_file_range from
// 5.3, a 32-bit listen backlog from 4.1) take their Linux paths, and
// whatever the kernel does not serve still answers ENOSYS or EINVAL,
// which Go falls back from. The version field says what it really is.
// The node name is the host name of /proc/sys/kernel/hostname.

const (
	sysUname = 63

	// UnameSysname, UnameRelease, UnameVersion, UnameMachine and
	// UnameNodename are uname's fields.
	UnameSysname  = "Linux"
	UnameRelease  = "5.15.0-smpgo"
	UnameVersion  = "#1 SMP smpgo (a Go kernel serving the Linux system-call ABI)"
	UnameMachine  = "x86_64"
	UnameNodename = "smpgo"

	utsLen = 65 // each field of struct utsname, NUL-terminated
)

// Utsname is Linux's struct new_utsname: sysname, nodename, release,
// version, machine and domainname, 65 bytes each.
type Utsname [6 * utsLen]byte

// MakeUtsname fills the structure uname answers with; fields longer
// than 64 bytes are cut.
func MakeUtsname() Utsname {
	var u Utsname
	for i, s := range []string{UnameSysname, UnameNodename, UnameRelease, UnameVersion, UnameMachine, "(none)"} {
		copy(u[i*utsLen:i*utsLen+utsLen-1], s)
	}
	return u
}

var utsname = MakeUtsname()

// sysUnameCall copies the structure to the caller's buffer (trap context).
func sysUnameCall(buf uintptr) int64 {
	if buf == 0 || !vm.Ensure(buf, uintptr(len(utsname))) {
		return -EFAULT
	}
	*(*Utsname)(userPtr(buf)) = utsname
	return 0
}

// umask(2): the file-mode creation mask, 022 at boot as Linux's init
// gets it; the file system clears its bits from the mode of every file
// and directory it creates (Umask).
var umask atomic.Uint32

func init() { umask.Store(0o022) }

// Umask returns the file-mode creation mask.
func Umask() uint32 { return umask.Load() }
