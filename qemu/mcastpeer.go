package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// The host side of NetNIC/Multicast (net/kstack) on a tap boot: the
// guest joins and leaves link-level groups and turns IFF_ALLMULTI and
// IFF_PROMISC on and off; for each round it asks for ("round N", a UDP
// datagram to McastControlPort), the host sends McastPerGroup datagrams
// to each of two groups — McastJoined (the guest joins it) and
// McastOther (it never does), their MTA hash bits different — then
// answers "sent N". The guest counts what reached its interface. "bye"
// ends it.

// McastReady is the guest's line that starts the host side.
const McastReady = "mcast: ready"

// Multicast test addresses and ports.
var (
	McastJoined = netip.MustParseAddr("239.1.2.3")
	McastOther  = netip.MustParseAddr("239.9.8.200")
)

const (
	McastControlPort = 5997 // the host's control port (guest → host)
	McastDataPort    = 5996 // the groups' destination port
	McastPerGroup    = 20   // datagrams per group per round
)

// McastPayload is datagram i of round r to group g.
func McastPayload(r, i int, g netip.Addr) []byte {
	return []byte(fmt.Sprintf("mcast round %d datagram %d to %s %s", r, i, g, strings.Repeat("x", i*13%200)))
}

// McastPeer returns a Config.Host function for a tap boot running
// NetNIC/Multicast (HostAfter McastReady).
func McastPeer() func(ctx context.Context, fwds []HostFwd, log io.Writer) error {
	return func(ctx context.Context, _ []HostFwd, log io.Writer) error {
		tap := TapFrom(ctx)
		if tap == nil {
			return errors.New("mcastpeer: needs a tap boot")
		}
		host := tap.Host.Addr()
		ctl, err := tap.ListenPacket("udp4", netip.AddrPortFrom(host, McastControlPort).String())
		if err != nil {
			return err
		}
		defer ctl.Close()
		pc, err := tap.ListenPacket("udp4", netip.AddrPortFrom(host, 0).String())
		if err != nil {
			return err
		}
		defer pc.Close()
		// Multicast leaves by the tap (the namespace has no route for
		// 224.0.0.0/4).
		if uc, ok := pc.(*net.UDPConn); ok {
			raw, err := uc.SyscallConn()
			if err != nil {
				return err
			}
			var serr error
			if err := raw.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInet4Addr(int(fd), syscall.IPPROTO_IP, syscall.IP_MULTICAST_IF, host.As4())
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("mcastpeer: IP_MULTICAST_IF: %w", serr)
			}
		}
		buf := make([]byte, 512)
		last := -1
		for {
			if dl, ok := ctx.Deadline(); ok {
				_ = ctl.SetReadDeadline(dl)
			}
			n, from, err := ctl.ReadFrom(buf)
			if err != nil {
				return fmt.Errorf("mcastpeer: control: %w (last round %d)", err, last)
			}
			msg := string(buf[:n])
			if msg == "bye" {
				_, _ = ctl.WriteTo([]byte("bye"), from)
				fmt.Fprintf(log, "mcastpeer: %d rounds\n", last)
				return nil
			}
			r, err := strconv.Atoi(strings.TrimPrefix(msg, "round "))
			if err != nil || !strings.HasPrefix(msg, "round ") {
				return fmt.Errorf("mcastpeer: bad control message %q", msg)
			}
			if r != last { // a repeated request (the answer was lost) is only answered
				if r != last+1 && last != -1 {
					return fmt.Errorf("mcastpeer: round %d after %d", r, last)
				}
				for i := 0; i < McastPerGroup; i++ {
					for _, g := range []netip.Addr{McastJoined, McastOther} {
						to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(g, McastDataPort))
						if _, err := pc.WriteTo(McastPayload(r, i, g), to); err != nil {
							return fmt.Errorf("mcastpeer: round %d: send to %s: %w", r, g, err)
						}
					}
				}
				last = r
			}
			if _, err := ctl.WriteTo([]byte(fmt.Sprintf("sent %d", r)), from); err != nil {
				return fmt.Errorf("mcastpeer: answer: %w", err)
			}
		}
	}
}

// withMcastPeer makes tap boot c run NetNIC/Multicast against McastPeer.
func withMcastPeer(c Config) Config {
	c.Tap = &TapConfig{}
	c.Host, c.HostAfter = McastPeer(), McastReady
	c.Append = TapGuestOptions + " SMPGO_MCASTPEER=1 " + c.Append
	return c
}
