//go:build nowitness

package witness

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// With -tags nowitness the API compiles and does nothing, and a lock pays
// no space for its witness Object.
func TestDisabled(t *testing.T) {
	require.False(t, Enabled)
	require.Zero(t, unsafe.Sizeof(Object{}))
	var o Object
	c := NewClass("A", Sleep, 0)
	c.Init(&o, "a")
	CheckOrder(1, &o, 0)
	Lock(1, &o, 0, nil)
	Lock(1, &o, 0, nil)
	Unlock(2, &o, 0)
	require.Zero(t, WarnSleep(1, "x"))
	ThreadExit(1)
	SetMode(Panic)
	require.Equal(t, Off, CurrentMode())
	require.Nil(t, Reports())
	require.Empty(t, ShowLocks(1))
	require.Contains(t, ShowGraph(), "nowitness")
	var printed string
	ok, failed := RunSelftests(func(f string, a ...any) { printed = f })
	require.Zero(t, ok+failed)
	require.NotEmpty(t, printed)
	m, err := ParseMode("warn")
	require.NoError(t, err)
	require.Equal(t, Warn, m)
}
