package kstack

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/smpgo/smpgo/kern"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/mbuf"
)

// NetNIC/Multicast: the NIC's receive filter against a host that sends
// to two groups (qemu.McastPeer, tap boots with SMPGO_MCASTPEER=1; the
// constants below are qemu's McastJoined, McastOther, McastControlPort,
// McastDataPort, McastPerGroup and McastPayload). Rounds:
//
//  1. joined 239.1.2.3 twice: its datagrams arrive, 239.9.8.200's do not
//  2. left once (one reference left): the same
//  3. left again: neither arrives
//  4. IFF_ALLMULTI: both arrive
//  5. IFF_PROMISC: both arrive
//  6. neither flag: neither arrives
//
// "Arrive" is counted where the interface hands frames to the stack (an
// input tap), so a frame the filter let through is seen whatever the
// stack does with it; every one's payload is checked.
func init() {
	kern.RegisterTest(kern.Test{Name: "NetNIC/Multicast", Fn: checkedSys(testMulticast), Timeout: 3 * time.Minute})
}

var (
	mcastJoined = netip.MustParseAddr("239.1.2.3")
	mcastOther  = netip.MustParseAddr("239.9.8.200")
)

const (
	mcastControlPort = 5997
	mcastDataPort    = 5996
	mcastPerGroup    = 20
)

func mcastPayload(r, i int, g netip.Addr) []byte {
	return []byte(fmt.Sprintf("mcast round %d datagram %d to %s %s", r, i, g, strings.Repeat("x", i*13%200)))
}

// groupMAC is an IPv4 group's Ethernet address (RFC 1112 §6.4).
func groupMAC(g netip.Addr) netif.HWAddr {
	a := g.As4()
	return netif.HWAddr{0x01, 0x00, 0x5e, a[1] & 0x7f, a[2], a[3]}
}

// mcastTap counts the test's datagrams per round and group.
type mcastTap struct {
	mu  sync.Mutex
	got map[[2]int]int // {round, 0 joined / 1 other} → datagrams
	bad []string
}

func (c *mcastTap) input(prev netif.InputFunc) netif.InputFunc {
	return func(ifp *netif.Interface, m *mbuf.Mbuf) {
		c.look(m.Linearize())
		if prev != nil {
			prev(ifp, m)
			return
		}
		m.FreeChain()
	}
}

func (c *mcastTap) look(f []byte) {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[14+9] != 17 {
		return
	}
	ip := f[14:]
	hl := int(ip[0]&0xf) * 4
	if len(ip) < hl+8 || binary.BigEndian.Uint16(ip[hl+2:]) != mcastDataPort {
		return
	}
	dst := netip.AddrFrom4([4]byte(ip[16:20]))
	which := 0
	if dst == mcastOther {
		which = 1
	} else if dst != mcastJoined {
		return
	}
	var dmac netif.HWAddr
	copy(dmac[:], f[0:6])
	payload := ip[hl+8 : min(len(ip), int(binary.BigEndian.Uint16(ip[2:])))]
	var r, i int
	var g string
	_, err := fmt.Sscanf(string(payload), "mcast round %d datagram %d to %s", &r, &i, &g)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case dmac != groupMAC(dst):
		c.bad = append(c.bad, fmt.Sprintf("to %s with destination MAC %s", dst, dmac))
	case err != nil || !bytes.Equal(payload, mcastPayload(r, i, dst)):
		c.bad = append(c.bad, fmt.Sprintf("to %s: payload %.40q", dst, payload))
	default:
		c.got[[2]int{r, which}]++
	}
}

func (c *mcastTap) count(r, which int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[[2]int{r, which}]
}

func testMulticast(t *kern.T) {
	if os.Getenv("SMPGO_MCASTPEER") != "1" {
		t.Logf("no host multicast sender (a tap boot with SMPGO_MCASTPEER=1, qemu.McastPeer): nothing to test")
		return
	}
	s, ic := nicOrSkip(t)
	if ic == nil {
		t.Fatalf("SMPGO_MCASTPEER=1 but no NIC")
	}
	ifp := ic.Ifp
	gj := groupMAC(mcastJoined)
	if err := ifp.JoinMulticast(gj); err != nil {
		t.Fatalf("%s: join %s: %v", ifp.Name(), gj, err)
	}
	if err := ifp.JoinMulticast(gj); err != nil {
		t.Fatalf("%s: join %s again: %v", ifp.Name(), gj, err)
	}
	tap := &mcastTap{got: map[[2]int]int{}}
	prev := ifp.InputFunc()
	ifp.SetInput(tap.input(prev))
	defer ifp.SetInput(prev)
	flags0 := ifp.Flags()
	defer func() {
		_ = ifp.SetFlags(flags0)
		for ifp.MulticastRefs(gj) > 0 {
			_ = ifp.LeaveMulticast(gj)
		}
	}()
	host := netip.AddrPortFrom(ic.Lease.Router.Netip(), mcastControlPort)
	ctl, err := s.Stack.DialUDP(host)
	if err != nil {
		t.Fatalf("control socket: %v", err)
	}
	defer ctl.Close()
	fmt.Println("mcast: ready")
	// ask sends msg until the host answers want (it may start late: the
	// harness starts it on the ready line).
	ask := func(msg, want string) {
		buf := make([]byte, 64)
		for try := 0; try < 60; try++ {
			if _, err := ctl.Write([]byte(msg)); err != nil {
				t.Fatalf("control %q: %v", msg, err)
			}
			_ = ctl.SetReadDeadline(time.Now().Add(time.Second))
			for {
				n, err := ctl.Read(buf)
				if err != nil {
					break
				}
				if string(buf[:n]) == want {
					return
				}
			}
		}
		t.Fatalf("the host never answered %q", msg)
	}
	rounds := []struct {
		what          string
		before        func() error
		joined, other bool
	}{
		{"joined twice", nil, true, false},
		{"left once (one reference left)", func() error { return ifp.LeaveMulticast(gj) }, true, false},
		{"left", func() error { return ifp.LeaveMulticast(gj) }, false, false},
		{"IFF_ALLMULTI", func() error { return ifp.SetFlags(ifp.Flags() | netif.IFF_ALLMULTI) }, true, true},
		{"IFF_PROMISC", func() error { return ifp.SetFlags(ifp.Flags()&^netif.IFF_ALLMULTI | netif.IFF_PROMISC) }, true, true},
		{"neither", func() error { return ifp.SetFlags(ifp.Flags() &^ (netif.IFF_ALLMULTI | netif.IFF_PROMISC)) }, false, false},
	}
	var summary []string
	for i, rd := range rounds {
		r := i + 1
		if rd.before != nil {
			if err := rd.before(); err != nil {
				t.Fatalf("round %d (%s): %v", r, rd.what, err)
			}
		}
		ask(fmt.Sprintf("round %d", r), fmt.Sprintf("sent %d", r))
		want := func(b bool) int {
			if b {
				return mcastPerGroup
			}
			return 0
		}
		// The answer came after the datagrams over the same link; give
		// the expected ones a bounded while to be counted, then a
		// moment for any unexpected ones.
		deadline := time.Now().Add(10 * time.Second)
		for (tap.count(r, 0) < want(rd.joined) || tap.count(r, 1) < want(rd.other)) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		gotJ, gotO := tap.count(r, 0), tap.count(r, 1)
		if gotJ != want(rd.joined) || gotO != want(rd.other) {
			t.Errorf("round %d (%s): %d datagrams to %s and %d to %s reached %s, want %d and %d",
				r, rd.what, gotJ, mcastJoined, gotO, mcastOther, ifp.Name(), want(rd.joined), want(rd.other))
		}
		summary = append(summary, fmt.Sprintf("%s %d/%d", rd.what, gotJ, gotO))
	}
	ask("bye", "bye")
	tap.mu.Lock()
	bad := tap.bad
	tap.mu.Unlock()
	for _, b := range bad {
		t.Errorf("bad datagram %s", b)
	}
	t.Logf("%s: %d per group per round; received (joined/other): %s", ifp.Name(), mcastPerGroup, strings.Join(summary, ", "))
}
