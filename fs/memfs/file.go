package memfs

import (
	"encoding/binary"
	"io"
	"syscall"

	"github.com/smpgo/smpgo/net/nlock"
)

// File is an open file description: an inode, an offset and flags.
type File struct {
	fs    *FS
	ino   *Inode // (c)
	flags int    // (c) open flags

	mu     nlock.Mutex // the offset and directory position
	off    int64       // (mu)
	snap   []byte      // (c) generated files: the contents at open
	ents   []Dirent    // (mu) directories: the listing at the first getdents
	closed bool        // (mu)
}

// Close ends the open file; an unlinked inode's data goes with the last
// one. Closing twice is a no-op.
func (f *File) Close() {
	f.mu.Lock()
	done := f.closed
	f.closed = true
	f.mu.Unlock()
	if done {
		return
	}
	n := f.ino
	n.mu.Lock()
	defer n.mu.Unlock()
	n.opens--
	if n.gone && n.opens == 0 {
		f.fs.bytes.Add(-int64(len(n.data)))
		n.data = nil
	}
}

// Inode returns the file's inode.
func (f *File) Inode() *Inode { return f.ino }

// Flags returns the open flags.
func (f *File) Flags() int { return f.flags }

func (f *File) readable() bool { return f.flags&O_ACCMODE != O_WRONLY }
func (f *File) writable() bool { return f.flags&O_ACCMODE != O_RDONLY }

// Read reads at the file offset and advances it.
func (f *File) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.pread(p, f.off)
	f.off += int64(n)
	return n, err
}

// Pread reads at off; the file offset is unchanged. At end of file it
// returns 0 and a nil error (read(2) semantics), never io.EOF.
func (f *File) Pread(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, syscall.EINVAL
	}
	return f.pread(p, off)
}

func (f *File) pread(p []byte, off int64) (int, error) {
	if !f.readable() {
		return 0, syscall.EBADF
	}
	n := f.ino
	switch {
	case n.IsDir():
		return 0, syscall.EISDIR
	case n.dev != nil:
		k, err := n.dev.Read(p, off)
		if err == io.EOF {
			err = nil
		}
		return k, err
	case n.gen != nil:
		if off >= int64(len(f.snap)) {
			return 0, nil
		}
		return copy(p, f.snap[off:]), nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if off >= int64(len(n.data)) {
		return 0, nil
	}
	return copy(p, n.data[off:]), nil
}

// Write writes at the file offset (the end with O_APPEND) and advances
// it.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, end, err := f.pwrite(p, f.off, f.flags&O_APPEND != 0)
	f.off = end
	return k, err
}

// Pwrite writes at off (as Linux does, at the end with O_APPEND); the
// file offset is unchanged.
func (f *File) Pwrite(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, syscall.EINVAL
	}
	k, _, err := f.pwrite(p, off, f.flags&O_APPEND != 0)
	return k, err
}

// pwrite writes p at off (at the end if appending) and returns the bytes
// written and the offset after them.
func (f *File) pwrite(p []byte, off int64, appending bool) (int, int64, error) {
	if !f.writable() {
		return 0, off, syscall.EBADF
	}
	n := f.ino
	switch {
	case n.IsDir():
		return 0, off, syscall.EISDIR
	case n.dev != nil:
		k, err := n.dev.Write(p, off)
		return k, off + int64(k), err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if appending {
		off = int64(len(n.data))
	}
	end := off + int64(len(p))
	if end < off {
		return 0, off, syscall.EFBIG
	}
	if len(p) == 0 {
		return 0, off, nil
	}
	if grow := end - int64(len(n.data)); grow > 0 {
		if !f.fs.reserve(grow) {
			return 0, off, syscall.ENOSPC
		}
		n.data = growTo(n.data, int(end))
	}
	copy(n.data[off:], p)
	n.mtime = f.fs.cfg.Now()
	n.ctime = n.mtime
	return len(p), end, nil
}

// reserve accounts n more bytes, within the limit.
func (fs *FS) reserve(n int64) bool {
	for {
		cur := fs.bytes.Load()
		if cur+n > fs.cfg.MaxBytes {
			return false
		}
		if fs.bytes.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// growTo extends b to n bytes, the new ones zero, with amortised
// doubling.
func growTo(b []byte, n int) []byte {
	if n <= cap(b) {
		old := len(b)
		b = b[:n]
		clear(b[old:])
		return b
	}
	nb := make([]byte, n, max(n, 2*cap(b)))
	copy(nb, b)
	return nb
}

// Truncate sets the file's size (ftruncate).
func (f *File) Truncate(size int64) error {
	if size < 0 {
		return syscall.EINVAL
	}
	if !f.writable() {
		return syscall.EINVAL
	}
	n := f.ino
	if n.mode&S_IFMT != S_IFREG || n.gen != nil {
		return syscall.EINVAL
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	d := size - int64(len(n.data))
	if d > 0 && !f.fs.reserve(d) {
		return syscall.ENOSPC
	}
	if d < 0 {
		f.fs.bytes.Add(d)
		n.data = n.data[:size]
		if size == 0 {
			n.data = nil
		}
	} else if d > 0 {
		n.data = growTo(n.data, int(size))
	}
	n.mtime = f.fs.cfg.Now()
	n.ctime = n.mtime
	return nil
}

// Seek sets the offset (lseek: whence 0 set, 1 current, 2 end).
func (f *File) Seek(off int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		base = f.fs.Stat(f.ino).Size
		if f.ino.gen != nil {
			base = int64(len(f.snap))
		}
	default:
		return 0, syscall.EINVAL
	}
	if f.ino.IsDir() {
		// Directories: only a rewind is meaningful (readdir restarts).
		if base+off != 0 {
			return 0, syscall.EINVAL
		}
		f.ents = nil
	}
	if base+off < 0 {
		return 0, syscall.EINVAL
	}
	f.off = base + off
	return f.off, nil
}

// Stat returns the file's status.
func (f *File) Stat() Stat { return f.fs.Stat(f.ino) }

// Getdents64 fills buf with linux_dirent64 records from the directory
// position and returns the bytes used (0 at the end). The listing is taken
// at the first call after open or a rewind.
func (f *File) Getdents64(buf []byte) (int, error) {
	if !f.ino.IsDir() {
		return 0, syscall.ENOTDIR
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ents == nil {
		ents, err := f.fs.Entries(f.ino)
		if err != nil {
			return 0, err
		}
		f.ents = ents
	}
	used := 0
	for f.off < int64(len(f.ents)) {
		e := f.ents[f.off]
		// ino(8) off(8) reclen(2) type(1) name NUL, padded to 8.
		rl := (19 + len(e.Name) + 1 + 7) &^ 7
		if used+rl > len(buf) {
			if used == 0 {
				return 0, syscall.EINVAL
			}
			break
		}
		r := buf[used : used+rl]
		clear(r)
		binary.LittleEndian.PutUint64(r[0:], e.Ino)
		binary.LittleEndian.PutUint64(r[8:], uint64(f.off+1))
		binary.LittleEndian.PutUint16(r[16:], uint16(rl))
		r[18] = e.Type
		copy(r[19:], e.Name)
		used += rl
		f.off++
	}
	return used, nil
}
