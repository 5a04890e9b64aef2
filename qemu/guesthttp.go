package qemu

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The host side of the guest-client test (SockNIC/GuestfwdHTTP in
// net/kstack): an HTTP server on 127.0.0.1 that the guest's unmodified
// net/http client reaches at GuestHTTPAddr through slirp's guestfwd.
//
//	GET /blob?bytes=N&seed=S   N bytes of the pattern stream S
//	POST /sink?seed=S          the body is checked against stream S:
//	                           200 "ok N" or 400 naming the first bad byte
//
// The pattern is math/rand/v2's ChaCha8 seeded by S (PatternSeed), so the
// guest computes the same bytes and every one is checked on both sides.

// GuestHTTPAddr is where the guest reaches the host's HTTP server.
const GuestHTTPAddr = "10.0.2.100:5000"

// GuestHTTPEnv is the kernel environment variable that tells the guest's
// test the server's address.
const GuestHTTPEnv = "SOCK_HOSTSERVER"

// PatternSeed is the ChaCha8 seed of pattern stream s.
func PatternSeed(s uint64) [32]byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], s)
	copy(seed[8:], "smpgo pattern stream")
	return seed
}

// GuestHTTPServer is the guest-client test's host server.
func GuestHTTPServer() GuestServer {
	return GuestServer{Guest: GuestHTTPAddr, Serve: serveGuestHTTP}
}

func serveGuestHTTP(ctx context.Context, l net.Listener, log io.Writer) error {
	var mu sync.Mutex
	var bad []error
	fail := func(err error) {
		mu.Lock()
		bad = append(bad, err)
		mu.Unlock()
	}
	seedOf := func(r *http.Request) (uint64, error) {
		return strconv.ParseUint(r.URL.Query().Get("seed"), 10, 64)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /blob", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("bytes"))
		seed, serr := seedOf(r)
		if err != nil || serr != nil || n < 0 || n > 64<<20 {
			http.Error(w, "want bytes=0..64MiB and seed=N", http.StatusBadRequest)
			fail(fmt.Errorf("bad GET %s", r.URL))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(n))
		fmt.Fprintf(log, "guest server: GET %s: request read\n", r.URL)
		start := time.Now()
		src := rand.NewChaCha8(PatternSeed(seed))
		buf := make([]byte, 64<<10)
		for left := n; left > 0; {
			k := min(left, len(buf))
			_, _ = src.Read(buf[:k])
			if _, err := w.Write(buf[:k]); err != nil {
				fail(fmt.Errorf("GET %s: write after %d bytes: %w", r.URL, n-left, err))
				return
			}
			left -= k
		}
		fmt.Fprintf(log, "guest server: GET %s: %d bytes written in %v\n", r.URL, n, time.Since(start).Round(time.Millisecond))
	})
	mux.HandleFunc("POST /sink", func(w http.ResponseWriter, r *http.Request) {
		seed, err := seedOf(r)
		if err != nil {
			http.Error(w, "want seed=N", http.StatusBadRequest)
			fail(fmt.Errorf("bad POST %s", r.URL))
			return
		}
		fmt.Fprintf(log, "guest server: POST %s: request read, reading the body\n", r.URL)
		start := time.Now()
		src := rand.NewChaCha8(PatternSeed(seed))
		got, want := make([]byte, 64<<10), make([]byte, 64<<10)
		total := 0
		for {
			k, rerr := io.ReadFull(r.Body, got)
			if k > 0 {
				_, _ = src.Read(want[:k])
				if i := firstDiff(got[:k], want[:k]); i < k {
					msg := fmt.Sprintf("byte %d differs: %#x, want %#x", total+i, got[i], want[i])
					http.Error(w, msg, http.StatusBadRequest)
					fail(fmt.Errorf("POST %s: %s", r.URL, msg))
					return
				}
				total += k
			}
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break
			}
			if rerr != nil {
				fail(fmt.Errorf("POST %s: read after %d bytes: %w", r.URL, total, rerr))
				return
			}
		}
		d := time.Since(start)
		fmt.Fprintf(log, "guest server: POST %s: %d bytes checked in %v (%.2f MB/s)\n", r.URL, total, d.Round(time.Millisecond), mbps(total, d))
		fmt.Fprintf(w, "ok %d", total)
	})
	srv := forwardServer(ctx, mux, log)
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	err := srv.Serve(forwardListener{l})
	if ctx.Err() != nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(append([]error{err}, bad...)...)
}

// forwardServer is an HTTP server behind a guest forward. It sees one
// connection for the whole boot: QEMU's end of the forward, opened when
// QEMU starts (guestfwd.go), which the guest's connections share in turn.
// So it has no timeouts: the first request may come minutes after QEMU
// started on a loaded host, and a ReadHeaderTimeout (a read deadline set
// when the connection opens) once closed QEMU's end before it — the
// guest's requests then went nowhere and its net/http waited for
// headers until its own 5-minute timeout (SockNIC/GuestfwdHTTP, after a
// boot past a minute). The connection's opening and end are logged with
// their times and, for its end, who ended it (on a listener wrapped by
// forwardListener), so a forward gone early shows in the host's lines.
func forwardServer(ctx context.Context, h http.Handler, log io.Writer) *http.Server {
	t0 := time.Now()
	return &http.Server{Handler: h, ConnState: func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew, http.StateClosed, http.StateHijacked:
			what := "QEMU's forward " + st.String()
			if fc, ok := c.(*forwardConn); ok && st == http.StateClosed {
				var err error
				if p := fc.readErr.Load(); p != nil {
					err = *p
				}
				switch {
				case fc.eof.Load():
					what += " by QEMU (end of stream)"
				case ctx.Err() != nil:
					what += " at QEMU's exit"
				case err != nil:
					what += " by the server, QEMU still running (last read error: " + err.Error() + ")"
				default:
					what += " by the server, QEMU still running"
				}
			}
			fmt.Fprintf(log, "guest server: %s %v after the server started\n", what, time.Since(t0).Round(time.Millisecond))
		}
	}}
}

// forwardListener hands out forwardConns.
type forwardListener struct{ net.Listener }

func (l forwardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &forwardConn{Conn: c}, nil
}

// forwardConn remembers whether QEMU ended the stream and its last read
// error, to tell QEMU's end from the server's own close.
type forwardConn struct {
	net.Conn
	eof     atomic.Bool
	readErr atomic.Pointer[error]
}

func (c *forwardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		c.eof.Store(true)
	case err != nil:
		c.readErr.Store(&err)
	}
	return n, err
}

// equalPattern reports whether b is the first len(b) bytes of stream s
// (for tests).
func equalPattern(b []byte, s uint64) bool {
	want := make([]byte, len(b))
	_, _ = rand.NewChaCha8(PatternSeed(s)).Read(want)
	return bytes.Equal(b, want)
}
