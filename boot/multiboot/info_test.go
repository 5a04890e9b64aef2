package multiboot

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// infoBuilder writes a boot information structure the way GRUB does
// (grub-core/loader/multiboot_mbi2.c): tags 8-byte aligned, total_size
// first, an end tag last.
type infoBuilder struct{ b []byte }

func newInfo() *infoBuilder { return &infoBuilder{b: make([]byte, 8)} }

func (ib *infoBuilder) tag(typ uint32, body []byte) *infoBuilder {
	ib.b = binary.LittleEndian.AppendUint32(ib.b, typ)
	ib.b = binary.LittleEndian.AppendUint32(ib.b, uint32(8+len(body)))
	ib.b = append(ib.b, body...)
	for len(ib.b)%8 != 0 {
		ib.b = append(ib.b, 0xAA) // padding is not zero in the wild
	}
	return ib
}

func (ib *infoBuilder) bytes() []byte {
	ib.tag(TagEnd, nil)
	binary.LittleEndian.PutUint32(ib.b, uint32(len(ib.b)))
	return ib.b
}

func words(vs ...any) []byte {
	var b []byte
	for _, v := range vs {
		switch v := v.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case string:
			b = append(b, v...)
		default:
			panic("words: bad type")
		}
	}
	return b
}

func mmapTag(entries ...MemoryRegion) []byte {
	b := words(uint32(24), uint32(0))
	for _, e := range entries {
		b = append(b, words(e.Base, e.Length, e.Type, uint32(0))...)
	}
	return b
}

// efiMmapTag writes descriptors of 48 bytes, as OVMF reports them (the
// specification's 40 plus padding).
func efiMmapTag(ds ...EFIDescriptor) []byte {
	b := words(uint32(48), uint32(1))
	for _, d := range ds {
		b = append(b, words(d.Type, uint32(0), d.PhysStart, uint64(0), d.NumPages, d.Attribute, uint64(0))...)
	}
	return b
}

var qemuPCMap = []MemoryRegion{
	{0, 0x9fc00, MemoryAvailable},
	{0x9fc00, 0x400, MemoryReserved},
	{0xf0000, 0x10000, MemoryReserved},
	{0x100000, 0xbfee0000, MemoryAvailable},
	{0xbffe0000, 0x20000, MemoryReserved},
	{0x100000000, 0x40000000, MemoryAvailable},
}

func TestParseBIOSInfo(t *testing.T) {
	rsdp := words("RSD PTR ", uint8(0x4a), "BOCHS ", uint8(0), uint32(0x7fe14d2))
	b := newInfo().
		tag(TagLoadBaseAddr, words(uint32(0xffe000))).
		tag(TagCmdline, words("test=Kern/ GOGC=50", uint8(0))).
		tag(TagBootLoaderName, words("GRUB 2.06-13+deb12u2", uint8(0))).
		tag(TagMmap, mmapTag(qemuPCMap...)).
		tag(TagBasicMeminfo, words(uint32(639), uint32(3144576))).
		tag(0x7777, words("an unknown tag is skipped")).
		tag(TagFramebuffer, words(uint64(0xb8000), uint32(160), uint32(80), uint32(25), uint8(16), uint8(FramebufferEGAText), uint16(0))).
		tag(TagACPIOld, rsdp).
		bytes()
	in, err := Parse(b)
	require.NoError(t, err)
	require.Equal(t, len(b), in.Size)
	require.Equal(t, "test=Kern/ GOGC=50", string(in.Cmdline))
	require.Equal(t, "GRUB 2.06-13+deb12u2", string(in.LoaderName))
	require.True(t, in.HasBasicMeminfo)
	require.Equal(t, uint32(639), in.MemLower)
	require.True(t, in.HasLoadBase)
	require.Equal(t, uint32(0xffe000), in.LoadBase)

	require.True(t, in.HasMemoryMap())
	require.Equal(t, len(qemuPCMap), in.MemoryCount())
	for i, want := range qemuPCMap {
		require.Equal(t, want, in.Memory(i), "entry %d", i)
	}
	require.False(t, in.HasEFIMemoryMap())
	require.Zero(t, in.EFIMemoryCount())

	require.True(t, in.HasFramebuffer)
	require.Equal(t, Framebuffer{Addr: 0xb8000, Pitch: 160, Width: 80, Height: 25, BPP: 16, Type: FramebufferEGAText}, in.Framebuffer)
	require.Equal(t, rsdp, in.RSDP())
	require.Nil(t, in.ACPINew)
}

func TestParseUEFIInfo(t *testing.T) {
	rsdp1 := words("RSD PTR ", uint8(0), "OVMF  ", uint8(0), uint32(0xbfb7e000))
	rsdp2 := append(words("RSD PTR ", uint8(0), "OVMF  ", uint8(2), uint32(0xbfb7e000), uint32(36), uint64(0xbfb7e0e8)), 0, 0, 0, 0)
	descs := []EFIDescriptor{
		{Type: EfiBootServicesCode, PhysStart: 0, NumPages: 1, Attribute: 0xf},
		{Type: EfiConventionalMemory, PhysStart: 0x1000, NumPages: 0x9f},
		{Type: 0 /* reserved */, PhysStart: 0xa0000, NumPages: 0x60},
		{Type: EfiLoaderData, PhysStart: 0x100000, NumPages: 0x700},
		{Type: 6 /* runtime services data */, PhysStart: 0xbf000000, NumPages: 0x10, Attribute: 1 << 63},
		{Type: EfiACPIReclaimMemory, PhysStart: 0xbfb7e000, NumPages: 1},
		{Type: EfiConventionalMemory, PhysStart: 0x100000000, NumPages: 0x40000},
	}
	b := newInfo().
		tag(TagCmdline, words(uint8(0))).
		tag(TagMmap, mmapTag(qemuPCMap[:2]...)).
		tag(TagFramebuffer, words(uint64(0x80000000), uint32(3200), uint32(800), uint32(600), uint8(32), uint8(FramebufferRGB), uint16(0),
			uint8(16), uint8(8), uint8(8), uint8(8), uint8(0), uint8(8))).
		tag(TagEFI64, words(uint64(0xbf5ee018))).
		tag(TagACPIOld, rsdp1).
		tag(TagACPINew, rsdp2).
		tag(TagEFIMmap, efiMmapTag(descs...)).
		bytes()
	in, err := Parse(b)
	require.NoError(t, err)
	require.NotNil(t, in.Cmdline)
	require.Empty(t, in.Cmdline)
	require.Equal(t, uint64(0xbf5ee018), in.EFI64SystemTable)
	require.False(t, in.EFIBootServices)
	require.Equal(t, rsdp2, in.RSDP(), "the ACPI 2.0 copy wins")
	require.Equal(t, rsdp1, in.ACPIOld)
	require.Equal(t, Framebuffer{Addr: 0x80000000, Pitch: 3200, Width: 800, Height: 600, BPP: 32, Type: FramebufferRGB,
		RedPos: 16, RedSize: 8, GreenPos: 8, GreenSize: 8, BluePos: 0, BlueSize: 8}, in.Framebuffer)

	require.True(t, in.HasEFIMemoryMap())
	require.Equal(t, uint32(1), in.EFIDescVersion)
	require.Equal(t, len(descs), in.EFIMemoryCount())
	var usable []uint64
	for i := range in.EFIMemoryCount() {
		d := in.EFIMemory(i)
		require.Equal(t, descs[i], d)
		if d.Usable() {
			usable = append(usable, d.PhysStart)
		}
	}
	require.Equal(t, []uint64{0, 0x1000, 0x100000, 0x100000000}, usable)
}

func TestParseIndexedFramebuffer(t *testing.T) {
	b := newInfo().tag(TagFramebuffer, words(uint64(0xfd000000), uint32(1024), uint32(1024), uint32(768), uint8(8), uint8(FramebufferIndexed), uint16(0), uint16(256))).bytes()
	in, err := Parse(b)
	require.NoError(t, err)
	require.Equal(t, uint16(256), in.Framebuffer.PaletteColors)
	require.Equal(t, uint8(8), in.Framebuffer.BPP)
}

func TestParseErrors(t *testing.T) {
	good := newInfo().tag(TagCmdline, words("x", uint8(0))).bytes()
	_, err := Parse(good)
	require.NoError(t, err)

	_, err = Parse(good[:4])
	require.ErrorIs(t, err, ErrInfoTruncated)
	_, err = Parse(good[:len(good)-8])
	require.ErrorIs(t, err, ErrInfoTruncated, "total_size beyond the buffer")

	noEnd := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(noEnd, uint32(len(good)-8))
	_, err = Parse(noEnd)
	require.ErrorIs(t, err, ErrInfoNoEnd)

	longTag := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(longTag[12:], 100)
	_, err = Parse(longTag)
	require.ErrorIs(t, err, ErrInfoTag)

	shortTag := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(shortTag[12:], 4)
	_, err = Parse(shortTag)
	require.ErrorIs(t, err, ErrInfoTag)

	smallEntry := newInfo().tag(TagMmap, words(uint32(16), uint32(0), uint64(0), uint64(0))).bytes()
	_, err = Parse(smallEntry)
	require.ErrorIs(t, err, ErrInfoEntry)
	smallDesc := newInfo().tag(TagEFIMmap, words(uint32(24), uint32(1))).bytes()
	_, err = Parse(smallDesc)
	require.ErrorIs(t, err, ErrInfoEntry)
}

// TestParseDoesNotAllocate: the kernel parses before the Go runtime
// exists.
func TestParseDoesNotAllocate(t *testing.T) {
	b := newInfo().
		tag(TagCmdline, words("test=.", uint8(0))).
		tag(TagMmap, mmapTag(qemuPCMap...)).
		tag(TagEFIMmap, efiMmapTag(EFIDescriptor{Type: EfiConventionalMemory, NumPages: 1})).
		tag(TagACPINew, words("RSD PTR ")).
		bytes()
	var sum uint64
	allocs := testing.AllocsPerRun(100, func() {
		in, err := Parse(b)
		if err != nil {
			panic(err)
		}
		for i := range in.MemoryCount() {
			sum += in.Memory(i).Length
		}
		for i := range in.EFIMemoryCount() {
			sum += in.EFIMemory(i).NumPages
		}
	})
	require.Zero(t, allocs)
	require.NotZero(t, sum)
}

func TestParseModules(t *testing.T) {
	ib := newInfo().tag(TagMmap, mmapTag(qemuPCMap...))
	ib.tag(TagModule, words(uint32(0x2000000), uint32(0x2345678), "initfs.tar dir=/srv", uint8(0)))
	ib.tag(TagModule, words(uint32(0x3000000), uint32(0x3000010))) // no string at all
	for i := range MaxModules {
		ib.tag(TagModule, words(uint32(0x4000000+i*0x1000), uint32(0x4000000+i*0x1000+1), uint8(0)))
	}
	in, err := Parse(ib.bytes())
	require.NoError(t, err)
	require.Equal(t, MaxModules, in.ModuleCount(), "modules beyond MaxModules are ignored")
	require.Equal(t, Module{Start: 0x2000000, End: 0x2345678, String: []byte("initfs.tar dir=/srv")}, in.Module(0))
	require.Equal(t, uint32(0x3000010), in.Module(1).End)
	require.Empty(t, in.Module(1).String)

	short := newInfo().tag(TagModule, words(uint32(1))).bytes()
	_, err = Parse(short)
	require.ErrorIs(t, err, ErrInfoTag, "a module tag without its addresses")
}
