package kern

import (
	"bytes"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The structure has Linux's layout: syscall.Utsname's fields, 65 bytes
// each, NUL-terminated; its release parses as Go's KernelVersion does.
func TestUtsname(t *testing.T) {
	u := MakeUtsname()
	var s syscall.Utsname
	require.Equal(t, int(unsafe.Sizeof(s)), len(u))
	s = *(*syscall.Utsname)(unsafe.Pointer(&u))
	str := func(f [65]int8) string {
		b := make([]byte, 0, 65)
		for _, c := range f {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		return string(b)
	}
	require.Equal(t, "Linux", str(s.Sysname))
	require.Equal(t, "smpgo", str(s.Nodename))
	require.Equal(t, UnameRelease, str(s.Release))
	require.Equal(t, "x86_64", str(s.Machine))
	require.Equal(t, "(none)", str(s.Domainname))
	require.Contains(t, str(s.Version), "smpgo")
	for i := 0; i < 6; i++ {
		require.Equal(t, byte(0), u[i*utsLen+utsLen-1], "field %d is terminated", i)
	}
	major, minor, ok := bytes.Cut([]byte(UnameRelease), []byte("."))
	require.True(t, ok)
	require.Equal(t, "5", string(major))
	require.True(t, bytes.HasPrefix(minor, []byte("15.")))
}
