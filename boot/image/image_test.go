package image

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/arch/x86/x86asm"

	"github.com/smpgo/smpgo/boot/multiboot"
)

// buildKernel links the real kernel ELF the way the Makefile does.
func buildKernel(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "kernel.elf")
	cmd := exec.Command("go", "build", "-ldflags", "-E github.com/smpgo/smpgo/boot.entry32 -T 0x1000000", "-o", out, "github.com/smpgo/smpgo/boot/kernel")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	return out
}

func TestBuildKernelImage(t *testing.T) {
	path := buildKernel(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	img, info, err := Build(raw)
	require.NoError(t, err)

	flags, hdr, err := Header(img)
	require.NoError(t, err)
	require.Equal(t, uint32(FlagAlign|FlagMemory|FlagAddr), flags)
	require.Equal(t, info, hdr)
	require.Equal(t, uint64(len(img)), hdr.LoadEnd-hdr.LoadAddr)
	require.GreaterOrEqual(t, hdr.BSSEnd, hdr.LoadEnd)

	f, err := elf.NewFile(bytes.NewReader(raw))
	require.NoError(t, err)
	require.Equal(t, f.Entry, hdr.Entry)
	syms, err := f.Symbols()
	require.NoError(t, err)
	found := false
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "github.com/smpgo/smpgo/boot.entry32") && s.Value == f.Entry {
			found = true
		}
	}
	require.True(t, found, "the ELF entry is boot.entry32")
	// The image maps file offset → address linearly: the entry's bytes
	// in the image are the ELF's.
	off := hdr.Entry - hdr.LoadAddr
	text := f.Section(".text")
	want := make([]byte, 16)
	_, err = text.ReadAt(want, int64(f.Entry-text.Addr))
	require.NoError(t, err)
	require.Equal(t, want, img[off:off+16])

	// The multiboot2 header describes the same flat layout.
	h2, err := multiboot.FindHeader2(img)
	require.NoError(t, err)
	require.Equal(t, Header2Offset, h2.Offset)
	require.True(t, h2.HasAddress)
	require.True(t, h2.HasEntry)
	require.Equal(t, multiboot.Layout{
		HeaderAddr: uint32(hdr.LoadAddr) + Header2Offset,
		LoadAddr:   uint32(hdr.LoadAddr), LoadEnd: uint32(hdr.LoadEnd),
		BSSEnd: uint32(hdr.BSSEnd), Entry: uint32(hdr.Entry),
	}, h2.Layout)
	require.Equal(t, uint32(multiboot.ConsoleFlagsEGATextSupported), h2.ConsoleFlags)
	require.NotNil(t, h2.Framebuffer, "a framebuffer is welcome (UEFI has no text mode)")
	require.Equal(t, multiboot.FramebufferPref{}, *h2.Framebuffer, "no preferred mode")
	require.Less(t, h2.Offset+int(binary.LittleEndian.Uint32(img[h2.Offset+8:])), HeaderPage/2,
		"the header page's upper half is the 32-bit stack")
}

// entryCode returns the first bytes of entry32 and its address.
func entryCode(t *testing.T, f *elf.File) ([]byte, uint64) {
	t.Helper()
	text := f.Section(".text")
	code := make([]byte, 512)
	_, err := text.ReadAt(code, int64(f.Entry-text.Addr))
	require.NoError(t, err)
	return code, f.Entry
}

func symbol(t *testing.T, f *elf.File, name string) uint64 {
	t.Helper()
	syms, err := f.Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("no symbol %s", name)
	return 0
}

// TestEntryCopy runs the 32-bit address computation of the multiboot2
// copy in entry_amd64.s on the real bytes: CALL next; POP DI; LEAL
// mb2Info(SB), AX (in 32-bit mode: AX = the RIP-relative displacement);
// ADDL DI, AX; ADDL $7, AX must give mb2Info's address. It also checks
// that the 32-bit stack is the top of the image's header page.
func TestEntryCopy(t *testing.T) {
	path := buildKernel(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	f, err := elf.NewFile(bytes.NewReader(raw))
	require.NoError(t, err)
	code, entry := entryCode(t, f)
	_, info, err := Build(raw)
	require.NoError(t, err)

	var sp, ax, di uint32
	sawCopy := false
	for p := 0; p < len(code) && !sawCopy; {
		inst, err := x86asm.Decode(code[p:], 32)
		require.NoError(t, err, "offset %d", p)
		pc := uint32(entry) + uint32(p)
		switch {
		case inst.Op == x86asm.MOV && inst.Args[0] == x86asm.ESP:
			sp = uint32(inst.Args[1].(x86asm.Imm))
		case inst.Op == x86asm.CALL:
			require.Equal(t, x86asm.Rel(0), inst.Args[0], "CALL to the next instruction")
			di = pc + uint32(inst.Len) // pushed, then popped into DI
		case inst.Op == x86asm.POP:
			require.Equal(t, x86asm.EDI, inst.Args[0])
		case inst.Op == x86asm.LEA:
			require.Equal(t, x86asm.EAX, inst.Args[0])
			m := inst.Args[1].(x86asm.Mem)
			require.Equal(t, x86asm.Reg(0), m.Base, "absolute disp32 in 32-bit mode: %v", inst)
			ax = uint32(m.Disp)
		case inst.Op == x86asm.ADD && inst.Args[0] == x86asm.EAX && inst.Args[1] == x86asm.EDI:
			ax += di
		case inst.Op == x86asm.ADD && inst.Args[0] == x86asm.EAX:
			ax += uint32(inst.Args[1].(x86asm.Imm))
		case inst.Op == x86asm.MOVSB:
			sawCopy = true
		}
		p += inst.Len
	}
	require.True(t, sawCopy, "REP MOVSB of the boot information not found")
	require.Equal(t, uint32(symbol(t, f, "github.com/smpgo/smpgo/boot.mb2Info")), ax, "copy destination")
	require.Equal(t, uint32(info.LoadAddr+HeaderPage), sp, "32-bit stack = top of the header page")
}

// TestEntryLayout checks the getPC arithmetic in entry_amd64.s: the far
// return lands 8 bytes after the POP, on the first 64-bit instruction.
func TestEntryLayout(t *testing.T) {
	path := buildKernel(t)
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	code, _ := entryCode(t, f)
	i := bytes.Index(code, []byte{0xe8, 0, 0, 0, 0, 0x5b, 0x83, 0xc3, 0x08})
	require.GreaterOrEqual(t, i, 0, "CALL next; POP BX; ADD BX, 8 not found")
	pop := i + 5
	// POP(1) ADD(3) PUSH imm8(2) PUSH(1) RETF(1) = 8
	require.Equal(t, []byte{0x6a, 0x08, 0x53, 0xcb}, code[pop+4:pop+8])
	target := pop + 8
	inst, err := x86asm.Decode(code[target:], 64)
	require.NoError(t, err)
	require.Equal(t, x86asm.MOV, inst.Op, "first 64-bit instruction: %v", inst)
	// The 32-bit part must be free of REX prefixes (0x40-0x4f as an
	// instruction's first byte would decode as INC/DEC in 32-bit mode).
	for p := 0; p < i; {
		inst, err := x86asm.Decode(code[p:], 32)
		require.NoError(t, err, "offset %d", p)
		in64, err := x86asm.Decode(code[p:], 64)
		require.NoError(t, err)
		require.Equal(t, inst.Len, in64.Len, "instruction at +%d encodes differently in 32/64-bit mode: %v", p, inst)
		p += inst.Len
	}
}

func TestBuildRejects(t *testing.T) {
	_, _, err := Build([]byte("not an elf"))
	require.Error(t, err)
	_, _, err = Header(make([]byte, 100))
	require.ErrorContains(t, err, "no multiboot header")
}
