package qemu

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseGuestFwd(t *testing.T) {
	f, err := ParseGuestFwd("tcp:10.0.2.100:5000-tcp:127.0.0.1:34567")
	require.NoError(t, err)
	require.Equal(t, "10.0.2.100:5000", f.Guest.String())
	require.Equal(t, 34567, f.HostPort)
	require.Equal(t, "tcp:10.0.2.100:5000-tcp:127.0.0.1:34567", f.String())

	for s, why := range map[string]string{
		"tcp:10.0.2.100:5000":                     "no '-'",
		"udp:10.0.2.100:53-tcp:127.0.0.1:53":      "slirp forwards TCP only",
		"tcp:10.0.3.100:5000-tcp:127.0.0.1:80":    "outside slirp's 10.0.2.0/24",
		"tcp:10.0.2.2:5000-tcp:127.0.0.1:80":      "one of slirp's own",
		"tcp:10.0.2.15:5000-tcp:127.0.0.1:80":     "one of slirp's own",
		"tcp:10.0.2.100:0-tcp:127.0.0.1:80":       "not IPv4 ADDR:PORT",
		"tcp:10.0.2.100:5000-tcp:192.0.2.1:80":    `host address "192.0.2.1" is not 127.0.0.1`,
		"tcp:10.0.2.100:5000-tcp:0.0.0.0:80":      `host address "0.0.0.0" is not 127.0.0.1`,
		"tcp:10.0.2.100:5000-cmd:nc x 1":          "host side is not tcp:127.0.0.1:PORT",
		"tcp:10.0.2.100:5000-tcp:127.0.0.1:0":     "host port",
		"tcp:10.0.2.100:5000-tcp:127.0.0.1:9999x": "host port",
	} {
		_, err := ParseGuestFwd(s)
		require.ErrorContains(t, err, why, s)
	}
}

// Guest forwards reach QEMU's netdev; a forward to anything but
// 127.0.0.1, or without a NIC, is refused before QEMU runs.
func TestGuestFwdArgs(t *testing.T) {
	c := Config{Kernel: "k.img", NIC: NICE1000, GuestFwd: []string{"tcp:10.0.2.100:5000-tcp:127.0.0.1:4000"}}
	args, err := c.Args()
	require.NoError(t, err)
	require.Contains(t, strings.Join(args, " "), "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:5000-tcp:127.0.0.1:4000")

	c.GuestFwd = []string{"tcp:10.0.2.100:5000-tcp:10.1.1.1:4000"}
	_, err = c.Args()
	require.ErrorContains(t, err, "is not 127.0.0.1")

	c = Config{Kernel: "k.img", GuestServers: []GuestServer{GuestHTTPServer()}}
	_, err = c.Args()
	require.ErrorContains(t, err, "need a NIC")

	c = Config{Kernel: "k.img", NIC: NICE1000, Tap: &TapConfig{}, GuestServers: []GuestServer{GuestHTTPServer()}}
	_, err = c.Args()
	require.ErrorContains(t, err, "not on a tap boot")
}

// The guest servers listen on 127.0.0.1 before QEMU would start, one
// forward each.
func TestListenGuestServers(t *testing.T) {
	g, err := listenGuestServers([]GuestServer{GuestHTTPServer()})
	require.NoError(t, err)
	defer g.close()
	require.Len(t, g.fwds, 1)
	f, err := ParseGuestFwd(g.fwds[0])
	require.NoError(t, err)
	require.Equal(t, GuestHTTPAddr, f.Guest.String())
	require.Equal(t, HostFwdAddr+fmt.Sprintf(":%d", f.HostPort), g.ls[0].Addr().String())

	_, err = listenGuestServers([]GuestServer{{Guest: "nonsense"}})
	require.Error(t, err)
}

// The guest-client test's server: GET /blob streams the pattern, POST
// /sink checks it; a wrong byte is answered 400 and makes Serve fail.
func TestGuestHTTPServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	log := &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- serveGuestHTTP(ctx, l, log) }()
	base := "http://" + l.Addr().String()

	resp, err := http.Get(base + "/blob?bytes=300000&seed=1")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Len(t, body, 300000)
	require.True(t, equalPattern(body, 1))
	require.False(t, equalPattern(body, 2))

	good := make([]byte, 200000)
	_, _ = rand.NewChaCha8(PatternSeed(2)).Read(good)
	resp, err = http.Post(base+"/sink?seed=2", "application/octet-stream", bytes.NewReader(good))
	require.NoError(t, err)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "ok 200000", string(answer))

	resp, err = http.Get(base + "/blob?bytes=-1&seed=1")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	good[123456] ^= 1
	resp, err = http.Post(base+"/sink?seed=2", "application/octet-stream", bytes.NewReader(good))
	require.NoError(t, err)
	answer, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(answer), "byte 123456 differs")

	cancel()
	err = <-done
	require.ErrorContains(t, err, "byte 123456 differs")
	require.ErrorContains(t, err, "bad GET")
	require.Contains(t, log.String(), "POST /sink?seed=2: 200000 bytes checked")
}

// lockedBuffer is a bytes.Buffer for a server's log lines, written from
// its connections' goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The guest forward's server keeps QEMU's one connection however long
// the guest takes to send its first request (a read deadline from the
// connection's start once closed it on a loaded host: the guest's
// requests then reached nobody), and logs when it opens and ends.
func TestForwardServerKeepsIdleConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &lockedBuffer{}
	srv := forwardServer(ctx, http.NotFoundHandler(), log)
	require.Zero(t, srv.ReadHeaderTimeout, "a deadline from the connection's start")
	require.Zero(t, srv.ReadTimeout, "a deadline from the connection's start")
	require.Zero(t, srv.IdleTimeout)
	require.Zero(t, srv.WriteTimeout)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(forwardListener{l}) }()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	// Idle first, then a request on the same connection is answered.
	time.Sleep(300 * time.Millisecond)
	_, err = c.Write([]byte("GET /x HTTP/1.1\r\nHost: g\r\n\r\n"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	c.Close()
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "QEMU's forward closed") }, 10*time.Second, 10*time.Millisecond)
	require.Contains(t, log.String(), "QEMU's forward new")
	require.Contains(t, log.String(), "closed by QEMU (end of stream)")
	require.NoError(t, srv.Close())

	// What the old ReadHeaderTimeout did, logged as the server's close.
	log = &lockedBuffer{}
	srv = forwardServer(ctx, http.NotFoundHandler(), log)
	srv.ReadHeaderTimeout = 50 * time.Millisecond
	l, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(forwardListener{l}) }()
	c, err = net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return strings.Contains(log.String(), "QEMU's forward closed") }, 10*time.Second, 10*time.Millisecond)
	require.Contains(t, log.String(), "closed by the server, QEMU still running (last read error:")
	require.NoError(t, srv.Close())
}
