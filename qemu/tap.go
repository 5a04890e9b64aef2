package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Tap networking: instead of QEMU's user network, a boot's NIC sits on a
// tap device inside a network namespace that Run creates for that boot
// alone and deletes when it ends (also on failure, timeout or cancel).
// QEMU runs inside the namespace (ip netns exec), so does the boot's host
// side (Config.Host: sockets made on threads that joined the namespace,
// TapFrom), and the peer of the guest is the Linux kernel's own stack on
// the tap's private address. Nothing outside the namespace is reachable:
// it has only its loopback and the tap.
//
// It needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and /dev/net/tun;
// without them the boot fails at once with a one-line reason.

// The tap's fixed addresses: every boot has its own namespace, so they
// never collide. TapGuestOptions gives the guest its static address.
var (
	TapHostAddr  = netip.MustParsePrefix("10.99.0.1/24") // the tap, inside the namespace
	TapGuestAddr = netip.MustParseAddr("10.99.0.2")
)

// TapGuestOptions is the kernel command line giving the first NIC the
// guest's tap address and the host as its gateway (no DHCP on a tap).
var TapGuestOptions = fmt.Sprintf("net.ip=%s/%d net.gw=%s", TapGuestAddr, TapHostAddr.Bits(), TapHostAddr.Addr())

// TapDev is the tap device's name inside its namespace.
const TapDev = "tap0"

// TapNSPrefix starts the name of every namespace Run creates:
// TapNSPrefix + PID + "-" + N, so that a namespace left by a process that
// died without cleaning up (SIGKILL) is recognised and deleted by the
// next boot.
const TapNSPrefix = "smpgo-tap-"

// MaxTapQueues bounds TapConfig.Queues.
const MaxTapQueues = 8

// netnsDir is where ip netns keeps its named namespaces.
const netnsDir = "/var/run/netns"

// TapConfig asks for tap networking (Config.Tap).
type TapConfig struct {
	// Queues is the number of queue pairs (default 1). More than one
	// needs NICVirtio: the tap is multi-queue and the device gets
	// mq=on with 2*Queues+2 MSI-X vectors.
	Queues int
}

func (t TapConfig) queues() int { return max(t.Queues, 1) }

// validate reports what QEMU could not use in t for nic.
func (t TapConfig) validate(nic string, fwds []string) error {
	switch {
	case nic != NICE1000 && nic != NICVirtio:
		return fmt.Errorf("qemu: -tap: needs a NIC (-nic e1000 or -nic virtio), not %s", nic)
	case len(fwds) > 0:
		return fmt.Errorf("qemu: -hostfwd %s: forwards are for user networking, not -tap", fwds[0])
	case t.Queues < 0 || t.Queues > MaxTapQueues:
		return fmt.Errorf("qemu: -tap queues %d: want 1 to %d", t.Queues, MaxTapQueues)
	case t.Queues > 1 && nic != NICVirtio:
		return fmt.Errorf("qemu: -tap queues %d: multiqueue needs -nic virtio", t.Queues)
	}
	return nil
}

// tapNICArgs returns the network arguments for nic on the tap.
func tapNICArgs(nic string, t TapConfig) []string {
	q := t.queues()
	netdev := "tap,id=n0,ifname=" + TapDev + ",script=no,downscript=no,vhost=off"
	dev := "e1000"
	if nic == NICVirtio {
		dev = "virtio-net-pci,disable-legacy=on"
	}
	if q > 1 {
		netdev += ",queues=" + strconv.Itoa(q)
		dev += fmt.Sprintf(",mq=on,vectors=%d", 2*q+2)
	}
	return []string{"-netdev", netdev, "-device", dev + ",netdev=n0"}
}

// tapSetup is the ip commands that make namespace ns with its tap, in
// order.
func tapSetup(ns string, t TapConfig) [][]string {
	tuntap := []string{"ip", "-n", ns, "tuntap", "add", "dev", TapDev, "mode", "tap"}
	if t.queues() > 1 {
		tuntap = append(tuntap, "multi_queue")
	}
	return [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		tuntap,
		{"ip", "-n", ns, "addr", "add", TapHostAddr.String(), "dev", TapDev},
		{"ip", "-n", ns, "link", "set", TapDev, "up"},
	}
}

// tapTeardown is the ip commands that delete namespace ns and its tap.
func tapTeardown(ns string) [][]string {
	return [][]string{
		{"ip", "-n", ns, "link", "del", TapDev},
		{"ip", "netns", "del", ns},
	}
}

// tapNSName is the namespace name for process pid's n-th boot.
func tapNSName(pid int, n int64) string { return fmt.Sprintf("%s%d-%d", TapNSPrefix, pid, n) }

// tapNSOwner returns the process that made namespace name, or false if
// the name is not one of Run's.
func tapNSOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, TapNSPrefix)
	if !ok {
		return 0, false
	}
	p, n, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return 0, false
	}
	if _, err := strconv.ParseInt(n, 10, 64); err != nil {
		return 0, false
	}
	return pid, true
}

// staleTapNS returns the namespaces among names that Run made in a
// process that is gone.
func staleTapNS(names []string, alive func(pid int) bool) []string {
	var out []string
	for _, n := range names {
		if pid, ok := tapNSOwner(n); ok && !alive(pid) {
			out = append(out, n)
		}
	}
	return out
}

// processAlive reports whether process pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// tapRunner runs one ip command; a variable so that host tests can
// record the commands instead.
var tapRunner = func(argv []string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// tapPreflight says in one line why tap networking cannot work here.
var tapPreflight = func() error {
	if os.Geteuid() != 0 {
		return errors.New("qemu: -tap: needs root (network namespaces and tap devices)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("qemu: -tap: no /dev/net/tun: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("qemu: -tap: no ip command (Debian package iproute2)")
	}
	return nil
}

var tapSeq atomic.Int64

// Tap is a boot's tap network while it runs: the host side gets it from
// its context (TapFrom) and makes its sockets inside the namespace
// through it.
type Tap struct {
	NS    string       // the network namespace
	Dev   string       // the tap device in it
	Host  netip.Prefix // the tap's address
	Guest netip.Addr   // the guest's address (TapGuestOptions)

	mu     sync.RWMutex
	closed bool           // (mu)
	work   chan func()    // run on threads inside the namespace
	wg     sync.WaitGroup // the threads
}

// tapWorkers is how many threads inside the namespace make sockets: a
// dial occupies one until it connects.
const tapWorkers = 8

// openTap creates a fresh namespace with its tap (deleting namespaces
// that processes now gone left behind first) and starts the threads that
// make sockets inside it. On error nothing is left.
func openTap(t TapConfig) (*Tap, error) {
	if err := tapPreflight(); err != nil {
		return nil, err
	}
	sweepStaleTapNS()
	ns := tapNSName(os.Getpid(), tapSeq.Add(1))
	tp := &Tap{NS: ns, Dev: TapDev, Host: TapHostAddr, Guest: TapGuestAddr, work: make(chan func())}
	for i, argv := range tapSetup(ns, t) {
		if err := tapRunner(argv); err != nil {
			if i > 0 { // the namespace exists
				tp.teardown()
			}
			return nil, fmt.Errorf("qemu: tap: %w", err)
		}
	}
	for i := 0; i < tapWorkers; i++ {
		if err := tp.startWorker(); err != nil {
			tp.Close()
			return nil, fmt.Errorf("qemu: tap: join %s: %w", ns, err)
		}
	}
	return tp, nil
}

// sweepStaleTapNS deletes the namespaces of Run's processes that died
// without deleting them.
func sweepStaleTapNS() {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	for _, ns := range staleTapNS(names, processAlive) {
		for _, argv := range tapTeardown(ns) {
			_ = tapRunner(argv)
		}
	}
}

// startWorker starts a goroutine on a thread of its own that joined the
// namespace. The thread stays locked to it and ends with it: Go never
// reuses a thread whose goroutine exits locked.
func (tp *Tap) startWorker() error {
	ready := make(chan error, 1)
	tp.wg.Add(1)
	go func() {
		defer tp.wg.Done()
		runtime.LockOSThread() // never unlocked: the thread is in the namespace
		if err := setNetns(filepath.Join(netnsDir, tp.NS)); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for fn := range tp.work {
			fn()
		}
	}()
	return <-ready
}

// setNetns moves the calling thread into the network namespace at path.
func setNetns(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, e := syscall.RawSyscall(sysSetns, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
		return fmt.Errorf("setns: %w", e)
	}
	return nil
}

var errTapClosed = errors.New("qemu: tap: the boot's network is gone")

// Do runs fn on a thread inside the namespace: sockets it creates belong
// to the namespace (and may then be used from any goroutine).
func (tp *Tap) Do(fn func()) error {
	tp.mu.RLock()
	if tp.closed {
		tp.mu.RUnlock()
		return errTapClosed
	}
	done := make(chan struct{})
	tp.work <- func() { defer close(done); fn() }
	tp.mu.RUnlock()
	<-done
	return nil
}

// Dial connects inside the namespace (net.Dialer.DialContext).
func (tp *Tap) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	var err error
	if e := tp.Do(func() {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
	}); e != nil {
		return nil, e
	}
	return c, err
}

// Listen opens a listener inside the namespace.
func (tp *Tap) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	var err error
	if e := tp.Do(func() { l, err = net.Listen(network, addr) }); e != nil {
		return nil, e
	}
	return l, err
}

// ListenPacket opens a packet socket inside the namespace.
func (tp *Tap) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	var err error
	if e := tp.Do(func() { c, err = net.ListenPacket(network, addr) }); e != nil {
		return nil, e
	}
	return c, err
}

// Close stops the namespace's threads and deletes the tap and the
// namespace. QEMU must be gone (a process inside keeps the namespace).
func (tp *Tap) Close() error {
	tp.mu.Lock()
	if tp.closed {
		tp.mu.Unlock()
		return nil
	}
	tp.closed = true
	close(tp.work)
	tp.mu.Unlock()
	tp.wg.Wait()
	return tp.teardown()
}

// teardown deletes the tap and the namespace; the namespace's deletion
// decides.
func (tp *Tap) teardown() error {
	var err error
	for _, argv := range tapTeardown(tp.NS) {
		err = tapRunner(argv)
	}
	if err != nil {
		return fmt.Errorf("qemu: tap: %w", err)
	}
	return nil
}

type tapKey struct{}

// TapFrom returns the boot's tap network from the host side's context,
// or nil when the boot uses user networking.
func TapFrom(ctx context.Context) *Tap {
	tp, _ := ctx.Value(tapKey{}).(*Tap)
	return tp
}

// tapCommand wraps QEMU's command line so that QEMU runs inside ns.
func tapCommand(ns, bin string, args []string) (string, []string) {
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "ip"
	}
	return ip, append([]string{"netns", "exec", ns, bin}, args...)
}
