package multiboot

import (
	"encoding/binary"
	"errors"
)

// Values found in EAX at the kernel's entry (Multiboot 0.6.96 §3.2,
// Multiboot2 §3.2).
const (
	BootMagic1 = 0x2BADB002 // loaded by a multiboot 1 loader (QEMU -kernel)
	BootMagic2 = 0x36D76289 // loaded by a multiboot2 loader (GRUB multiboot2)
)

// Multiboot2 header (§3.1.1): magic, architecture, header_length,
// checksum, then 8-byte-aligned tags, ending with an end tag. It must lie
// in the image's first 32 KiB, 8-byte aligned.
const (
	HeaderMagic       = 0xE85250D6
	ArchI386          = 0 // 32-bit protected mode entry
	HeaderSearch      = 32768
	HeaderAlign       = 8
	TagAlign          = 8
	HeaderTagOptional = 1 // flags bit 0 of a header tag
)

// Header tag types (§3.1.3–§3.1.13).
const (
	HeaderTagEnd          = 0
	HeaderTagInfoRequest  = 1
	HeaderTagAddress      = 2
	HeaderTagEntryAddress = 3
	HeaderTagConsoleFlags = 4
	HeaderTagFramebuffer  = 5
	HeaderTagModuleAlign  = 6
	HeaderTagEFIBS        = 7
	HeaderTagEntryEFI32   = 8
	HeaderTagEntryEFI64   = 9
	HeaderTagRelocatable  = 10
)

// Console flags (§3.1.6).
const (
	ConsoleFlagsConsoleRequired  = 1 << 0
	ConsoleFlagsEGATextSupported = 1 << 1
)

// Layout is where a flat image (the a.out kludge: address tag plus entry
// tag) is loaded: the header at HeaderAddr, the file's bytes from LoadAddr
// to LoadEnd, zeroes from there to BSSEnd, and the 32-bit entry point.
type Layout struct {
	HeaderAddr, LoadAddr, LoadEnd, BSSEnd, Entry uint32
}

// Framebuffer preference for the header's framebuffer tag (§3.1.10):
// zero fields mean "no preference".
type FramebufferPref struct {
	Width, Height, Depth uint32
}

// Requested lists the information tags the kernel asks for (§3.1.4): it
// reads these, and a loader that cannot give one boots anyway (the request
// tag is optional).
var Requested = []uint32{TagCmdline, TagMmap, TagFramebuffer, TagACPIOld, TagACPINew, TagEFIMmap}

// Header2 returns a multiboot2 header for a flat image with layout l: an
// optional information request, the address and entry tags, the console
// flags (EGA text supported) and, if fb is not nil, an optional
// framebuffer tag (a loader then may set a graphics mode).
func Header2(l Layout, fb *FramebufferPref) []byte {
	var b []byte
	le := binary.LittleEndian
	u32 := func(v uint32) { b = le.AppendUint32(b, v) }
	tag := func(typ, flags uint16, body ...uint32) {
		b = le.AppendUint16(b, typ)
		b = le.AppendUint16(b, flags)
		u32(uint32(8 + 4*len(body)))
		for _, v := range body {
			u32(v)
		}
		for len(b)%TagAlign != 0 {
			b = append(b, 0)
		}
	}
	u32(HeaderMagic)
	u32(ArchI386)
	u32(0) // header_length, filled in below
	u32(0) // checksum
	tag(HeaderTagInfoRequest, HeaderTagOptional, Requested...)
	tag(HeaderTagAddress, 0, l.HeaderAddr, l.LoadAddr, l.LoadEnd, l.BSSEnd)
	tag(HeaderTagEntryAddress, 0, l.Entry)
	tag(HeaderTagConsoleFlags, 0, ConsoleFlagsEGATextSupported)
	if fb != nil {
		tag(HeaderTagFramebuffer, HeaderTagOptional, fb.Width, fb.Height, fb.Depth)
	}
	tag(HeaderTagEnd, 0)
	le.PutUint32(b[8:], uint32(len(b)))
	le.PutUint32(b[12:], -(HeaderMagic + ArchI386 + uint32(len(b))))
	return b
}

// HeaderInfo is what a loader reads from a multiboot2 header.
type HeaderInfo struct {
	Offset       int // of the header in the image
	Layout       Layout
	HasAddress   bool
	HasEntry     bool
	ConsoleFlags uint32
	Framebuffer  *FramebufferPref
	Requests     []uint32
	RequestFlags uint16
}

// Header errors.
var (
	ErrNoHeader     = errors.New("multiboot: no multiboot2 header in the first 32 KiB")
	ErrHeaderLength = errors.New("multiboot: multiboot2 header length runs past the image")
	ErrHeaderTag    = errors.New("multiboot: multiboot2 header tag runs past the header")
	ErrHeaderNoEnd  = errors.New("multiboot: multiboot2 header has no end tag")
)

// FindHeader2 searches the image's first 32 KiB for a multiboot2 header
// the way GRUB does (8-byte steps, magic, i386 architecture, checksum)
// and decodes its tags. For tests and diagnostics.
func FindHeader2(img []byte) (HeaderInfo, error) {
	le := binary.LittleEndian
	for off := 0; off+16 <= len(img) && off < HeaderSearch; off += HeaderAlign {
		if le.Uint32(img[off:]) != HeaderMagic || le.Uint32(img[off+4:]) != ArchI386 {
			continue
		}
		n := le.Uint32(img[off+8:])
		if HeaderMagic+ArchI386+n+le.Uint32(img[off+12:]) != 0 {
			continue
		}
		if uint64(off)+uint64(n) > uint64(len(img)) || n < 16 {
			return HeaderInfo{}, ErrHeaderLength
		}
		return decodeHeader(off, img[off:off+int(n)])
	}
	return HeaderInfo{}, ErrNoHeader
}

func decodeHeader(off int, h []byte) (HeaderInfo, error) {
	le := binary.LittleEndian
	hi := HeaderInfo{Offset: off}
	for p := 16; ; {
		if p+8 > len(h) {
			return hi, ErrHeaderNoEnd
		}
		typ, flags, size := le.Uint16(h[p:]), le.Uint16(h[p+2:]), int(le.Uint32(h[p+4:]))
		if size < 8 || p+size > len(h) {
			return hi, ErrHeaderTag
		}
		body := h[p+8 : p+size]
		word := func(i int) uint32 {
			if 4*i+4 > len(body) {
				return 0
			}
			return le.Uint32(body[4*i:])
		}
		switch typ {
		case HeaderTagEnd:
			return hi, nil
		case HeaderTagInfoRequest:
			hi.RequestFlags = flags
			for i := 0; 4*i+4 <= len(body); i++ {
				hi.Requests = append(hi.Requests, word(i))
			}
		case HeaderTagAddress:
			hi.HasAddress = true
			hi.Layout.HeaderAddr, hi.Layout.LoadAddr = word(0), word(1)
			hi.Layout.LoadEnd, hi.Layout.BSSEnd = word(2), word(3)
		case HeaderTagEntryAddress:
			hi.HasEntry = true
			hi.Layout.Entry = word(0)
		case HeaderTagConsoleFlags:
			hi.ConsoleFlags = word(0)
		case HeaderTagFramebuffer:
			hi.Framebuffer = &FramebufferPref{word(0), word(1), word(2)}
		}
		p += (size + TagAlign - 1) &^ (TagAlign - 1)
	}
}
