package resolv

import (
	"net/netip"
	"testing"

	"github.com/smpgo/smpgo/net/inet"

	"github.com/stretchr/testify/require"
)

func opts(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromOptions(t *testing.T) {
	c, err := FromOptions(opts(map[string]string{
		"net.dns":     "10.0.2.53,10.0.2.54:53",
		"net.dnsopts": "use-vc,single-request,timeout:2,attempts:1",
		"net.search":  "dns.test,example.test",
		"hosts":       "static.test=192.0.2.7,v6.test=2001:db8::7",
	}))
	require.NoError(t, err)
	require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.2.53"), netip.MustParseAddr("10.0.2.54")}, c.Servers)
	require.Equal(t, "# written by smpgo (net/resolv) from the command line\n"+
		"nameserver 10.0.2.53\nnameserver 10.0.2.54\n"+
		"search dns.test example.test\n"+
		"options use-vc single-request timeout:2 attempts:1\n", string(c.ResolvConf()))
	require.Equal(t, "192.0.2.7\tstatic.test\n2001:db8::7\tv6.test\n", string(c.HostsLines()))

	c, err = FromOptions(opts(nil))
	require.NoError(t, err)
	require.Empty(t, c.Servers)
	require.Empty(t, c.Hosts)
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct{ k, v, want string }{
		{"net.dns", "", "want A.B.C.D"},
		{"net.dns", "10.0.2.53:5353", "port is always 53"},
		{"net.dns", "::1", "not an IPv4"},
		{"net.dns", "0.0.0.0", "not an IPv4"},
		{"net.dns", "dns.example", "not an IPv4"},
		{"net.dns", "1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4", "at most 3"},
		{"net.dnsopts", "use-tcp", "unknown resolver option"},
		{"net.dnsopts", "timeout:0", "timeout:N with N in 1..30"},
		{"net.dnsopts", "attempts:x", "attempts:N"},
		{"net.dnsopts", "ndots", "ndots:N"},
		{"net.search", "a..b", "not a domain name"},
		{"net.search", "a,b,c,d,e,f,g", "at most 6"},
		{"hosts", "name", "want NAME=ADDR"},
		{"hosts", "bad name=1.2.3.4", "not a host name"},
		{"hosts", "-x=1.2.3.4", "not a host name"},
		{"hosts", "x=1.2.3", "not an IP address"},
		{"hosts", "x=fe80::1%eth0", "not an IP address"},
	} {
		_, err := FromOptions(opts(map[string]string{tc.k: tc.v}))
		require.ErrorContains(t, err, tc.want, "%s=%s", tc.k, tc.v)
		require.ErrorContains(t, err, tc.k+"=", "the error names the option")
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "a.b", "web.dns.test.", "x-1.y_2", "A.B"} {
		require.True(t, validName(ok), ok)
	}
	long := ""
	for range 64 {
		long += "a"
	}
	for _, bad := range []string{"", ".", "a..b", "-a", "a-", "a b", long, "a/b"} {
		require.False(t, validName(bad), bad)
	}
}

func TestWithLease(t *testing.T) {
	c, err := FromOptions(opts(map[string]string{"net.dnsopts": "use-vc", "net.search": "lan.test"}))
	require.NoError(t, err)
	dns := []inet.Addr{{10, 0, 2, 3}, {10, 0, 2, 4}, {10, 0, 2, 5}, {10, 0, 2, 6}}
	got := withLease(c, "em0", "dhcp", dns)
	require.Equal(t, "# written by smpgo (net/resolv) from DHCP on em0\n"+
		"nameserver 10.0.2.3\nnameserver 10.0.2.4\nnameserver 10.0.2.5\n"+
		"search lan.test\noptions use-vc\n", string(got.ResolvConf()), "at most 3 servers, the options kept")
	for _, m := range []string{"static", "fallback"} {
		got = withLease(Config{}, "vtnet0", m, dns)
		require.Empty(t, got.Servers, m)
		require.Contains(t, got.Source, "vtnet0 ("+m+")")
	}
	got = withLease(Config{}, "em0", "dhcp", nil)
	require.Empty(t, got.Servers)
	require.Contains(t, string(got.ResolvConf()), "no name server in the lease")
}
