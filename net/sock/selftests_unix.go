package sock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/fs/kfs"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// Sock/Unix self-tests: AF_UNIX sockets through the standard library's
// net and net/http, unmodified, and raw system calls for the corners.
func init() {
	for _, tc := range []struct {
		name string
		fn   func(*kern.T)
	}{
		{"Sock/UnixStream", testUnixStream},
		{"Sock/UnixManyConns", testUnixManyConns},
		{"Sock/UnixAbstract", testUnixAbstract},
		{"Sock/UnixDgram", testUnixDgram},
		{"Sock/UnixSeqpacket", testUnixSeqpacket},
		{"Sock/UnixPair", testUnixPair},
		{"Sock/UnixBackpressure", testUnixBackpressure},
		{"Sock/UnixHTTP", testUnixHTTP},
		{"Sock/UnixErrors", testUnixErrors},
		{"Sock/UnixRights", testUnixRights},
	} {
		fn := tc.fn
		kern.RegisterTest(kern.Test{Name: tc.name, Fn: func(t *kern.T) { fn(t); unixWitnessClean(t) }, Timeout: 3 * time.Minute})
	}
}

// unixWitnessClean fails the test if WITNESS has reported anything about
// the AF_UNIX locks (order reversals, recursion, sleeping with one held).
func unixWitnessClean(t *kern.T) {
	for _, r := range witness.Reports() {
		if strings.HasPrefix(r.Class, "unix ") || strings.HasPrefix(r.OtherClass, "unix ") {
			t.Errorf("WITNESS: %v on %s (%s) with %s (%s) held", r.Kind, r.Lock, r.Class, r.Other, r.OtherClass)
		}
	}
}

func testUnixStream(t *kern.T) {
	defer baseline(t)()
	const path = "/tmp/sock-stream"
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("stat %s: %v, %v: want a socket", path, fi, err)
	}
	if l.Addr().String() != path {
		t.Errorf("listener address %q, want %q", l.Addr(), path)
	}
	listenFails(t, "unix", path, syscall.EADDRINUSE, "second Listen on "+path)
	wg := echoServer(l)
	// Concurrent streams, every byte checked.
	roundTrips(t, "stream", "unix", path, 4, func(i int) []byte { return pattern(int64(200+i), 512<<10+i*4099) })
	// Addresses: the client is unnamed, its peer the listener's path.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if ra := c.RemoteAddr(); ra == nil || ra.String() != path {
		t.Errorf("RemoteAddr %v, want %s", ra, path)
	}
	c.Close()
	l.Close() // Go unlinks the name
	wg.Wait()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat after Close: %v, want ENOENT", err)
	}
	dialFails(t, "unix", path, syscall.ENOENT, "Dial of a removed name")
}

func testUnixManyConns(t *kern.T) {
	defer baseline(t)()
	const path = "/tmp/sock-many"
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	wg := echoServer(l)
	roundTrips(t, "connection", "unix", path, 64, func(i int) []byte { return pattern(int64(300+i), 1+i*611) })
	l.Close()
	wg.Wait()
}

func testUnixAbstract(t *kern.T) {
	defer baseline(t)()
	const name = "@smpgo-abstract"
	l, err := net.Listen("unix", name)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if l.Addr().String() != name {
		t.Errorf("listener address %q, want %q", l.Addr(), name)
	}
	listenFails(t, "unix", name, syscall.EADDRINUSE, "second Listen on "+name)
	wg := echoServer(l)
	if err := roundTrip("unix", name, pattern(5, 100<<10)); err != nil {
		t.Errorf("abstract stream: %v", err)
	}
	l.Close()
	wg.Wait()
	// The name is free once the socket is closed.
	dialFails(t, "unix", name, syscall.ECONNREFUSED, "Dial of a closed abstract name")
	l, err = net.Listen("unix", name)
	if err != nil {
		t.Fatalf("Listen again on %s: %v", name, err)
	}
	l.Close()
	// listen without bind autobinds: a five-hex-digit abstract name.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	defer syscall.Close(fd)
	if err := syscall.Listen(fd, 1); err != nil {
		t.Errorf("listen unbound: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if su, ok := sa.(*syscall.SockaddrUnix); err != nil || !ok || len(su.Name) != 6 || su.Name[0] != '@' {
		t.Errorf("autobound name %#v, %v", sa, err)
	}
}

func testUnixDgram(t *kern.T) {
	defer baseline(t)()
	const spath, cpath = "/tmp/dgram-srv", "/tmp/dgram-cli"
	defer os.Remove(spath)
	defer os.Remove(cpath)
	srv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: spath, Net: "unixgram"})
	if err != nil {
		t.Fatalf("ListenUnixgram: %v", err)
	}
	defer srv.Close()
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 70000)
		for {
			n, from, err := srv.ReadFromUnix(buf)
			if err != nil {
				done <- nil
				return
			}
			if from == nil || from.Name != cpath {
				done <- fmt.Errorf("datagram from %v, want %s", from, cpath)
				return
			}
			if _, err := srv.WriteToUnix(buf[:n], from); err != nil {
				done <- fmt.Errorf("WriteToUnix: %w", err)
				return
			}
		}
	}()
	c, err := net.DialUnix("unixgram", &net.UnixAddr{Name: cpath, Net: "unixgram"}, &net.UnixAddr{Name: spath, Net: "unixgram"})
	if err != nil {
		t.Fatalf("DialUnix: %v", err)
	}
	defer c.Close()
	buf := make([]byte, 70000)
	// Boundaries: each reply is exactly one datagram, zero-length ones
	// too, in order.
	for i := range 100 {
		msg := pattern(int64(i), (i*i*37)%65000)
		if i == 3 {
			msg = nil
		}
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("Write %d (%d bytes): %v", i, len(msg), err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("datagram %d: %d bytes back of %d, %v", i, n, len(msg), err)
		}
	}
	// Several queued datagrams keep their boundaries.
	for i := range 20 {
		if _, err := c.Write(pattern(int64(1000+i), 100+i)); err != nil {
			t.Fatalf("burst write %d: %v", i, err)
		}
	}
	for i := range 20 {
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], pattern(int64(1000+i), 100+i)) {
			t.Errorf("burst datagram %d: %d bytes, %v", i, n, err)
		}
	}
	// A datagram longer than the buffer is cut, and says so (MSG_TRUNC).
	if _, err := c.Write(pattern(9, 1000)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	n, _, flags, _, err := c.ReadMsgUnix(buf[:10], nil)
	if err != nil || n != 10 || flags&syscall.MSG_TRUNC == 0 || !bytes.Equal(buf[:10], pattern(9, 1000)[:10]) {
		t.Errorf("truncated datagram: %d bytes, flags %#x, %v", n, flags, err)
	}
	// A datagram from an unnamed socket comes with no address (Linux's
	// unix_copy_addr: msg_namelen 0), which Go reports as nil.
	const apath = "/tmp/dgram-anon"
	defer os.Remove(apath)
	rcv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: apath, Net: "unixgram"})
	if err != nil {
		t.Fatalf("ListenUnixgram: %v", err)
	}
	anon, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: apath, Net: "unixgram"})
	if err != nil {
		t.Fatalf("DialUnix unnamed: %v", err)
	}
	if _, err := anon.Write([]byte("anon")); err != nil {
		t.Fatalf("unnamed Write: %v", err)
	}
	_ = rcv.SetReadDeadline(time.Now().Add(time.Minute))
	if n, from, err := rcv.ReadFromUnix(buf); err != nil || string(buf[:n]) != "anon" || from != nil {
		t.Errorf("datagram from an unnamed socket: %q from %v (%v), want \"anon\" from nil", buf[:n], from, err)
	}
	anon.Close()
	rcv.Close()
	// net.ListenPacket("unixgram") with an abstract name.
	pc, err := net.ListenPacket("unixgram", "@smpgo-dgram")
	if err != nil {
		t.Fatalf("ListenPacket: %v", err)
	}
	u, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "@smpgo-dgram-cli", Net: "unixgram"})
	if err != nil {
		t.Fatalf("ListenUnixgram: %v", err)
	}
	if _, err := u.WriteTo([]byte("to abstract"), pc.LocalAddr()); err != nil {
		t.Errorf("WriteTo %v: %v", pc.LocalAddr(), err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(time.Minute))
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "to abstract" || from == nil || from.String() != u.LocalAddr().String() {
		t.Errorf("ReadFrom: %q from %v (sender %v), %v", buf[:n], from, u.LocalAddr(), err)
	}
	u.Close()
	pc.Close()
	srv.Close()
	if err := <-done; err != nil {
		t.Errorf("server: %v", err)
	}
	// A datagram to a closed socket is refused.
	if _, err := c.Write([]byte("late")); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Write to a closed peer: %v, want ECONNREFUSED", err)
	}
}

func testUnixSeqpacket(t *kern.T) {
	defer baseline(t)()
	const path = "/tmp/seqpacket"
	l, err := net.Listen("unixpacket", path)
	if err != nil {
		t.Fatalf("Listen unixpacket: %v", err)
	}
	defer l.Close()
	go func() {
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		buf := make([]byte, 1<<16)
		for {
			n, err := s.Read(buf)
			if err != nil || n == 0 {
				return
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("unixpacket", path)
	if err != nil {
		t.Fatalf("Dial unixpacket: %v", err)
	}
	defer c.Close()
	buf := make([]byte, 1<<16)
	for i := range 50 {
		msg := pattern(int64(i), 1+i*397)
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("record %d: %d bytes of %d, %v", i, n, len(msg), err)
		}
	}
}

// connPair makes an AF_UNIX socketpair of type typ (flags allowed) and
// returns its ends as net.Conns (net.FileConn duplicates the descriptors;
// the originals are closed).
func connPair(t *kern.T, typ int) (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ, 0)
	if err != nil {
		t.Fatalf("socketpair(type %#x): %v", typ, err)
	}
	fa, fb := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	ca, err1 := net.FileConn(fa)
	cb, err2 := net.FileConn(fb)
	fa.Close()
	fb.Close()
	if err1 != nil || err2 != nil {
		t.Fatalf("FileConn: %v %v", err1, err2)
	}
	return ca, cb
}

func testUnixPair(t *kern.T) {
	defer baseline(t)()
	for _, typ := range []int{syscall.SOCK_STREAM, syscall.SOCK_DGRAM, syscall.SOCK_SEQPACKET} {
		ca, cb := connPair(t, typ|syscall.SOCK_CLOEXEC)
		data := pattern(int64(typ), 3000)
		go func() { _, _ = ca.Write(data) }()
		buf := make([]byte, 4000)
		got := 0
		for got < len(data) {
			n, err := cb.Read(buf[got:])
			if err != nil {
				t.Fatalf("type %d: read after %d bytes: %v", typ, got, err)
			}
			got += n
		}
		if !bytes.Equal(buf[:got], data) {
			t.Errorf("type %d: data differs", typ)
		}
		if _, err := cb.Write([]byte("back")); err != nil {
			t.Errorf("type %d: write back: %v", typ, err)
		}
		if n, err := ca.Read(buf); err != nil || string(buf[:n]) != "back" {
			t.Errorf("type %d: read back %q, %v", typ, buf[:n], err)
		}
		ca.Close()
		if typ != syscall.SOCK_DGRAM {
			// The peer closed: EOF, and writes fail with EPIPE.
			if n, err := cb.Read(buf); n != 0 || err != io.EOF {
				t.Errorf("type %d: read after the peer closed: %d, %v, want EOF", typ, n, err)
			}
			if _, err := cb.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
				t.Errorf("type %d: write after the peer closed: %v, want EPIPE", typ, err)
			}
		}
		cb.Close()
	}
	// A pair whose first end is closed before either was used.
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	syscall.Close(fds[0])
	if n, err := syscall.Read(fds[1], make([]byte, 4)); n != 0 || err != nil {
		t.Errorf("read of a pair whose other end never lived: %d, %v, want EOF", n, err)
	}
	syscall.Close(fds[1])
	if _, err := syscall.Socketpair(syscall.AF_INET, syscall.SOCK_STREAM, 0); err != syscall.EOPNOTSUPP {
		t.Errorf("socketpair(AF_INET): %v, want EOPNOTSUPP", err)
	}
}

// testUnixBackpressure fills a receive queue: a non-blocking writer gets
// EAGAIN at the limit and room again after a read; a Go writer far ahead
// of a slow reader loses nothing.
func testUnixBackpressure(t *kern.T) {
	defer baseline(t)()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	if err := syscall.SetsockoptInt(fds[1], syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10); err != nil {
		t.Errorf("SO_RCVBUF: %v", err)
	}
	if v, err := syscall.GetsockoptInt(fds[1], syscall.SOL_SOCKET, syscall.SO_RCVBUF); err != nil || v != 64<<10 {
		t.Errorf("SO_RCVBUF reads %d, %v", v, err)
	}
	chunk := make([]byte, 10000)
	total := 0
	for {
		n, err := syscall.Write(fds[0], chunk)
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			t.Fatalf("write after %d bytes: %v", total, err)
		}
		total += n
		if total > 1<<20 {
			t.Fatalf("no back-pressure after %d bytes", total)
		}
	}
	if total != 64<<10 {
		t.Errorf("queued %d bytes before EAGAIN, want the limit %d", total, 64<<10)
	}
	if n, err := syscall.Read(fds[1], chunk); n != len(chunk) || err != nil {
		t.Errorf("read: %d, %v", n, err)
	}
	if n, err := syscall.Write(fds[0], chunk); n != len(chunk) || err != nil {
		t.Errorf("write after a read made room: %d, %v", n, err)
	}
	syscall.Close(fds[0])
	syscall.Close(fds[1])

	// 4 MiB through the default queue to a reader that sleeps now and
	// then: the writer waits (EPOLLOUT) instead of failing.
	ca, cb := connPair(t, syscall.SOCK_STREAM)
	data := pattern(77, 4<<20)
	werr := make(chan error, 1)
	go func() {
		_, err := ca.Write(data)
		ca.Close()
		werr <- err
	}()
	var got []byte
	buf := make([]byte, 48<<10)
	for i := 0; ; i++ {
		if i%16 == 0 {
			time.Sleep(time.Millisecond)
		}
		n, err := cb.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", len(got), err)
		}
	}
	if err := <-werr; err != nil {
		t.Errorf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%d bytes read of %d, contents differ", len(got), len(data))
	}
	cb.Close()
}

func testUnixHTTP(t *kern.T) {
	defer baseline(t)()
	const path = "/tmp/http.sock"
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	httpRun(t, l, tr, "http://unix", 4, 5, pattern(17, 256<<10), nil)
}

func testUnixErrors(t *kern.T) {
	defer baseline(t)()
	// A bound name whose socket closed (not unlinked): ECONNREFUSED; a
	// regular file: ECONNREFUSED; no name: ENOENT.
	const stale, file = "/tmp/unix-stale", "/tmp/unix-file"
	defer os.Remove(stale)
	defer os.Remove(file)
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: stale}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: "/tmp/other"}); err != syscall.EINVAL {
		t.Errorf("second bind: %v, want EINVAL", err)
	}
	if sa, err := syscall.Getsockname(fd); err != nil || sa.(*syscall.SockaddrUnix).Name != stale {
		t.Errorf("getsockname: %#v, %v", sa, err)
	}
	if _, err := syscall.Getpeername(fd); err != syscall.ENOTCONN {
		t.Errorf("getpeername unconnected: %v, want ENOTCONN", err)
	}
	syscall.Close(fd)
	if err := os.WriteFile(file, []byte("not a socket"), 0o644); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	for _, tc := range []struct {
		name string
		want error
	}{{stale, syscall.ECONNREFUSED}, {file, syscall.ECONNREFUSED}, {"/tmp/nothing-here", syscall.ENOENT},
		{"/nodir/x", syscall.ENOENT}, {"@smpgo-nobody", syscall.ECONNREFUSED}} {
		dialFails(t, "unix", tc.name, tc.want, "Dial "+tc.name)
	}
	listenFails(t, "unix", file, syscall.EADDRINUSE, "Listen on an existing file")
	// Type mismatch: EPROTOTYPE; listen on a datagram socket: EOPNOTSUPP.
	l, err := net.Listen("unix", "@smpgo-errors")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	dialFails(t, "unixpacket", "@smpgo-errors", syscall.EPROTOTYPE, "Dial unixpacket to a stream listener")
	dfd, _ := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err := syscall.Listen(dfd, 1); err != syscall.EOPNOTSUPP {
		t.Errorf("listen on a datagram socket: %v, want EOPNOTSUPP", err)
	}
	if err := syscall.Sendto(dfd, []byte("x"), 0, nil); err != syscall.ENOTCONN {
		t.Errorf("send unconnected datagram: %v, want ENOTCONN", err)
	}
	syscall.Close(dfd)
	if _, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_RAW, 0); err != syscall.ESOCKTNOSUPPORT {
		t.Errorf("socket(AF_UNIX, SOCK_RAW): %v, want ESOCKTNOSUPPORT", err)
	}
	// Shutdown: CloseWrite gives the peer EOF; SO_ERROR is 0; a closed
	// peer with unread data resets.
	acc := make(chan net.Conn, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			acc <- nil
			return
		}
		acc <- s
	}()
	c, err := net.Dial("unix", "@smpgo-errors")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	s := <-acc
	if s == nil {
		t.Fatalf("Accept failed")
	}
	if _, err := c.Write([]byte("unread")); err != nil {
		t.Errorf("Write: %v", err)
	}
	if err := s.(*net.UnixConn).CloseWrite(); err != nil {
		t.Errorf("CloseWrite: %v", err)
	}
	if n, err := c.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Errorf("read after the peer's CloseWrite: %d, %v, want EOF", n, err)
	}
	rc, _ := c.(*net.UnixConn).SyscallConn()
	_ = rc.Control(func(fd uintptr) {
		if v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR); v != 0 || err != nil {
			t.Errorf("SO_ERROR: %d, %v", v, err)
		}
		if v, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TYPE); v != syscall.SOCK_STREAM || err != nil {
			t.Errorf("SO_TYPE: %d, %v", v, err)
		}
	})
	s.Close() // "unread" never read: the peer sees a reset
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write to a closed peer: %v, want EPIPE", err)
	}
	c.Close()
	// A blocking connect to a full backlog waits for accept.
	lfd, _ := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	defer syscall.Close(lfd)
	if err := syscall.Bind(lfd, &syscall.SockaddrUnix{Name: "@smpgo-backlog"}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	_ = syscall.Listen(lfd, 1)
	c1, _ := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	c2, _ := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	defer syscall.Close(c1)
	defer syscall.Close(c2)
	if err := syscall.Connect(c1, &syscall.SockaddrUnix{Name: "@smpgo-backlog"}); err != nil {
		t.Errorf("connect: %v", err)
	}
	if err := syscall.Connect(c2, &syscall.SockaddrUnix{Name: "@smpgo-backlog"}); err != syscall.EAGAIN {
		t.Errorf("non-blocking connect to a full backlog: %v, want EAGAIN", err)
	}
	c3, _ := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	defer syscall.Close(c3)
	connected := make(chan error, 1)
	go func() { connected <- syscall.Connect(c3, &syscall.SockaddrUnix{Name: "@smpgo-backlog"}) }()
	nfd, _, err := syscall.Accept(lfd)
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	defer syscall.Close(nfd)
	if err := <-connected; err != nil {
		t.Errorf("blocking connect after accept: %v", err)
	}
	if kern.ProviderPanics() != 0 {
		t.Errorf("%d provider panics", kern.ProviderPanics())
	}
}

// testUnixRights passes descriptors (SCM_RIGHTS): a pipe's read end and a
// file arrive as working descriptors; ones nobody receives are closed.
func testUnixRights(t *kern.T) {
	defer baseline(t)()
	ca, cb := connPair(t, syscall.SOCK_STREAM)
	defer ca.Close()
	defer cb.Close()
	ua, ub := ca.(*net.UnixConn), cb.(*net.UnixConn)

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("Pipe: %v", err)
	}
	defer pw.Close()
	f, err := os.CreateTemp("", "rights")
	if err != nil {
		t.Fatalf("CreateTemp: %v", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString("file contents"); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, _, err := ua.WriteMsgUnix([]byte("x"), syscall.UnixRights(int(pr.Fd()), int(f.Fd())), nil); err != nil {
		t.Fatalf("WriteMsgUnix: %v", err)
	}
	pr.Close() // the message holds its own duplicate
	f.Close()
	buf, oob := make([]byte, 16), make([]byte, syscall.CmsgSpace(2*4))
	n, oobn, flags, _, err := ub.ReadMsgUnix(buf, oob)
	if err != nil || n != 1 || flags&syscall.MSG_CTRUNC != 0 {
		t.Fatalf("ReadMsgUnix: %d bytes, %d control, flags %#x, %v", n, oobn, flags, err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v, %v", msgs, err)
	}
	got, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(got) != 2 {
		t.Fatalf("rights: %v, %v", got, err)
	}
	rp, rf := os.NewFile(uintptr(got[0]), "pipe"), os.NewFile(uintptr(got[1]), "file")
	if _, err := pw.WriteString("through the pipe"); err != nil {
		t.Errorf("pipe write: %v", err)
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(rp, b); err != nil || string(b) != "through the pipe" {
		t.Errorf("read from the received pipe: %q, %v", b, err)
	}
	if b, err := io.ReadAll(io.NewSectionReader(rf, 0, 100)); err != nil || string(b) != "file contents" {
		t.Errorf("read from the received file: %q, %v", b, err)
	}
	rp.Close()
	rf.Close()

	// Descriptors nobody receives are closed: a file sent and never read
	// is released (kfs's open files back to where they were).
	open0 := kfs.OpenFiles()
	f2, err := os.Open(f.Name())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, _, err := ua.WriteMsgUnix([]byte("y"), syscall.UnixRights(int(f2.Fd())), nil); err != nil {
		t.Fatalf("WriteMsgUnix: %v", err)
	}
	f2.Close()
	if _, err := ub.Read(buf); err != nil { // read(2): no control buffer
		t.Errorf("read: %v", err)
	}
	if _, _, err := ua.WriteMsgUnix([]byte("z"), syscall.UnixRights(0), nil); err != nil {
		t.Fatalf("WriteMsgUnix: %v", err)
	}
	// A control buffer too small: MSG_CTRUNC.
	_, _, flags, _, err = ub.ReadMsgUnix(buf, make([]byte, 8))
	if err != nil || flags&syscall.MSG_CTRUNC == 0 {
		t.Errorf("ReadMsgUnix with no room for the rights: flags %#x, %v", flags, err)
	}
	if !kern.WaitFor(10*time.Second, func() bool { return kfs.OpenFiles() <= open0 }) {
		t.Errorf("%d files open through descriptors, %d before: a duplicate in flight was not closed", kfs.OpenFiles(), open0)
	}
	// A descriptor that is not open: EBADF.
	if _, _, err := ua.WriteMsgUnix([]byte("w"), syscall.UnixRights(999), nil); !errors.Is(err, syscall.EBADF) {
		t.Errorf("WriteMsgUnix of a closed descriptor: %v, want EBADF", err)
	}
}
