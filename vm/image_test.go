package vm

import (
	"debug/elf"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImageSegments parses this test binary's own program headers (an
// ELF on linux/amd64 hosts, built by the same linker as the kernel) and
// compares with debug/elf.
func TestImageSegments(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	f, err := elf.Open(exe)
	if err != nil {
		t.Skipf("test binary is not ELF: %v", err)
	}
	defer f.Close()
	raw, err := os.ReadFile(exe)
	require.NoError(t, err)
	var want []Segment
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Memsz == 0 {
			continue
		}
		s := Segment{VA: uintptr(p.Vaddr), End: uintptr(p.Vaddr + p.Memsz)}
		if p.Flags&elf.PF_W != 0 {
			s.Prot |= ProtWrite
		}
		if p.Flags&elf.PF_X != 0 {
			s.Prot |= ProtExec
		}
		want = append(want, s)
	}
	var out [8]Segment
	n, err := ImageSegments(raw[:4096], out[:])
	require.NoError(t, err)
	require.Equal(t, want, out[:n])
	require.Equal(t, ProtExec, out[0].Prot, "text first, read-only")

	_, err = ImageSegments(raw[:4096], out[:1])
	require.ErrorIs(t, err, ErrNotELF, "more segments than room")
	bad := append([]byte(nil), raw[:4096]...)
	bad[0] = 0
	_, err = ImageSegments(bad, out[:])
	require.ErrorIs(t, err, ErrNotELF)
	_, err = ImageSegments(raw[:0x3f], out[:])
	require.ErrorIs(t, err, ErrNotELF)
	bad = append([]byte(nil), raw[:4096]...)
	bad[elfPhnum] = 0xff // program headers beyond the page
	_, err = ImageSegments(bad, out[:])
	require.ErrorIs(t, err, ErrNotELF)
}
