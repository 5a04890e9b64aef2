package inet

import (
	"bytes"
	"io"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smpgo/smpgo/net/memlink"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitFor polls cond (the non-blocking calls are what is tested here, so
// the test spins on upcall counters rather than blocking calls).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// TestNonBlockingTCP drives a connection with the Try calls only, over
// loopback (port 0 listen, non-blocking connect, accept, reads and writes
// that would block, end of stream) and checks every upcall fired.
func TestNonBlockingTCP(t *testing.T) {
	a, _, _ := pair(t, Config{Seed: 70, TCP: fastTCP()}, memlink.Config{})
	l, err := a.ListenTCP(netip.MustParseAddrPort("127.0.0.1:0"), 0)
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	require.NotZero(t, port)
	var lisUp, cliRd, cliWr, srvRd atomic.Int32
	l.SetUpcall(func() { lisUp.Add(1) })
	_, err = l.TryAccept()
	assert.ErrorIs(t, err, ErrWouldBlock)

	c, err := a.StartDialTCP(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port))
	require.NoError(t, err)
	c.SetUpcall(func() { cliRd.Add(1) }, func() { cliWr.Add(1) })
	waitFor(t, "connected", func() bool { ok, err := c.Connected(); require.NoError(t, err); return ok })
	assert.Positive(t, cliWr.Load())
	waitFor(t, "listener upcall", func() bool { return lisUp.Load() > 0 })
	s, err := l.TryAccept()
	require.NoError(t, err)
	s.SetUpcall(func() { srvRd.Add(1) }, nil)

	buf := make([]byte, 64)
	_, err = s.TryRead(buf)
	assert.ErrorIs(t, err, ErrWouldBlock)
	msg := bytes.Repeat([]byte("x"), 3000)
	sent := 0
	for sent < len(msg) {
		n, err := c.TryWrite(msg[sent:])
		if err == ErrWouldBlock {
			time.Sleep(time.Millisecond)
			continue
		}
		require.NoError(t, err)
		sent += n
	}
	var got []byte
	waitFor(t, "data", func() bool {
		n, err := s.TryRead(buf)
		if err == nil {
			got = append(got, buf[:n]...)
		}
		return len(got) == len(msg)
	})
	assert.Equal(t, msg, got)
	assert.Positive(t, srvRd.Load())
	require.NoError(t, c.CloseWrite())
	waitFor(t, "EOF", func() bool { _, err := s.TryRead(buf); return err == io.EOF })
	require.NoError(t, s.Close())
	require.NoError(t, c.Close())
	_, err = c.TryWrite([]byte("late"))
	assert.Error(t, err)

	// A refused connection ends with the error, and wakes the writer.
	r, err := a.StartDialTCP(netip.MustParseAddrPort("127.0.0.1:1"))
	require.NoError(t, err)
	r.SetUpcall(nil, func() { cliWr.Add(1) })
	waitFor(t, "refusal", func() bool { _, err := r.Connected(); return err != nil })
	_, err = r.Connected()
	assert.ErrorIs(t, err, ErrConnRefused)
	r.Close()
}

func TestNonBlockingUDP(t *testing.T) {
	a, _, _ := pair(t, Config{Seed: 71}, memlink.Config{})
	srv, err := a.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"))
	require.NoError(t, err)
	defer srv.Close()
	var up atomic.Int32
	srv.SetUpcall(func() { up.Add(1) })
	buf := make([]byte, 100)
	_, _, err = srv.TryReadFrom(buf)
	assert.ErrorIs(t, err, ErrWouldBlock)
	cli, err := a.ListenUDP(netip.MustParseAddrPort("0.0.0.0:0"))
	require.NoError(t, err)
	defer cli.Close()
	sa := srv.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort()
	require.NoError(t, cli.Connect(sa))
	_, err = cli.Write([]byte("ping"))
	require.NoError(t, err)
	waitFor(t, "datagram", func() bool { return up.Load() > 0 })
	n, from, err := srv.TryReadFrom(buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf[:n]))
	assert.Equal(t, cli.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port(), from.Port())
}
