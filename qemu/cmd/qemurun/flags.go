package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smpgo/smpgo/qemu"
)

const usage = `usage: qemurun [flags] [-- kernel command line words]

Boots the smpgo kernel under QEMU with the serial console on stdout,
then prints "qemurun: <outcome> (status N) in <time>" and exits with
0 pass, 1 tests failed, 2 usage error, 3 timeout, 4 crash, 5 panic.

flags:
  -smp N | sockets=S,cores=C[,threads=T]   CPUs and topology (default 1)
  -numa K            K NUMA nodes sharing CPUs and memory evenly (default 0: none)
  -mem MiB           guest memory (default 1024)
  -nic none|e1000|virtio   network device on restricted user networking (default none)
  -hostfwd tcp:127.0.0.1:HOST-:GUEST   forward a host port to the guest (repeatable; needs -nic;
                     HOST 0 picks a free port)
  -guestfwd tcp:10.0.2.X:PORT-tcp:127.0.0.1:HOST   the guest's connections to 10.0.2.X:PORT reach a
                     host server that listens on 127.0.0.1:HOST before the boot (repeatable; needs -nic)
  -netpeer           run the host side of NetNIC/HostPeer against the guest's services (needs -nic;
                     forwards free ports and adds net.hostpeer=1 to the command line)
  -tap               put the NIC on a tap device in a network namespace made for this boot (needs root;
                     the guest gets a static 10.99.0.2/24, the host side 10.99.0.1 inside the namespace)
  -tap-queues N      virtio-net queue pairs on the tap (multiqueue, needs -nic virtio; default 1)
  -mcastpeer         with -tap: the host side of NetNIC/Multicast (sends to a joined and an unjoined group)
  -udp N             with -netpeer on -tap: N UDP echo datagrams, content checked
  -seqconns N        with -netpeer: N short echo connections one after another
  -conns N           with -netpeer: echo connections open at once (default 100)
  -echo-mib N        with -netpeer: MiB echoed, sent to discard and read from chargen (default 4)
  -bios seabios|qboot|ovmf firmware (default seabios; ovmf is UEFI and boots -cdrom or -usb only)
  -firmware PATH     UEFI firmware image for -bios ovmf (default: the ovmf package's OVMF.fd)
  -machine pc|q35          machine type (default QEMU's, pc)
  -cpu MODEL[,+FLAG...]    QEMU CPU model (e.g. qemu64,+pdpe1gb for 1 GiB pages; default QEMU's)
  -accel tcg|kvm           accelerator (default tcg, multi-threaded)
  -timeout DURATION  kill QEMU after this long (default 2m; none with -i; 0 = none)
  -kernel PATH       kernel image (default build/kernel.img, built with 'make build' if missing)
  -cdrom PATH        boot the bootable ISO (make image: build/smpgo.iso) from a CD instead, through GRUB;
                     the command line reaches GRUB as an SMBIOS OEM string (none: GRUB's menu)
  -usb PATH          boot the bootable ISO from a USB stick (xHCI) instead
  -elf PATH          kernel ELF for symbolising panics (default kernel.elf beside the image)
  -mark TEXT         report when the first line containing TEXT appeared (repeatable)
  -device SPEC       add a QEMU device, e.g. edu (repeatable)
  -i                 interactive: serial console and QEMU monitor on this terminal (Ctrl-A x quits)
`

// options is the parsed command line.
type options struct {
	cfg    qemu.Config
	kernel string // -kernel, "" for the default
	elf    string // -elf, "" for the default
}

// errHelp asks for the usage text.
var errHelp = errors.New("help requested")

// parseFlags turns the command line into options, or a one-line error.
func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("qemurun", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	smp := fs.String("smp", "1", "")
	numa := fs.Int("numa", 0, "")
	mem := fs.Int("mem", qemu.DefaultMemMiB, "")
	fs.StringVar(&o.cfg.NIC, "nic", qemu.NICNone, "")
	fs.Func("hostfwd", "", func(s string) error { o.cfg.HostFwd = append(o.cfg.HostFwd, s); return nil })
	fs.Func("guestfwd", "", func(s string) error { o.cfg.GuestFwd = append(o.cfg.GuestFwd, s); return nil })
	fs.StringVar(&o.cfg.BIOS, "bios", qemu.BIOSSeaBIOS, "")
	fs.StringVar(&o.cfg.Machine, "machine", "", "")
	fs.StringVar(&o.cfg.CPU, "cpu", "", "")
	fs.StringVar(&o.cfg.Accel, "accel", qemu.AccelTCG, "")
	timeout := fs.Duration("timeout", 2*time.Minute, "")
	fs.StringVar(&o.kernel, "kernel", "", "")
	fs.StringVar(&o.cfg.Firmware, "firmware", "", "")
	media := func(m string) func(string) error {
		return func(p string) error {
			if o.cfg.Media != "" {
				return fmt.Errorf("-%s: the ISO is already given by -%s", m, o.cfg.Media)
			}
			o.cfg.Media, o.cfg.Image = m, p
			return nil
		}
	}
	fs.Func("cdrom", "", media(qemu.MediaCDROM))
	fs.Func("usb", "", media(qemu.MediaUSB))
	fs.StringVar(&o.elf, "elf", "", "")
	fs.Func("mark", "", func(s string) error { o.cfg.Marks = append(o.cfg.Marks, s); return nil })
	fs.Func("device", "", func(s string) error { o.cfg.Extra = append(o.cfg.Extra, "-device", s); return nil })
	fs.BoolVar(&o.cfg.Interactive, "i", false, "")
	netpeer := fs.Bool("netpeer", false, "")
	tap := fs.Bool("tap", false, "")
	tapQueues := fs.Int("tap-queues", 0, "")
	mcastpeer := fs.Bool("mcastpeer", false, "")
	var pc qemu.NetPeerConfig
	fs.IntVar(&pc.UDPDatagrams, "udp", 0, "")
	fs.IntVar(&pc.SeqConns, "seqconns", 0, "")
	fs.IntVar(&pc.Conns, "conns", 0, "")
	echoMiB := fs.Int("echo-mib", 0, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errHelp
		}
		return o, fmt.Errorf("%v (see qemurun -h)", err)
	}
	o.cfg.Append = strings.Join(fs.Args(), " ")
	if *tapQueues != 0 && !*tap {
		return o, errors.New("-tap-queues: needs -tap")
	}
	if *tap {
		o.cfg.Tap = &qemu.TapConfig{Queues: *tapQueues}
		o.cfg.Append = strings.TrimSpace(qemu.TapGuestOptions + " " + o.cfg.Append)
	}
	if (pc.UDPDatagrams != 0 || pc.SeqConns != 0 || pc.Conns != 0 || *echoMiB != 0) && !*netpeer {
		return o, errors.New("-udp, -seqconns, -conns, -echo-mib: need -netpeer")
	}
	if pc.UDPDatagrams < 0 || pc.SeqConns < 0 || pc.Conns < 0 || *echoMiB < 0 {
		return o, errors.New("-udp, -seqconns, -conns, -echo-mib: cannot be negative")
	}
	pc.EchoBytes, pc.DiscardBytes, pc.ChargenBytes = *echoMiB<<20, *echoMiB<<20, *echoMiB<<20
	if *mcastpeer {
		switch {
		case !*tap:
			return o, errors.New("-mcastpeer: needs -tap")
		case *netpeer:
			return o, errors.New("-mcastpeer and -netpeer: one host side per boot")
		}
		o.cfg.Host, o.cfg.HostAfter = qemu.McastPeer(), qemu.McastReady
		o.cfg.Append = strings.TrimSpace("SMPGO_MCASTPEER=1 " + o.cfg.Append)
	}
	if *netpeer {
		if !*tap {
			o.cfg.HostFwd = append(o.cfg.HostFwd, qemu.NetPeerForwards()...)
		}
		o.cfg.Host, o.cfg.HostAfter = qemu.NetPeer(pc), qemu.NetPeerReady
		o.cfg.Append = strings.TrimSpace("net.hostpeer=1 " + o.cfg.Append)
	}

	s, err := qemu.ParseSMP(*smp)
	if err != nil {
		return o, err
	}
	s.Apply(&o.cfg)
	o.cfg.NUMA = *numa
	if *mem == 0 {
		return o, fmt.Errorf("-mem 0: want %d to %d MiB", qemu.MinMemMiB, qemu.MaxMemMiB)
	}
	o.cfg.MemMiB = *mem

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case *timeout < 0:
		return o, fmt.Errorf("-timeout %v: cannot be negative", *timeout)
	case set["timeout"] && *timeout == 0, !set["timeout"] && o.cfg.Interactive:
		o.cfg.Timeout = qemu.NoTimeout
	default:
		o.cfg.Timeout = *timeout
	}

	// Validate everything now, before building or booting anything.
	if o.cfg.Media != "" && o.kernel != "" {
		return o, fmt.Errorf("-kernel and -%s: boot one or the other", o.cfg.Media)
	}
	check := o.cfg
	check.Kernel = qemu.KernelImage
	if o.kernel != "" {
		check.Kernel = o.kernel
	}
	if err := check.Validate(); err != nil {
		return o, err
	}
	return o, nil
}
