package kfs

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/kern"
)

func init() {
	kern.RegisterTest(kern.Test{Name: "Files/Dup", Fn: testDup, Timeout: 2 * time.Minute})
}

// testDup: dup, dup2, dup3 and fcntl(F_DUPFD) on files of the in-memory
// file system and on pipes. A duplicate shares the open file (its
// offset), the file stays open until the last copy closes, a pipe sees
// EOF only when every copy of its write end is closed, and bad calls
// answer EBADF/EINVAL.
func testDup(t *kern.T) {
	d := scratch(t)
	defer os.RemoveAll(d)
	open0 := OpenFiles()
	made0, refused0 := kern.DupCounts()

	f, err := os.Create(filepath.Join(d, "shared"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	fd := int(f.Fd())
	fd2, err := syscall.Dup(fd)
	if err != nil {
		t.Fatalf("dup: %v", err)
	}
	fd3, err := fcntl(fd, syscall.F_DUPFD_CLOEXEC, 100)
	if err != nil || fd3 < 100 {
		t.Fatalf("fcntl(F_DUPFD_CLOEXEC, 100): %d %v, want a descriptor >= 100", fd3, err)
	}
	// One offset for all three: the writes follow each other.
	for i, x := range []int{fd, fd2, fd3} {
		if _, err := syscall.Write(x, []byte{'a' + byte(i)}); err != nil {
			t.Errorf("write on copy %d: %v", i, err)
		}
	}
	if off, err := syscall.Seek(fd2, 0, io.SeekCurrent); err != nil || off != 3 {
		t.Errorf("offset seen by a copy: %d %v, want 3", off, err)
	}
	// O_APPEND set on one copy holds for the others (the open file's flags).
	if _, err := fcntl(fd, syscall.F_SETFL, syscall.O_APPEND); err != nil {
		t.Errorf("F_SETFL: %v", err)
	}
	if fl, err := fcntl(fd3, syscall.F_GETFL, 0); err != nil || fl&syscall.O_APPEND == 0 {
		t.Errorf("F_GETFL on a copy: %#x %v, want O_APPEND", fl, err)
	}
	// dup2 onto a copy of the same file, and onto itself.
	if r, err := dup2(fd2, fd3); err != nil || r != fd3 {
		t.Errorf("dup2(copy, copy): %d %v", r, err)
	}
	if r, err := dup2(fd2, fd2); err != nil || r != fd2 {
		t.Errorf("dup2(fd, fd): %d %v, want %d", r, err, fd2)
	}
	if err := syscall.Dup3(fd2, fd2, 0); err != syscall.EINVAL {
		t.Errorf("dup3(fd, fd): %v, want EINVAL", err)
	}
	if err := syscall.Dup3(fd2, fd3, 0x1234); err != syscall.EINVAL {
		t.Errorf("dup3 with bad flags: %v, want EINVAL", err)
	}
	if _, err := syscall.Dup(-1); err != syscall.EBADF {
		t.Errorf("dup(-1): %v, want EBADF", err)
	}
	if _, err := syscall.Dup(900); err != syscall.EBADF {
		t.Errorf("dup(a closed descriptor): %v, want EBADF", err)
	}
	if err := syscall.Dup2(fd, 5000); err != syscall.EBADF {
		t.Errorf("dup2 beyond the table: %v, want EBADF", err)
	}
	// Closing copies keeps the file open until the last one.
	f.Close()
	syscall.Close(fd3)
	if OpenFiles() != open0+1 {
		t.Errorf("%d files open with one copy left, want %d", OpenFiles(), open0+1)
	}
	if _, err := syscall.Write(fd2, []byte("d")); err != nil {
		t.Errorf("write on the last copy: %v", err)
	}
	syscall.Close(fd2)
	if OpenFiles() != open0 {
		t.Errorf("%d files open after the last copy closed, want %d", OpenFiles(), open0)
	}
	if b, err := os.ReadFile(filepath.Join(d, "shared")); err != nil || string(b) != "abcd" {
		t.Errorf("file holds %q %v, want \"abcd\"", b, err)
	}

	// dup2 over the last copy of another file closes it first.
	g, err := os.Create(filepath.Join(d, "displaced"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	h, err := os.Open(filepath.Join(d, "shared"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	gfd := int(g.Fd())
	if r, err := dup2(int(h.Fd()), gfd); err != nil || r != gfd {
		t.Errorf("dup2 over an open file: %d %v, want %d", r, err, gfd)
	}
	if OpenFiles() != open0+1 {
		t.Errorf("%d files open after dup2 displaced one, want %d", OpenFiles(), open0+1)
	}
	b := make([]byte, 8)
	if n, err := syscall.Read(gfd, b); err != nil || string(b[:n]) != "abcd" {
		t.Errorf("read through the dup2'd descriptor: %q %v", b[:n], err)
	}
	h.Close()
	// g's descriptor now holds the copy: close it through g, whose
	// finalizer would otherwise close the number later, whatever it is
	// by then.
	g.Close()
	if OpenFiles() != open0 {
		t.Errorf("%d files open at the end, want %d", OpenFiles(), open0)
	}

	// Pipes: the reader sees EOF only once every copy of the write end
	// is closed.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("Pipe: %v", err)
	}
	defer pr.Close()
	wfd, err := syscall.Dup(int(pw.Fd()))
	if err != nil {
		t.Fatalf("dup of a pipe: %v", err)
	}
	pw.Close()
	if _, err := syscall.Write(wfd, []byte("through a copy")); err != nil {
		t.Errorf("write on the copy: %v", err)
	}
	syscall.Close(wfd)
	if got, err := io.ReadAll(pr); err != nil || string(got) != "through a copy" {
		t.Errorf("pipe read %q %v, want the copy's bytes then EOF", got, err)
	}

	made, refused := kern.DupCounts()
	if made-made0 < 5 || refused-refused0 < 5 {
		t.Errorf("counts: %d made, %d refused; want at least 5 of each", made-made0, refused-refused0)
	}
}

func dup2(old, nfd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_DUP2, uintptr(old), uintptr(nfd), 0)
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

func fcntl(fd, cmd, arg int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}
