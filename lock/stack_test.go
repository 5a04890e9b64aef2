package lock

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// capture stands for a lock method: stack starts at its caller.
//
//go:noinline
func (m *Mutex) capture() []uintptr {
	var pcs [16]uintptr
	return stack(&pcs)
}

//go:noinline
func stackViaHelper(m *Mutex) ([]uintptr, []uintptr) {
	pcs := m.capture()
	var want [16]uintptr
	return pcs, want[:runtime.Callers(1, want[:])]
}

// The frame-pointer walk finds the same functions as runtime.Callers,
// starting at the lock method's caller, and Frames drops the lock
// methods' frames at the top.
func TestStackFramePointerWalk(t *testing.T) {
	m := NewMutex("stack test")
	got, want := stackViaHelper(m)
	names := func(pcs []uintptr) []string {
		var out []string
		for _, f := range Frames(pcs) {
			out = append(out, f.Func)
		}
		return out
	}
	g, w := names(got), names(want)
	require.NotEmpty(t, g)
	require.True(t, strings.HasSuffix(g[0], "lock.stackViaHelper"), "first frame %q: the lock method's caller", g[0])
	n := min(len(g), len(w), 3)
	require.Equal(t, w[:n], g[:n], "the same callers as runtime.Callers")

	// A stack whose top frames are lock methods prints from the first
	// frame outside them.
	var pcs [16]uintptr
	top := func() []uintptr { return m.captureNested(&pcs) }()
	f := Frames(top)
	require.NotContains(t, f[0].Func, lockMethodPrefix)
}

//go:noinline
func (m *Mutex) captureNested(pcs *[16]uintptr) []uintptr { return m.captureInner(pcs) }

//go:noinline
func (m *Mutex) captureInner(pcs *[16]uintptr) []uintptr { return stack(pcs) }
