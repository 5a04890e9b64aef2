package kfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/smpgo/smpgo/kern"
)

func init() {
	for _, tc := range []struct {
		name string
		fn   func(*kern.T)
	}{
		{"Files/RoundTrip", testRoundTrip},
		{"Files/Directories", testDirectories},
		{"Files/Devices", testDevices},
		{"Files/ConcurrentWriters", testConcurrentWriters},
		{"Files/BadInput", testBadInput},
		{"Files/Umask", testUmask},
	} {
		kern.RegisterTest(kern.Test{Name: tc.name, Fn: tc.fn, Timeout: 2 * time.Minute})
	}
}

// scratch makes a fresh directory for one test.
func scratch(t *kern.T) string {
	d, err := os.MkdirTemp("", strings.ReplaceAll(t.Name(), "/", "-"))
	if err != nil {
		t.Fatalf("MkdirTemp: %v", err)
	}
	return d
}

func testRoundTrip(t *kern.T) {
	d := scratch(t)
	defer os.RemoveAll(d)
	p := filepath.Join(d, "a.txt")
	want := bytes.Repeat([]byte("smpgo file system\n"), 1000)
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ReadFile: %d bytes, %v; want %d bytes", len(got), err, len(want))
	}
	st, err := os.Stat(p)
	if err != nil || st.Size() != int64(len(want)) || !st.Mode().IsRegular() || st.Mode().Perm() != 0o644 {
		t.Errorf("Stat: %v %v", st, err)
	}
	if _, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Errorf("O_EXCL on an existing file: %v, want ErrExist", err)
	}
	// O_APPEND, Seek, ReadAt, WriteAt, Truncate, Sync.
	f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("OpenFile: %v", err)
	}
	if _, err := f.WriteString("tail"); err != nil {
		t.Errorf("append: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Errorf("Sync: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := f.ReadAt(buf, int64(len(want))); err != nil || string(buf) != "tail" {
		t.Errorf("ReadAt after append: %q %v", buf, err)
	}
	if off, err := f.Seek(-4, io.SeekEnd); err != nil || off != int64(len(want)) {
		t.Errorf("Seek: %d %v", off, err)
	}
	if err := f.Truncate(5); err != nil {
		t.Errorf("Truncate: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	w, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open for WriteAt: %v", err)
	}
	if _, err := w.WriteAt([]byte("S"), 0); err != nil {
		t.Errorf("WriteAt: %v", err)
	}
	w.Close()
	if got, _ := os.ReadFile(p); string(got) != "Smpgo" {
		t.Errorf("after Truncate and WriteAt: %q", got)
	}
	// O_TRUNC through os.Create.
	c, err := os.Create(p)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	fmt.Fprintf(c, "%d", 42)
	c.Close()
	if got, _ := os.ReadFile(p); string(got) != "42" {
		t.Errorf("after Create: %q", got)
	}
	if err := os.Remove(p); err != nil {
		t.Errorf("Remove: %v", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat after Remove: %v", err)
	}
}

func testDirectories(t *kern.T) {
	d := scratch(t)
	defer os.RemoveAll(d)
	if err := os.MkdirAll(filepath.Join(d, "x/y/z"), 0o755); err != nil {
		t.Fatalf("MkdirAll: %v", err)
	}
	var names []string
	for i := range 30 {
		n := fmt.Sprintf("f%03d", i)
		names = append(names, n)
		if err := os.WriteFile(filepath.Join(d, "x/y", n), []byte(n), 0o600); err != nil {
			t.Fatalf("WriteFile: %v", err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(d, "x/y"))
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
		info, err := e.Info()
		if err != nil {
			t.Errorf("Info(%s): %v", e.Name(), err)
		} else if e.Name() != "z" && info.Size() != 4 {
			t.Errorf("%s: size %d", e.Name(), info.Size())
		}
	}
	if want := append(slices.Clone(names), "z"); !slices.Equal(got, want) {
		t.Errorf("ReadDir: %d names (%v...), want %d", len(got), got[:min(3, len(got))], len(want))
	}
	if err := os.Rename(filepath.Join(d, "x/y"), filepath.Join(d, "moved")); err != nil {
		t.Errorf("Rename: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(d, "moved/f021")); err != nil || string(b) != "f021" {
		t.Errorf("after Rename: %q %v", b, err)
	}
	if err := os.Remove(filepath.Join(d, "moved")); err == nil {
		t.Errorf("Remove of a non-empty directory succeeded")
	}
	// Relative paths through the working directory.
	if err := os.Chdir(filepath.Join(d, "moved")); err != nil {
		t.Errorf("Chdir: %v", err)
	}
	if wd, err := os.Getwd(); err != nil || wd != filepath.Join(d, "moved") {
		t.Errorf("Getwd: %q %v", wd, err)
	}
	if b, err := os.ReadFile("f007"); err != nil || string(b) != "f007" {
		t.Errorf("relative ReadFile: %q %v", b, err)
	}
	_ = os.Chdir("/")
	if err := os.RemoveAll(d); err != nil {
		t.Errorf("RemoveAll: %v", err)
	}
	if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat after RemoveAll: %v", err)
	}
}

func testDevices(t *kern.T) {
	if b, err := os.ReadFile("/dev/null"); err != nil || len(b) != 0 {
		t.Errorf("/dev/null: %q %v", b, err)
	}
	if err := os.WriteFile("/dev/null", []byte("gone"), 0); err != nil {
		t.Errorf("write /dev/null: %v", err)
	}
	z, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatalf("/dev/zero: %v", err)
	}
	b := bytes.Repeat([]byte{0xff}, 4096)
	if n, err := io.ReadFull(z, b); err != nil || n != len(b) || bytes.Count(b, []byte{0}) != len(b) {
		t.Errorf("/dev/zero: %d %v", n, err)
	}
	z.Close()
	u, err := os.Open("/dev/urandom")
	if err != nil {
		t.Fatalf("/dev/urandom: %v", err)
	}
	r1, r2 := make([]byte, 64), make([]byte, 64)
	_, err1 := io.ReadFull(u, r1)
	_, err2 := io.ReadFull(u, r2)
	u.Close()
	if err1 != nil || err2 != nil || bytes.Equal(r1, r2) {
		t.Errorf("/dev/urandom: %v %v, equal=%v", err1, err2, bytes.Equal(r1, r2))
	}
	ci, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatalf("/proc/cpuinfo: %v", err)
	}
	if n := strings.Count(string(ci), "processor\t:"); n != kern.NumCPU() {
		t.Errorf("/proc/cpuinfo: %d processors, want %d:\n%s", n, kern.NumCPU(), ci)
	}
	if h, err := os.ReadFile("/etc/hosts"); err != nil || !strings.Contains(string(h), "localhost") {
		t.Errorf("/etc/hosts: %q %v", h, err)
	}
	if hn, err := os.Hostname(); err != nil {
		t.Errorf("os.Hostname: %v", err)
	} else {
		if hn != "smpgo" {
			t.Errorf("os.Hostname: %q, want smpgo", hn)
		}
	}
}

// testConcurrentWriters appends fixed-size records to one file with
// O_APPEND from goroutines pinned to every CPU, while each also writes,
// renames and reads back its own files; every record must be there once,
// whole, and the writers must have run on more than one CPU.
func testConcurrentWriters(t *kern.T) {
	d := scratch(t)
	defer os.RemoveAll(d)
	log := filepath.Join(d, "log")
	ncpu := kern.NumCPU()
	writers := 2 * ncpu
	const recs = 12
	var wg sync.WaitGroup
	cpus := make([]int, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			if err := kern.PinToCPU(w % ncpu); err != nil {
				t.Errorf("PinToCPU: %v", err)
				return
			}
			cpus[w] = kern.CPUID()
			f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				t.Errorf("open log: %v", err)
				return
			}
			defer f.Close()
			for i := range recs {
				if _, err := fmt.Fprintf(f, "w%03d:r%05d\n", w, i); err != nil {
					t.Errorf("append: %v", err)
					return
				}
				own := filepath.Join(d, fmt.Sprintf("own%d", w))
				body := fmt.Sprintf("writer %d record %d", w, i)
				if err := os.WriteFile(own+".tmp", []byte(body), 0o600); err != nil {
					t.Errorf("WriteFile: %v", err)
					return
				}
				if err := os.Rename(own+".tmp", own); err != nil {
					t.Errorf("Rename: %v", err)
					return
				}
				if b, err := os.ReadFile(own); err != nil || string(b) != body {
					t.Errorf("read back %s: %q %v", own, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	all, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("ReadFile log: %v", err)
	}
	const recLen = len("w000:r00000\n")
	if len(all) != writers*recs*recLen {
		t.Fatalf("log is %d bytes, want %d", len(all), writers*recs*recLen)
	}
	seen := map[string]bool{}
	for i := 0; i < len(all); i += recLen {
		r := string(all[i : i+recLen])
		if r[recLen-1] != '\n' || seen[r] {
			t.Fatalf("record %d torn or repeated: %q", i/recLen, r)
		}
		seen[r] = true
	}
	distinct := map[int]bool{}
	for _, c := range cpus {
		distinct[c] = true
	}
	if ncpu > 1 && len(distinct) < 2 {
		t.Errorf("writers ran on CPUs %v only", cpus)
	}
	t.Logf("%d writers on %d CPUs, %d records", writers, len(distinct), len(seen))
}

// testBadInput: bad pointers, descriptors and paths get Linux errnos,
// counted, and nothing hangs.
func testBadInput(t *kern.T) {
	before := Errors[syscall.EFAULT].Load()
	// A path pointer into unmapped memory.
	_, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(0xffffffffffffff9c), 0x10, 0, 0, 0, 0)
	if e != syscall.EFAULT {
		t.Errorf("openat(bad pointer): %v, want EFAULT", e)
	}
	f, err := os.Create(filepath.Join(os.TempDir(), "badinput"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// A read into unmapped memory.
	_, _, e = syscall.Syscall(syscall.SYS_READ, f.Fd(), 0x10, 16)
	if e != syscall.EFAULT {
		t.Errorf("read(bad buffer): %v, want EFAULT", e)
	}
	if got := Errors[syscall.EFAULT].Load() - before; got < 2 {
		t.Errorf("EFAULT counted %d times, want 2", got)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(999, &st); err != syscall.EBADF {
		t.Errorf("fstat(999): %v, want EBADF", err)
	}
	if _, err := os.ReadFile("/no/such/file"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing path: %v", err)
	}
	if err := os.Mkdir(f.Name()+"/sub", 0o755); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("Mkdir under a file: %v, want ENOTDIR", err)
	}
	long := strings.Repeat("n", 300)
	if _, err := os.Create("/tmp/" + long); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("Create with a 300-byte name: %v, want ENAMETOOLONG", err)
	}
	// A path of PATH_MAX bytes or more (no NUL in the first 4096).
	if _, err := os.Stat("/" + strings.Repeat("d/", 2100)); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("Stat of a 4201-byte path: %v, want ENAMETOOLONG", err)
	}
	var buf [8]byte
	if _, _, e := syscall.Syscall(syscall.SYS_GETDENTS64, f.Fd(), uintptr(unsafe.Pointer(&buf[0])), 8); e != syscall.ENOTDIR {
		t.Errorf("getdents64 on a file: %v, want ENOTDIR", e)
	}
	if kern.ProviderPanics() != 0 {
		t.Errorf("%d provider panics", kern.ProviderPanics())
	}
}

// testUmask: umask(2) answers the previous mask (022 at boot) and the
// file system clears the mask's bits from created files and directories.
func testUmask(t *kern.T) {
	d := scratch(t)
	defer os.RemoveAll(d)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	if old != 0o022 {
		t.Errorf("umask at boot: %#o, want 022", old)
	}
	if err := os.WriteFile(filepath.Join(d, "f"), nil, 0o666); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if err := os.Mkdir(filepath.Join(d, "sub"), 0o777); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	for name, want := range map[string]fs.FileMode{"f": 0o600, "sub": 0o700} {
		fi, err := os.Stat(filepath.Join(d, name))
		if err != nil {
			t.Errorf("Stat %s: %v", name, err)
		} else if fi.Mode().Perm() != want {
			t.Errorf("%s under umask 077: %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	if got := syscall.Umask(old); got != 0o077 {
		t.Errorf("umask answered %#o, want the 077 set before", got)
	}
}
