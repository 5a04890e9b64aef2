package sock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/kern"
)

// Sock/ self-tests: the standard library's net and net/http, unmodified,
// over the kernel's sockets on loopback.
func init() {
	for _, tc := range []struct {
		name string
		fn   func(*kern.T)
	}{
		{"Sock/TCPCopy", testCopy},
		{"Sock/ManyConns", testManyConns},
		{"Sock/UDPEcho", testUDPEcho},
		{"Sock/Deadlines", testDeadlines},
		{"Sock/HTTP", testHTTP},
		{"Sock/Errors", testErrors},
		{"Sock/Sendfile", testSendfile},
	} {
		kern.RegisterTest(kern.Test{Name: tc.name, Fn: tc.fn, Timeout: 3 * time.Minute})
	}
}

// copyBytes is the size of Sock/TCPCopy's echo: 128 KiB in the boots
// that run every test, SOCK_COPY_KIB KiB when set (the sock-copy4m smoke
// boot runs it alone with 4096).
func copyBytes() int {
	if v, err := strconv.Atoi(os.Getenv("SOCK_COPY_KIB")); err == nil && v > 0 {
		return v << 10
	}
	return 128 << 10
}

func pattern(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// echoServer accepts until l closes and echoes every connection with
// io.Copy.
func echoServer(l net.Listener) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return &wg
}

// roundTrip sends data on a new connection to addr over network netw
// ("tcp", "unix"), half-closes, and checks the echo comes back whole.
func roundTrip(netw, addr string, data []byte) error {
	c, err := net.Dial(netw, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(interface{ CloseWrite() error }).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", len(got), err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, data) {
		i := 0
		for i < len(got) && i < len(data) && got[i] == data[i] {
			i++
		}
		return fmt.Errorf("echo differs: %d bytes back of %d, first difference at %d", len(got), len(data), i)
	}
	return nil
}

// roundTrips runs conns round trips to addr over netw at once, the i-th
// with data(i); each that fails is an error of the test's, named what.
func roundTrips(t *kern.T, what, netw, addr string, conns int, data func(i int) []byte) {
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = roundTrip(netw, addr, data(i))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
}

// listenFails checks that Listen on addr fails with want (closing the
// listener if it does not); desc names the call in the report.
func listenFails(t *kern.T, netw, addr string, want error, desc string) {
	if l, err := net.Listen(netw, addr); !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", desc, err, want)
		if l != nil {
			l.Close()
		}
	}
}

// dialFails checks that Dial of addr fails with want, as listenFails.
func dialFails(t *kern.T, netw, addr string, want error, desc string) {
	if c, err := net.Dial(netw, addr); !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", desc, err, want)
		if c != nil {
			c.Close()
		}
	}
}

// baseline checks, at the end of a test, that every socket it opened was
// closed.
func baseline(t *kern.T) func() {
	before := Open()
	return func() {
		for range 500 {
			if Open() <= before {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("%d sockets open, %d before the test", Open(), before)
	}
}

func testCopy(t *kern.T) {
	defer baseline(t)()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	wg := echoServer(l)
	data := pattern(1, copyBytes())
	start := time.Now()
	_, calls0 := kern.ProviderCalls()
	if err := roundTrip("tcp", l.Addr().String(), data); err != nil {
		t.Errorf("%d-byte echo: %v", len(data), err)
	}
	_, calls1 := kern.ProviderCalls()
	t.Logf("%d bytes echoed over %s in %v, %d socket calls", len(data), l.Addr(),
		time.Since(start).Round(time.Millisecond), calls1-calls0)
	l.Close()
	wg.Wait()
}

func testManyConns(t *kern.T) {
	defer baseline(t)()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	wg := echoServer(l)
	roundTrips(t, "connection", "tcp", l.Addr().String(), 8, func(i int) []byte { return pattern(int64(100+i), 4<<10+i*97) })
	l.Close()
	wg.Wait()
}

func testUDPEcho(t *kern.T) {
	defer baseline(t)()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ListenPacket: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if _, err := pc.WriteTo(buf[:n], from); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatalf("Dial udp: %v", err)
	}
	buf := make([]byte, 2048)
	for i := range 50 {
		msg := pattern(int64(i), 1+i*37)
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("Write %d: %v", i, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("echo %d: %d bytes, %v", i, n, err)
		}
	}
	// ReadMsgUDP/WriteMsgUDP go through recvmsg/sendmsg.
	uc := c.(*net.UDPConn)
	if _, _, err := uc.WriteMsgUDP([]byte("msg"), nil, nil); err != nil {
		t.Errorf("WriteMsgUDP: %v", err)
	}
	n, _, _, from, err := uc.ReadMsgUDP(buf, nil)
	if err != nil || string(buf[:n]) != "msg" || from == nil || from.Port != pc.LocalAddr().(*net.UDPAddr).Port {
		t.Errorf("ReadMsgUDP: %q from %v, %v", buf[:n], from, err)
	}
	c.Close()
	pc.Close()
	<-done
}

func testDeadlines(t *kern.T) {
	defer baseline(t)()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	// Accept with a deadline and nobody connecting.
	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := l.Accept(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Accept past its deadline: %v", err)
	}
	_ = l.(*net.TCPListener).SetDeadline(time.Time{})
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		acc <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	s := <-acc
	if s == nil {
		return
	}
	defer s.Close()
	// A read with nothing to read times out with ErrDeadlineExceeded.
	// The deadline is taken from start itself: a switch between two
	// time.Now calls (a loaded host) made the read look early by the gap.
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(100 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Read past its deadline: %v", err)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("Read returned after %v, before its deadline", el)
	}
	// Data after the timeout is still read, once the deadline is lifted.
	_ = c.SetReadDeadline(time.Time{})
	if _, err := s.Write([]byte("late")); err != nil {
		t.Errorf("Write: %v", err)
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "late" {
		t.Errorf("read after the timeout: %q %v", b, err)
	}
	// A deadline set while a Read waits interrupts it.
	go func() {
		time.Sleep(50 * time.Millisecond)
		_ = s.SetReadDeadline(time.Now())
	}()
	if _, err := s.Read(b); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read interrupted by a deadline: %v", err)
	}
}

func testHTTP(t *kern.T) {
	defer baseline(t)()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	httpRun(t, l, nil, "http://"+l.Addr().String(), 4, 3, pattern(7, 64<<10), pattern(8, 32<<10))
}

// httpRun serves /hello, /big (big) and /echo with net/http on l; a
// client (through tr, nil: the default transport) at base makes
// clients×rounds GETs of /hello, clients at once, one GET of /big and,
// when post is set, POSTs it to /echo, every answer checked; then the
// server shuts down.
func httpRun(t *kern.T, l net.Listener, tr *http.Transport, base string, clients, rounds int, big, post []byte) {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from cpu %d", r.URL.Query().Get("n"), kern.CPUID())
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(big) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		// HTTP/1.x: read the whole body before writing the response.
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write(b)
	})
	srv := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	cl := &http.Client{Timeout: time.Minute}
	if tr != nil {
		cl.Transport = tr
	}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range rounds {
				n := fmt.Sprint(i*10 + j)
				resp, err := cl.Get(base + "/hello?n=" + n)
				if err != nil {
					t.Errorf("GET /hello: %v", err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("hello "+n+" ")) {
					t.Errorf("GET /hello?n=%s: %d %q %v", n, resp.StatusCode, body, err)
				}
			}
		}()
	}
	wg.Wait()
	resp, err := cl.Get(base + "/big")
	if err != nil {
		t.Fatalf("GET /big: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(body, big) {
		t.Errorf("GET /big: %d bytes, %v", len(body), err)
	}
	if post != nil {
		resp, err = cl.Post(base+"/echo", "application/octet-stream", bytes.NewReader(post))
		if err != nil {
			t.Fatalf("POST /echo: %v", err)
		}
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(body, post) {
			t.Errorf("POST /echo: %d bytes, %v", len(body), err)
		}
	}
	cl.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve: %v", err)
	}
}

func testErrors(t *kern.T) {
	defer baseline(t)()
	lingerAbort(t)
	// A port nobody listens on: ECONNREFUSED.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	addr := l.Addr().String()
	// The same port again: EADDRINUSE.
	listenFails(t, "tcp", addr, syscall.EADDRINUSE, "second Listen on "+addr)
	l.Close()
	dialFails(t, "tcp", addr, syscall.ECONNREFUSED, "Dial of a closed port")
	// What is not built says so.
	if _, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM, 0); err != syscall.EAFNOSUPPORT {
		t.Errorf("socket(AF_INET6): %v, want EAFNOSUPPORT", err)
	}
	if _, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, 1); err != syscall.ESOCKTNOSUPPORT {
		t.Errorf("socket(SOCK_RAW): %v, want ESOCKTNOSUPPORT", err)
	}
	// Bad pointers: EFAULT, counted.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	before := Errors[syscall.EFAULT].Load()
	if _, _, e := syscall.Syscall(syscall.SYS_BIND, uintptr(fd), 0x10, 16); e != syscall.EFAULT {
		t.Errorf("bind(bad pointer): %v, want EFAULT", e)
	}
	if Errors[syscall.EFAULT].Load() == before {
		t.Errorf("EFAULT not counted")
	}
	// A blocking socket: connect to a listener, then accept and read
	// block (in their own goroutines inside the kernel) until data comes.
	lfd, _ := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err := syscall.Bind(lfd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Errorf("bind: %v", err)
	}
	if err := syscall.Listen(lfd, 8); err != nil {
		t.Errorf("listen: %v", err)
	}
	sa, _ := syscall.Getsockname(lfd)
	if err := syscall.Connect(fd, sa); err != nil {
		t.Errorf("blocking connect: %v", err)
	}
	nfd, _, err := syscall.Accept(lfd)
	if err != nil {
		t.Errorf("blocking accept: %v", err)
	} else {
		go func() {
			time.Sleep(20 * time.Millisecond)
			_, _ = syscall.Write(fd, []byte("blocking"))
		}()
		b := make([]byte, 8)
		if n, err := syscall.Read(nfd, b); err != nil || string(b[:n]) != "blocking" {
			t.Errorf("blocking read: %q %v", b[:n], err)
		}
		syscall.Close(nfd)
	}
	syscall.Close(lfd)
	syscall.Close(fd)
	if kern.ProviderPanics() != 0 {
		t.Errorf("%d provider panics", kern.ProviderPanics())
	}
}

// lingerAbort: a close with SO_LINGER on and a zero timeout resets the
// connection: the peer's read fails with ECONNRESET, not EOF.
func lingerAbort(t *kern.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if err := s.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatalf("SetLinger(0): %v", err)
	}
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	s.Close()
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 8)
	var rerr error
	for rerr == nil {
		_, rerr = c.Read(buf) // the byte may arrive before the reset
	}
	if !errors.Is(rerr, syscall.ECONNRESET) {
		t.Errorf("read after the peer's SO_LINGER 0 close: %v, want ECONNRESET", rerr)
	}
}

// testSendfile: TCPConn.ReadFrom of a file goes through sendfile(2),
// which sends from the file's offset and moves it; from a pipe, sendfile
// answers EINVAL and Go copies with read and write.
func testSendfile(t *kern.T) {
	defer baseline(t)()
	const size, skip = 300 << 10, 1000
	data := pattern(77, size)
	path := "/tmp/sendfile.bin"
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	defer os.Remove(path)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer l.Close()
	got := make(chan []byte, 2)
	go func() {
		for range 2 {
			c, err := l.Accept()
			if err != nil {
				got <- nil
				return
			}
			b, _ := io.ReadAll(c)
			c.Close()
			got <- b
		}
	}()
	send := func(r io.Reader) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		if _, err := c.(*net.TCPConn).ReadFrom(r); err != nil {
			t.Errorf("ReadFrom: %v", err)
		}
		_ = c.(*net.TCPConn).CloseWrite()
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer f.Close()
	if _, err := f.Seek(skip, io.SeekStart); err != nil {
		t.Fatalf("Seek: %v", err)
	}
	before := SendfileBytes.Load()
	send(f)
	if b := <-got; !bytes.Equal(b, data[skip:]) {
		t.Errorf("sendfile from offset %d: %d bytes received, want %d equal ones", skip, len(b), size-skip)
	}
	if n := SendfileBytes.Load() - before; n != size-skip {
		t.Errorf("sendfile sent %d bytes, want %d (did Go fall back?)", n, size-skip)
	}
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != size {
		t.Errorf("file offset after sendfile: %d %v, want %d", pos, err, size)
	}
	// A pipe is no file: EINVAL, and Go's fallback copies it all.
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("Pipe: %v", err)
	}
	go func() { _, _ = pw.Write(data[:64<<10]); pw.Close() }()
	send(pr)
	pr.Close()
	if b := <-got; !bytes.Equal(b, data[:64<<10]) {
		t.Errorf("from a pipe: %d bytes received, want %d", len(b), 64<<10)
	}
}
