package qemu

import (
	"debug/elf"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestThreadDump(t *testing.T) {
	out := "boot\r\nKERNEL THREADS\r\nkthread tid=-1 state=running cpu=0 idle rip=0x10 rsp=0x20 syscalls=0\r\n" +
		"kthread tid=1 state=blocked cpu=0 wait=futex key=0x5 rip=0x30 rsp=0x40 syscalls=9\r\nEND KERNEL THREADS\r\nlater\r\n"
	require.Equal(t, []string{
		"kthread tid=-1 state=running cpu=0 idle rip=0x10 rsp=0x20 syscalls=0",
		"kthread tid=1 state=blocked cpu=0 wait=futex key=0x5 rip=0x30 rsp=0x40 syscalls=9",
	}, ThreadDump(out, nil))
	require.Empty(t, ThreadDump("no dump\n", nil))

	path := buildTiny(t)
	s, err := LoadSymbols(path)
	require.NoError(t, err)
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	var work uint64
	for _, sym := range syms {
		if sym.Name == "main.work" {
			work = sym.Value
		}
	}
	require.NotZero(t, work)
	line := fmt.Sprintf("kthread tid=1 state=runnable cpu=0 rip=%#x rsp=0x40 syscalls=1", work)
	got := ThreadDump("KERNEL THREADS\n"+line+"\nEND KERNEL THREADS\n", s)
	require.Len(t, got, 1)
	require.Contains(t, got[0], line+" = main.work+0x0 (tiny/main.go:")
}
