package resolv

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/fs/kfs"
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/net/inet"
	"github.com/smpgo/smpgo/net/kstack"
)

// The files Go's resolver reads.
const (
	ResolvConfPath = "/etc/resolv.conf"
	NSSwitchPath   = "/etc/nsswitch.conf"
	HostsPath      = "/etc/hosts"
)

// leaseWait bounds the wait for the first NIC's DHCP lease (kstack waits
// 20 s for DHCP before falling back to static addresses).
const leaseWait = 40 * time.Second

func init() {
	kern.RegisterOption(kern.OptionSpec{Name: "net.dns", List: true, Help: "A.B.C.D[,...]: name servers for /etc/resolv.conf (default: the DHCP lease's)",
		Check: (func(v string) error { _, err := ParseServers(v); return err })})
	kern.RegisterOption(kern.OptionSpec{Name: "net.dnsopts", List: true, Help: "OPT[,...]: resolv.conf options (use-vc, single-request, timeout:N, attempts:N, ndots:N, ...)",
		Check: (func(v string) error { _, err := ParseOptions(v); return err })})
	kern.RegisterOption(kern.OptionSpec{Name: "net.search", List: true, Help: "DOMAIN[,...]: the resolver's search list",
		Check: (func(v string) error { _, err := ParseSearch(v); return err })})
	kern.RegisterOption(kern.OptionSpec{Name: "hosts", List: true, Help: "NAME=ADDR[,...]: static /etc/hosts entries",
		Check: (func(v string) error { _, err := ParseHosts(v); return err })})
	// nsswitch.conf is there from the start (a file seeded later, from a
	// boot module, replaces it).
	if err := writeFile(NSSwitchPath, []byte(NSSwitch)); err != nil {
		panic("resolv: " + err.Error())
	}
	kern.RegisterStartup(kern.Startup{Name: "resolv", Fn: boot})
}

var (
	mu     sync.Mutex
	status = "not configured" // (mu) for the shell and the self-tests
)

// Status says how /etc/resolv.conf was made.
func Status() string {
	mu.Lock()
	defer mu.Unlock()
	return status
}

func setStatus(s string) {
	mu.Lock()
	status = s
	mu.Unlock()
	fmt.Println("smpgo: resolv:", s)
}

func boot() {
	c, err := FromOptions(kern.BootOption)
	if err != nil {
		setStatus(err.Error())
		return
	}
	if len(c.Hosts) > 0 {
		if err := AddHosts(c.Hosts); err != nil {
			fmt.Println("smpgo: resolv: /etc/hosts:", err)
		}
	}
	if len(c.Servers) > 0 {
		write(c)
		return
	}
	// No net.dns: the DHCP lease's servers, once there is one, unless a
	// resolv.conf is already there (seeded from a boot module).
	if exists(ResolvConfPath) {
		setStatus(ResolvConfPath + " given; no net.dns")
		return
	}
	s := kstack.Sys()
	// NICs join the stack as the PCI probe (an earlier start-up hook)
	// attaches them: none by now means none at all.
	if s == nil || len(s.Interfaces()) == 0 {
		if len(c.Options) > 0 || len(c.Search) > 0 {
			c.Source = "the command line (no name server: Go's resolver asks 127.0.0.1)"
			write(c)
			return
		}
		setStatus("no NIC, no net.dns: no " + ResolvConfPath + " (Go's resolver asks 127.0.0.1)")
		return
	}
	go func() {
		ic := s.WaitConfigured(leaseWait)
		if ic != nil {
			select {
			case <-ic.Done:
			default:
				ic = nil
			}
		}
		if ic == nil {
			c.Source = "no DHCP lease (no name server: Go's resolver asks 127.0.0.1)"
		} else {
			c = withLease(c, ic.Ifp.Name(), ic.Method, ic.Lease.DNS)
		}
		if exists(ResolvConfPath) {
			setStatus(ResolvConfPath + " appeared meanwhile; left alone")
			return
		}
		write(c)
	}()
}

func write(c Config) {
	if err := writeFile(ResolvConfPath, c.ResolvConf()); err != nil {
		setStatus(fmt.Sprintf("writing %s: %v", ResolvConfPath, err))
		return
	}
	setStatus(fmt.Sprintf("%s from %s: %d name server(s) %v, options %v, search %v", ResolvConfPath, c.Source, len(c.Servers), c.Servers, c.Options, c.Search))
}

func exists(path string) bool {
	_, err := kfs.FS.Lookup(kfs.FS.Root(), path)
	return err == nil
}

// AddHosts appends entries to /etc/hosts (creating it if absent).
func AddHosts(hs []Host) error {
	old, err := readFile(HostsPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	return writeFile(HostsPath, append(old, Config{Hosts: hs}.HostsLines()...))
}

// writeFile replaces path with data at once (a temporary file renamed
// over it), so that a reader sees the old file or the new one, never a
// part.
func writeFile(path string, data []byte) error {
	tmp := path + ".smpgo-new"
	if err := kfs.FS.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	root := kfs.FS.Root()
	return kfs.FS.Rename(root, tmp, root, path, false)
}

func readFile(path string) ([]byte, error) {
	f, err := kfs.FS.Open(kfs.FS.Root(), path, 0, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, fs.ErrNotExist
		}
		return nil, err
	}
	defer f.Close()
	var out []byte
	buf := make([]byte, 4096)
	for {
		// memfs reads give 0 and no error at the end (read(2)'s way).
		n, err := f.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return out, nil
		}
	}
}

// withLease completes c (no net.dns) with the name servers of the first
// NIC's lease (method "dhcp"; "static" and "fallback" have none).
func withLease(c Config, ifname, method string, dns []inet.Addr) Config {
	if method == "dhcp" && len(dns) > 0 {
		for _, a := range dns[:min(len(dns), MaxServers)] {
			c.Servers = append(c.Servers, netip.AddrFrom4(a))
		}
		c.Source = "DHCP on " + ifname
		return c
	}
	// QEMU's user network with restrict=on leaves the DNS option (and
	// the router) out of its lease.
	c.Source = fmt.Sprintf("%s (%s): no name server in the lease (Go's resolver asks 127.0.0.1)", ifname, method)
	return c
}
