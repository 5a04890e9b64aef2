package kstack

import (
	"net/netip"
	"testing"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/wire"
	"github.com/stretchr/testify/require"
)

func TestParseNetConfig(t *testing.T) {
	get := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	c, err := ParseNetConfig(get(nil))
	require.NoError(t, err)
	require.Equal(t, NetConfig{}, c)
	// Not given: on in the kernel's image, off in applications.
	require.True(t, c.ServicesOn(false))
	require.False(t, c.ServicesOn(true))
	require.True(t, NetConfig{Services: "on"}.ServicesOn(true))

	c, err = ParseNetConfig(get(map[string]string{"net": "on", "net.giant": "1", "net.isr": "queued",
		"net.ip": "192.168.7.9/16", "net.gw": "192.168.0.1", "net.hostpeer": "1", "net.services": "off", "net.csum": "off", "net.tso": "off"}))
	require.NoError(t, err)
	require.Equal(t, NetConfig{Giant: true, Queued: true, StaticIP: netip.MustParsePrefix("192.168.7.9/16"),
		Gateway: wire.MustAddr("192.168.0.1"), HostPeer: true, CsumOff: true, TSOOff: true, Services: "off"}, c)
	require.False(t, c.ServicesOn(false))
	require.False(t, c.ServicesOn(true))

	c, err = ParseNetConfig(get(map[string]string{"net": "off", "net.ip": "10.0.2.20"}))
	require.NoError(t, err)
	require.True(t, c.Off)
	require.Equal(t, netip.MustParsePrefix("10.0.2.20/24"), c.StaticIP)

	for _, bad := range []map[string]string{{"net.ip": "10.0.2"}, {"net.ip": "0.0.0.0/8"}, {"net.ip": "10.0.0.1/33"}, {"net.gw": "::1"}} {
		_, err := ParseNetConfig(get(bad))
		require.Error(t, err, "%v", bad)
	}
}

// The options are registered with the kernel's parser, which rejects bad
// values with the option named.
func TestNetOptionsRegistered(t *testing.T) {
	o, err := kern.ParseOptions([]string{"net=off", "net.giant=1", "net.isr=queued", "net.ip=dhcp", "net.gw=10.0.2.2", "net.hostpeer=0", "net.services=on", "net.csum=on", "net.tso=on"})
	require.NoError(t, err)
	require.Equal(t, "off", o.Sub["net"])
	for _, bad := range []string{"net=maybe", "net.giant=2", "net.isr=fast", "net.ip=x", "net.gw=10.0.2", "net.hostpeer=yes", "net.services=1", "net.csum=no", "net.tso=1"} {
		_, err := kern.ParseOptions([]string{bad})
		require.ErrorContains(t, err, bad)
	}
}

func TestChargenLine(t *testing.T) {
	require.Equal(t, "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n", string(ChargenLine(1)))
	require.Equal(t, ChargenLine(0), ChargenLine(95))
	require.Len(t, ChargenLine(7), 74)
}
