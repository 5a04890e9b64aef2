package inet

import (
	"net"
	"net/netip"
	"time"

	"github.com/smpgo/smpgo/net/nlock"
)

// waitq lets socket calls sleep without holding any lock: a caller takes
// the channel under the socket's lock, drops the lock (and Giant), and
// waits; wake closes the channel. Guarded by the owning socket's lock.
//
// up, when set, is the socket's upcall (FreeBSD's so_upcall): every wake
// calls it, with the socket's lock held, so a layer above (the kernel's
// socket system calls, net/sock) learns of readiness without a blocked
// reader. It must not block or call back into the socket.
type waitq struct {
	ch chan struct{}
	up func()
}

func (w *waitq) wait() <-chan struct{} {
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *waitq) wake() {
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
	if w.up != nil {
		w.up()
	}
}

// deadline is a net.Conn deadline: a channel closed when it passes.
type deadline struct {
	mu    nlock.Mutex
	t     time.Time     // (mu)
	timer *time.Timer   // (mu)
	ch    chan struct{} // (mu) closed once the deadline passed
}

// init names the deadline's lock (a leaf).
func (d *deadline) init() { d.mu.Init("so deadline", nlock.DupOK) }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if d.ch == nil || isClosed(d.ch) {
		d.ch = make(chan struct{})
	}
	d.t = t
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		if d.ch == ch && !isClosed(ch) {
			close(ch)
		}
		d.mu.Unlock()
	})
}

// done returns a channel closed when the deadline has passed (nil, which
// blocks forever, when there is none).
func (d *deadline) done() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.t.IsZero() {
		return nil
	}
	return d.ch
}

func (d *deadline) expired() bool {
	ch := d.done()
	return ch != nil && isClosed(ch)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// opError wraps err as the net package does, so callers can use
// errors.Is(err, os.ErrDeadlineExceeded) and net.Error's Timeout.
func opError(op string, laddr, raddr net.Addr, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "tcp", Source: laddr, Addr: raddr, Err: err}
}

func toAddrPort(a Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a.Netip(), port) }

func fromNetAddr(a net.Addr) (Addr, uint16, error) {
	switch v := a.(type) {
	case *net.UDPAddr:
		ap := v.AddrPort()
		if !ap.Addr().Unmap().Is4() {
			return Addr{}, 0, ErrBadAddress
		}
		return ap.Addr().Unmap().As4(), ap.Port(), nil
	case *net.TCPAddr:
		ap := v.AddrPort()
		if !ap.Addr().Unmap().Is4() {
			return Addr{}, 0, ErrBadAddress
		}
		return ap.Addr().Unmap().As4(), ap.Port(), nil
	}
	return Addr{}, 0, ErrBadAddress
}
