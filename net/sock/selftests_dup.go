package sock

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/kern"
)

func init() {
	kern.RegisterTest(kern.Test{Name: "Sock/Dup", Fn: testDup, Timeout: 3 * time.Minute})
}

// testDup: Go's net on duplicated socket descriptors (File dups with
// fcntl(F_DUPFD_CLOEXEC), FileListener and FileConn dup again): a copy
// keeps working after the original closes, readiness reaches the copy's
// netpoller registration, the socket is dropped only when the last copy
// closes (the peer then sees EOF), and dup2 over a socket closes it.
func testDup(t *kern.T) {
	defer baseline(t)()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	addr := l.Addr().String()
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatalf("listener File: %v", err)
	}
	l2, err := net.FileListener(lf)
	if err != nil {
		t.Fatalf("FileListener: %v", err)
	}
	lf.Close()
	l.Close()
	if l2.Addr().String() != addr {
		t.Errorf("the copy listens on %v, want %s", l2.Addr(), addr)
	}
	// The copy accepts (its netpoller registration gets the events).
	wg := echoServer(l2)
	if err := roundTrip("tcp", addr, pattern(3, 64<<10)); err != nil {
		t.Errorf("echo through the listener's copy: %v", err)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	cf, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatalf("conn File: %v", err)
	}
	c2, err := net.FileConn(cf)
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	cf.Close()
	if c2.RemoteAddr().String() != addr || c2.LocalAddr().String() != c.LocalAddr().String() {
		t.Errorf("the copy's addresses %v → %v, want %v → %s", c2.LocalAddr(), c2.RemoteAddr(), c.LocalAddr(), addr)
	}
	c.Close()
	_ = c2.SetDeadline(time.Now().Add(time.Minute))
	msg := []byte("through the connection's copy")
	if _, err := c2.Write(msg); err != nil {
		t.Errorf("write on the copy after the original closed: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c2, got); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("echo on the copy: %q %v", got, err)
	}
	// The last copy's close drops the connection: the echo server sees
	// EOF and closes, so the copy reads EOF after its half-close.
	if err := c2.(*net.TCPConn).CloseWrite(); err != nil {
		t.Errorf("CloseWrite on the copy: %v", err)
	}
	if rest, err := io.ReadAll(c2); err != nil || len(rest) != 0 {
		t.Errorf("after CloseWrite: %q %v, want EOF", rest, err)
	}
	c2.Close()

	// Raw descriptors: dup, and dup2 over a socket that is the last copy
	// of its connection (closed: its peer sees EOF).
	a, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	b, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	af, _ := a.(*net.TCPConn).File()
	bf, _ := b.(*net.TCPConn).File()
	b.Close() // bf is b's connection's last descriptor
	before := Open()
	if err := syscall.Dup2(int(af.Fd()), int(bf.Fd())); err != nil {
		t.Errorf("dup2 over a socket: %v", err)
	}
	for i := 0; i < 500 && Open() >= before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if Open() >= before {
		t.Errorf("dup2 left the displaced socket open (%d sockets, %d before)", Open(), before)
	}
	fd3, err := syscall.Dup(int(bf.Fd()))
	if err != nil {
		t.Fatalf("dup: %v", err)
	}
	if _, err := syscall.Write(fd3, []byte("raw")); err != nil {
		t.Errorf("write on a raw copy: %v", err)
	}
	af.Close()
	bf.Close()
	syscall.Close(fd3)
	_ = a.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadFull(a, make([]byte, 3)); err != nil {
		t.Errorf("the echo of a raw copy's write: %v", err)
	}
	a.Close()
	l2.Close()
	wg.Wait()
}
