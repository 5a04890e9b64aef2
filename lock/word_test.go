package lock

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Owner ids are g addresses: 8-byte aligned, never 0.
const (
	g1 = uint64(0xc000123400)
	g2 = uint64(0xc000567808)
)

func TestMutexWord(t *testing.T) {
	require.Zero(t, mtxOwner(0))
	require.Equal(t, "unowned", mtxWordString(0))
	require.Equal(t, g1, mtxOwner(g1))
	require.Equal(t, g1, mtxOwner(g1|mtxContested|mtxRecursed))
	require.Zero(t, mtxOwner(mtxContested), "unowned but contested after a hand-off")
	require.Equal(t, "unowned, contested", mtxWordString(mtxContested))
	require.Equal(t, "owner 0xc000123400, contested, recursed", mtxWordString(g1|mtxContested|mtxRecursed))
	require.Equal(t, "owner 0xc000567808", mtxWordString(g2))
	// The flags fit below the alignment of owner ids.
	require.Zero(t, (mtxContested|mtxRecursed)&ownerMask)
}

func TestRWWord(t *testing.T) {
	v := uint64(rwUnlocked)
	require.True(t, rwIsUnlocked(v))
	require.Zero(t, rwOwner(v))
	require.Zero(t, rwSharers(v))
	require.True(t, rwCanShare(v, false))
	require.Equal(t, "unlocked", rwWordString(v))

	// Three readers, then a writer queues: new readers must wait unless
	// readers may pass writers (recursive locks).
	v += 3 * rwOneSharer
	require.EqualValues(t, 3, rwSharers(v))
	require.False(t, rwIsUnlocked(v))
	require.Zero(t, rwOwner(v))
	v |= rwExclWait
	require.False(t, rwCanShare(v, false))
	require.True(t, rwCanShare(v, true))
	require.Equal(t, "shared by 3, exclusive waiters", rwWordString(v))

	// An exclusive owner with readers queued.
	x := g2 | rwSharedWait
	require.Equal(t, g2, rwOwner(x))
	require.Zero(t, rwSharers(x))
	require.False(t, rwCanShare(x, true))
	require.False(t, rwIsUnlocked(x))
	require.Equal(t, "exclusive owner 0xc000567808, shared waiters", rwWordString(x))

	// Unlocked with waiter bits left for woken waiters to race.
	u := uint64(rwUnlocked | rwExclWait)
	require.True(t, rwIsUnlocked(u))
	require.False(t, rwCanShare(u, false))
	require.Zero(t, rwFlags&ownerMask)
}

func TestRefcount(t *testing.T) {
	var r Refcount
	r.Init(1)
	r.Acquire()
	require.EqualValues(t, 2, r.Load())
	require.False(t, r.Release())
	require.False(t, r.ReleaseIfNotLast(), "the last reference is not dropped by ReleaseIfNotLast")
	require.True(t, r.AcquireIfNotZero())
	require.True(t, r.ReleaseIfNotLast())
	require.True(t, r.Release(), "dropping the initial reference is the last release")
	require.False(t, r.AcquireIfNotZero(), "a released object cannot be found again")
	require.PanicsWithValue(t, "lock.Refcount.Acquire: acquiring a reference on a released object (count was 0)", r.Acquire)
	r.Init(0)
	require.Panics(t, func() { r.Release() })

	// Saturation: the count sticks, the object is never freed.
	r.Init(refSaturated - 1)
	r.Acquire()
	require.Equal(t, "saturated", r.String())
	for i := 0; i < 10; i++ {
		require.False(t, r.Release())
	}
	require.EqualValues(t, refSaturateVal, r.Load())
	require.True(t, r.AcquireIfGT(5))
}

func TestRefcountConcurrent(t *testing.T) {
	var r Refcount
	r.Init(1)
	done := make(chan int)
	for g := 0; g < 8; g++ {
		r.Acquire()
		go func() {
			last := 0
			for i := 0; i < 10000; i++ {
				r.Acquire()
				if r.Release() {
					last++
				}
			}
			if r.Release() {
				last++
			}
			done <- last
		}()
	}
	lasts := 0
	for g := 0; g < 8; g++ {
		lasts += <-done
	}
	require.Zero(t, lasts)
	require.EqualValues(t, 1, r.Load())
	require.True(t, r.Release())
}

func TestHexDec(t *testing.T) {
	require.Equal(t, "0x0", hex(0))
	require.Equal(t, "0xdeadbeef", hex(0xdeadbeef))
	require.Equal(t, "0", dec(0))
	require.Equal(t, "1234567", dec(1234567))
}
