package resolv

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/dnstest"
)

// DNS/Guestfwd: the boot's /etc/resolv.conf (net.dns=, `options use-vc
// single-request`) names a DNS server on the host that slirp's guestfwd
// reaches (qemu.GuestDNSServer, the only way out under restrict=on); Go's
// resolver asks it over TCP, and net/http fetches from the host's HTTP
// server by a name DNS gives. Without the harness's server it logs that
// and passes.
func init() {
	kern.RegisterTest(kern.Test{Name: "DNS/Guestfwd", Fn: testGuestfwd, Timeout: 10 * time.Minute})
}

// Environment words the harness sets (qemu.GuestDNSEnv, qemu.GuestHTTPEnv).
const (
	dnsServerEnv  = "DNS_HOSTSERVER"
	httpServerEnv = "SOCK_HOSTSERVER"
)

func testGuestfwd(t *kern.T) {
	srv := os.Getenv(dnsServerEnv)
	if srv == "" {
		t.Logf("no host DNS server (%s unset): nothing to test", dnsServerEnv)
		return
	}
	conf, err := os.ReadFile(ResolvConfPath)
	if err != nil || !bytes.Contains(conf, []byte("options use-vc")) {
		t.Fatalf("%s = %q, %v; want the boot's net.dns with use-vc", ResolvConfPath, conf, err)
	}
	// Earlier DNS/ tests swapped the file and put it back: wait until Go's
	// resolver reads the boot's again.
	waitUntil(t, "the host's server through guestfwd", func() bool {
		a, err := lookup(dnstest.NameWeb)
		return err == nil && len(a) == 1 && a[0] == webAddr.String()
	})
	CheckZone(t, nil)

	// A name in the hosts file (hosts=) asks no DNS server; the host's
	// server counts what it got (its log line).
	if a, err := lookup("static.dns.test"); err != nil || !slices.Equal(a, []string{webAddr.String()}) {
		t.Errorf("LookupHost(static.dns.test) = %v, %v; want %s from hosts=", a, err, webAddr)
	}

	// Latency: LookupHost (A then AAAA: two connections through
	// guestfwd) and LookupIP("ip4") (one).
	measure := func(what string, fn func() error) {
		var ds []time.Duration
		for range 20 {
			start := time.Now()
			if err := fn(); err != nil {
				t.Errorf("%s: %v", what, err)
				return
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		t.Logf("%s through guestfwd: median %v, p90 %v, max %v (20 lookups)", what,
			ds[len(ds)/2].Round(time.Microsecond), ds[len(ds)*9/10].Round(time.Microsecond), ds[len(ds)-1].Round(time.Microsecond))
	}
	measure("LookupHost "+dnstest.NameDual, func() error {
		a, err := lookup(dnstest.NameDual)
		if err == nil && len(a) != 2 {
			err = fmt.Errorf("%v: want 2 addresses", a)
		}
		return err
	})
	measure("LookupIP ip4 "+dnstest.NameMulti, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupIP(ctx, "ip4", dnstest.NameMulti)
		if err == nil && len(ips) != 3 {
			err = fmt.Errorf("%v: want 3 addresses", ips)
		}
		return err
	})

	// net/http by name: DNS's web.dns.test and the hosts file's
	// static.dns.test both lead to the host's HTTP server.
	hs := os.Getenv(httpServerEnv)
	if hs == "" {
		t.Logf("no host HTTP server (%s unset): no GET by name", httpServerEnv)
		return
	}
	_, port, err := net.SplitHostPort(hs)
	if err != nil {
		t.Fatalf("%s=%q: %v", httpServerEnv, hs, err)
	}
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	for i, host := range []string{"web.dns.test", "static.dns.test"} {
		seed := uint64(20 + i)
		url := fmt.Sprintf("http://%s/blob?bytes=%d&seed=%d", net.JoinHostPort(host, port), 64<<10, seed)
		resp, err := client.Get(url)
		if err != nil {
			t.Errorf("GET %s: %v", url, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		// One guest connection to the forward at a time: slirp carries
		// them all over one host connection (two names are two
		// connections to the Transport, and the first would stay open
		// idle beside the second).
		tr.CloseIdleConnections()
		want := make([]byte, 64<<10)
		_, _ = rand.NewChaCha8(patternSeed(seed)).Read(want)
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			t.Errorf("GET %s: %s, %d bytes, %v; want 200 and the %d-byte pattern %d", url, resp.Status, len(body), err, len(want), seed)
			continue
		}
		t.Logf("GET %s: %d bytes, every one checked", url, len(body))
	}
}

// patternSeed is qemu.PatternSeed: the ChaCha8 seed of pattern stream s.
func patternSeed(s uint64) [32]byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], s)
	copy(seed[8:], "smpgo pattern stream")
	return seed
}
