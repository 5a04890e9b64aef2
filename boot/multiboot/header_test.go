package multiboot

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHeader2RoundTrip(t *testing.T) {
	l := Layout{HeaderAddr: 0xffe020, LoadAddr: 0xffe000, LoadEnd: 0x1283100, BSSEnd: 0x17d4980, Entry: 0x1113c60}
	for _, fb := range []*FramebufferPref{nil, {Width: 1024, Height: 768, Depth: 32}} {
		h := Header2(l, fb)
		require.Zero(t, len(h)%8)
		le := binary.LittleEndian
		require.Equal(t, uint32(HeaderMagic), le.Uint32(h))
		require.Equal(t, uint32(len(h)), le.Uint32(h[8:]))
		var sum uint32
		for i := 0; i < 16; i += 4 {
			sum += le.Uint32(h[i:])
		}
		require.Zero(t, sum, "checksum")

		img := make([]byte, 0x1000)
		copy(img[0x20:], h)
		hi, err := FindHeader2(img)
		require.NoError(t, err)
		require.Equal(t, 0x20, hi.Offset)
		require.True(t, hi.HasAddress)
		require.True(t, hi.HasEntry)
		require.Equal(t, l, hi.Layout)
		require.Equal(t, uint32(ConsoleFlagsEGATextSupported), hi.ConsoleFlags)
		require.Equal(t, fb, hi.Framebuffer)
		require.Equal(t, Requested, hi.Requests)
		require.Equal(t, uint16(HeaderTagOptional), hi.RequestFlags, "a loader lacking a tag still boots")
	}
}

// TestHeader2Tags checks the encoding GRUB reads (grub-core/loader/
// multiboot_mbi2.c: 16-bit type and flags, 32-bit size, 8-byte steps)
// against bytes written out by hand.
func TestHeader2Tags(t *testing.T) {
	h := Header2(Layout{HeaderAddr: 0x1020, LoadAddr: 0x1000, LoadEnd: 0x2000, BSSEnd: 0x3000, Entry: 0x1100}, nil)
	le := binary.LittleEndian
	p := 16
	next := func(typ, flags uint16, size uint32) []byte {
		t.Helper()
		require.Equal(t, typ, le.Uint16(h[p:]), "type at %d", p)
		require.Equal(t, flags, le.Uint16(h[p+2:]), "flags at %d", p)
		require.Equal(t, size, le.Uint32(h[p+4:]), "size at %d", p)
		body := h[p+8 : p+int(size)]
		p += (int(size) + 7) &^ 7
		return body
	}
	req := next(HeaderTagInfoRequest, HeaderTagOptional, uint32(8+4*len(Requested)))
	require.Equal(t, uint32(TagCmdline), le.Uint32(req))
	require.Equal(t, []byte{0x20, 0x10, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 0, 0, 0x30, 0, 0}, next(HeaderTagAddress, 0, 24))
	require.Equal(t, []byte{0, 0x11, 0, 0}, next(HeaderTagEntryAddress, 0, 12))
	require.Equal(t, []byte{2, 0, 0, 0}, next(HeaderTagConsoleFlags, 0, 12))
	next(HeaderTagEnd, 0, 8)
	require.Equal(t, len(h), p)
}

func TestFindHeader2Errors(t *testing.T) {
	_, err := FindHeader2(make([]byte, 64))
	require.ErrorIs(t, err, ErrNoHeader)

	h := Header2(Layout{}, nil)
	img := make([]byte, HeaderSearch+len(h))
	copy(img[HeaderSearch:], h)
	_, err = FindHeader2(img)
	require.ErrorIs(t, err, ErrNoHeader, "beyond the first 32 KiB")

	bad := append([]byte(nil), h...)
	bad[12]++ // checksum
	_, err = FindHeader2(bad)
	require.ErrorIs(t, err, ErrNoHeader)

	unaligned := append(make([]byte, 4), h...)
	_, err = FindHeader2(unaligned)
	require.ErrorIs(t, err, ErrNoHeader, "not 8-byte aligned")

	_, err = FindHeader2(h[:len(h)-8])
	require.ErrorIs(t, err, ErrHeaderLength)

	noEnd := append([]byte(nil), h...)
	le := binary.LittleEndian
	le.PutUint16(noEnd[len(h)-8:], 0x55) // the end tag becomes an unknown one
	_, err = FindHeader2(noEnd)
	require.ErrorIs(t, err, ErrHeaderNoEnd)
}
