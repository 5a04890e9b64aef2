// Package inet is the IPv4 protocol stack, after FreeBSD's sys/netinet and
// sys/net: Ethernet input/output, ARP (RFC 826) with a cache, a pending
// queue and gratuitous announcements, IPv4 (RFC 791, RFC 1122 §3.2) with
// fragmentation and bounded reassembly, ICMP (RFC 792, errors rate-limited
// as RFC 1812 §4.3.2.8 allows), UDP (RFC 768), TCP (RFC 9293; RTO per RFC
// 6298; slow start, congestion avoidance and NewReno fast retransmit and
// recovery per RFC 5681/6582; window scaling per RFC 7323; MSS; delayed
// ACKs per RFC 1122 §4.2.3.2; keepalive per §4.2.3.6; zero-window probes;
// TIME_WAIT; RFC 5961 reset and SYN checks; SYN backlog and accept-queue
// limits), interface addresses, a small routing table (connected routes
// and a default gateway), a DHCP client (RFC 2131/2132) and sockets with
// the standard library's net.Conn, net.Listener and net.PacketConn
// interfaces (deadlines included), so net/http runs on top. Not done: SACK,
// timestamps, path MTU discovery, IP forwarding, multicast groups.
//
// A [Stack] is a value, not a global, so host tests run two stacks joined
// by a memlink and the kernel runs one over its NICs. Interfaces come from
// net/if; time comes from an injectable [Clock].
//
// # Locking
//
// Two modes, chosen per stack at creation ([Config.Giant]), so that the
// same workload measures both (Watson, "SMPng network stack"):
//
//   - Giant: every entry into the stack (a frame from a driver, a socket
//     call, a timer) takes the Giant lock first, so at most one goroutine
//     runs in the stack at a time. Socket calls that wait drop Giant while
//     they wait.
//   - Fine-grained (default): data-based locks. Per TCP/UDP connection, a
//     mutex guards its protocol state and socket buffers (inp); the
//     connection and port tables have their own RWMutexes (pcbinfo), taken
//     briefly and never held while taking an inp; the routing table and
//     interface addresses share one RWMutex (rt); each interface's ARP cache
//     has a mutex (arp); reassembly has one (reass). Drivers take their own
//     locks inside Transmit.
//
// The lock order is
//
//	Giant → inp → listen → pcbinfo → rt → arp → reass → driver
//
// (a connection reaching ESTABLISHED puts itself on its listener's accept
// queue with its inp held; a listener creates connections with only its
// own lock held and locks them after dropping it). The order is declared
// once, as data, in witness.Order, under these class names:
//
//	tcpinp/udpinp → tcplisten → tcphash/udphash → inet rt → lle → ipreass → driver (memlink, ...)
//
// The locks are net/nlock's: in the kernel, the lock package's mutexes and
// rw locks (witness-checked, profiled; Giant mode takes lock.Giant); on the
// host, sync's, each operation reported to a host witness instance with
// the same order lists, so the host tests check the order too (TestMain
// fails on any report).
//
// Fields are annotated with what guards them: (c) constant after creation,
// (a) atomic, or the lock's name. Functions named xLocked expect that lock
// held.
//
// # Bad input
//
// Every malformed frame, packet or segment is counted under its own [Stat]
// and dropped; input paths never panic (fuzz tests in fuzz_test.go feed
// random frames to a live stack), and mbuf counts return to their baseline
// after every test.
package inet
