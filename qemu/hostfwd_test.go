package qemu

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseHostFwd(t *testing.T) {
	f, err := ParseHostFwd("tcp:127.0.0.1:8080-:80")
	require.NoError(t, err)
	require.Equal(t, HostFwd{Proto: "tcp", HostPort: 8080, GuestPort: 80}, f)
	require.Equal(t, "tcp:127.0.0.1:8080-:80", f.String())

	f, err = ParseHostFwd("udp:127.0.0.1:5353-10.0.2.15:53")
	require.NoError(t, err)
	require.Equal(t, HostFwd{Proto: "udp", HostPort: 5353, GuestAddr: "10.0.2.15", GuestPort: 53}, f)
	require.Equal(t, "udp:127.0.0.1:5353-10.0.2.15:53", f.String())
}

func TestParseHostFwdErrors(t *testing.T) {
	const want = " (want tcp:127.0.0.1:HOSTPORT-:GUESTPORT)"
	for in, why := range map[string]string{
		"tcp::8080-:80":              `host address "" is not 127.0.0.1`,
		"tcp:0.0.0.0:8080-:80":       `host address "0.0.0.0" is not 127.0.0.1`,
		"tcp:192.168.1.2:80-:80":     `host address "192.168.1.2" is not 127.0.0.1`,
		"tcp:localhost:80-:80":       `host address "localhost" is not 127.0.0.1`,
		"tcp:127.0.0.2:80-:80":       `host address "127.0.0.2" is not 127.0.0.1`,
		"sctp:127.0.0.1:80-:80":      `protocol "sctp" is not tcp or udp`,
		"tcp:127.0.0.1:8080":         "no '-' between host and guest",
		"127.0.0.1:8080-:80":         "host side is not PROTO:ADDR:PORT",
		"tcp:127.0.0.1:00-:80":       `host port "00" is not 1 to 65535`,
		"tcp:127.0.0.1:65536-:80":    `host port "65536" is not 1 to 65535`,
		"tcp:127.0.0.1:80-80":        "guest side is not [ADDR]:PORT",
		"tcp:127.0.0.1:80-:x":        `guest port "x" is not 1 to 65535`,
		"tcp:127.0.0.1:80-10.0.2:80": `guest address "10.0.2" is not an IPv4 address`,
		"tcp:127.0.0.1:80-foo:80":    `guest address "foo" is not an IPv4 address`,
	} {
		_, err := ParseHostFwd(in)
		require.EqualError(t, err, "qemu: -hostfwd "+in+": "+why+want, in)
	}
}

func TestResolveHostFwd(t *testing.T) {
	in := []string{"tcp:127.0.0.1:0-:7", "tcp:127.0.0.1:8080-:80", "udp:127.0.0.1:0-:7", "tcp:127.0.0.1:0-:9"}
	out, fwds, picked, err := ResolveHostFwd(in)
	require.NoError(t, err)
	require.True(t, picked)
	require.Len(t, out, 4)
	require.Equal(t, "tcp:127.0.0.1:8080-:80", out[1])
	p7, p9, u7 := HostPort(fwds, "tcp", 7), HostPort(fwds, "tcp", 9), HostPort(fwds, "udp", 7)
	require.NotZero(t, p7)
	require.NotZero(t, p9)
	require.NotZero(t, u7)
	require.NotEqual(t, p7, p9)
	require.Equal(t, fmt.Sprintf("tcp:127.0.0.1:%d-:7", p7), out[0])
	require.Equal(t, 8080, HostPort(fwds, "tcp", 80))
	require.Zero(t, HostPort(fwds, "tcp", 19))
	// The picked port is free: it can be bound.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p7))
	require.NoError(t, err)
	require.NoError(t, l.Close())

	_, _, picked, err = ResolveHostFwd([]string{"tcp:127.0.0.1:8080-:80"})
	require.NoError(t, err)
	require.False(t, picked)
	_, _, _, err = ResolveHostFwd([]string{"tcp:0.0.0.0:0-:80"})
	require.Error(t, err)
}
