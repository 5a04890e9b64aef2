package qemu

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Validate reports the first field of c that QEMU or the kernel could
// not use, with an error naming the qemurun flag it comes from.
func (c Config) Validate() error {
	_, err := c.validated()
	return err
}

// validated returns c with its defaults, or why it is unusable.
func (c Config) validated() (Config, error) {
	c = c.withDefaults()
	switch c.Media {
	case MediaKernel:
		if c.Kernel == "" {
			return c, errors.New("qemu: -kernel: no kernel image given")
		}
	case MediaCDROM, MediaUSB:
		if c.Image == "" {
			return c, fmt.Errorf("qemu: -%s: no bootable image given", c.Media)
		}
	default:
		return c, fmt.Errorf("qemu: media %s: want kernel, cdrom or usb", c.Media)
	}
	if err := checkSMP(c.smp()); err != nil {
		return c, err
	}
	if c.MemMiB < MinMemMiB || c.MemMiB > MaxMemMiB {
		return c, fmt.Errorf("qemu: -mem %d: want %d to %d MiB", c.MemMiB, MinMemMiB, MaxMemMiB)
	}
	if len(c.Modules) > 0 && c.Media != MediaKernel {
		return c, fmt.Errorf("qemu: -fs %s: boot modules need -kernel media (GRUB's would come from the image)", c.Modules[0])
	}
	for _, m := range c.Modules {
		if m == "" || strings.ContainsAny(m, ", \t\n") {
			return c, fmt.Errorf("qemu: -fs %q: a module path cannot be empty or hold commas or blanks", m)
		}
	}
	if c.NUMA < 0 {
		return c, fmt.Errorf("qemu: -numa %d: the node count cannot be negative", c.NUMA)
	}
	if c.NUMA > 0 {
		if _, err := SplitNUMA(c.NUMA, c.SMP, c.MemMiB); err != nil {
			return c, err
		}
	}
	switch c.NIC {
	case NICNone:
		if len(c.HostFwd) > 0 {
			return c, fmt.Errorf("qemu: -hostfwd %s: needs a NIC (-nic e1000 or -nic virtio)", c.HostFwd[0])
		}
		if len(c.GuestFwd) > 0 || len(c.GuestServers) > 0 {
			return c, errors.New("qemu: guest forwards need a NIC (-nic e1000 or -nic virtio)")
		}
	case NICE1000, NICVirtio:
	default:
		return c, fmt.Errorf("qemu: -nic %s: want none, e1000 or virtio", c.NIC)
	}
	if c.Tap != nil {
		if err := c.Tap.validate(c.NIC, c.HostFwd); err != nil {
			return c, err
		}
		if len(c.GuestFwd) > 0 || len(c.GuestServers) > 0 {
			return c, errors.New("qemu: guest forwards are user networking's: not on a tap boot")
		}
	}
	for _, f := range c.HostFwd {
		if _, err := ParseHostFwd(f); err != nil {
			return c, err
		}
	}
	for _, f := range c.GuestFwd {
		if _, err := ParseGuestFwd(f); err != nil {
			return c, err
		}
	}
	if c.CPU != "" && !cpuModel.MatchString(c.CPU) {
		return c, fmt.Errorf("qemu: -cpu %q: want a model and feature flags (e.g. qemu64,+pdpe1gb)", c.CPU)
	}
	switch {
	case c.BIOS != BIOSSeaBIOS && c.BIOS != BIOSQboot && c.BIOS != BIOSOVMF:
		return c, fmt.Errorf("qemu: -bios %s: want seabios, qboot or ovmf", c.BIOS)
	case c.BIOS == BIOSOVMF && c.Media == MediaKernel:
		return c, errors.New("qemu: -bios ovmf: UEFI boots the ISO only (-cdrom or -usb), not -kernel")
	case c.BIOS == BIOSQboot && c.Media != MediaKernel:
		return c, fmt.Errorf("qemu: -bios qboot: boots -kernel only, not the ISO (-%s)", c.Media)
	}
	if c.Machine != "" && c.Machine != MachinePC && c.Machine != MachineQ35 {
		return c, fmt.Errorf("qemu: -machine %s: want pc or q35", c.Machine)
	}
	if c.Accel != AccelTCG && c.Accel != AccelKVM {
		return c, fmt.Errorf("qemu: -accel %s: want tcg or kvm", c.Accel)
	}
	if i := strings.IndexFunc(c.Append, func(r rune) bool { return !unicode.IsPrint(r) }); i >= 0 {
		return c, fmt.Errorf("qemu: kernel command line %q: unprintable character at byte %d", c.Append, i)
	}
	for _, m := range c.Marks {
		if m == "" {
			return c, errors.New("qemu: marks: an empty mark would match every line")
		}
	}
	switch {
	case len(c.Monitor) > 0 && c.MonitorAfter == "":
		return c, errors.New("qemu: monitor commands need a line to wait for (MonitorAfter)")
	case c.SerialInput != "" && c.SerialAfter == "":
		return c, errors.New("qemu: serial input needs a line to wait for (SerialAfter)")
	case c.SerialInput != "" && c.Interactive:
		return c, errors.New("qemu: serial input is for non-interactive runs")
	case len(c.Monitor) > 0 && c.Interactive:
		return c, errors.New("qemu: monitor commands: the monitor is on the terminal in an interactive run")
	}
	return c, nil
}

// cpuModel is a -cpu value: a model name, then comma-separated +flag,
// -flag or key=value options.
var cpuModel = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*(,[-+]?[A-Za-z0-9_.-]+(=[A-Za-z0-9_.-]+)?)*$`)

// Args returns QEMU's argument list (without the program name) for c,
// or why c is invalid. It has no side effects: files are not checked.
func (c Config) Args() ([]string, error) {
	c, err := c.validated()
	if err != nil {
		return nil, err
	}
	var a []string
	add := func(s ...string) { a = append(a, s...) }
	if c.Machine != "" {
		add("-machine", c.Machine)
	}
	if c.Accel == AccelTCG {
		add("-accel", "tcg,thread=multi")
	} else {
		add("-accel", c.Accel)
	}
	if c.CPU != "" {
		add("-cpu", c.CPU)
	}
	add("-m", strconv.Itoa(c.MemMiB))
	add("-smp", c.smp().String())
	if c.NUMA > 0 {
		nodes, _ := SplitNUMA(c.NUMA, c.SMP, c.MemMiB) // checked by validated
		add(numaArgs(nodes)...)
	}
	switch c.BIOS {
	case BIOSQboot:
		add("-bios", "qboot.rom")
	case BIOSOVMF:
		fw := c.Firmware
		if fw == "" {
			fw = DefaultOVMF
		}
		add("-bios", fw)
	}
	switch c.Media {
	case MediaKernel:
		add("-kernel", c.Kernel)
		if c.Append != "" {
			add("-append", c.Append)
		}
		if len(c.Modules) > 0 {
			add("-initrd", strings.Join(c.Modules, ","))
		}
	case MediaCDROM:
		// What -cdrom expands to, with the path escaped.
		add("-drive", "if=ide,index=2,media=cdrom,readonly=on,format=raw,file="+optEscape(c.Image))
	case MediaUSB:
		add("-drive", "if=none,id=stick,readonly=on,format=raw,file="+optEscape(c.Image),
			"-device", "qemu-xhci,id=xhci", "-device", "usb-storage,bus=xhci.0,drive=stick")
	}
	if c.Media != MediaKernel && c.Append != "" {
		add("-smbios", "type=11,value="+optEscape(OEMPrefix+c.Append))
	}
	add("-display", "none", "-no-reboot")
	if c.Interactive {
		add("-serial", "mon:stdio")
	} else {
		mon := "none"
		if c.monitorSock != "" {
			mon = "unix:" + c.monitorSock + ",server=on,wait=off"
		}
		add("-serial", "stdio", "-monitor", mon)
	}
	add("-device", debugExitIO)
	if c.Tap != nil {
		add(tapNICArgs(c.NIC, *c.Tap)...)
	} else {
		add(nicArgs(c.NIC, c.HostFwd, c.GuestFwd)...)
	}
	add(c.Extra...)
	return a, nil
}

// nicArgs returns the network arguments for nic: "-nic none" turns off
// QEMU's default e1000 (which would have unrestricted user networking).
func nicArgs(nic string, fwds, guestFwds []string) []string {
	if nic == NICNone {
		return []string{"-nic", "none"}
	}
	netdev := "user,id=n0,restrict=on"
	for _, f := range fwds {
		netdev += ",hostfwd=" + f
	}
	for _, f := range guestFwds {
		netdev += ",guestfwd=" + f
	}
	dev := "e1000"
	if nic == NICVirtio {
		// Modern (virtio 1.x) only: no legacy I/O BAR, PCI ID 1af4:1041.
		dev = "virtio-net-pci,disable-legacy=on"
	}
	return []string{"-netdev", netdev, "-device", dev + ",netdev=n0"}
}

// optEscape doubles the commas in a QEMU option value, which would
// otherwise end it.
func optEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }
