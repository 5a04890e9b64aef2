package witness

// GiantName is the class name of Giant. Giant has FreeBSD's special rules
// (subr_witness.c, "Special rules concerning Giant"): it must be acquired
// before any non-sleepable lock (acquiring Giant with a mutex held is a
// reversal), and it may be acquired before or after sleepable locks, since
// it is dropped whenever its holder sleeps.
const GiantName = "Giant"

// Order is the lock order, written once, as data, like subr_witness.c's
// order_lists: each list names classes outermost first, and every class must
// be acquired before the ones after it in the same list. New() enrolls these
// edges before any lock is taken, so a declared order is enforced the first
// time it is violated, not only after the right order has been seen.
//
// Keep each list within one lock type (spin or blocking): sleep locks always
// come before spin locks anyway, enforced by the critical-section check. A
// class named here but not yet registered by the lock package shows as
// "unregistered" in ShowGraph. TestOrderTable checks that the lists do not
// contradict each other.
var Order = [][]string{
	// Sockets (subr_witness.c "Sockets").
	{"accept", "so_snd", "so_rcv", "sellck"},
	// UDP/IP and TCP/IP: protocol, then inpcb, then socket buffer.
	{"udp", "udpinp", "so_snd"},
	{"tcp", "tcpinp", "so_snd"},
	// Interfaces: the interface list before per-interface address locks,
	// before the ARP/link-layer table entries.
	{"ifnet", "if_addr_lock", "lle"},
	// VM: map, object, page, pmap.
	{"vm map (user)", "vm object", "vm page", "pmap", "vm page free queue"},
	// UMA: zone before keg, keg before the per-domain page allocator.
	{"UMA zone", "UMA keg", "vm page free queue"},
	// The network stack (net/inet doc.go, "Locking"; Giant before all of
	// it by Giant's own rules): a connection's inp lock, then its
	// listener's, the connection/port tables (pcbinfo hash), routes and
	// interface addresses, an interface's ARP cache (link-layer entries),
	// IP reassembly, then the driver's own locks inside Transmit.
	{"tcpinp", "tcplisten", "tcphash", "inet rt", "lle", "ipreass", "memlink"},
	{"udpinp", "udphash", "inet rt"},
	// AF_UNIX sockets (net/sock/unix.go, "Locking"): a socket's state,
	// then a listener's accept queue or the abstract-name table and the
	// file system's name space (a bind to a path).
	{"unix socket", "unix accept"},
	{"unix socket", "unix names", "memfs ns"},

	// Spin locks, outermost first (subr_witness.c's spin list): sleep
	// queue and turnstile chains before the scheduler lock, callouts and
	// IPI rendezvous inside it.
	{"ap boot", "intr table", "sleepq chain", "turnstile chain", "turnstile lock",
		"sched lock", "td_contested", "callout", "smp rendezvous"},
	// Leaf spin locks.
	{"intrcnt", "icu", "clk", "console", "ktr", "blocked lock"},
}

// Blessed lists pairs of classes that may be acquired in either order
// without a report (subr_witness.c's blessed_list, empty there too). Each
// entry must say why the reversal cannot deadlock.
var Blessed = [][2]string{}
