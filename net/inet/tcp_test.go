package inet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/smpgo/smpgo/net/memlink"
	"github.com/smpgo/smpgo/net/netisr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func randBytes(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// echoServer accepts connections on st:port and echoes each one.
func echoServer(t *testing.T, st *Stack, port uint16) *TCPListener {
	l, err := st.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), port), 0)
	require.NoError(t, err)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l
}

// transfer sends data through an echo connection and checks what comes
// back, byte for byte.
func transfer(t *testing.T, c *TCPConn, data []byte) {
	var got []byte
	done := make(chan error, 1)
	go func() {
		var err error
		got, err = io.ReadAll(c)
		done <- err
	}()
	_, err := c.Write(data)
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(60 * time.Second):
		t.Fatalf("transfer stuck (%d of %d bytes back)", len(got), len(data))
	}
	require.Equal(t, len(data), len(got))
	assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got))
}

func fastTCP() TCPConfig {
	return TCPConfig{MSL: 50 * time.Millisecond, MinRTO: 20 * time.Millisecond, InitialRTO: 100 * time.Millisecond}
}

func waitNoConns(t *testing.T, sts ...*Stack) {
	require.Eventually(t, func() bool {
		for _, st := range sts {
			n := st.TCPCounts()
			delete(n, "LISTEN")
			if len(n) != 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond)
}

func TestTCPEchoExactContent(t *testing.T) {
	a, b, _ := pair(t, Config{Seed: 40, TCP: fastTCP()}, memlink.Config{})
	echoServer(t, b, 7)
	c, err := a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 7))
	require.NoError(t, err)
	assert.Equal(t, "ESTABLISHED", c.State())
	transfer(t, c, randBytes(1, 4<<20))
	require.NoError(t, c.Close())
	waitNoConns(t, a, b)
	assert.Equal(t, uint64(1), a.Stat(TCPConnects))
	assert.Equal(t, uint64(1), b.Stat(TCPAccepts))
}

func TestTCPOverLossyReorderingLink(t *testing.T) {
	f := memlink.Faults{Seed: 77, Loss: 0.02, Dup: 0.01, Reorder: 0.03, Corrupt: 0.005}
	a, b, l := pair(t, Config{Seed: 41, TCP: fastTCP()}, memlink.Config{Faults: f})
	echoServer(t, b, 7)
	var c *TCPConn
	var err error
	for i := 0; i < 5 && c == nil; i++ {
		c, err = a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 7))
	}
	require.NoError(t, err)
	transfer(t, c, randBytes(2, 2<<20))
	require.NoError(t, c.Close())
	ab, ba := l.Counters()
	t.Logf("link A→B %+v B→A %+v; A rexmits %d fast %d timeouts %d; B rexmits %d; checksum drops %d",
		ab, ba, a.Stat(TCPRexmits), a.Stat(TCPFastRexmits), a.Stat(TCPTimeouts), b.Stat(TCPRexmits),
		a.Stat(TCPDropChecksum)+b.Stat(TCPDropChecksum)+a.Stat(IPDropChecksum)+b.Stat(IPDropChecksum))
	assert.Greater(t, a.Stat(TCPRexmits)+b.Stat(TCPRexmits), uint64(0))
	assert.Greater(t, a.Stat(TCPFastRexmits)+b.Stat(TCPFastRexmits), uint64(0))
	waitNoConns(t, a, b)
}

func TestTCPConnectionRefused(t *testing.T) {
	a, b, _ := pair(t, Config{Seed: 42}, memlink.Config{})
	_, err := a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 9))
	assert.ErrorIs(t, err, ErrConnRefused)
	assert.Equal(t, uint64(1), b.Stat(TCPRSTsSent))
	waitNoConns(t, a, b)
}

func TestTCPManyConcurrentConnections(t *testing.T) {
	a, b, _ := pair(t, Config{Seed: 43, TCP: fastTCP()}, memlink.Config{})
	echoServer(t, b, 7)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c, err := a.DialTCP(ctx, netip.AddrPortFrom(addrB.Netip(), 7))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := []byte(fmt.Sprintf("connection %d says hello", i))
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			_ = c.CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("conn %d: %q %v", i, got, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitNoConns(t, a, b)
}

func TestTCPZeroWindowAndPersist(t *testing.T) {
	cfg := Config{Seed: 44, TCP: fastTCP()}
	cfg.TCP.RcvBuf = 16 << 10
	a, b, _ := pair(t, cfg, memlink.Config{})
	l, err := b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 80), 0)
	require.NoError(t, err)
	defer l.Close()
	c, err := a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 80))
	require.NoError(t, err)
	s, err := l.AcceptTCP()
	require.NoError(t, err)
	data := randBytes(3, 200<<10)
	go func() {
		_, _ = c.Write(data)
		_ = c.Close()
	}()
	// Do not read until the sender is stuck on a zero window.
	require.Eventually(t, func() bool { return a.Stat(TCPZeroWindowProbes) > 0 }, 10*time.Second, time.Millisecond)
	got, err := io.ReadAll(s)
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got))
	require.NoError(t, s.Close())
	waitNoConns(t, a, b)
}

func TestTCPSynBacklogLimit(t *testing.T) {
	a, b, _ := pair(t, Config{Seed: 45, TCP: fastTCP()}, memlink.Config{})
	l, err := b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 80), 2)
	require.NoError(t, err)
	var conns []*TCPConn
	for i := 0; i < 2; i++ {
		c, err := a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 80))
		require.NoError(t, err)
		conns = append(conns, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = a.DialTCP(ctx, netip.AddrPortFrom(addrB.Netip(), 80))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the accept queue is full: SYNs are dropped")
	assert.Greater(t, b.Stat(TCPDropListenFull), uint64(0))
	// Closing the listener resets what was never accepted.
	require.NoError(t, l.Close())
	for _, c := range conns {
		_, err := c.Read(make([]byte, 1))
		assert.ErrorIs(t, err, ErrConnReset)
		c.Close()
	}
	waitNoConns(t, a, b)
}

func TestTCPRetransmitBackoffAndGiveUp(t *testing.T) {
	clk := NewFakeClock()
	cfg := Config{Seed: 46, Clock: clk}
	cfg.TCP.MaxRexmits = 4
	a, b, l := pair(t, cfg, memlink.Config{})
	lis, err := b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 80), 0)
	require.NoError(t, err)
	defer lis.Close()
	c := dialFake(t, a, clk)
	s, err := lis.AcceptTCP()
	require.NoError(t, err)
	defer s.Close()
	l.SetFaults(memlink.Faults{Loss: 1})
	_, err = c.Write([]byte("lost"))
	require.NoError(t, err)
	// RTO backs off 1s (no sample yet... or the handshake's), doubling;
	// after MaxRexmits the connection is dropped.
	for i := 0; i < 200 && c.State() != "CLOSED"; i++ {
		clk.Advance(time.Second)
	}
	assert.Equal(t, "CLOSED", c.State())
	assert.Equal(t, uint64(4), a.Stat(TCPTimeouts))
	assert.Equal(t, uint64(1), a.Stat(TCPDropRexmtLimit))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, ErrConnAborted)
	c.Close()
}

// dialFake dials B:80 from a under a fake clock, advancing it while the
// handshake runs (it needs no timers unless packets are lost).
func dialFake(t *testing.T, a *Stack, clk *FakeClock) *TCPConn {
	type res struct {
		c   *TCPConn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := a.DialTCP(context.Background(), netip.AddrPortFrom(addrB.Netip(), 80))
		ch <- res{c, err}
	}()
	for {
		select {
		case r := <-ch:
			require.NoError(t, r.err)
			return r.c
		case <-time.After(time.Millisecond):
			clk.Advance(10 * time.Millisecond)
		}
	}
}

// waitLinkQuiet waits (real time, bounded) until every frame sent on the
// link in both directions has been delivered or lost and nothing new was
// sent for a few milliseconds: the probe and its answer have both landed.
// A fixed sleep flaked on a loaded host.
func waitLinkQuiet(t *testing.T, l *memlink.Link) {
	t.Helper()
	var last [2]memlink.Counters
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(3 * time.Millisecond)
		ab, ba := l.Counters()
		settled := ab.Sent == ab.Delivered+ab.Lost && ba.Sent == ba.Delivered+ba.Lost
		if settled && ab == last[0] && ba == last[1] {
			return
		}
		last = [2]memlink.Counters{ab, ba}
	}
	t.Fatalf("link never went quiet")
}

func TestTCPKeepaliveDropsDeadPeer(t *testing.T) {
	clk := NewFakeClock()
	cfg := Config{Seed: 47, Clock: clk}
	cfg.TCP.KeepIdle = time.Minute
	cfg.TCP.KeepIntvl = 10 * time.Second
	cfg.TCP.KeepCnt = 3
	a, b, l := pair(t, cfg, memlink.Config{})
	lis, err := b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 80), 0)
	require.NoError(t, err)
	defer lis.Close()
	c := dialFake(t, a, clk)
	s, err := lis.AcceptTCP()
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, c.SetKeepAlive(true))
	// A live peer answers probes: still established after several.
	for i := 0; i < 10; i++ {
		clk.Advance(30 * time.Second)
		waitLinkQuiet(t, l)
	}
	assert.Equal(t, "ESTABLISHED", c.State())
	l.SetFaults(memlink.Faults{Loss: 1})
	for i := 0; i < 20 && c.State() != "CLOSED"; i++ {
		clk.Advance(10 * time.Second)
	}
	assert.Equal(t, "CLOSED", c.State())
	assert.Equal(t, uint64(1), a.Stat(TCPKeepaliveDrops))
	c.Close()
}

func TestTCPTimeWaitExpires(t *testing.T) {
	clk := NewFakeClock()
	a, b, _ := pair(t, Config{Seed: 48, Clock: clk}, memlink.Config{})
	lis, err := b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 80), 0)
	require.NoError(t, err)
	defer lis.Close()
	c := dialFake(t, a, clk)
	s, err := lis.AcceptTCP()
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = s.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	require.NoError(t, s.Close())
	require.Eventually(t, func() bool { return c.State() == "TIME_WAIT" }, 5*time.Second, time.Millisecond)
	clk.Advance(59 * time.Second)
	assert.Equal(t, "TIME_WAIT", c.State())
	clk.Advance(2 * time.Second)
	assert.Equal(t, "CLOSED", c.State())
	waitNoConns(t, a, b)
}

func TestHTTPOverTheStack(t *testing.T) {
	for _, giant := range []bool{false, true} {
		t.Run(fmt.Sprintf("giant=%v", giant), func(t *testing.T) {
			a, b, _ := pair(t, Config{Seed: 49, Giant: giant, TCP: fastTCP()}, memlink.Config{})
			l, err := b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 80), 0)
			require.NoError(t, err)
			body := randBytes(5, 300<<10)
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/big" {
					_, _ = w.Write(body)
					return
				}
				fmt.Fprintf(w, "hello %s from %s", r.RemoteAddr, r.Host)
			})}
			go func() { _ = srv.Serve(l) }()
			defer srv.Close()
			cl := &http.Client{Transport: &http.Transport{DialContext: a.DialContext}, Timeout: 20 * time.Second}
			defer cl.CloseIdleConnections()
			for i := 0; i < 5; i++ {
				resp, err := cl.Get("http://10.0.0.2/hi")
				require.NoError(t, err)
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				require.NoError(t, err)
				assert.Contains(t, string(got), "hello 10.0.0.1:")
			}
			resp, err := cl.Get("http://10.0.0.2/big")
			require.NoError(t, err)
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			assert.Equal(t, body, got)
			cl.CloseIdleConnections()
			srv.Close()
			waitNoConns(t, a, b)
		})
	}
}

func TestTCPLoopbackAndDialErrors(t *testing.T) {
	a, _, _ := pair(t, Config{Seed: 50, TCP: fastTCP()}, memlink.Config{})
	echoServer(t, a, 7)
	c, err := a.DialContext(ctx5(t), "tcp", "127.0.0.1:7")
	require.NoError(t, err)
	transfer(t, c.(*TCPConn), randBytes(6, 1<<20))
	c.Close()
	c2, err := a.DialContext(ctx5(t), "tcp", "10.0.0.1:7")
	require.NoError(t, err)
	transfer(t, c2.(*TCPConn), []byte("self"))
	c2.Close()
	_, err = a.DialContext(ctx5(t), "udp", "1.2.3.4:5")
	assert.Error(t, err)
	_, err = a.DialContext(ctx5(t), "tcp", "192.168.77.1:5")
	assert.ErrorIs(t, err, ErrNoRoute)
	var ne net.Error
	c3, err := a.DialContext(ctx5(t), "tcp", "127.0.0.1:7")
	require.NoError(t, err)
	require.NoError(t, c3.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	_, err = c3.Read(make([]byte, 1))
	require.True(t, errors.As(err, &ne))
	assert.True(t, ne.Timeout())
	c3.Close()
	waitNoConns(t, a)
}

func TestTCPThroughQueuedNetisr(t *testing.T) {
	for _, giant := range []bool{false, true} {
		t.Run(fmt.Sprintf("giant=%v", giant), func(t *testing.T) {
			n := netisr.New(netisr.Config{Workers: 4})
			defer n.Close()
			a, b, _ := pair(t, Config{Seed: 51, Giant: giant, TCP: fastTCP(), Netisr: n, NetisrMode: netisr.Queued}, memlink.Config{})
			echoServer(t, b, 7)
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					c, err := a.DialTCP(ctx5(t), netip.AddrPortFrom(addrB.Netip(), 7))
					if !assert.NoError(t, err) {
						return
					}
					transfer(t, c, randBytes(int64(i), 256<<10))
					c.Close()
				}(i)
			}
			wg.Wait()
			assert.Greater(t, a.Stat(NetisrQueued), uint64(100))
			waitNoConns(t, a, b)
		})
	}
}
