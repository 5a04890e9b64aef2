// Package kfs serves the in-memory file system (fs/memfs) to the kernel's
// system calls: it registers the kernel's file-system provider
// (kern.RegisterProvider(kern.ProvFS, ...)), so openat, read, write,
// pread64, pwrite64, readv, writev, lseek, fstat, newfstatat, getdents64,
// mkdirat, unlinkat, renameat(2), ftruncate, fsync, getcwd, chdir and
// friends work on it, and with them os.ReadFile, os.WriteFile,
// os.MkdirAll, os.ReadDir, os.Remove and os.Rename, unmodified.
//
// The tree at boot: /dev/null, /dev/zero, /dev/random, /dev/urandom,
// /proc/cpuinfo and /proc/meminfo (generated at each open), /etc/hosts
// (localhost), /etc/hostname, /tmp. Everything runs in goroutine context
// (a provider worker, see kern/extfile.go).
package kfs

import (
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/arch/amd64"
	"github.com/smpgo/smpgo/fs/memfs"
	"github.com/smpgo/smpgo/kern"
)

// FS is the kernel's file system.
var FS = memfs.New(memfs.Config{MaxBytes: 128 << 20})

var (
	mu      sync.Mutex
	open    = map[uint64]*memfs.File{} // (mu) handle → open file
	cwd     = FS.Root()                // (mu)
	handles atomic.Uint64

	// Errors counts failed calls by errno (bad input is counted).
	Errors [256]atomic.Uint64
)

func init() {
	seed()
	kern.RegisterProvider(kern.ProvFS, serve)
}

func seed() {
	for _, d := range []string{"/dev", "/proc", "/etc", "/tmp"} {
		must(FS.MkdirAll(d, 0o755))
	}
	must(FS.MkDev("/dev/null", 0o666, nullDev{}))
	must(FS.MkDev("/dev/zero", 0o666, zeroDev{}))
	must(FS.MkDev("/dev/random", 0o666, randDev{}))
	must(FS.MkDev("/dev/urandom", 0o666, randDev{}))
	must(FS.MkGen("/proc/cpuinfo", cpuinfo))
	must(FS.MkGen("/proc/meminfo", meminfo))
	must(FS.MkdirAll("/proc/sys/kernel", 0o555))
	must(FS.MkGen("/proc/sys/kernel/hostname", func() []byte { return []byte("smpgo\n") }))
	must(FS.WriteFile("/etc/hosts", []byte("127.0.0.1\tlocalhost\n"), 0o644))
	must(FS.WriteFile("/etc/hostname", []byte("smpgo\n"), 0o644))
}

func must(err error) {
	if err != nil {
		panic("kfs: " + err.Error())
	}
}

type nullDev struct{}

func (nullDev) Read([]byte, int64) (int, error)      { return 0, io.EOF }
func (nullDev) Write(p []byte, _ int64) (int, error) { return len(p), nil }

type zeroDev struct{}

func (zeroDev) Read(p []byte, _ int64) (int, error)  { clear(p); return len(p), nil }
func (zeroDev) Write(p []byte, _ int64) (int, error) { return len(p), nil }

type randDev struct{}

func (randDev) Read(p []byte, _ int64) (int, error)  { return rand.Read(p) }
func (randDev) Write(p []byte, _ int64) (int, error) { return len(p), nil }

// cpuinfo is a /proc/cpuinfo-like view: one stanza per CPU.
func cpuinfo() []byte {
	var vendor [12]byte
	_, b, c, d := amd64.Cpuid(0, 0)
	for i, r := range []uint32{b, d, c} {
		vendor[4*i], vendor[4*i+1], vendor[4*i+2], vendor[4*i+3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
	}
	var brand []byte
	if a, _, _, _ := amd64.Cpuid(0x80000000, 0); a >= 0x80000004 {
		for l := uint32(0x80000002); l <= 0x80000004; l++ {
			a, b, c, d := amd64.Cpuid(l, 0)
			for _, r := range []uint32{a, b, c, d} {
				brand = append(brand, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
			}
		}
	}
	model := strings.TrimSpace(strings.TrimRight(string(brand), "\x00"))
	var sb strings.Builder
	for _, t := range kern.GetTopology().CPUs {
		fmt.Fprintf(&sb, "processor\t: %d\nvendor_id\t: %s\nmodel name\t: %s\nphysical id\t: %d\ncore id\t\t: %d\napicid\t\t: %d\nnuma node\t: %d\n\n",
			t.CPU, strings.TrimRight(string(vendor[:]), "\x00"), model, t.Package, t.Core, t.APICID, t.Domain)
	}
	return []byte(sb.String())
}

func meminfo() []byte {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Appendf(nil, "HeapSys:\t%d kB\nHeapAlloc:\t%d kB\nTmpfs:\t\t%d kB\n",
		ms.HeapSys>>10, ms.HeapAlloc>>10, FS.Bytes()>>10)
}

// Lookup returns the open file behind a handle.
func lookup(h uint64) *memfs.File {
	mu.Lock()
	defer mu.Unlock()
	return open[h]
}

// install gives f a handle and a descriptor.
func install(f *memfs.File) int64 {
	h := handles.Add(1)
	mu.Lock()
	open[h] = f
	mu.Unlock()
	fl := uint32(f.Flags() & (memfs.O_ACCMODE | memfs.O_APPEND | memfs.O_NONBLOCK))
	fd := kern.NewFd(kern.ProvFS, h, fl, false)
	if fd < 0 {
		release(h)
	}
	return int64(fd)
}

func release(h uint64) {
	mu.Lock()
	f := open[h]
	delete(open, h)
	mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// OpenFiles returns how many files are open through descriptors.
func OpenFiles() int {
	mu.Lock()
	defer mu.Unlock()
	return len(open)
}

// errno converts an error to a negative errno, counting it.
func errno(err error) int64 {
	e, ok := err.(syscall.Errno)
	if !ok {
		e = syscall.EIO
	}
	if int(e) < len(Errors) {
		Errors[e].Add(1)
	}
	return -int64(e)
}

const (
	atEmptyPath  = 0x1000
	atRemoveDir  = 0x200
	renameNoRepl = 1
)

// Linux x86-64 system call numbers served here.
const (
	sysRead       = 0
	sysWrite      = 1
	sysOpen       = 2
	sysClose      = 3
	sysStat       = 4
	sysFstat      = 5
	sysLstat      = 6
	sysLseek      = 8
	sysIoctl      = 16
	sysPread64    = 17
	sysPwrite64   = 18
	sysReadv      = 19
	sysWritev     = 20
	sysAccess     = 21
	sysFlock      = 73
	sysFsync      = 74
	sysFdatasync  = 75
	sysTruncate   = 76
	sysFtruncate  = 77
	sysGetcwd     = 79
	sysChdir      = 80
	sysFchdir     = 81
	sysRename     = 82
	sysMkdir      = 83
	sysRmdir      = 84
	sysCreat      = 85
	sysUnlink     = 87
	sysReadlink   = 89
	sysChmod      = 90
	sysFchmod     = 91
	sysFchown     = 93
	sysGetdents64 = 217
	sysFadvise64  = 221
	sysOpenat     = 257
	sysMkdirat    = 258
	sysNewfstatat = 262
	sysUnlinkat   = 263
	sysRenameat   = 264
	sysReadlinkat = 267
	sysFchmodat   = 268
	sysFaccessat  = 269
	sysUtimensat  = 280
	sysRenameat2  = 316
	sysFaccessat2 = 439
)

// serve is the provider's handler.
func serve(r *kern.Request) int64 {
	a := r.Args
	switch r.Nr {
	case sysOpenat:
		return doOpen(r, uintptr(a[1]), int(int32(a[2])), uint32(a[3]))
	case sysOpen:
		return doOpen(r, uintptr(a[0]), int(int32(a[1])), uint32(a[2]))
	case sysCreat:
		return doOpen(r, uintptr(a[0]), memfs.O_CREAT|memfs.O_WRONLY|memfs.O_TRUNC, uint32(a[1]))
	case sysClose:
		release(r.Handle)
		return 0
	case sysMkdirat:
		return pathOp(r, a[1], func(dir *memfs.Inode, p string) error { return FS.Mkdir(dir, p, uint32(a[2])&^kern.Umask()) })
	case sysMkdir:
		return pathOp(r, a[0], func(dir *memfs.Inode, p string) error { return FS.Mkdir(dir, p, uint32(a[1])&^kern.Umask()) })
	case sysUnlinkat:
		if a[2]&^atRemoveDir != 0 {
			return errno(syscall.EINVAL)
		}
		return pathOp(r, a[1], func(dir *memfs.Inode, p string) error { return FS.Unlink(dir, p, a[2]&atRemoveDir != 0) })
	case sysUnlink, sysRmdir:
		return pathOp(r, a[0], func(dir *memfs.Inode, p string) error { return FS.Unlink(dir, p, r.Nr == sysRmdir) })
	case sysRenameat, sysRenameat2:
		var flags uint64
		if r.Nr == sysRenameat2 {
			flags = a[4]
		}
		if flags&^renameNoRepl != 0 {
			return errno(syscall.EINVAL)
		}
		return doRename(r, a[1], int(int32(a[2])), a[3], flags&renameNoRepl != 0)
	case sysRename:
		return doRename(r, a[0], -100, a[1], false)
	case sysNewfstatat:
		if a[3]&atEmptyPath != 0 && r.Fd >= 0 {
			if s, ok := kern.UserString(uintptr(a[1]), 4096); ok && s == "" {
				return fstat(r, uintptr(a[2]))
			}
		}
		return statPath(r, a[1], uintptr(a[2]))
	case sysStat, sysLstat:
		return statPath(r, a[0], uintptr(a[1]))
	case sysAccess:
		return pathOp(r, a[0], func(dir *memfs.Inode, p string) error { _, err := FS.Lookup(dir, p); return err })
	case sysFaccessat, sysFaccessat2, sysFchmodat, sysUtimensat:
		if r.Nr == sysUtimensat && a[1] == 0 {
			return fdOp(r, func(*memfs.File) error { return nil }) // futimens
		}
		return pathOp(r, a[1], func(dir *memfs.Inode, p string) error { _, err := FS.Lookup(dir, p); return err })
	case sysChmod:
		return pathOp(r, a[0], func(dir *memfs.Inode, p string) error { _, err := FS.Lookup(dir, p); return err })
	case sysReadlink, sysReadlinkat:
		p := a[0]
		if r.Nr == sysReadlinkat {
			p = a[1]
		}
		// No symbolic links: an existing name is not one.
		return pathOp(r, p, func(dir *memfs.Inode, p string) error {
			if _, err := FS.Lookup(dir, p); err != nil {
				return err
			}
			return syscall.EINVAL
		})
	case sysTruncate:
		return pathOp(r, a[0], func(dir *memfs.Inode, p string) error {
			f, err := FS.Open(dir, p, memfs.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(int64(a[1]))
		})
	case sysGetcwd:
		return getcwd(uintptr(a[0]), int(a[1]))
	case sysChdir:
		return pathOp(r, a[0], func(dir *memfs.Inode, p string) error {
			n, err := FS.Lookup(dir, p)
			if err == nil && !n.IsDir() {
				err = syscall.ENOTDIR
			}
			if err == nil {
				mu.Lock()
				cwd = n
				mu.Unlock()
			}
			return err
		})
	}
	// Descriptor calls.
	f := lookup(r.Handle)
	if f == nil {
		return errno(syscall.EBADF)
	}
	switch r.Nr {
	case sysRead, sysWrite, sysPread64, sysPwrite64:
		b := kern.UserBytes(uintptr(a[1]), int(min(a[2], 1<<30)))
		if b == nil {
			return errno(syscall.EFAULT)
		}
		var n int
		var err error
		switch r.Nr {
		case sysRead:
			n, err = f.Read(b)
		case sysWrite:
			n, err = f.Write(b)
		case sysPread64:
			n, err = f.Pread(b, int64(a[3]))
		default:
			n, err = f.Pwrite(b, int64(a[3]))
		}
		if err != nil && n == 0 {
			return errno(err)
		}
		return int64(n)
	case sysReadv, sysWritev:
		return vecIO(f, r.Nr == sysWritev, uintptr(a[1]), int(a[2]))
	case sysLseek:
		off, err := f.Seek(int64(a[1]), int(a[2]))
		if err != nil {
			return errno(err)
		}
		return off
	case sysFstat:
		return fstat(r, uintptr(a[1]))
	case sysGetdents64:
		b := kern.UserBytes(uintptr(a[1]), int(min(a[2], 1<<20)))
		if b == nil {
			return errno(syscall.EFAULT)
		}
		n, err := f.Getdents64(b)
		if err != nil {
			return errno(err)
		}
		return int64(n)
	case sysFtruncate:
		return fdOp(r, func(f *memfs.File) error { return f.Truncate(int64(a[1])) })
	case sysFsync, sysFdatasync, sysFlock, sysFadvise64, sysFchmod, sysFchown:
		return 0 // memory is the storage: nothing to flush
	case sysFchdir:
		if !f.Inode().IsDir() {
			return errno(syscall.ENOTDIR)
		}
		mu.Lock()
		cwd = f.Inode()
		mu.Unlock()
		return 0
	case sysIoctl:
		return errno(syscall.ENOTTY)
	case 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 54, 55, 288: // socket calls
		return errno(syscall.ENOTSOCK)
	}
	return errno(syscall.ENOSYS)
}

// dirOf returns the directory a path call starts from: the dirfd's, or
// the working directory.
func dirOf(r *kern.Request) (*memfs.Inode, error) {
	if r.Fd < 0 {
		mu.Lock()
		defer mu.Unlock()
		return cwd, nil
	}
	f := lookup(r.Handle)
	if f == nil {
		return nil, syscall.EBADF
	}
	if !f.Inode().IsDir() {
		return nil, syscall.ENOTDIR
	}
	return f.Inode(), nil
}

// userPath reads a path argument: EFAULT for bad memory, ENAMETOOLONG
// when PATH_MAX (4096) bytes hold no terminating NUL, as Linux answers.
func userPath(p uint64) (string, error) {
	s, ok := kern.UserString(uintptr(p), pathMax)
	if !ok {
		if p != 0 && kern.UserBytes(uintptr(p), pathMax) != nil {
			return "", syscall.ENAMETOOLONG
		}
		return "", syscall.EFAULT
	}
	return s, nil
}

const pathMax = 4096 // PATH_MAX, the terminating NUL included

func pathOp(r *kern.Request, p uint64, fn func(dir *memfs.Inode, path string) error) int64 {
	path, err := userPath(p)
	if err == nil {
		var dir *memfs.Inode
		if dir, err = dirOf(r); err == nil {
			err = fn(dir, path)
		}
	}
	if err != nil {
		return errno(err)
	}
	return 0
}

func fdOp(r *kern.Request, fn func(f *memfs.File) error) int64 {
	f := lookup(r.Handle)
	if f == nil {
		return errno(syscall.EBADF)
	}
	if err := fn(f); err != nil {
		return errno(err)
	}
	return 0
}

func doOpen(r *kern.Request, p uintptr, flags int, mode uint32) int64 {
	path, err := userPath(uint64(p))
	if err != nil {
		return errno(err)
	}
	dir, err := dirOf(r)
	if err != nil {
		return errno(err)
	}
	f, err := FS.Open(dir, path, flags, mode&^kern.Umask())
	if err != nil {
		return errno(err)
	}
	return install(f)
}

func doRename(r *kern.Request, oldp uint64, newdirfd int, newp uint64, noReplace bool) int64 {
	oldPath, err := userPath(oldp)
	if err != nil {
		return errno(err)
	}
	newPath, err := userPath(newp)
	if err != nil {
		return errno(err)
	}
	olddir, err := dirOf(r)
	if err != nil {
		return errno(err)
	}
	newdir := olddir
	if newdirfd == -100 {
		mu.Lock()
		newdir = cwd
		mu.Unlock()
	} else {
		h, ok := kern.FdHandle(newdirfd, kern.ProvFS)
		f := lookup(h)
		if !ok || f == nil {
			return errno(syscall.EBADF)
		}
		if newdir = f.Inode(); !newdir.IsDir() {
			return errno(syscall.ENOTDIR)
		}
	}
	if err := FS.Rename(olddir, oldPath, newdir, newPath, noReplace); err != nil {
		return errno(err)
	}
	return 0
}

func statPath(r *kern.Request, p uint64, buf uintptr) int64 {
	path, err := userPath(p)
	if err != nil {
		return errno(err)
	}
	dir, err := dirOf(r)
	if err != nil {
		return errno(err)
	}
	n, err := FS.Lookup(dir, path)
	if err != nil {
		return errno(err)
	}
	if strings.HasSuffix(path, "/") && !n.IsDir() {
		return errno(syscall.ENOTDIR)
	}
	return putStat(FS.Stat(n), buf)
}

func fstat(r *kern.Request, buf uintptr) int64 {
	f := lookup(r.Handle)
	if f == nil {
		return errno(syscall.EBADF)
	}
	return putStat(f.Stat(), buf)
}

// putStat writes struct stat (x86-64 layout, 144 bytes).
func putStat(s memfs.Stat, buf uintptr) int64 {
	b := kern.UserBytes(buf, 144)
	if b == nil {
		return errno(syscall.EFAULT)
	}
	clear(b)
	le := func(off int, v uint64) {
		for i := range 8 {
			b[off+i] = byte(v >> (8 * i))
		}
	}
	ts := func(off int, t time.Time) {
		le(off, uint64(t.Unix()))
		le(off+8, uint64(t.Nanosecond()))
	}
	le(0, 0x2a) // st_dev: the one memfs device
	le(8, s.Ino)
	le(16, s.Nlink)
	le(24, uint64(s.Mode)) // st_mode (32 bits), st_uid 0
	le(40, s.Rdev)
	le(48, uint64(s.Size))
	le(56, 4096)
	le(64, uint64((s.Size+511)/512))
	ts(72, s.Atime)
	ts(88, s.Mtime)
	ts(104, s.Ctime)
	return 0
}

func getcwd(buf uintptr, size int) int64 {
	mu.Lock()
	dir := cwd
	mu.Unlock()
	path := FS.Path(dir)
	if size < len(path)+1 {
		return errno(syscall.ERANGE)
	}
	b := kern.UserBytes(buf, len(path)+1)
	if b == nil {
		return errno(syscall.EFAULT)
	}
	copy(b, path)
	b[len(path)] = 0
	return int64(len(path) + 1)
}

// vecIO is readv/writev: the iovecs in turn, stopping at a short
// transfer.
func vecIO(f *memfs.File, write bool, iov uintptr, cnt int) int64 {
	if cnt < 0 || cnt > 1024 {
		return errno(syscall.EINVAL)
	}
	vec := kern.UserBytes(iov, 16*cnt)
	if vec == nil {
		return errno(syscall.EFAULT)
	}
	total := 0
	for i := range cnt {
		base := uintptr(le64(vec[16*i:]))
		n := int(min(le64(vec[16*i+8:]), 1<<30))
		b := kern.UserBytes(base, n)
		if b == nil {
			if total > 0 {
				break
			}
			return errno(syscall.EFAULT)
		}
		var k int
		var err error
		if write {
			k, err = f.Write(b)
		} else {
			k, err = f.Read(b)
		}
		total += k
		if err != nil {
			if total == 0 {
				return errno(err)
			}
			break
		}
		if k < n {
			break
		}
	}
	return int64(total)
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// SendfileRead reads the open file of handle h for sendfile(2) into p:
// at off when at is set, else at the file's offset, which it does not
// move (SendfileAdvance does, by what the socket took). EBADF when h is
// not an open file, EINVAL for a directory or a file not open for
// reading.
func SendfileRead(h uint64, p []byte, off int64, at bool) (int, error) {
	f := lookup(h)
	if f == nil {
		return 0, syscall.EBADF
	}
	if f.Inode().IsDir() || f.Flags()&memfs.O_ACCMODE == memfs.O_WRONLY {
		return 0, syscall.EINVAL
	}
	if !at {
		cur, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, err
		}
		off = cur
	}
	n, err := f.Pread(p, off)
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// SendfileAdvance moves the file offset of handle h by n bytes.
func SendfileAdvance(h uint64, n int64) {
	if f := lookup(h); f != nil {
		_, _ = f.Seek(n, io.SeekCurrent)
	}
}
