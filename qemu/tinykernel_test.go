package qemu

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A tiny kernel is a multiboot image (with the a.out kludge, so that no
// ELF is needed) that QEMU's -kernel loads at 1 MiB and enters in 32-bit
// protected mode. It writes a text to COM1 and then runs an ending.

const (
	tinyBase    = 0x100000
	tinyHdrSize = 32
)

// tinyEnding returns the machine code that ends a tiny kernel, given the
// address it is placed at.
type tinyEnding func(at uint32) []byte

// exitWith writes v to isa-debug-exit, then halts in case that failed.
func exitWith(v byte) tinyEnding {
	return func(uint32) []byte {
		return []byte{
			0xb0, v, // mov al, v
			0xe6, 0xf4, // out 0xf4, al
			0xfa, 0xf4, 0xeb, 0xfd, // cli; hlt; jmp hlt
		}
	}
}

// hang halts forever.
func hang(uint32) []byte { return []byte{0xfa, 0xf4, 0xeb, 0xfd} }

// tripleFault loads an empty IDT and executes UD2: #UD cannot be
// delivered, nor the #GP, nor the #DF that follow.
func tripleFault(at uint32) []byte {
	idtr := at + 9 // after lidt (7 bytes) and ud2 (2)
	code := []byte{0x0f, 0x01, 0x1d, 0, 0, 0, 0, 0x0f, 0x0b}
	binary.LittleEndian.PutUint32(code[3:], idtr)
	return append(code, 0, 0, 0, 0, 0, 0) // limit 0, base 0
}

// tinyKernel writes a tiny kernel printing text and returns its path.
func tinyKernel(t *testing.T, text string, end tinyEnding) string {
	t.Helper()
	const magic, flags uint32 = 0x1badb002, 0x00010000 // a.out kludge
	sum := magic + flags
	checksum := -sum
	hdr := make([]byte, tinyHdrSize)
	for i, v := range []uint32{
		magic, flags, checksum,
		tinyBase, tinyBase, 0, 0, // header, load start, load end (file), bss end
		tinyBase + tinyHdrSize, // entry
	} {
		binary.LittleEndian.PutUint32(hdr[4*i:], v)
	}
	code := []byte{0x66, 0xba, 0xf8, 0x03} // mov dx, 0x3f8
	for _, c := range []byte(text) {
		code = append(code, 0xb0, c, 0xee) // mov al, c; out dx, al
	}
	code = append(code, end(uint32(tinyBase+tinyHdrSize+len(code)))...)
	path := filepath.Join(t.TempDir(), "tiny.img")
	require.NoError(t, os.WriteFile(path, append(hdr, code...), 0o644))
	return path
}

func TestTinyKernelLayout(t *testing.T) {
	b, err := os.ReadFile(tinyKernel(t, "A", tripleFault))
	require.NoError(t, err)
	var sum uint32
	for i := 0; i < 3; i++ {
		sum += binary.LittleEndian.Uint32(b[4*i:])
	}
	require.Zero(t, sum, "multiboot checksum")
	require.Equal(t, []byte{0x66, 0xba, 0xf8, 0x03, 0xb0, 'A', 0xee}, b[32:39])
	// lidt's operand points at the six zero bytes after ud2.
	idtr := binary.LittleEndian.Uint32(b[42:])
	require.Equal(t, uint32(tinyBase+48), idtr)
	require.Equal(t, []byte{0x0f, 0x0b, 0, 0, 0, 0, 0, 0}, b[46:])
}
