package qemu

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// boots is the one list of QEMU boots, shared by both tiers. Add a boot
// with one line; Config.Kernel (or Config.Image, for the ISO's media) is
// filled in by whoever runs it. An
// Expect left zero means "pass, with a test summary reporting no
// failures"; an expected crash names its Outcome and the substrings its
// output must hold, e.g.
//
//	{Name: "ud2", Tier: Full, Config: Config{Append: "test=Trap/UD2"}, Expect: Expectation{Outcome: Panic, Output: []string{"KERNEL PANIC", "#UD"}}},
var boots = []Boot{
	// smp1 also unpacks example-initfs's modules before its self-tests
	// (Files/InitfsReleased: their pages are free memory again).
	// The kernel's image has no "--": its words are kernel options, and
	// initfs= places the modules before Main runs (smpgo.noSeparator).
	{Name: "smp1", Tier: Smoke, Config: Config{SMP: 1, Append: "test=. initfs=/seed"}, Modules: func(dir string, _ *Config) ([]string, []string, error) {
		paths, _, err := seedModules(dir, nil)
		return paths, []string{"unpacked into /seed in ", "KiB of module pages freed", "--- PASS: Files/InitfsReleased"}, err
	}},
	// smp4 is also virtio-net's network boot with the host side (NetPeer).
	{Name: "smp4", Tier: Smoke, Config: withNetPeer(Config{SMP: 4, Timeout: allTestsTimeout, NIC: NICVirtio, Append: "test=. SMPGO_PCI=1af4:1041"}, NetPeerConfig{})},
	// vdso=off: the runtime makes every clock read a system call, as
	// before the vDSO (Clock/VDSOUsed checks it did not take one).
	{Name: "vdso-off-smp2", Tier: Smoke, Config: Config{SMP: 2, Append: "vdso=off test=Clock/"}},
	// virtio-net's INTx fallback (MSI-X is what the smp4 boot uses).
	// 6 GiB (3 above 4 GiB): virtio-net's rings and buffers come from high memory.
	{Name: "virtio-intx-smp2", Tier: Smoke, Config: Config{SMP: 2, MemMiB: 6144, NIC: NICVirtio, Append: "test=VirtioNet/|PCI/ SMPGO_PCI=1af4:1041 SMPGO_VTNET=intx"},
		Expect: Expectation{Output: []string{"vtnet0 52:54:00:12:34:56 (intx,"}}},
	// numa2 is also the fine-grained network boot: host code dials the
	// guest's services through hostfwd (NetNIC/HostPeer, qemu.NetPeer):
	// 4 MiB echoed, 100 connections at once, discard, chargen, HTTP.
	{Name: "numa2", Tier: Smoke, Config: withNetPeer(Config{SMP: 4, NUMA: 2, Timeout: allTestsTimeout, NIC: NICE1000, Append: "test=. SMPGO_PCI=8086:1237,8086:100e"}, NetPeerConfig{})},
	// e1000-giant-smp4 is also the guest-client boot: Go's net/http in
	// the guest fetches 4 MiB from a host server through slirp's guestfwd
	// and posts 4 MiB back (SockNIC/GuestfwdHTTP, qemu.GuestHTTPServer).
	// 6 GiB: the e1000's rings and buffers above 4 GiB (64-bit DMA).
	// Its resolver asks a host DNS server through another guestfwd
	// (DNS/Guestfwd, qemu.GuestDNSServer), DNS over TCP.
	{Name: "e1000-giant-smp4", Tier: Smoke, Config: withGuestDNS(withGuestHTTP(withNetPeer(Config{SMP: 4, MemMiB: 6144, NIC: NICE1000, Append: "net.giant=1 test=NetNIC/|E1000/|SockNIC/|DNS/|Net/TCPTransferGiant"}, NetPeerConfig{})))},
	// Tap networking (a namespace of its own, the Linux kernel's stack as
	// the peer): UDP echo, TCP echo, short and concurrent connections.
	{Name: "tap-e1000-smp4", Tier: Smoke, Config: withTapPeer(Config{SMP: 4, NIC: NICE1000, Timeout: 4 * time.Minute, Append: "test=NetNIC/"},
		NetPeerConfig{EchoBytes: 1 << 20, UDPDatagrams: 200, SeqConns: 100, Conns: 100, DiscardBytes: 1 << 20, ChargenBytes: 1 << 20})},
	// virtio-net multiqueue over a 4-queue tap: the host's flows (echo,
	// concurrent and sequential connections, UDP) spread over the four
	// pairs, then VirtioNet/Multiqueue checks both directions used more
	// than one queue and a reset brings the pairs back.
	{Name: "tap-virtio-mq-smp4", Tier: Smoke, Config: withTapQueues(withTapPeer(Config{SMP: 4, NIC: NICVirtio, Timeout: 4 * time.Minute,
		Append: "test=NetNIC/HostPeer|NetNIC/TSO|VirtioNet/Multiqueue|VirtioNet/Offload|VirtioNet/TSO"},
		NetPeerConfig{EchoBytes: 1 << 20, Conns: 32, SeqConns: 32, UDPDatagrams: 100, DiscardBytes: 256 << 10, ChargenBytes: 256 << 10}), 4)},
	// The e1000's receive filter over a tap: the host sends to a group the
	// guest joined and one it did not, then with ALLMULTI and PROMISC
	// (NetNIC/Multicast against qemu.McastPeer).
	{Name: "tap-e1000-mcast-smp2", Tier: Smoke, Config: withMcastPeer(Config{SMP: 2, NIC: NICE1000, Timeout: 3 * time.Minute, Append: "test=NetNIC/Multicast"})},
	// The same rounds on virtio-net, whose filter is the device's
	// (VIRTIO_NET_F_CTRL_RX: MAC table, ALLMULTI, PROMISC commands).
	{Name: "tap-virtio-mcast-smp2", Tier: Smoke, Config: withMcastPeer(Config{SMP: 2, NIC: NICVirtio, Timeout: 3 * time.Minute, Append: "test=NetNIC/Multicast"})},
	// q35 with 6 GiB: 2 GiB below 4 GiB, 4 above, so every self-test runs
	// on high memory (the allocator serves it first), edu's DMA below its
	// 256 MiB reach, and the runtime's 256 MiB slice (VM/RuntimeLargeSlice).
	// Its CPU has 1 GiB pages (QEMU's default model lacks them): the RAM
	// above 4 GiB is mapped with 1 GiB leaves (VM/HighMemory1GiBPages);
	// the other 6 GiB boots keep the 2 MiB path.
	{Name: "q35-smp4-qboot", Tier: Smoke, Config: Config{SMP: 4, MemMiB: 6144, Timeout: allTestsTimeout, Machine: "q35", BIOS: "qboot", CPU: "qemu64,+pdpe1gb",
		Append: "test=. SMPGO_PCI=8086:29c0,1234:11e8", Extra: []string{"-device", "edu"}},
		Expect: Expectation{Output: []string{"4 1 GiB leaves map the RAM above 4 GiB"}}},
	// The bootable ISO (make image) through GRUB's multiboot2, with 4 GiB
	// so that the memory map reaches above 4 GiB. GRUB gets the command
	// line as an SMBIOS OEM string (Config.Append).
	{Name: "iso-seabios-cdrom-smp4", Tier: Smoke, Config: Config{SMP: 4, MemMiB: 4096, Media: MediaCDROM, Timeout: isoTimeout,
		Append: "test=Boot/|Kern/|SMP/(AllCPUs|Topology|TLB)"}, Expect: Expectation{Screen: true}},
	// The shell driven from QEMU's PS/2 keyboard (monitor sendkey), not
	// the serial port: the i8042 interrupt path end to end, the echo, and
	// history (Up, Enter runs the command again: 4 more characters).
	{Name: "kbd-shell", Tier: Smoke, Config: Config{SMP: 2, MonitorAfter: "Type 'help'", Monitor: slices.Concat(sendKeys("show atkbd\n"), []string{sendKey("up"), sendKey("ret")}, sendKeys("halt\n"))},
		Expect: Expectation{Program: true, Output: []string{"smpgo> show atkbd", "atkbd0: i8042 on IRQ 1", " scan codes, 11 characters", " scan codes, 15 characters", " 0 unmapped keys", "smpgo> halt"}}},
	{Name: "shell-panic", Tier: Smoke, Config: Config{SMP: 2, MonitorAfter: "Type 'help'", Monitor: sendKeys("panic yes\n")},
		Expect: Expectation{Outcome: Panic, Output: []string{"smpgo: panic requested from the shell", "KERNEL PANIC: fault in kernel", "END KERNEL PANIC"}}},
	// The shell driven over the serial port (COM1's receive interrupt),
	// with the line editor's echo.
	{Name: "serial-shell", Tier: Smoke, Config: Config{SMP: 2, SerialAfter: "Type 'help'", SerialInput: "intr\nshow callout\nshow taskq\ndate\nhalt\n"},
		Expect: Expectation{Program: true, Output: []string{"smpgo> show callout", "com1 receive: interrupt true", "softclock1", "no task queues", "RTC at boot", "halting"}}},
	{Name: "crash-ud2", Tier: Smoke, Config: Config{SMP: 1, Append: "crash=ud2"},
		Expect: Expectation{Outcome: Fail, Status: 2, Output: []string{"SIGILL: illegal instruction", "kern.ud2"}}},
	{Name: "crash-kfault", Tier: Smoke, Config: Config{SMP: 1, Append: "crash=kfault"},
		Expect: Expectation{Outcome: Panic, Output: []string{"KERNEL PANIC: fault in kernel", "vector=13", "END KERNEL PANIC"}}},
	{Name: "crash-appanic-smp4", Tier: Smoke, Config: Config{SMP: 4, Append: "crash=appanic"},
		Expect: Expectation{Outcome: Panic, Output: []string{"KERNEL PANIC: fault in kernel", "cpu=3 vector=13", "KERNEL PANIC: stopped by panicking CPU", "cpu=0 vector=2", "cpu=1 vector=2", "cpu=2 vector=2"}}},
	{Name: "crash-wtext", Tier: Smoke, Config: Config{SMP: 2, Append: "crash=wtext"},
		Expect: Expectation{Outcome: Panic, Output: []string{"KERNEL PANIC: page fault: write to a read-only page (kernel text)", "vector=14 error=0x0000000000000003", "END KERNEL PANIC"}}},
	{Name: "crash-stackoverflow-smp4", Tier: Smoke, Config: Config{SMP: 4, Append: "crash=stackoverflow"},
		Expect: Expectation{Outcome: Panic, Output: []string{"KERNEL PANIC: stack overflow: CPU 3 kernel stack (thread ", "cpu=3 vector=14", "KERNEL PANIC: stopped by panicking CPU", "END KERNEL PANIC"}}},
	// A demand fault with a page allocator's domain lock held (what a stack
	// growth in its section would be): the lock-order check reports it
	// instead of the CPU spinning forever.
	{Name: "crash-vmorder", Tier: Smoke, Config: Config{SMP: 2, Append: "crash=vmorder"},
		Expect: Expectation{Outcome: Panic, Output: []string{"KERNEL PANIC: vm: lock order reversal: address-space lock wanted while this CPU holds a page allocator domain lock", "END KERNEL PANIC"}}},
	{Name: "example-primes", Tier: Smoke, App: "./examples/primes", Config: Config{SMP: 4, Append: "-- -n 1000000"},
		Expect: Expectation{Program: true, Output: []string{"4 workers", "pi(1000000) = 78498", "primes: counts agree"}}},
	{Name: "example-wordfreq", Tier: Smoke, App: "./examples/wordfreq", Config: Config{SMP: 2, Append: "-- -words 100000"},
		Expect: Expectation{Program: true, Output: []string{"2 mappers on 2 CPU(s)", "wordfreq: counts agree"}}},
	// examples/httpd on port 80 of the NIC (the kernel's services stay
	// off in an application): 12 clients inside the guest over loopback,
	// then the host's net/http clients through hostfwd (qemu.HTTPPeer:
	// 8 at once, every body checked, a rate burst), which end it with
	// GET /quit.
	{Name: "example-httpd", Tier: Smoke, App: "./examples/httpd", Config: Config{SMP: 4, NIC: NICE1000,
		HostFwd: []string{"tcp:127.0.0.1:0-:80"}, Host: HTTPPeer(80, HTTPPeerConfig{}), HostAfter: "httpd: pages agree",
		Append: "-- -addr :80 -fetch 12 -quit " + HTTPPeerQuit},
		Expect: Expectation{Program: true, Output: []string{HTTPPeerReady, "httpd: 12 fetches", "httpd: pages agree",
			"smpgo: net: services off", "quit by GET " + HTTPPeerQuit}}},
	// The file system seeded from boot modules: a tree with files of
	// several modes packed into a tar archive (under seed/), then a
	// corrupt archive (reported; the boot goes on), unpacked at / for a
	// program booted without "--" (no kernel options: the modules are
	// unpacked all the same); examples/initfs lists /seed and every
	// file's mode, size and SHA-256 must match the tree on the host.
	// (smp1 unpacks the same modules under initfs=/seed.)
	{Name: "example-initfs", Tier: Smoke, App: "./examples/initfs", Modules: seedModulesRoot, Config: Config{SMP: 2, Append: "-root /seed"},
		Expect: Expectation{Program: true, Output: []string{"seed.tar\" (", "unpacked into / in ", ": 6 files (", ", 6 directories", "KiB of module pages freed",
			"bad.tar\" (", "archive error: after 1 entries: archive/tar: invalid tar header; unpacked before it into /: 1 files", "boot continues",
			"initfs: 6 files (", "5 directories under /seed"}}},
	{Name: "sock-copy4m", Tier: Smoke, Config: Config{SMP: 4, Timeout: 4 * time.Minute, Append: "test=Sock/TCPCopy SOCK_COPY_KIB=4096"}},
	{Name: "app-args", Tier: Full, App: "./qemu/testdata/badapp", Config: Config{SMP: 1, Append: "GOGC=50 -- args -x GOGC=off"},
		Expect: Expectation{Program: true, Output: []string{`badapp: args ["args" "-x" "GOGC=off"]`, "badapp: env GOGC=50"}}},
	{Name: "app-panic", Tier: Full, App: "./qemu/testdata/badapp", Config: Config{SMP: 2, Append: "-- panic"},
		Expect: Expectation{Outcome: Fail, Status: 2, Output: []string{"panic: assignment to entry in nil map", "goroutine ", "main.main.func1()"}}},
	{Name: "app-exit", Tier: Full, App: "./qemu/testdata/badapp", Config: Config{SMP: 2, Append: "-- exit 7"},
		Expect: Expectation{Outcome: Fail, Status: 7, Output: []string{"badapp: exiting with status 7"}}},
	{Name: "app-hang", Tier: Full, App: "./qemu/testdata/badapp", Config: Config{SMP: 2, Append: "-- hang", Timeout: 15 * time.Second},
		Expect: Expectation{Outcome: Timeout, Output: []string{"badapp: hanging", "KERNEL PANIC: NMI", "KERNEL PANIC: stopped by panicking CPU", "KERNEL THREADS", "wait=futex", "END KERNEL THREADS"}}},
	{Name: "app-kernel-tests", Tier: Full, App: "./examples/primes", Config: Config{SMP: 2, Append: "test=Kern/ --"}},
	{Name: "smp2", Tier: Full, Config: Config{SMP: 2, Append: "test=."}},
	{Name: "e1000-smp1", Tier: Full, Config: withNetPeer(Config{SMP: 1, NIC: NICE1000, Append: "test=NetNIC/|E1000/|Net/"}, NetPeerConfig{})},
	{Name: "e1000-giant-smp1", Tier: Full, Config: withNetPeer(Config{SMP: 1, NIC: NICE1000, Append: "net.giant=1 test=NetNIC/|E1000/"}, NetPeerConfig{})},
	{Name: "e1000-queued-smp4", Tier: Full, Config: withNetPeer(Config{SMP: 4, NIC: NICE1000, Append: "net.isr=queued test=NetNIC/"}, NetPeerConfig{})},
	{Name: "e1000-large-smp4", Tier: Full, Config: withNetPeer(Config{SMP: 4, NIC: NICE1000, Timeout: 15 * time.Minute, Append: "test=NetNIC/HostPeer"},
		NetPeerConfig{EchoBytes: 32 << 20, Conns: 100, Rounds: 10, DiscardBytes: 32 << 20, ChargenBytes: 32 << 20})},
	{Name: "e1000-large-giant-smp4", Tier: Full, Config: withNetPeer(Config{SMP: 4, NIC: NICE1000, Timeout: 15 * time.Minute, Append: "net.giant=1 test=NetNIC/HostPeer"},
		NetPeerConfig{EchoBytes: 32 << 20, Conns: 100, Rounds: 10, DiscardBytes: 32 << 20, ChargenBytes: 32 << 20})},
	// The driver self-tests (E1000/, VirtioNet/) talk to slirp's gateway
	// and are not for tap boots. The long tap runs: 64 MiB each way, 10,000 connections one after
	// another, 1,000 open at once, 2,000 UDP datagrams, per NIC.
	{Name: "tap-e1000-large-smp4", Tier: Full, Config: withTapPeer(Config{SMP: 4, NIC: NICE1000, Timeout: tapLargeTimeout, Append: "test=NetNIC/HostPeer"}, tapLarge)},
	{Name: "tap-virtio-large-smp4", Tier: Full, Config: withTapPeer(Config{SMP: 4, NIC: NICVirtio, Timeout: tapLargeTimeout, Append: "test=NetNIC/HostPeer"}, tapLarge)},
	{Name: "tap-virtio-smp4", Tier: Full, Config: withTapPeer(Config{SMP: 4, NIC: NICVirtio, Append: "test=NetNIC/"},
		NetPeerConfig{EchoBytes: 4 << 20, UDPDatagrams: 500, SeqConns: 500, Conns: 100})},
	{Name: "tap-e1000-giant-smp4", Tier: Full, Config: withTapPeer(Config{SMP: 4, NIC: NICE1000, Append: "net.giant=1 test=NetNIC/"},
		NetPeerConfig{EchoBytes: 4 << 20, UDPDatagrams: 500, SeqConns: 500, Conns: 100})},
	// TCP segmentation offload off (net.tso=off; net.csum=off implies it):
	// the same flows, and NetNIC/TSO, VirtioNet/TSO require that TCP
	// handed the NIC no TSO frame (the smoke boots check the opposite).
	{Name: "tap-virtio-notso-smp4", Tier: Full, Config: withTapPeer(Config{SMP: 4, NIC: NICVirtio,
		Append: "net.tso=off test=NetNIC/HostPeer|NetNIC/TSO|VirtioNet/Offload|VirtioNet/TSO"},
		NetPeerConfig{EchoBytes: 1 << 20, Conns: 16, DiscardBytes: 256 << 10, ChargenBytes: 1 << 20})},
	{Name: "e1000-csumoff-smp4", Tier: Full, Config: withNetPeer(Config{SMP: 4, NIC: NICE1000, Append: "net.csum=off test=NetNIC/HostPeer|NetNIC/TSO"}, NetPeerConfig{})},
	{Name: "virtio-smp1", Tier: Full, Config: withNetPeer(Config{SMP: 1, NIC: NICVirtio, Append: "test=NetNIC/|VirtioNet/"}, NetPeerConfig{})},
	{Name: "virtio-giant-smp4", Tier: Full, Config: withNetPeer(Config{SMP: 4, NIC: NICVirtio, Append: "net.giant=1 test=NetNIC/|VirtioNet/"}, NetPeerConfig{})},
	{Name: "virtio-giant-smp1", Tier: Full, Config: withNetPeer(Config{SMP: 1, NIC: NICVirtio, Append: "net.giant=1 test=NetNIC/"}, NetPeerConfig{})},
	{Name: "net-off", Tier: Full, Config: Config{SMP: 2, NIC: NICE1000, Append: "net=off test=NetNIC/|E1000/"},
		Expect: Expectation{Output: []string{"smpgo: net: off", "network stack off (net=off): nothing to test"}}},
	{Name: "net-static", Tier: Full, Config: Config{SMP: 2, NIC: NICE1000, Append: "net.ip=10.0.2.15/24 net.gw=10.0.2.2 test=NetNIC/"},
		Expect: Expectation{Output: []string{"smpgo: net: em0 52:54:00:12:34:56 10.0.2.15/24 gateway 10.0.2.2 (static, fine-grained)"}}},
	{Name: "smp8", Tier: Full, Config: Config{SMP: 8, Append: "test=."}},
	{Name: "smp4-sockets2", Tier: Full, Config: Config{SMP: 4, Sockets: 2, Cores: 2, Threads: 1, Append: "test=."}},
	// Two nodes of 3 GiB on pc: node 0 below 4 GiB, node 1 entirely above.
	{Name: "numa2-high", Tier: Full, Config: Config{SMP: 4, NUMA: 2, MemMiB: 6144, Append: "test=."}},
	// The runtime's heap takes 3 GiB of a 6 GiB guest (touched, then given back).
	{Name: "himem-3g-slice", Tier: Full, Config: Config{SMP: 2, MemMiB: 6144, Timeout: 15 * time.Minute, Append: "test=VM/RuntimeLargeSlice|Boot/HighMemory VM_BIG_MIB=3072"}},
	{Name: "numa3", Tier: Full, Config: Config{SMP: 6, NUMA: 3, MemMiB: 1536, Append: "test=."}},
	{Name: "q35-smp8", Tier: Full, Config: Config{SMP: 8, Machine: "q35", Append: "test=. SMPGO_PCI=8086:29c0,1234:11e8", Extra: []string{"-device", "edu"}}},
	{Name: "pc-smp4-edu", Tier: Full, Config: Config{SMP: 4, Append: "test=Intr|PCI SMPGO_PCI=8086:1237,1234:11e8", Extra: []string{"-device", "edu"}}},
	{Name: "smp4-witness-panic", Tier: Full, Config: Config{SMP: 4, Append: "witness=panic test=."}},
	{Name: "smp4-witness-off", Tier: Full, Config: Config{SMP: 4, Append: "witness=off test=Lock/|Witness/"}},
	{Name: "iso-seabios-usb-smp4", Tier: Full, Config: Config{SMP: 4, MemMiB: 4096, Media: MediaUSB, Timeout: isoTimeout, Append: "test=."}, Expect: Expectation{Screen: true}},
	{Name: "iso-seabios-cdrom-q35-smp4", Tier: Full, Config: Config{SMP: 4, MemMiB: 4096, Machine: MachineQ35, Media: MediaCDROM, Timeout: isoTimeout, Append: "test=."}, Expect: Expectation{Screen: true}},
	{Name: "iso-ovmf-cdrom-smp4", Tier: Full, Config: Config{SMP: 4, MemMiB: 4096, BIOS: BIOSOVMF, Media: MediaCDROM, Timeout: isoTimeout, Append: "test=."}, Expect: Expectation{Screen: true}},
	{Name: "iso-ovmf-usb-smp4", Tier: Full, Config: Config{SMP: 4, MemMiB: 4096, BIOS: BIOSOVMF, Media: MediaUSB, Timeout: isoTimeout, Append: "test=."}, Expect: Expectation{Screen: true}},
	{Name: "iso-ovmf-cdrom-q35-smp4", Tier: Full, Config: Config{SMP: 4, MemMiB: 4608, BIOS: BIOSOVMF, Machine: MachineQ35, Media: MediaCDROM, Timeout: isoTimeout, Append: "test=."}, Expect: Expectation{Screen: true}},
	{Name: "iso-ovmf-usb-q35-smp4", Tier: Full, Config: Config{SMP: 4, MemMiB: 4096, BIOS: BIOSOVMF, Machine: MachineQ35, Media: MediaUSB, Timeout: isoTimeout, Append: "test=."}, Expect: Expectation{Screen: true}},
	{Name: "no-acpi-smp2", Tier: Full, Config: Config{SMP: 2, Extra: []string{"-machine", "acpi=off"}, Append: "test=Boot/|Kern/"},
		Expect: Expectation{Output: []string{"smpgo: ACPI: no RSDP", "1 CPU(s)"}}},
	{Name: "crash-divzero", Tier: Full, Config: Config{SMP: 1, Append: "crash=divzero"},
		Expect: Expectation{Outcome: Fail, Status: 2, Output: []string{"panic: runtime error: integer divide by zero"}}},
	{Name: "exit-status", Tier: Full, Config: Config{SMP: 2, Append: "exit=3"}, Expect: Expectation{Outcome: Fail, Status: 3, Output: []string{"2 CPU(s)"}}},
	{Name: "bad-option", Tier: Full, Config: Config{SMP: 1, Append: "frob=1"},
		Expect: Expectation{Outcome: Fail, Status: 2, Output: []string{`unknown option "frob=1"`}}},
}

// withNetPeer makes c a boot whose host side (NetPeer with pc) dials the
// guest's services through forwards on free ports while the kernel runs
// NetNIC/HostPeer.
func withNetPeer(c Config, pc NetPeerConfig) Config {
	c.HostFwd = append(c.HostFwd, NetPeerForwards()...)
	c.Host, c.HostAfter = NetPeer(pc), NetPeerReady
	c.Append = "net.hostpeer=1 " + c.Append
	return c
}

// withTapPeer makes c a tap boot (its own network namespace) whose host
// side (NetPeer with pc) dials the guest's static tap address from inside
// the namespace while the kernel runs NetNIC/HostPeer.
func withTapPeer(c Config, pc NetPeerConfig) Config {
	c.Tap = &TapConfig{}
	c.Host, c.HostAfter = NetPeer(pc), NetPeerReady
	c.Append = "net.hostpeer=1 " + TapGuestOptions + " " + c.Append
	return c
}

// withTapQueues gives tap boot c a multi-queue tap of n queues
// (virtio-net with mq=on).
func withTapQueues(c Config, n int) Config {
	c.Tap = &TapConfig{Queues: n}
	return c
}

// tapLarge is the full tier's long tap run.
var tapLarge = NetPeerConfig{EchoBytes: 64 << 20, DiscardBytes: 64 << 20, ChargenBytes: 64 << 20,
	SeqConns: 10000, Conns: 1000, UDPDatagrams: 2000}

// tapLargeTimeout bounds a tapLarge boot: under TCG on a loaded host
// the echo runs at under 1 MB/s each way and a short connection takes
// tens of milliseconds.
const tapLargeTimeout = 40 * time.Minute

// withGuestHTTP adds the host's HTTP server for SockNIC/GuestfwdHTTP,
// reached by the guest through a guest forward.
func withGuestHTTP(c Config) Config {
	c.GuestServers = append(slices.Clone(c.GuestServers), GuestHTTPServer())
	c.Append += " " + GuestHTTPEnv + "=" + GuestHTTPAddr
	return c
}

// withGuestDNS adds the host's DNS server for DNS/Guestfwd, reached by
// the guest's resolver through a guest forward, and the options that
// point /etc/resolv.conf at it.
func withGuestDNS(c Config) Config {
	c.GuestServers = append(slices.Clone(c.GuestServers), GuestDNSServer())
	c.Append = GuestDNSOptions + " " + c.Append + " " + GuestDNSEnv + "=" + GuestDNSAddr
	return c
}

// BootTimeout bounds a matrix boot that sets no Timeout of its own. It is
// generous: on a loaded 2-core host TCG runs 4 vCPUs many times slower
// than alone (the whole self-test list once took over 5 minutes), and a
// timeout must mean a hang, not a busy machine.
const BootTimeout = 10 * time.Minute

// isoTimeout bounds an ISO boot: firmware and GRUB add seconds (OVMF
// many) before the kernel's own tests.
const isoTimeout = 5 * time.Minute

// allTestsTimeout bounds the -smp 4 boots that run every self-test: about
// 100 s on an idle 2-core host, far more when several QEMUs share it (the
// numa2 boot, with the host side's network transfers, once ran past 5
// minutes at a load average of 22).
const allTestsTimeout = 8 * time.Minute

// Tier selects how much of the boot matrix to run.
type Tier int

const (
	Smoke Tier = iota // quick boots, run on every change
	Full              // everything; includes Smoke
)

// String returns "smoke" or "full".
func (t Tier) String() string {
	switch t {
	case Smoke:
		return "smoke"
	case Full:
		return "full"
	}
	return fmt.Sprintf("Tier(%d)", int(t))
}

// ParseTier parses "smoke" or "full" (any case).
func ParseTier(s string) (Tier, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "smoke":
		return Smoke, nil
	case "full":
		return Full, nil
	}
	return 0, fmt.Errorf("qemu: tier %q: want smoke or full", s)
}

// Boot is one entry of the boot matrix. It boots the kernel image unless
// App or Test names a package to build (with boot/app) and boot instead.
type Boot struct {
	Name   string
	Tier   Tier
	Config Config
	Expect Expectation
	// App is a package main (a path relative to the repository root)
	// built in application mode; Config.Append is its command line.
	App string
	// Test is a package whose test binary, with the kernel linked in,
	// is booted; Config.Append carries the -test.* flags.
	Test string
	// Tags are build tags for App or Test.
	Tags string
	// Modules, when set, prepares the boot's multiboot modules in dir
	// (a temporary directory) before it boots: their paths become
	// Config.Modules, and output lists more substrings the serial output
	// must contain. It may change c (kernel options in c.Append).
	Modules func(dir string, c *Config) (paths, output []string, err error)
}

// Expectation is what a boot must produce. The zero Expectation is a
// pass whose output has a test summary reporting no failures.
type Expectation struct {
	// Outcome is the expected outcome; 0 means Pass.
	Outcome Outcome
	// Status, for an expected Fail, is the kernel status it must exit
	// with; 0 accepts any.
	Status int
	// Output lists substrings the serial output must contain.
	Output []string
	// Program: the boot runs a program (App, Test) whose exit status is
	// the verdict, so a pass needs no "N passed, N failed" line.
	Program bool
	// Screen asks that the boot banner be on the screen console's status
	// line (CheckScreen): the runner captures the screen through the
	// monitor once the banner is out.
	Screen bool
}

// Check reports how r differs from e, or returns nil.
func (e Expectation) Check(r *Result) error {
	want := e.Outcome
	if want == 0 {
		want = Pass
	}
	if r.Outcome != want {
		return fmt.Errorf("want %s, got %s", want, r.Summary())
	}
	if r.HostErr != nil {
		return fmt.Errorf("host side: %v (%s)", r.HostErr, r.Summary())
	}
	switch {
	case want == Pass && r.Passed < 0 && !e.Program:
		return fmt.Errorf("want a 'N passed, N failed' summary line, got none (%s)", r.Summary())
	case want == Pass && r.Failed > 0:
		return fmt.Errorf("want no failed tests, got %d passed, %d failed", r.Passed, r.Failed)
	case want == Fail && e.Status != 0 && r.Status != e.Status:
		return fmt.Errorf("want kernel status %d, got %s", e.Status, r.Summary())
	}
	for _, s := range e.Output {
		if !strings.Contains(r.Output, s) {
			return fmt.Errorf("want output containing %q, not found (%s)", s, r.Summary())
		}
	}
	return nil
}

// stdBoots are the boots of stdtests.txt, named std-PACKAGE.
func stdBoots() []Boot {
	var out []Boot
	for _, s := range StdTests() {
		out = append(out, Boot{
			Name: "std-" + strings.ReplaceAll(s.Package, "/", "_"), Tier: s.Tier, Test: s.Package, Tags: s.Tags,
			Config:  Config{SMP: s.SMP, Timeout: s.Timeout, Append: "-- " + strings.Join(s.TestFlags(), " ")},
			Expect:  Expectation{Program: true, Output: []string{"\nPASS"}},
			Modules: s.modules,
		})
	}
	return out
}

// Matrix returns the boots of tier, in order (the standard-library
// packages of stdtests.txt last): Full includes Smoke. The boots are
// copies that the caller may change.
func Matrix(tier Tier) []Boot {
	var out []Boot
	for _, b := range append(slices.Clone(boots), stdBoots()...) {
		if b.Tier <= tier {
			if b.Config.Timeout == 0 {
				b.Config.Timeout = BootTimeout
			}
			b.Config.HostFwd = slices.Clone(b.Config.HostFwd)
			if b.Config.Tap != nil {
				t := *b.Config.Tap
				b.Config.Tap = &t
			}
			b.Config.Marks = slices.Clone(b.Config.Marks)
			b.Config.Extra = slices.Clone(b.Config.Extra)
			b.Expect.Output = slices.Clone(b.Expect.Output)
			out = append(out, b)
		}
	}
	return out
}

// sendKeys returns the monitor commands that type s on QEMU's keyboard
// (letters, digits, space and newline). Each key is held 10 ms, not
// sendkey's default 100 ms: on a loaded host a long hold can outlast the
// keyboard's typematic delay in guest time and repeat the key.
func sendKeys(s string) []string {
	var cmds []string
	for _, c := range s {
		switch {
		case c == '\n':
			cmds = append(cmds, sendKey("ret"))
		case c == ' ':
			cmds = append(cmds, sendKey("spc"))
		default:
			cmds = append(cmds, sendKey(string(c)))
		}
	}
	return cmds
}

func sendKey(k string) string { return "sendkey " + k + " 10" }

// seedModules prepares example-initfs's modules: SeedFixture's tree
// packed with PackDir, and CorruptTar; the expected output is the tree's
// listing and the corrupt archive's first file.
func seedModules(dir string, _ *Config) (paths, output []string, err error) {
	return seedTree(dir, "")
}

// seedModulesRoot is seedModules with the tree under seed/ in the
// archive, for a boot that unpacks at /; the corrupt archive's first
// file lands in / then, outside the listing.
func seedModulesRoot(dir string, _ *Config) (paths, output []string, err error) {
	return seedTree(dir, "seed")
}

func seedTree(dir, under string) (paths, output []string, err error) {
	packed := filepath.Join(dir, "tree")
	tree := filepath.Join(packed, under)
	if err := SeedFixture(tree); err != nil {
		return nil, nil, err
	}
	good, bad := filepath.Join(dir, "seed.tar"), filepath.Join(dir, "bad.tar")
	if err := PackDirFile(packed, good); err != nil {
		return nil, nil, err
	}
	if err := CorruptTar(bad); err != nil {
		return nil, nil, err
	}
	if output, err = FSListing(tree); err != nil {
		return nil, nil, err
	}
	if under == "" {
		sum := sha256.Sum256([]byte("the first file\n"))
		output = append(output, fmt.Sprintf("initfs: file 0644 15 %x first", sum))
	}
	return []string{good, bad}, output, nil
}

// modules packs the package's test file system (TestFS: GOROOT/src/PKG
// with its testdata, zoneinfo.zip, the "file" lines) into dir and puts
// its GOROOT= and cwd= before the boot's command line.
func (s StdTest) modules(dir string, c *Config) (paths, output []string, err error) {
	root, err := GoRoot()
	if err != nil {
		return nil, nil, err
	}
	t := TestFS{GOROOT: root, PkgDir: filepath.Join(root, "src", filepath.FromSlash(s.Package)), Files: s.Files}
	out := filepath.Join(dir, "testfs.tar")
	if _, err := t.PackFile(out); err != nil {
		return nil, nil, err
	}
	c.Append = strings.Join(t.KernelArgs(), " ") + " " + c.Append
	return []string{out}, []string{"testfs.tar\" (", "unpacked into / in "}, nil
}
