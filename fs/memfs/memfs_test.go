package memfs

import (
	"encoding/binary"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/smpgo/smpgo/net/nlock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if r := nlock.HostReports(); len(r) > 0 {
		fmt.Println("witness reports:", r)
		code = 1
	}
	if code != 0 {
		panic(fmt.Sprint("exit ", code))
	}
}

func readAll(t *testing.T, f *File) string {
	t.Helper()
	var out []byte
	buf := make([]byte, 7)
	for {
		n, err := f.Read(buf)
		require.NoError(t, err)
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
	}
}

func TestCreateWriteReadFlags(t *testing.T) {
	fs := New(Config{})
	root := fs.Root()
	_, err := fs.Open(root, "/a", O_RDONLY, 0)
	assert.Equal(t, syscall.ENOENT, err)

	f, err := fs.Open(root, "/a", O_RDWR|O_CREAT|O_EXCL, 0o644)
	require.NoError(t, err)
	n, err := f.Write([]byte("hello, world"))
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	_, err = fs.Open(root, "/a", O_RDWR|O_CREAT|O_EXCL, 0o644)
	assert.Equal(t, syscall.EEXIST, err)

	off, err := f.Seek(0, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(0), off)
	assert.Equal(t, "hello, world", readAll(t, f))

	// pread/pwrite leave the offset alone.
	_, err = f.Pwrite([]byte("HELLO"), 0)
	require.NoError(t, err)
	b := make([]byte, 5)
	n, err = f.Pread(b, 7)
	require.NoError(t, err)
	assert.Equal(t, "world", string(b[:n]))
	cur, _ := f.Seek(0, 1)
	assert.Equal(t, int64(12), cur)

	// O_APPEND writes at the end whatever the offset.
	g, err := fs.Open(root, "a", O_WRONLY|O_APPEND, 0)
	require.NoError(t, err)
	_, err = g.Write([]byte("!"))
	require.NoError(t, err)
	assert.Equal(t, int64(13), f.Stat().Size)

	// O_TRUNC empties; writing past the end leaves a zero hole.
	h, err := fs.Open(root, "/a", O_WRONLY|O_TRUNC, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(0), h.Stat().Size)
	_, err = h.Pwrite([]byte("x"), 4)
	require.NoError(t, err)
	_, _ = f.Seek(0, 0)
	assert.Equal(t, "\x00\x00\x00\x00x", readAll(t, f))

	// Access modes are enforced.
	r, err := fs.Open(root, "/a", O_RDONLY, 0)
	require.NoError(t, err)
	_, err = r.Write([]byte("no"))
	assert.Equal(t, syscall.EBADF, err)
	_, err = g.Read(b)
	assert.Equal(t, syscall.EBADF, err)
	assert.Equal(t, syscall.EINVAL, r.Truncate(0))
	for _, x := range []*File{f, g, h, r} {
		x.Close()
	}
	assert.Equal(t, int64(5), fs.Bytes())
}

func TestDirectories(t *testing.T) {
	fs := New(Config{})
	root := fs.Root()
	require.NoError(t, fs.MkdirAll("/x/y/z", 0o755))
	assert.Equal(t, syscall.EEXIST, fs.Mkdir(root, "/x/y", 0o755))
	assert.Equal(t, syscall.ENOENT, fs.Mkdir(root, "/nope/y", 0o755))
	require.NoError(t, fs.WriteFile("/x/y/f", []byte("data"), 0o644))
	assert.Equal(t, syscall.ENOTDIR, fs.Mkdir(root, "/x/y/f/g", 0o755))
	_, err := fs.Open(root, "/x/y/f/", O_RDONLY, 0)
	assert.Equal(t, syscall.ENOTDIR, err)
	_, err = fs.Open(root, "/x/y", O_WRONLY, 0)
	assert.Equal(t, syscall.EISDIR, err)
	_, err = fs.Open(root, "/x/y/f", O_RDONLY|O_DIRECTORY, 0)
	assert.Equal(t, syscall.ENOTDIR, err)

	// Relative lookups and "..".
	y, err := fs.Lookup(root, "/x/y")
	require.NoError(t, err)
	n, err := fs.Lookup(y, "../y/./f")
	require.NoError(t, err)
	assert.False(t, n.IsDir())
	up, err := fs.Lookup(root, "/../..")
	require.NoError(t, err)
	assert.Equal(t, root, up)

	// getdents64 records, in small buffers.
	d, err := fs.Open(root, "/x/y", O_RDONLY|O_DIRECTORY, 0)
	require.NoError(t, err)
	var names []string
	buf := make([]byte, 40)
	for {
		k, err := d.Getdents64(buf)
		require.NoError(t, err)
		if k == 0 {
			break
		}
		for p := buf[:k]; len(p) > 0; {
			rl := int(binary.LittleEndian.Uint16(p[16:]))
			name := p[19:rl]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			names = append(names, string(name))
			p = p[rl:]
		}
	}
	assert.Equal(t, []string{".", "..", "f", "z"}, names)
	_, err = d.Getdents64(make([]byte, 8))
	assert.NoError(t, err) // at the end: 0, no error
	_, err = d.Seek(0, 0)
	require.NoError(t, err)
	_, err = d.Getdents64(make([]byte, 8))
	assert.Equal(t, syscall.EINVAL, err) // too small for one record

	assert.Equal(t, syscall.ENOTEMPTY, fs.Unlink(root, "/x/y", true))
	assert.Equal(t, syscall.EISDIR, fs.Unlink(root, "/x/y/z", false))
	assert.Equal(t, syscall.ENOTDIR, fs.Unlink(root, "/x/y/f", true))
	require.NoError(t, fs.Unlink(root, "/x/y/z", true))
	require.NoError(t, fs.Unlink(root, "/x/y/f", false))
	require.NoError(t, fs.Unlink(root, "/x/y", true))
	assert.Equal(t, syscall.ENOENT, fs.Unlink(root, "/x/y", true))
	assert.Equal(t, uint64(3), fs.Stat(fs.root).Nlink) // root: 2 + its subdirectory x
}

func TestRename(t *testing.T) {
	fs := New(Config{})
	root := fs.Root()
	require.NoError(t, fs.MkdirAll("/a/b", 0o755))
	require.NoError(t, fs.MkdirAll("/c", 0o755))
	require.NoError(t, fs.WriteFile("/a/f", []byte("1"), 0o644))
	require.NoError(t, fs.WriteFile("/c/g", []byte("22"), 0o644))

	assert.Equal(t, syscall.EINVAL, fs.Rename(root, "/a", root, "/a/b/a", false))
	assert.Equal(t, syscall.EISDIR, fs.Rename(root, "/a/f", root, "/c", false))
	assert.Equal(t, syscall.EEXIST, fs.Rename(root, "/a/f", root, "/c/g", true))
	require.NoError(t, fs.Rename(root, "/a/f", root, "/c/g", false)) // replaces g
	_, err := fs.Lookup(root, "/a/f")
	assert.Equal(t, syscall.ENOENT, err)
	n, err := fs.Lookup(root, "/c/g")
	require.NoError(t, err)
	assert.Equal(t, int64(1), fs.Stat(n).Size)
	assert.Equal(t, int64(1), fs.Bytes()) // g's 2 bytes were released

	require.NoError(t, fs.Rename(root, "/a/b", root, "/c/b", false))
	b, err := fs.Lookup(root, "/c/b/..")
	require.NoError(t, err)
	c, _ := fs.Lookup(root, "/c")
	assert.Equal(t, c, b)
	assert.Equal(t, syscall.ENOTEMPTY, fs.Rename(root, "/a", root, "/c", false))
}

func TestUnlinkedOpenFileKeepsData(t *testing.T) {
	fs := New(Config{})
	f, err := fs.Open(fs.Root(), "/t", O_RDWR|O_CREAT, 0o600)
	require.NoError(t, err)
	_, err = f.Write([]byte("still here"))
	require.NoError(t, err)
	require.NoError(t, fs.Unlink(fs.Root(), "/t", false))
	_, err = f.Seek(0, 0)
	require.NoError(t, err)
	assert.Equal(t, "still here", readAll(t, f))
	assert.Equal(t, int64(10), fs.Bytes())
	f.Close()
	f.Close()
	assert.Equal(t, int64(0), fs.Bytes())
}

func TestSpaceLimit(t *testing.T) {
	fs := New(Config{MaxBytes: 100})
	f, err := fs.Open(fs.Root(), "/big", O_RDWR|O_CREAT, 0o600)
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 90))
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 20))
	assert.Equal(t, syscall.ENOSPC, err)
	assert.Equal(t, syscall.ENOSPC, f.Truncate(200))
	require.NoError(t, f.Truncate(10))
	assert.Equal(t, int64(10), fs.Bytes())
}

type zeroDev struct{}

func (zeroDev) Read(p []byte, _ int64) (int, error)  { clear(p); return len(p), nil }
func (zeroDev) Write(p []byte, _ int64) (int, error) { return len(p), nil }

func TestDevicesAndGenerated(t *testing.T) {
	fs := New(Config{})
	require.NoError(t, fs.MkdirAll("/dev", 0o755))
	require.NoError(t, fs.MkDev("/dev/zero", 0o666, zeroDev{}))
	require.NoError(t, fs.MkdirAll("/proc", 0o555))
	calls := 0
	require.NoError(t, fs.MkGen("/proc/info", func() []byte { calls++; return []byte(fmt.Sprint("gen ", calls)) }))
	z, err := fs.Open(fs.Root(), "/dev/zero", O_RDWR, 0)
	require.NoError(t, err)
	b := []byte{1, 2, 3}
	n, err := z.Read(b)
	require.NoError(t, err)
	assert.Equal(t, []byte{0, 0, 0}, b[:n])
	st := z.Stat()
	assert.Equal(t, uint32(S_IFCHR), st.Mode&S_IFMT)
	g, err := fs.Open(fs.Root(), "/proc/info", O_RDONLY, 0)
	require.NoError(t, err)
	assert.Equal(t, "gen 1", readAll(t, g))
	_, err = fs.Open(fs.Root(), "/proc/info", O_WRONLY, 0)
	assert.Equal(t, syscall.EACCES, err)
}

// TestConcurrentWriters: writers appending records to one file and
// creating their own files, from many goroutines, race-free (go test
// -race) and with nothing lost.
func TestConcurrentWriters(t *testing.T) {
	fs := New(Config{})
	require.NoError(t, fs.MkdirAll("/w", 0o755))
	const writers, recs = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := fs.Open(fs.Root(), "/w/log", O_WRONLY|O_CREAT|O_APPEND, 0o644)
			if !assert.NoError(t, err) {
				return
			}
			defer f.Close()
			for i := range recs {
				_, err := f.Write(fmt.Appendf(nil, "%02d:%04d\n", w, i))
				assert.NoError(t, err)
				name := fmt.Sprintf("/w/f%d-%d", w, i%10)
				assert.NoError(t, fs.WriteFile(name, []byte(name), 0o644))
				if i%10 == 9 {
					assert.NoError(t, fs.Rename(fs.Root(), name, fs.Root(), name+".old", false))
				}
			}
		}()
	}
	wg.Wait()
	f, err := fs.Open(fs.Root(), "/w/log", O_RDONLY, 0)
	require.NoError(t, err)
	all := readAll(t, f)
	assert.Len(t, all, writers*recs*8)
	seen := map[string]bool{}
	for i := 0; i+8 <= len(all); i += 8 {
		seen[all[i:i+7]] = true
	}
	assert.Len(t, seen, writers*recs)
	d, _ := fs.Lookup(fs.Root(), "/w")
	ents, err := fs.Entries(d)
	require.NoError(t, err)
	assert.Len(t, ents, 2+1+writers*10)
}

func TestSocketNodes(t *testing.T) {
	fs := New(Config{})
	root := fs.Root()
	require.NoError(t, fs.Mkdir(root, "/run", 0o755))
	sock := &struct{ name string }{"listener"}
	require.NoError(t, fs.MkSock(root, "/run/s", 0o755, sock))
	assert.Equal(t, syscall.EEXIST, fs.MkSock(root, "/run/s", 0o755, nil), "a bound name is in use")
	assert.Equal(t, syscall.ENOENT, fs.MkSock(root, "/nodir/s", 0o755, nil))
	assert.Equal(t, syscall.EEXIST, fs.MkSock(root, "/", 0o755, nil))

	n, err := fs.Lookup(root, "/run/s")
	require.NoError(t, err)
	assert.Same(t, sock, n.Socket())
	st := fs.Stat(n)
	assert.Equal(t, uint32(S_IFSOCK|0o755), st.Mode)
	assert.Equal(t, uint64(1), st.Nlink)
	_, err = fs.Open(root, "/run/s", O_RDONLY, 0)
	assert.Equal(t, syscall.ENXIO, err, "open of a socket")

	ents, err := fs.Entries(fs.mustLookup(t, "/run"))
	require.NoError(t, err)
	require.Len(t, ents, 3)
	assert.Equal(t, Dirent{"s", n.Ino(), 12}, ents[2])

	// Relative to a directory, and unlink removes the name.
	run := fs.mustLookup(t, "/run")
	require.NoError(t, fs.MkSock(run, "t", 0o700, nil))
	require.NoError(t, fs.Unlink(root, "/run/s", false))
	_, err = fs.Lookup(root, "/run/s")
	assert.Equal(t, syscall.ENOENT, err)
	require.NoError(t, fs.MkSock(root, "/run/s", 0o755, nil), "free again after unlink")
	root2, err := fs.Lookup(run, "t")
	require.NoError(t, err)
	assert.Nil(t, root2.Socket())
	assert.Equal(t, int64(0), fs.Bytes())
}

func (fs *FS) mustLookup(t *testing.T, path string) *Inode {
	t.Helper()
	n, err := fs.Lookup(fs.Root(), path)
	require.NoError(t, err)
	return n
}
