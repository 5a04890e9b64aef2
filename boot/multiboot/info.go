package multiboot

import (
	"encoding/binary"
	"errors"
)

// Boot information tag types (Multiboot2 §3.6).
const (
	TagEnd            = 0
	TagCmdline        = 1
	TagBootLoaderName = 2
	TagModule         = 3
	TagBasicMeminfo   = 4
	TagBootdev        = 5
	TagMmap           = 6
	TagVBE            = 7
	TagFramebuffer    = 8
	TagELFSections    = 9
	TagAPM            = 10
	TagEFI32          = 11
	TagEFI64          = 12
	TagSMBIOS         = 13
	TagACPIOld        = 14
	TagACPINew        = 15
	TagNetwork        = 16
	TagEFIMmap        = 17
	TagEFIBS          = 18
	TagEFI32IH        = 19
	TagEFI64IH        = 20
	TagLoadBaseAddr   = 21
)

// Memory map entry types (§3.6.8).
const (
	MemoryAvailable       = 1
	MemoryReserved        = 2
	MemoryACPIReclaimable = 3
	MemoryNVS             = 4
	MemoryBadRAM          = 5
)

// Framebuffer types (§3.6.12).
const (
	FramebufferIndexed = 0
	FramebufferRGB     = 1
	FramebufferEGAText = 2
)

// EFI memory types (UEFI Specification 2.10 §7.2, EFI_MEMORY_TYPE) that
// the kernel may use once boot services have exited.
const (
	EfiLoaderCode         = 1
	EfiLoaderData         = 2
	EfiBootServicesCode   = 3
	EfiBootServicesData   = 4
	EfiConventionalMemory = 7
	EfiACPIReclaimMemory  = 9
	EfiPageSize           = 4096
)

// Sizes of the fixed parts of tags (§3.6).
const (
	infoHeaderSize       = 8  // total_size, reserved
	tagHeaderSize        = 8  // type, size
	mmapEntryMin         = 24 // base_addr, length, type, reserved
	efiDescriptorMin     = 40 // EFI_MEMORY_DESCRIPTOR up to Attribute
	framebufferCommon    = 32 // up to and including reserved
	framebufferRGBSize   = framebufferCommon + 6
	framebufferIndexSize = framebufferCommon + 2
)

// MemoryRegion is one entry of the memory map tag.
type MemoryRegion struct {
	Base, Length uint64
	Type         uint32
}

// EFIDescriptor is one EFI_MEMORY_DESCRIPTOR of the EFI memory map tag.
type EFIDescriptor struct {
	Type                uint32
	PhysStart, NumPages uint64
	Attribute           uint64
}

// Usable reports whether the OS may use the range after boot services
// have exited (UEFI §7.2, table "Memory Type Usage after
// ExitBootServices()").
func (d EFIDescriptor) Usable() bool {
	switch d.Type {
	case EfiLoaderCode, EfiLoaderData, EfiBootServicesCode, EfiBootServicesData, EfiConventionalMemory:
		return true
	}
	return false
}

// Framebuffer is the framebuffer tag (§3.6.12).
type Framebuffer struct {
	Addr                 uint64
	Pitch, Width, Height uint32
	BPP, Type            uint8
	RedPos, RedSize      uint8 // RGB only
	GreenPos, GreenSize  uint8
	BluePos, BlueSize    uint8
	PaletteColors        uint16 // indexed only
}

// Info is the decoded boot information. Its slices point into the buffer
// given to Parse.
type Info struct {
	Size int // total_size

	Cmdline    []byte // without the NUL; nil without the tag
	LoaderName []byte

	HasBasicMeminfo    bool
	MemLower, MemUpper uint32 // KiB

	HasFramebuffer bool
	Framebuffer    Framebuffer

	ACPIOld []byte // copy of the ACPI 1.0 RSDP
	ACPINew []byte // copy of the ACPI 2.0+ RSDP

	EFI64SystemTable uint64
	EFIBootServices  bool // boot services not exited (tag 18)
	HasLoadBase      bool
	LoadBase         uint32

	modules  [MaxModules][]byte // module tags' bodies
	nmodules int

	mmap           []byte
	mmapEntrySize  int
	efiMmap        []byte
	efiDescSize    int
	EFIDescVersion uint32
}

// Parse errors.
var (
	ErrInfoTruncated = errors.New("multiboot: boot information shorter than its total_size")
	ErrInfoTag       = errors.New("multiboot: boot information tag runs past total_size")
	ErrInfoNoEnd     = errors.New("multiboot: boot information has no end tag")
	ErrInfoEntry     = errors.New("multiboot: memory map entry size too small")
)

// Parse decodes the boot information structure in b (§3.6.1: total_size,
// reserved, then tags 8-byte aligned up to an end tag). Unknown tags are
// skipped. It does not allocate.
func Parse(b []byte) (Info, error) {
	le := binary.LittleEndian
	var in Info
	if len(b) < infoHeaderSize {
		return in, ErrInfoTruncated
	}
	total := le.Uint32(b)
	if uint64(total) > uint64(len(b)) || total < infoHeaderSize {
		return in, ErrInfoTruncated
	}
	in.Size = int(total)
	b = b[:total]
	for p := infoHeaderSize; ; {
		if p+tagHeaderSize > len(b) {
			return in, ErrInfoNoEnd
		}
		typ, size := le.Uint32(b[p:]), int(le.Uint32(b[p+4:]))
		if size < tagHeaderSize || size > len(b)-p {
			return in, ErrInfoTag
		}
		tag, body := b[p:p+size], b[p+tagHeaderSize:p+size]
		switch typ {
		case TagEnd:
			return in, nil
		case TagCmdline:
			in.Cmdline = cString(body)
		case TagBootLoaderName:
			in.LoaderName = cString(body)
		case TagModule:
			if len(body) < 8 {
				return in, ErrInfoTag
			}
			if in.nmodules < MaxModules {
				in.modules[in.nmodules] = body
				in.nmodules++
			}
		case TagBasicMeminfo:
			if len(body) >= 8 {
				in.HasBasicMeminfo = true
				in.MemLower, in.MemUpper = le.Uint32(body), le.Uint32(body[4:])
			}
		case TagMmap:
			if len(body) < 8 {
				return in, ErrInfoTag
			}
			in.mmapEntrySize = int(le.Uint32(body))
			if in.mmapEntrySize < mmapEntryMin {
				return in, ErrInfoEntry
			}
			in.mmap = body[8:]
		case TagEFIMmap:
			if len(body) < 8 {
				return in, ErrInfoTag
			}
			in.efiDescSize = int(le.Uint32(body))
			in.EFIDescVersion = le.Uint32(body[4:])
			if in.efiDescSize < efiDescriptorMin {
				return in, ErrInfoEntry
			}
			in.efiMmap = body[8:]
		case TagFramebuffer:
			if len(tag) >= framebufferCommon {
				in.HasFramebuffer = true
				in.Framebuffer = decodeFramebuffer(tag)
			}
		case TagACPIOld:
			in.ACPIOld = body
		case TagACPINew:
			in.ACPINew = body
		case TagEFI64:
			if len(body) >= 8 {
				in.EFI64SystemTable = le.Uint64(body)
			}
		case TagEFIBS:
			in.EFIBootServices = true
		case TagLoadBaseAddr:
			if len(body) >= 4 {
				in.HasLoadBase = true
				in.LoadBase = le.Uint32(body)
			}
		}
		p += (size + TagAlign - 1) &^ (TagAlign - 1)
	}
}

func decodeFramebuffer(tag []byte) Framebuffer {
	le := binary.LittleEndian
	fb := Framebuffer{
		Addr:   le.Uint64(tag[8:]),
		Pitch:  le.Uint32(tag[16:]),
		Width:  le.Uint32(tag[20:]),
		Height: le.Uint32(tag[24:]),
		BPP:    tag[28],
		Type:   tag[29],
	}
	switch {
	case fb.Type == FramebufferRGB && len(tag) >= framebufferRGBSize:
		c := tag[framebufferCommon:]
		fb.RedPos, fb.RedSize = c[0], c[1]
		fb.GreenPos, fb.GreenSize = c[2], c[3]
		fb.BluePos, fb.BlueSize = c[4], c[5]
	case fb.Type == FramebufferIndexed && len(tag) >= framebufferIndexSize:
		fb.PaletteColors = le.Uint16(tag[framebufferCommon:])
	}
	return fb
}

// cString returns b up to its first NUL.
func cString(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// MaxModules bounds the modules Parse records; later module tags are
// ignored.
const MaxModules = 8

// Module is one boot module (§3.6.6): the physical range the loader put
// it in and its string (GRUB's module2 arguments, QEMU's -initrd name).
type Module struct {
	Start, End uint32 // [Start, End)
	String     []byte // without the NUL
}

// ModuleCount is the number of module tags recorded.
func (in *Info) ModuleCount() int { return in.nmodules }

// Module returns module i.
func (in *Info) Module(i int) Module {
	b := in.modules[i]
	le := binary.LittleEndian
	return Module{Start: le.Uint32(b), End: le.Uint32(b[4:]), String: cString(b[8:])}
}

// HasMemoryMap reports whether the loader gave a memory map tag.
func (in *Info) HasMemoryMap() bool { return in.mmap != nil }

// MemoryCount is the number of memory map entries.
func (in *Info) MemoryCount() int {
	if in.mmapEntrySize == 0 {
		return 0
	}
	return len(in.mmap) / in.mmapEntrySize
}

// Memory returns memory map entry i.
func (in *Info) Memory(i int) MemoryRegion {
	e := in.mmap[i*in.mmapEntrySize:]
	le := binary.LittleEndian
	return MemoryRegion{Base: le.Uint64(e), Length: le.Uint64(e[8:]), Type: le.Uint32(e[16:])}
}

// HasEFIMemoryMap reports whether the loader gave an EFI memory map tag.
func (in *Info) HasEFIMemoryMap() bool { return in.efiMmap != nil }

// EFIMemoryCount is the number of EFI memory descriptors.
func (in *Info) EFIMemoryCount() int {
	if in.efiDescSize == 0 {
		return 0
	}
	return len(in.efiMmap) / in.efiDescSize
}

// EFIMemory returns EFI memory descriptor i.
func (in *Info) EFIMemory(i int) EFIDescriptor {
	d := in.efiMmap[i*in.efiDescSize:]
	le := binary.LittleEndian
	return EFIDescriptor{Type: le.Uint32(d), PhysStart: le.Uint64(d[8:]), NumPages: le.Uint64(d[24:]), Attribute: le.Uint64(d[32:])}
}

// RSDP returns the loader's copy of the ACPI RSDP: the ACPI 2.0+ one when
// given, else the ACPI 1.0 one, else nil.
func (in *Info) RSDP() []byte {
	if len(in.ACPINew) > 0 {
		return in.ACPINew
	}
	if len(in.ACPIOld) > 0 {
		return in.ACPIOld
	}
	return nil
}
