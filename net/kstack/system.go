package kstack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/lock"
	netif "github.com/smpgo/smpgo/net/if"
	"github.com/smpgo/smpgo/net/inet"
	"github.com/smpgo/smpgo/net/netisr"
	"github.com/smpgo/smpgo/net/nlock"
	"github.com/smpgo/smpgo/net/sock"
	"github.com/smpgo/smpgo/net/wire"
)

// The system's stack: one inet.Stack that every Ethernet NIC joins as its
// driver attaches it (netif.OnAttach: em0 from drivers/e1000, vtnet0 from
// virtio-net, whatever appears; software links marked Pseudo are left to
// their tests), configured by DHCP from QEMU's user network or statically
// from the command line, with the kernel's services on top (services.go).
// It is also the stack of the socket system calls (net/sock.SetStack), so
// Go's net in the kernel and in applications reaches the NICs; its
// loopback interface keeps 127.0.0.1 working with or without a NIC.
//
// Boot options (kern.RegisterOption):
//
//	net=on|off          bring the stack up at boot (default on)
//	net.giant=0|1       the whole stack under lock.Giant (default 0: fine-grained)
//	net.isr=direct|queued  netisr dispatch of received frames (default direct)
//	net.ip=dhcp|A.B.C.D/N  the first NIC's address (default dhcp)
//	net.gw=A.B.C.D      default gateway with a static net.ip
//	net.services=on|off the kernel's services (echo, discard, chargen, the
//	                    status page on 80); default on for the kernel's
//	                    image, off for applications (kern.App), whose
//	                    own net.Listen(":80") must find the port free
//	net.csum=on|off     checksum offloads the NICs offer (default on; off:
//	                    the stack computes and verifies every checksum;
//	                    implies no TSO)
//	net.tso=on|off      TCP segmentation offload where the NIC offers it
//	                    (default on; off: TCP hands the NICs MSS-sized
//	                    segments only)
//	net.hostpeer=1      the harness runs host-side code against the services
//	                    (NetNIC/HostPeer waits for it)
//
// DHCP that gets no lease within dhcpWait falls back to QEMU's user-network
// defaults (10.0.2.15/24, gateway 10.0.2.2), and says so.

// Slirp's fixed addresses (QEMU user networking).
var (
	SlirpGuest   = wire.MustAddr("10.0.2.15")
	SlirpGateway = wire.MustAddr("10.0.2.2")
)

const dhcpWait = 20 * time.Second

// NetConfig is the parsed boot configuration.
type NetConfig struct {
	Off      bool
	Giant    bool
	Queued   bool
	StaticIP netip.Prefix // invalid: DHCP
	Gateway  wire.Addr    // with StaticIP
	HostPeer bool
	// CsumOff turns the NICs' checksum offloads off (net.csum=off).
	CsumOff bool
	// TSOOff turns the NICs' TCP segmentation offload off (net.tso=off;
	// net.csum=off does too: TSO needs IFCAP_TXCSUM).
	TSOOff bool
	// Services is "on", "off" or "" (not given: on for the kernel's
	// image, off for applications; see ServicesOn).
	Services string
}

// ServicesOn reports whether the kernel's services run: as asked, else
// in the kernel's own image only (app is kern.App()).
func (c NetConfig) ServicesOn(app bool) bool {
	if c.Services != "" {
		return c.Services == "on"
	}
	return !app
}

// ParseNetConfig reads the net options from a parsed command line's
// values (kern.BootOption).
func ParseNetConfig(get func(string) (string, bool)) (NetConfig, error) {
	var c NetConfig
	if v, ok := get("net"); ok {
		c.Off = v == "off"
	}
	if v, ok := get("net.giant"); ok {
		c.Giant = v == "1"
	}
	if v, ok := get("net.isr"); ok {
		c.Queued = v == "queued"
	}
	if v, ok := get("net.ip"); ok && v != "dhcp" {
		p, err := parseIPPrefix(v)
		if err != nil {
			return c, err
		}
		c.StaticIP = p
	}
	if v, ok := get("net.gw"); ok {
		a, err := parseIPv4(v)
		if err != nil {
			return c, err
		}
		c.Gateway = a
	}
	if v, ok := get("net.hostpeer"); ok {
		c.HostPeer = v == "1"
	}
	if v, ok := get("net.csum"); ok {
		c.CsumOff = v == "off"
	}
	if v, ok := get("net.tso"); ok {
		c.TSOOff = v == "off"
	}
	if v, ok := get("net.services"); ok {
		c.Services = v
	}
	return c, nil
}

func parseIPv4(v string) (wire.Addr, error) {
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() || a.IsUnspecified() {
		return wire.Addr{}, fmt.Errorf("%q is not an IPv4 address", v)
	}
	return a.As4(), nil
}

func parseIPPrefix(v string) (netip.Prefix, error) {
	if !strings.Contains(v, "/") {
		v += "/24"
	}
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() || p.Addr().IsUnspecified() || p.Bits() < 1 || p.Bits() > 32 {
		return netip.Prefix{}, fmt.Errorf("%q is not A.B.C.D or A.B.C.D/N", v)
	}
	return p, nil
}

func oneOf(vals ...string) func(string) error {
	return func(v string) error {
		for _, x := range vals {
			if v == x {
				return nil
			}
		}
		return errors.New("want one of " + strings.Join(vals, ", "))
	}
}

func init() {
	kern.RegisterOption(kern.OptionSpec{Name: "net", Help: "on|off: the network stack on the NICs, and its services", Check: oneOf("on", "off")})
	kern.RegisterOption(kern.OptionSpec{Name: "net.giant", Help: "0|1: run the stack under Giant", Check: oneOf("0", "1")})
	kern.RegisterOption(kern.OptionSpec{Name: "net.isr", Help: "direct|queued: netisr dispatch of received frames", Check: oneOf("direct", "queued")})
	kern.RegisterOption(kern.OptionSpec{Name: "net.ip", Help: "dhcp|A.B.C.D[/N]: the first NIC's address", Check: func(v string) error {
		if v == "dhcp" {
			return nil
		}
		_, err := parseIPPrefix(v)
		return err
	}})
	kern.RegisterOption(kern.OptionSpec{Name: "net.gw", Help: "A.B.C.D: default gateway with a static net.ip", Check: func(v string) error {
		_, err := parseIPv4(v)
		return err
	}})
	kern.RegisterOption(kern.OptionSpec{Name: "net.services", Help: "on|off: the kernel's echo, discard, chargen and status-page services (default on, off in applications)", Check: oneOf("on", "off")})
	kern.RegisterOption(kern.OptionSpec{Name: "net.csum", Help: "on|off: the NICs' checksum offloads (off: the stack computes and verifies every checksum)", Check: oneOf("on", "off")})
	kern.RegisterOption(kern.OptionSpec{Name: "net.tso", Help: "on|off: TCP segmentation offload where the NIC offers it (net.csum=off turns it off too)", Check: oneOf("on", "off")})
	kern.RegisterOption(kern.OptionSpec{Name: "net.hostpeer", Help: "0|1: the harness's host side dials the services (NetNIC/HostPeer)", Check: oneOf("0", "1")})
	kern.RegisterStartup(kern.Startup{Name: "net", Fn: bootNet})
	// One Giant: the interface layer's (non-MPSAFE drivers' deferred
	// transmit) is the kernel's, with the network on or off.
	if nlock.InKernel() {
		netif.SetGiant(lock.Giant)
	}
}

// System is the kernel's stack on its NICs.
type System struct {
	Stack    *inet.Stack
	ISR      *netisr.Netisr // nil with direct dispatch
	Config   NetConfig
	Services *Services // nil when the services are off (net.services)

	mu  sync.Mutex
	ifs map[string]*IfConf // by interface name (mu)
	n   int                // Ethernet interfaces joined (mu)
}

// IfConf is how one NIC was configured.
type IfConf struct {
	Ifp    *netif.Interface
	Method string // "dhcp", "static", "fallback" (no DHCP answer)
	Lease  inet.Lease
	Err    error
	Done   chan struct{} // closed once configured (or failed)
}

var (
	sysMu sync.Mutex
	sys   *System // (sysMu)
)

// Sys returns the system's stack, or nil (net=off, or not started).
func Sys() *System {
	sysMu.Lock()
	defer sysMu.Unlock()
	return sys
}

func bootNet() {
	cfg, err := ParseNetConfig(kern.BootOption)
	if err != nil {
		fmt.Println("smpgo: net:", err)
		return
	}
	if cfg.Off {
		fmt.Println("smpgo: net: off")
		return
	}
	s, err := StartSystem(cfg, cfg.ServicesOn(kern.App()))
	if err != nil {
		fmt.Println("smpgo: net:", err)
		return
	}
	sysMu.Lock()
	sys = s
	sysMu.Unlock()
	// Sockets made from now on (Go's net, in the kernel and in the
	// application) live on this stack: its NICs and its loopback.
	sock.SetStack(s.Stack)
	netif.OnAttach(s.attach)
}

// StartSystem creates the system's stack (Giant mode on lock.Giant, the
// one Giant the non-MPSAFE drivers and the rest of the kernel share) and,
// with services, starts the kernel's services on every address.
// Interfaces join through attach.
func StartSystem(cfg NetConfig, services bool) (*System, error) {
	s := &System{Config: cfg, ifs: map[string]*IfConf{}}
	c := inet.Config{CPU: kern.CPUID, Giant: cfg.Giant, GiantLock: lock.Giant}
	if cfg.Queued {
		s.ISR = NewNetisr()
		c.Netisr, c.NetisrMode, c.NetisrPolicy = s.ISR, netisr.Queued, netisr.PolicyFlow
	}
	st, err := inet.New(c)
	if err != nil {
		return nil, err
	}
	s.Stack = st
	if !services {
		fmt.Println("smpgo: net: services off (net.services=on starts them)")
		return s, nil
	}
	if s.Services, err = StartServices(st); err != nil {
		st.Close()
		return nil, err
	}
	return s, nil
}

// attach is the netif.OnAttach listener: Ethernet NICs join the stack and
// are configured in the background (the driver's attach must not wait for
// DHCP).
func (s *System) attach(ifp *netif.Interface) {
	if ifp.Type() != netif.IFT_ETHER || ifp.Pseudo() {
		return
	}
	s.mu.Lock()
	if _, dup := s.ifs[ifp.Name()]; dup {
		s.mu.Unlock()
		return
	}
	ic := &IfConf{Ifp: ifp, Done: make(chan struct{})}
	s.ifs[ifp.Name()] = ic
	first := s.n == 0
	s.n++
	s.mu.Unlock()
	if s.Config.CsumOff {
		ifp.SetCapEnable(ifp.CapEnable() &^ (netif.IFCAP_RXCSUM | netif.IFCAP_TXCSUM))
	}
	if s.Config.TSOOff {
		ifp.SetCapEnable(ifp.CapEnable() &^ netif.IFCAP_TSO4)
	}
	if err := s.Stack.AddInterface(ifp); err != nil {
		ic.Err = err
		close(ic.Done)
		fmt.Printf("smpgo: net: %s: %v\n", ifp.Name(), err)
		return
	}
	go s.configure(ic, first)
}

func (s *System) configure(ic *IfConf, first bool) {
	defer close(ic.Done)
	ifp, st := ic.Ifp, s.Stack
	if first && s.Config.StaticIP.IsValid() {
		ic.Method = "static"
		p := s.Config.StaticIP
		if ic.Err = st.SetAddr(ifp, p.Addr().As4(), p.Bits()); ic.Err == nil && !s.Config.Gateway.IsUnspecified() {
			ic.Err = st.SetDefaultGateway(s.Config.Gateway)
		}
		ic.Lease = inet.Lease{Addr: p.Addr().As4(), Prefix: p.Bits(), Router: s.Config.Gateway}
		s.report(ic)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), dhcpWait)
	defer cancel()
	l, err := st.DHCP(ctx, ifp)
	if err == nil {
		ic.Method, ic.Lease = "dhcp", l
		s.report(ic)
		return
	}
	// No lease: QEMU's user-network defaults, on the first NIC only.
	ic.Method = "fallback"
	if !first {
		ic.Err = fmt.Errorf("DHCP: %w", err)
		s.report(ic)
		return
	}
	ic.Lease = inet.Lease{Addr: SlirpGuest, Prefix: 24, Router: SlirpGateway}
	if ic.Err = st.SetAddr(ifp, SlirpGuest, 24); ic.Err == nil {
		ic.Err = st.SetDefaultGateway(SlirpGateway)
	}
	s.report(ic)
}

func (s *System) report(ic *IfConf) {
	if ic.Err != nil {
		fmt.Printf("smpgo: net: %s: %s: %v\n", ic.Ifp.Name(), ic.Method, ic.Err)
		return
	}
	mode := "fine-grained"
	if s.Config.Giant {
		mode = "Giant"
	}
	fmt.Printf("smpgo: net: %s %s %s/%d gateway %s (%s, %s)\n", ic.Ifp.Name(), ic.Ifp.MAC(), ic.Lease.Addr,
		ic.Lease.Prefix, ic.Lease.Router, ic.Method, mode)
}

// Interfaces returns the NICs' configurations, in name order.
func (s *System) Interfaces() []*IfConf {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*IfConf, 0, len(s.ifs))
	for _, ic := range s.ifs {
		out = append(out, ic)
	}
	sortIfConfs(out)
	return out
}

func sortIfConfs(l []*IfConf) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].Ifp.Index() < l[j-1].Ifp.Index(); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// WaitConfigured waits up to timeout for the first NIC to join and be
// configured, and returns its configuration (nil if no NIC appeared).
func (s *System) WaitConfigured(timeout time.Duration) *IfConf {
	deadline := time.Now().Add(timeout)
	for {
		if l := s.Interfaces(); len(l) > 0 {
			select {
			case <-l[0].Done:
				return l[0]
			case <-time.After(time.Until(deadline)):
				return l[0]
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Mode names the locking mode.
func (s *System) Mode() string {
	if s.Config.Giant {
		return "Giant"
	}
	return "fine-grained"
}
