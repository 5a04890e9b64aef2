package qemu

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tail is what every non-interactive, NIC-less boot ends with.
var defaultTail = []string{
	"-display", "none", "-no-reboot",
	"-serial", "stdio", "-monitor", "none",
	"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
	"-nic", "none",
}

func TestArgsDefault(t *testing.T) {
	args, err := Config{Kernel: "build/kernel.img"}.Args()
	require.NoError(t, err)
	want := append([]string{
		"-accel", "tcg,thread=multi", "-m", "1024", "-smp", "1",
		"-kernel", "build/kernel.img",
	}, defaultTail...)
	require.Equal(t, want, args)
}

func TestArgsEverything(t *testing.T) {
	c := Config{
		SMP: 4, Sockets: 2, Cores: 2,
		NUMA:    2,
		MemMiB:  512,
		NIC:     NICVirtio,
		HostFwd: []string{"tcp:127.0.0.1:8080-:80", "udp:127.0.0.1:5353-:53"},
		BIOS:    BIOSQboot,
		Machine: MachineQ35,
		Accel:   AccelKVM,
		Kernel:  "/k.img",
		Append:  "test=. log=debug",
		Modules: []string{"/tmp/a.tar", "b.tar.gz"},
		Extra:   []string{"-d", "int"},
	}
	args, err := c.Args()
	require.NoError(t, err)
	require.Equal(t, []string{
		"-machine", "q35",
		"-accel", "kvm",
		"-m", "512",
		"-smp", "4,sockets=2,cores=2,threads=1",
		"-object", "memory-backend-ram,id=m0,size=256M",
		"-object", "memory-backend-ram,id=m1,size=256M",
		"-numa", "node,nodeid=0,cpus=0-1,memdev=m0",
		"-numa", "node,nodeid=1,cpus=2-3,memdev=m1",
		"-numa", "dist,src=0,dst=1,val=20",
		"-numa", "dist,src=1,dst=0,val=20",
		"-bios", "qboot.rom",
		"-kernel", "/k.img",
		"-append", "test=. log=debug",
		"-initrd", "/tmp/a.tar,b.tar.gz",
		"-display", "none", "-no-reboot",
		"-serial", "stdio", "-monitor", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-netdev", "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:127.0.0.1:5353-:53",
		"-device", "virtio-net-pci,disable-legacy=on,netdev=n0",
		"-d", "int",
	}, args)
}

// TestArgsISO: the ISO boots from a CD or a USB stick, under SeaBIOS or
// OVMF, read-only, with the command line as an SMBIOS OEM string for
// GRUB (commas doubled, as in every QEMU option value).
func TestArgsISO(t *testing.T) {
	args, err := Config{Media: MediaCDROM, Image: "build/smpgo.iso", SMP: 4, MemMiB: 4096, Append: "test=Kern/|SMP/"}.Args()
	require.NoError(t, err)
	require.Equal(t, append([]string{
		"-accel", "tcg,thread=multi", "-m", "4096", "-smp", "4",
		"-drive", "if=ide,index=2,media=cdrom,readonly=on,format=raw,file=build/smpgo.iso",
		"-smbios", "type=11,value=smpgo:test=Kern/|SMP/",
	}, defaultTail...), args)

	args, err = Config{Media: MediaUSB, Image: "/tmp/a,b.iso", BIOS: BIOSOVMF, Firmware: "/fw/OVMF.fd", Machine: MachineQ35, Append: "x=1,2"}.Args()
	require.NoError(t, err)
	require.Equal(t, append([]string{
		"-machine", "q35", "-accel", "tcg,thread=multi", "-m", "1024", "-smp", "1",
		"-bios", "/fw/OVMF.fd",
		"-drive", "if=none,id=stick,readonly=on,format=raw,file=/tmp/a,,b.iso",
		"-device", "qemu-xhci,id=xhci", "-device", "usb-storage,bus=xhci.0,drive=stick",
		"-smbios", "type=11,value=smpgo:x=1,,2",
	}, defaultTail...), args)

	args, err = Config{Media: MediaCDROM, Image: "i.iso", BIOS: BIOSOVMF}.Args()
	require.NoError(t, err)
	require.Contains(t, args, DefaultOVMF)
	require.NotContains(t, args, "-smbios", "no command line: GRUB shows its menu")
	require.NotContains(t, args, "-kernel")
}

func TestArgsTopologyGivesSMP(t *testing.T) {
	args, err := Config{Kernel: "k", Sockets: 2, Threads: 2}.Args()
	require.NoError(t, err)
	require.Contains(t, args, "4,sockets=2,cores=1,threads=2")
}

func TestArgsE1000(t *testing.T) {
	args, err := Config{Kernel: "k", NIC: NICE1000}.Args()
	require.NoError(t, err)
	require.Equal(t, []string{"-netdev", "user,id=n0,restrict=on", "-device", "e1000,netdev=n0"}, args[len(args)-4:])
	require.NotContains(t, args, "-nic")
}

func TestArgsInteractive(t *testing.T) {
	args, err := Config{Kernel: "k", Interactive: true, Machine: MachinePC, BIOS: BIOSSeaBIOS, Accel: AccelTCG}.Args()
	require.NoError(t, err)
	require.Equal(t, []string{
		"-machine", "pc", "-accel", "tcg,thread=multi", "-m", "1024", "-smp", "1",
		"-kernel", "k", "-display", "none", "-no-reboot",
		"-serial", "mon:stdio",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-nic", "none",
	}, args)
}

func TestArgsCPU(t *testing.T) {
	args, err := Config{Kernel: "k", CPU: "qemu64,+pdpe1gb"}.Args()
	require.NoError(t, err)
	require.Equal(t, []string{"-accel", "tcg,thread=multi", "-cpu", "qemu64,+pdpe1gb", "-m", "1024"}, args[:6])
	args, err = Config{Kernel: "k", CPU: "max,pcid=on,-x2apic"}.Args()
	require.NoError(t, err)
	require.Contains(t, args, "max,pcid=on,-x2apic")
	args, err = Config{Kernel: "k"}.Args()
	require.NoError(t, err)
	require.NotContains(t, args, "-cpu")
	for _, bad := range []string{"qemu64 -smp 8", "max,", ",+pdpe1gb", "qemu64,+pdpe1gb,file=/etc/passwd"} {
		_, err := Config{Kernel: "k", CPU: bad}.Args()
		require.Error(t, err, bad)
	}
}

func TestArgsErrors(t *testing.T) {
	ok := Config{Kernel: "k"}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Kernel = "" }, "qemu: -kernel: no kernel image given"},
		{func(c *Config) { c.SMP = -1 }, "qemu: -smp -1: need at least 1 CPU"},
		{func(c *Config) { c.SMP = 300 }, "qemu: -smp 300: at most 255 CPUs (more need x2APIC with interrupt remapping)"},
		{func(c *Config) { c.SMP, c.Sockets = 4, 3 }, "qemu: -smp 4,sockets=3,cores=1,threads=1: 3 sockets × 1 cores × 1 threads = 3 CPUs, not 4"},
		{func(c *Config) { c.SMP, c.Cores = 4, -2 }, "qemu: -smp 4,cores=-2: cores must be at least 1"},
		{func(c *Config) { c.MemMiB = 8 }, "qemu: -mem 8: want 16 to 1048576 MiB"},
		{func(c *Config) { c.MemMiB = -1 }, "qemu: -mem -1: want 16 to 1048576 MiB"},
		{func(c *Config) { c.NUMA = -1 }, "qemu: -numa -1: the node count cannot be negative"},
		{func(c *Config) { c.NUMA = 3 }, "qemu: -numa 3: 1024 MiB does not split into 3 nodes of a whole, even number of MiB"},
		{func(c *Config) { c.NUMA, c.MemMiB = 2, 1026 }, "qemu: -numa 2: 1026 MiB does not split into 2 nodes of a whole, even number of MiB"},
		{func(c *Config) { c.NIC = "rtl8139" }, "qemu: -nic rtl8139: want none, e1000 or virtio"},
		{func(c *Config) { c.HostFwd = []string{"tcp:127.0.0.1:80-:80"} }, "qemu: -hostfwd tcp:127.0.0.1:80-:80: needs a NIC (-nic e1000 or -nic virtio)"},
		{func(c *Config) { c.NIC, c.HostFwd = NICE1000, []string{"tcp:0.0.0.0:80-:80"} }, `qemu: -hostfwd tcp:0.0.0.0:80-:80: host address "0.0.0.0" is not 127.0.0.1 (want tcp:127.0.0.1:HOSTPORT-:GUESTPORT)`},
		{func(c *Config) { c.BIOS = "uboot" }, "qemu: -bios uboot: want seabios, qboot or ovmf"},
		{func(c *Config) { c.BIOS = BIOSOVMF }, "qemu: -bios ovmf: UEFI boots the ISO only (-cdrom or -usb), not -kernel"},
		{func(c *Config) { c.Media, c.Image, c.BIOS = MediaUSB, "i.iso", BIOSQboot }, "qemu: -bios qboot: boots -kernel only, not the ISO (-usb)"},
		{func(c *Config) { c.Media = MediaCDROM }, "qemu: -cdrom: no bootable image given"},
		{func(c *Config) { c.Media = "floppy" }, "qemu: media floppy: want kernel, cdrom or usb"},
		{func(c *Config) { c.Machine = "microvm" }, "qemu: -machine microvm: want pc or q35"},
		{func(c *Config) { c.Accel = "hvf" }, "qemu: -accel hvf: want tcg or kvm"},
		{func(c *Config) { c.Append = "a\nb" }, `qemu: kernel command line "a\nb": unprintable character at byte 1`},
		{func(c *Config) { c.Marks = []string{"ok", ""} }, "qemu: marks: an empty mark would match every line"},
		{func(c *Config) { c.Modules = []string{"a,b.tar"} }, `qemu: -fs "a,b.tar": a module path cannot be empty or hold commas or blanks`},
		{func(c *Config) { c.Modules = []string{""} }, `qemu: -fs "": a module path cannot be empty or hold commas or blanks`},
		{func(c *Config) { c.Media, c.Image, c.Modules = MediaCDROM, "i.iso", []string{"a.tar"} }, "qemu: -fs a.tar: boot modules need -kernel media (GRUB's would come from the image)"},
	} {
		c := ok
		tc.edit(&c)
		_, err := c.Args()
		require.EqualError(t, err, tc.want)
		require.EqualError(t, c.Validate(), tc.want)
	}
	require.NoError(t, ok.Validate())
}

func TestEffectiveTimeout(t *testing.T) {
	require.Equal(t, DefaultTimeout, Config{}.EffectiveTimeout())
	require.Equal(t, time.Second, Config{Timeout: time.Second}.EffectiveTimeout())
	require.Equal(t, time.Duration(0), Config{Timeout: NoTimeout}.EffectiveTimeout())
	require.Equal(t, time.Duration(0), Config{Interactive: true}.EffectiveTimeout())
	require.Equal(t, time.Second, Config{Interactive: true, Timeout: time.Second}.EffectiveTimeout())
}

func TestWithDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	require.Equal(t, Config{SMP: 1, MemMiB: 1024, NIC: "none", BIOS: "seabios", Media: "kernel", Accel: "tcg", Binary: "qemu-system-x86_64"}, c)
	require.Equal(t, 6, Config{Sockets: 3, Threads: 2}.withDefaults().SMP)
}
