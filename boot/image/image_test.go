package image

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/arch/x86/x86asm"
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
}

// TestEntryLayout checks the getPC arithmetic in entry_amd64.s: the far
// return lands 8 bytes after the POP, on the first 64-bit instruction.
func TestEntryLayout(t *testing.T) {
	path := buildKernel(t)
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	text := f.Section(".text")
	code := make([]byte, 512)
	_, err = text.ReadAt(code, int64(f.Entry-text.Addr))
	require.NoError(t, err)
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
