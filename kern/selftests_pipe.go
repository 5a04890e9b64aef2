package kern

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
)

// Pipes through os.Pipe (blocking mode: the runtime cannot poll them):
// 64 KiB (16 times the pipe's buffer) cross from a writer goroutine to a
// reader, so both sides block and are completed by the other; closing the
// writer gives the reader end of file; writing with no reader left gives
// EPIPE; non-blocking reads of an empty pipe give EAGAIN.
func init() {
	RegisterTest(Test{Name: "Kern/Pipe", Fn: testPipe})
}

func testPipe(t *T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("os.Pipe: %v", err)
	}
	want := make([]byte, 16*pipeSize)
	for i := range want {
		want[i] = byte(i * 7)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := w.Write(want)
		werr <- errors.Join(err, w.Close())
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Errorf("ReadAll: %v", err)
	}
	if err := <-werr; err != nil {
		t.Errorf("Write/Close: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("read %d bytes, want %d (equal prefix %d)", len(got), len(want), commonPrefix(got, want))
	}
	r.Close()

	r, w, err = os.Pipe()
	if err != nil {
		t.Fatalf("os.Pipe: %v", err)
	}
	r.Close()
	if _, err := w.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write with no reader: %v, want EPIPE", err)
	}
	w.Close()

	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	var b [8]byte
	if _, err := syscall.Read(fds[0], b[:]); err != syscall.EAGAIN {
		t.Errorf("non-blocking read of an empty pipe: %v, want EAGAIN", err)
	}
	if n, err := syscall.Write(fds[1], []byte("hi")); n != 2 || err != nil {
		t.Errorf("write: %d, %v", n, err)
	}
	if n, err := syscall.Read(fds[0], b[:]); n != 2 || err != nil || string(b[:2]) != "hi" {
		t.Errorf("read: %d, %v, %q", n, err, b[:max(n, 0)])
	}
	// No offset: lseek, pread and pwrite answer ESPIPE (os.File.Seek's
	// PathError), as on Linux; a closed descriptor EBADF.
	for _, fd := range fds {
		if _, err := syscall.Seek(fd, 0, 0); err != syscall.ESPIPE {
			t.Errorf("lseek on a pipe: %v, want ESPIPE", err)
		}
		if _, err := syscall.Pread(fd, b[:], 0); err != syscall.ESPIPE {
			t.Errorf("pread on a pipe: %v, want ESPIPE", err)
		}
		if _, err := syscall.Pwrite(fd, b[:1], 0); err != syscall.ESPIPE {
			t.Errorf("pwrite on a pipe: %v, want ESPIPE", err)
		}
	}
	syscall.Close(fds[0])
	syscall.Close(fds[1])
	if _, err := syscall.Seek(fds[0], 0, 0); err != syscall.EBADF {
		t.Errorf("lseek on a closed descriptor: %v, want EBADF", err)
	}
}

func commonPrefix(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}
