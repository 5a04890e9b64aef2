// Package memfs is an in-memory file system (after FreeBSD's tmpfs) with
// Linux system-call semantics: directories, regular files, character
// devices and generated read-only files; open flags O_CREAT, O_EXCL,
// O_TRUNC, O_APPEND, O_DIRECTORY; read, write, pread, pwrite, lseek,
// ftruncate, stat, getdents64, mkdir, unlink, rmdir and rename. Errors are
// Linux errnos (syscall.Errno). No symbolic or hard links, no permissions
// (everything is owned by root and allowed).
//
// It is pure Go and builds on the host; package fs/kfs serves it to the
// kernel's system calls.
//
// # Locking
//
// One reader/writer lock guards the name space (every directory's entries
// and every inode's link count): lookups share it, creation, removal and
// rename take it exclusively, so a rename is atomic with respect to every
// lookup. Each inode has a mutex for its contents (data, size, times),
// each open file one for its offset. The order is
//
//	memfs file → memfs ns → memfs inode
//
// and nothing else is taken inside them. The locks are net/nlock's named
// classes: in the kernel, witness-checked lock.RW/lock.Mutex.
package memfs

import (
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/net/nlock"
)

// File types (the S_IFMT bits of a mode).
const (
	S_IFMT   = 0o170000
	S_IFDIR  = 0o040000
	S_IFREG  = 0o100000
	S_IFCHR  = 0o020000
	S_IFSOCK = 0o140000
)

// Open flags (Linux amd64).
const (
	O_ACCMODE   = 0x3
	O_RDONLY    = 0x0
	O_WRONLY    = 0x1
	O_RDWR      = 0x2
	O_CREAT     = 0x40
	O_EXCL      = 0x80
	O_TRUNC     = 0x200
	O_APPEND    = 0x400
	O_NONBLOCK  = 0x800
	O_DIRECTORY = 0x10000
	O_NOFOLLOW  = 0x20000
	O_CLOEXEC   = 0x80000
)

// Device is a character device's behaviour.
type Device interface {
	Read(p []byte, off int64) (int, error)
	Write(p []byte, off int64) (int, error)
}

// Inode is a file, directory or device.
type Inode struct {
	ino  uint64 // (c)
	mode uint32 // (c) type and permission bits
	dev  Device // (c) character devices
	gen  func() []byte
	sock any // (c) socket nodes: the socket bound to the name

	// Name space, guarded by FS.ns.
	children map[string]*Inode // directories
	parent   *Inode            // directories: ".."
	nlink    int

	mu    nlock.Mutex // contents
	data  []byte      // (mu) regular files
	opens int         // (mu) open files
	gone  bool        // (mu) no name left: data freed at the last close
	mtime time.Time   // (mu)
	atime time.Time   // (mu)
	ctime time.Time   // (mu)
}

// Ino returns the inode number.
func (n *Inode) Ino() uint64 { return n.ino }

// IsDir reports whether n is a directory.
func (n *Inode) IsDir() bool { return n.mode&S_IFMT == S_IFDIR }

// Config limits a file system.
type Config struct {
	// MaxBytes bounds the bytes of all regular files (0: 64 MiB); a write
	// beyond it fails with ENOSPC.
	MaxBytes int64
	// Now is the clock for file times (default time.Now).
	Now func() time.Time
}

// FS is one file system.
type FS struct {
	cfg   Config
	ns    nlock.RWMutex
	root  *Inode
	ino   atomic.Uint64
	bytes atomic.Int64 // bytes held by regular files
}

// New returns an empty file system: a root directory.
func New(cfg Config) *FS {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	fs := &FS{cfg: cfg}
	fs.ns.Init("memfs ns")
	fs.root = fs.newInode(S_IFDIR | 0o755)
	fs.root.parent = fs.root
	fs.root.nlink = 2
	return fs
}

// Root returns the root directory.
func (fs *FS) Root() *Inode { return fs.root }

// Bytes returns the bytes held by regular files.
func (fs *FS) Bytes() int64 { return fs.bytes.Load() }

func (fs *FS) newInode(mode uint32) *Inode {
	n := &Inode{ino: fs.ino.Add(1), mode: mode}
	n.mu.Init("memfs inode", nlock.DupOK)
	now := fs.cfg.Now()
	n.mtime, n.atime, n.ctime = now, now, now
	if mode&S_IFMT == S_IFDIR {
		n.children = map[string]*Inode{}
	}
	return n
}

// lookupRLocked resolves path from dir (the root for absolute paths).
func (fs *FS) lookupRLocked(dir *Inode, path string) (*Inode, error) {
	if path == "" {
		return nil, syscall.ENOENT
	}
	n := dir
	if path[0] == '/' {
		n = fs.root
	}
	for _, c := range strings.Split(path, "/") {
		switch c {
		case "", ".":
			if !n.IsDir() {
				return nil, syscall.ENOTDIR
			}
			continue
		case "..":
			if !n.IsDir() {
				return nil, syscall.ENOTDIR
			}
			n = n.parent
			continue
		}
		if !n.IsDir() {
			return nil, syscall.ENOTDIR
		}
		if len(c) > 255 {
			return nil, syscall.ENAMETOOLONG
		}
		next := n.children[c]
		if next == nil {
			return nil, syscall.ENOENT
		}
		n = next
	}
	return n, nil
}

// parentRLocked resolves all but the last component of path: the
// directory and the name in it. A trailing slash is reported (dirOnly).
func (fs *FS) parentRLocked(dir *Inode, path string) (parent *Inode, name string, dirOnly bool, err error) {
	if path == "" {
		return nil, "", false, syscall.ENOENT
	}
	trimmed := strings.TrimRight(path, "/")
	dirOnly = len(trimmed) < len(path)
	if trimmed == "" { // "/" itself
		return nil, "", true, syscall.EEXIST
	}
	i := strings.LastIndexByte(trimmed, '/')
	name = trimmed[i+1:]
	pdir := "."
	if i >= 0 {
		pdir = trimmed[:i+1]
	}
	if path[0] == '/' && i == 0 {
		pdir = "/"
	}
	parent, err = fs.lookupRLocked(dir, pdir)
	if err != nil {
		return nil, "", false, err
	}
	if !parent.IsDir() {
		return nil, "", false, syscall.ENOTDIR
	}
	if len(name) > 255 {
		return nil, "", false, syscall.ENAMETOOLONG
	}
	return parent, name, dirOnly, nil
}

// Lookup resolves path from dir.
func (fs *FS) Lookup(dir *Inode, path string) (*Inode, error) {
	fs.ns.RLock()
	defer fs.ns.RUnlock()
	return fs.lookupRLocked(dir, path)
}

// Open opens (or with O_CREAT creates, mode perm) path from dir.
func (fs *FS) Open(dir *Inode, path string, flags int, perm uint32) (*File, error) {
	var n *Inode
	if flags&O_CREAT != 0 {
		fs.ns.Lock()
		parent, name, dirOnly, err := fs.parentRLocked(dir, path)
		if err != nil {
			fs.ns.Unlock()
			if err == syscall.EEXIST && flags&O_EXCL == 0 {
				return fs.open(fs.root, flags)
			}
			return nil, err
		}
		switch name {
		case ".", "..":
			fs.ns.Unlock()
			if flags&O_EXCL != 0 {
				return nil, syscall.EEXIST
			}
			return nil, syscall.EISDIR
		}
		n = parent.children[name]
		if n != nil && flags&O_EXCL != 0 {
			fs.ns.Unlock()
			return nil, syscall.EEXIST
		}
		if n == nil {
			if dirOnly {
				fs.ns.Unlock()
				return nil, syscall.EISDIR
			}
			n = fs.newInode(S_IFREG | perm&0o7777)
			n.nlink = 1
			parent.children[name] = n
			fs.touch(parent)
		}
		fs.ns.Unlock()
	} else {
		var err error
		if n, err = fs.Lookup(dir, path); err != nil {
			return nil, err
		}
		if strings.HasSuffix(path, "/") && !n.IsDir() {
			return nil, syscall.ENOTDIR
		}
	}
	return fs.open(n, flags)
}

func (fs *FS) open(n *Inode, flags int) (*File, error) {
	acc := flags & O_ACCMODE
	if acc == 3 {
		return nil, syscall.EINVAL
	}
	if n.IsDir() && acc != O_RDONLY {
		return nil, syscall.EISDIR
	}
	if flags&O_DIRECTORY != 0 && !n.IsDir() {
		return nil, syscall.ENOTDIR
	}
	if n.mode&S_IFMT == S_IFSOCK {
		return nil, syscall.ENXIO // as Linux answers open(2) of a socket
	}
	if n.gen != nil && acc != O_RDONLY {
		return nil, syscall.EACCES
	}
	f := &File{fs: fs, ino: n, flags: flags}
	f.mu.Init("memfs file", nlock.DupOK)
	n.mu.Lock()
	n.opens++
	n.mu.Unlock()
	if n.gen != nil {
		f.snap = n.gen()
	}
	if flags&O_TRUNC != 0 && acc != O_RDONLY && n.mode&S_IFMT == S_IFREG {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

func (fs *FS) touch(n *Inode) {
	n.mu.Lock()
	n.mtime = fs.cfg.Now()
	n.ctime = n.mtime
	n.mu.Unlock()
}

// Mkdir creates directory path (mode perm) from dir.
func (fs *FS) Mkdir(dir *Inode, path string, perm uint32) error {
	fs.ns.Lock()
	defer fs.ns.Unlock()
	parent, name, _, err := fs.parentRLocked(dir, path)
	if err != nil {
		return err
	}
	if name == "." || name == ".." || parent.children[name] != nil {
		return syscall.EEXIST
	}
	n := fs.newInode(S_IFDIR | perm&0o7777)
	n.parent = parent
	n.nlink = 2
	parent.children[name] = n
	parent.nlink++
	fs.touch(parent)
	return nil
}

// Unlink removes path from dir: a file, or with rmdir an empty directory.
func (fs *FS) Unlink(dir *Inode, path string, rmdir bool) error {
	fs.ns.Lock()
	defer fs.ns.Unlock()
	parent, name, dirOnly, err := fs.parentRLocked(dir, path)
	if err != nil {
		if err == syscall.EEXIST { // "/"
			return syscall.EBUSY
		}
		return err
	}
	switch name {
	case ".":
		return syscall.EINVAL
	case "..":
		return syscall.ENOTEMPTY
	}
	n := parent.children[name]
	if n == nil {
		return syscall.ENOENT
	}
	if rmdir {
		if !n.IsDir() {
			return syscall.ENOTDIR
		}
		if len(n.children) > 0 {
			return syscall.ENOTEMPTY
		}
		parent.nlink--
		n.nlink = 0
	} else {
		if n.IsDir() {
			return syscall.EISDIR
		}
		if dirOnly {
			return syscall.ENOTDIR
		}
		n.nlink--
	}
	delete(parent.children, name)
	fs.touch(parent)
	if n.nlink == 0 {
		fs.release(n)
	}
	return nil
}

// release frees the data of an inode whose last name is gone, now or at
// its last close: open files keep reading and writing it, as on Linux.
func (fs *FS) release(n *Inode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gone = true
	if n.opens == 0 {
		fs.bytes.Add(-int64(len(n.data)))
		n.data = nil
	}
}

// Rename moves oldpath (from olddir) to newpath (from newdir), replacing a
// file there, or an empty directory with a directory.
func (fs *FS) Rename(olddir *Inode, oldpath string, newdir *Inode, newpath string, noReplace bool) error {
	fs.ns.Lock()
	defer fs.ns.Unlock()
	op, on, _, err := fs.parentRLocked(olddir, oldpath)
	if err != nil {
		if err == syscall.EEXIST {
			return syscall.EBUSY
		}
		return err
	}
	np, nn, _, err := fs.parentRLocked(newdir, newpath)
	if err != nil {
		if err == syscall.EEXIST {
			return syscall.EBUSY
		}
		return err
	}
	if on == "." || on == ".." || nn == "." || nn == ".." {
		return syscall.EBUSY
	}
	n := op.children[on]
	if n == nil {
		return syscall.ENOENT
	}
	if n.IsDir() {
		// Not into its own subtree.
		for d := np; ; d = d.parent {
			if d == n {
				return syscall.EINVAL
			}
			if d == fs.root {
				break
			}
		}
	}
	if old := np.children[nn]; old != nil {
		if old == n {
			return nil
		}
		if noReplace {
			return syscall.EEXIST
		}
		switch {
		case n.IsDir() && !old.IsDir():
			return syscall.ENOTDIR
		case !n.IsDir() && old.IsDir():
			return syscall.EISDIR
		case old.IsDir() && len(old.children) > 0:
			return syscall.ENOTEMPTY
		}
		if old.IsDir() {
			np.nlink--
			old.nlink = 0
		} else if old.nlink--; old.nlink == 0 {
			fs.release(old)
		}
	}
	delete(op.children, on)
	np.children[nn] = n
	if n.IsDir() && op != np {
		op.nlink--
		np.nlink++
		n.parent = np
	}
	fs.touch(op)
	if np != op {
		fs.touch(np)
	}
	return nil
}

// MkDev creates a character device at path (from the root).
func (fs *FS) MkDev(path string, perm uint32, d Device) error {
	return fs.mknode(path, S_IFCHR|perm, d, nil)
}

// MkGen creates a read-only file whose contents gen produces at each open
// (/proc-style views).
func (fs *FS) MkGen(path string, gen func() []byte) error {
	return fs.mknode(path, S_IFREG|0o444, nil, gen)
}

// MkSock creates a socket node at path from dir (bind(2) of an AF_UNIX
// socket to a path) that refers to sock: EEXIST when the name exists.
// connect(2) finds sock through the node (Inode.Socket); unlink(2)
// removes the name.
func (fs *FS) MkSock(dir *Inode, path string, perm uint32, sock any) error {
	fs.ns.Lock()
	defer fs.ns.Unlock()
	parent, name, dirOnly, err := fs.parentRLocked(dir, path)
	switch {
	case err != nil: // EEXIST for "/"
		return err
	case name == "." || name == ".." || parent.children[name] != nil:
		return syscall.EEXIST
	case dirOnly:
		return syscall.ENOENT
	}
	n := fs.newInode(S_IFSOCK | perm&0o7777)
	n.sock = sock
	n.nlink = 1
	parent.children[name] = n
	fs.touch(parent)
	return nil
}

// Socket returns the socket a socket node refers to (nil for other
// inodes).
func (n *Inode) Socket() any { return n.sock }

func (fs *FS) mknode(path string, mode uint32, d Device, gen func() []byte) error {
	fs.ns.Lock()
	defer fs.ns.Unlock()
	parent, name, _, err := fs.parentRLocked(fs.root, path)
	if err != nil {
		return err
	}
	if parent.children[name] != nil {
		return syscall.EEXIST
	}
	n := fs.newInode(mode)
	n.dev, n.gen = d, gen
	n.nlink = 1
	parent.children[name] = n
	return nil
}

// MkdirAll creates path and its missing parents (from the root).
func (fs *FS) MkdirAll(path string, perm uint32) error {
	p := ""
	for _, c := range strings.Split(strings.Trim(path, "/"), "/") {
		if c == "" {
			continue
		}
		p += "/" + c
		if err := fs.Mkdir(fs.root, p, perm); err != nil && err != syscall.EEXIST {
			return err
		}
	}
	return nil
}

// WriteFile creates or replaces path (from the root) with data.
func (fs *FS) WriteFile(path string, data []byte, perm uint32) error {
	f, err := fs.Open(fs.root, path, O_WRONLY|O_CREAT|O_TRUNC, perm)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(data)
	return err
}

// Stat is a file's status (struct stat's fields).
type Stat struct {
	Ino   uint64
	Mode  uint32
	Nlink uint64
	Rdev  uint64
	Size  int64
	Atime time.Time
	Mtime time.Time
	Ctime time.Time
}

// Stat returns n's status.
func (fs *FS) Stat(n *Inode) Stat {
	fs.ns.RLock()
	nlink := n.nlink
	fs.ns.RUnlock()
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Stat{Ino: n.ino, Mode: n.mode, Nlink: uint64(nlink), Size: int64(len(n.data)),
		Atime: n.atime, Mtime: n.mtime, Ctime: n.ctime}
	switch {
	case n.IsDir():
		s.Size = 4096
	case n.mode&S_IFMT == S_IFCHR:
		s.Size = 0
		s.Rdev = n.ino
	case n.gen != nil:
		s.Size = 0 // generated at open, as /proc files report
	}
	return s
}

// Dirent is a directory entry.
type Dirent struct {
	Name string
	Ino  uint64
	Type uint8 // DT_DIR 4, DT_REG 8, DT_CHR 2, DT_SOCK 12
}

// Entries lists directory n: ".", ".." and its entries sorted by name.
func (fs *FS) Entries(n *Inode) ([]Dirent, error) {
	fs.ns.RLock()
	defer fs.ns.RUnlock()
	if !n.IsDir() {
		return nil, syscall.ENOTDIR
	}
	out := []Dirent{{".", n.ino, 4}, {"..", n.parent.ino, 4}}
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := n.children[name]
		t := uint8(8)
		switch c.mode & S_IFMT {
		case S_IFDIR:
			t = 4
		case S_IFCHR:
			t = 2
		case S_IFSOCK:
			t = 12
		}
		out = append(out, Dirent{name, c.ino, t})
	}
	return out, nil
}

// Path returns the absolute path of directory n ("/" for the root, or for
// a directory that was removed).
func (fs *FS) Path(n *Inode) string {
	fs.ns.RLock()
	defer fs.ns.RUnlock()
	var parts []string
	for n != fs.root && n.IsDir() {
		p := n.parent
		name := ""
		for k, c := range p.children {
			if c == n {
				name = k
				break
			}
		}
		if name == "" {
			return "/"
		}
		parts = append(parts, name)
		n = p
	}
	slices.Reverse(parts)
	return "/" + strings.Join(parts, "/")
}
