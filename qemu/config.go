package qemu

import (
	"context"
	"io"
	"time"
)

// Values accepted by Config.NIC, Config.BIOS, Config.Machine and
// Config.Accel. The empty string selects the default for each.
const (
	NICNone   = "none"   // no network device at all (QEMU's default NIC is suppressed)
	NICE1000  = "e1000"  // Intel e1000 on user networking
	NICVirtio = "virtio" // virtio-net-pci on user networking

	BIOSSeaBIOS = "seabios" // QEMU's default firmware: no -bios flag
	BIOSQboot   = "qboot"   // -bios qboot.rom, a minimal fast firmware
	BIOSOVMF    = "ovmf"    // UEFI (OVMF, -bios Config.Firmware): boots the ISO only

	MediaKernel = "kernel" // QEMU loads Config.Kernel itself (-kernel: multiboot 1)
	MediaCDROM  = "cdrom"  // the bootable ISO (Config.Image) as a CD-ROM
	MediaUSB    = "usb"    // the bootable ISO written raw to a USB stick (xHCI, usb-storage)

	MachinePC  = "pc"  // i440FX (QEMU's default)
	MachineQ35 = "q35" // Q35 with PCIe

	AccelTCG = "tcg" // software emulation, one host thread per vCPU
	AccelKVM = "kvm" // hardware virtualisation (needs /dev/kvm)
)

// Defaults applied to a zero Config field.
const (
	DefaultBinary  = "qemu-system-x86_64"
	DefaultMemMiB  = 1024
	DefaultTimeout = 120 * time.Second
	DefaultOVMF    = "/usr/share/ovmf/OVMF.fd" // Debian's ovmf package

	// OEMPrefix starts the SMBIOS OEM string (type 11) that carries the
	// kernel command line to GRUB when the ISO boots: boot/grub/grub.cfg
	// boots "smpgo:ARGS" at once with ARGS as the command line.
	OEMPrefix = "smpgo:"

	// NoTimeout, or any negative Config.Timeout, lets QEMU run until it
	// exits by itself or the context passed to Run is done.
	NoTimeout time.Duration = -1
)

// Limits checked by Config.Validate.
const (
	MaxCPUs     = 255     // APIC IDs above 254 need x2APIC and an IOMMU with interrupt remapping
	MaxNUMA     = 128     // QEMU's MAX_NODES
	MinMemMiB   = 16      // anything smaller cannot hold firmware and a kernel
	MaxMemMiB   = 1 << 20 // 1 TiB
	debugExitIO = "isa-debug-exit,iobase=0xf4,iosize=0x04"
)

// Config describes one QEMU boot of the kernel. The zero value of every
// field except Kernel selects a default; Args turns a Config into QEMU's
// argument list and Run boots it.
type Config struct {
	// monitorSock, set by Run for non-interactive boots, is the QEMU
	// monitor's unix socket: on a timeout Run injects an NMI through it
	// so the kernel prints every CPU's state before QEMU is killed.
	monitorSock string

	// SMP is the number of CPUs (default 1, or Sockets*Cores*Threads
	// when a topology is given).
	SMP int
	// Sockets, Cores and Threads give an optional CPU topology. When any
	// is set, the unset ones count as 1 and SMP, if set, must equal
	// their product.
	Sockets, Cores, Threads int
	// NUMA is the number of NUMA nodes; 0 means no NUMA description.
	// CPUs are split evenly (the first nodes take the remainder; a node
	// may have none) and memory is split evenly, each node's share being
	// a whole, even number of MiB.
	NUMA int
	// MemMiB is the guest memory in MiB (default 1024).
	MemMiB int
	// NIC is NICNone (default), NICE1000 or NICVirtio. A NIC uses user
	// networking with restrict=on: the guest reaches nothing outside.
	NIC string
	// HostFwd lists port forwards "tcp:127.0.0.1:HOSTPORT-:GUESTPORT"
	// (or udp); the host address must be 127.0.0.1. Needs a NIC.
	// HOSTPORT 0 makes Run pick a free port (Result.HostFwd says which),
	// so that boots running at the same time never collide.
	HostFwd []string
	// Host is host-side code that runs during the boot, e.g. a test
	// dialing the forwarded ports: Run starts it once a serial line
	// contains HostAfter, with the forwards as resolved and a writer for
	// its log lines (prefixed "host: " on the output), and waits for it
	// before returning; ctx ends when QEMU does. Its error is
	// Result.HostErr (also set when HostAfter never appeared).
	// On a Tap boot there are no forwards: the host side finds the tap
	// network with TapFrom(ctx) and dials the guest's address through it.
	Host      func(ctx context.Context, fwds []HostFwd, log io.Writer) error
	HostAfter string
	// Tap, when set, puts the NIC on a tap device inside a network
	// namespace made for this boot alone (tap.go) instead of user
	// networking; QEMU and the host side run inside it. The guest needs
	// TapGuestOptions on its command line. Needs root and /dev/net/tun.
	Tap *TapConfig
	// GuestFwd lists guest forwards "tcp:10.0.2.X:PORT-tcp:127.0.0.1:HOSTPORT"
	// (ParseGuestFwd): the guest's connections to 10.0.2.X:PORT reach
	// HOSTPORT on 127.0.0.1, which must be listening when QEMU starts.
	// Needs a NIC.
	GuestFwd []string
	// GuestServers are host servers the guest reaches through guest
	// forwards that Run sets up (GuestServer).
	GuestServers []GuestServer
	// BIOS is BIOSSeaBIOS (default) or BIOSQboot.
	BIOS string
	// Machine is "" (QEMU's default, pc), MachinePC or MachineQ35.
	Machine string
	// Accel is AccelTCG (default, multi-threaded) or AccelKVM.
	Accel string
	// CPU is QEMU's -cpu model with its feature flags, e.g.
	// "qemu64,+pdpe1gb" (1 GiB pages under TCG) or "max"; "" leaves
	// QEMU's default (qemu64 under TCG).
	CPU string
	// Timeout bounds the run: 0 means DefaultTimeout, or no timeout when
	// Interactive; negative means no timeout.
	Timeout time.Duration
	// Media is how the kernel is booted: MediaKernel (default), or the
	// bootable ISO through GRUB as MediaCDROM or MediaUSB.
	Media string
	// Kernel is the path of the kernel image (build/kernel.img), for
	// MediaKernel.
	Kernel string
	// Image is the path of the bootable ISO (build/smpgo.iso), for
	// MediaCDROM and MediaUSB. QEMU opens it read-only.
	Image string
	// Firmware is the UEFI firmware image for BIOSOVMF (default
	// DefaultOVMF, or what FindOVMF finds when Run boots).
	Firmware string
	// Modules are files QEMU loads beside the kernel as multiboot
	// modules (-initrd, MediaKernel only), in order: the kernel unpacks
	// tar archives among them into its file system (fs/kfs, initfs=).
	// Paths must not hold commas (QEMU's separator) or blanks.
	Modules []string
	// Append is the kernel command line: passed with -append to a
	// MediaKernel boot, as the SMBIOS OEM string OEMPrefix+Append to GRUB
	// for the ISO (omitted when empty: GRUB then shows its menu).
	Append string
	// Interactive puts the serial console and QEMU's monitor on stdio
	// (-serial mon:stdio) and forwards Stdin to it. Otherwise QEMU's
	// standard input is /dev/null.
	Interactive bool
	// Stdin is what an interactive run forwards; nil means os.Stdin.
	Stdin io.Reader
	// RequireSummary turns a Pass whose output has no "N passed, N
	// failed" line, or whose line reports failures, into a Fail.
	RequireSummary bool
	// Marks are substrings to time: Result.Marks records when the first
	// line containing each appeared.
	Marks []string
	// Monitor lists QEMU monitor commands (e.g. "screendump FILE") to run
	// once a serial line contains MonitorAfter, while the kernel goes on;
	// what the monitor answered is Result.Monitor. Not for interactive
	// runs (the monitor is then on the terminal).
	Monitor      []string
	MonitorAfter string
	// SerialInput is typed on the serial console (QEMU's standard input)
	// once a serial line contains SerialAfter: how a boot drives the
	// shell over COM1. Not for interactive runs.
	SerialInput string
	SerialAfter string
	// Binary is the QEMU executable (default DefaultBinary, looked up in
	// PATH).
	Binary string
	// Extra arguments are appended to QEMU's command line as they are.
	Extra []string
}

// withDefaults returns c with every zero field replaced by its default.
func (c Config) withDefaults() Config {
	if c.SMP == 0 {
		c.SMP = 1
		if c.hasTopology() {
			c.SMP = orOne(c.Sockets) * orOne(c.Cores) * orOne(c.Threads)
		}
	}
	if c.MemMiB == 0 {
		c.MemMiB = DefaultMemMiB
	}
	if c.NIC == "" {
		c.NIC = NICNone
	}
	if c.BIOS == "" {
		c.BIOS = BIOSSeaBIOS
	}
	if c.Media == "" {
		c.Media = MediaKernel
	}
	if c.Accel == "" {
		c.Accel = AccelTCG
	}
	if c.Binary == "" {
		c.Binary = DefaultBinary
	}
	return c
}

// hasTopology reports whether any of Sockets, Cores and Threads is set.
func (c Config) hasTopology() bool {
	return c.Sockets != 0 || c.Cores != 0 || c.Threads != 0
}

// EffectiveTimeout is how long Run lets QEMU run: 0 means no limit.
func (c Config) EffectiveTimeout() time.Duration {
	switch {
	case c.Timeout < 0:
		return 0
	case c.Timeout > 0:
		return c.Timeout
	case c.Interactive:
		return 0
	default:
		return DefaultTimeout
	}
}

func orOne(n int) int {
	if n == 0 {
		return 1
	}
	return n
}
