package uma

import (
	"errors"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBucketSizeByItemSize(t *testing.T) {
	cases := map[int]int{1: 256, 16: 256, 32: 256, 33: 128, 64: 128, 100: 64, 256: 32, 512: 16, 1000: 8, 2048: 4, 3000: 2, 4096: 2, 4097: 1, 65536: 1}
	for size, want := range cases {
		require.Equal(t, want, BucketSize(size), "item size %d", size)
	}
	prev := 1 << 30
	for s := 1; s <= 8192; s++ {
		b := BucketSize(s)
		require.LessOrEqual(t, b, prev, "bucket size never grows with item size")
		prev = b
		if s <= maxBucketItem {
			require.GreaterOrEqual(t, b*s, min(s*2, 4096)/2, "a bucket caches a useful amount")
		}
	}
}

func TestWorkingSetEstimate(t *testing.T) {
	var w wss
	// A burst: 1000 items cached then used again within one interval.
	w.add(1000)
	w.remove(1000)
	require.Equal(t, 800, w.update(), "4/5 of the swing at once")
	require.Equal(t, 0, w.surplus())
	// Quiet intervals decay the estimate.
	require.Equal(t, 160, w.update())
	require.Equal(t, 32, w.update())
	// Items that sit idle beyond the estimate are surplus.
	w.add(500)
	w.update()
	est := w.est
	require.Equal(t, 500-est, w.surplus())
	for i := 0; i < 10; i++ {
		w.update()
	}
	require.Equal(t, 0, w.est, "an idle cache's estimate decays to zero")
	require.Equal(t, 500, w.surplus(), "so all of it can be trimmed")
	// Extremes track within an interval only.
	w.remove(100)
	w.add(30)
	require.Equal(t, 500, w.imax)
	require.Equal(t, 400, w.imin)
	require.Equal(t, 80, w.update())
}

func TestSlabOrder(t *testing.T) {
	for _, c := range []struct {
		stride     uintptr
		order, per int
	}{{8, 0, 512}, {64, 0, 64}, {96, 0, 42}, {1000, 0, 4}, {1200, 0, 3}, {4096, 0, 1}, {5000, 2, 3}, {65536, 4, 1}, {70000, 5, 1}} {
		o, n := slabOrder(c.stride)
		require.Equal(t, c.order, o, "stride %d", c.stride)
		require.Equal(t, c.per, n, "stride %d", c.stride)
		waste := (uintptr(pageSize)<<o - uintptr(n)*c.stride)
		if o < 4 {
			require.LessOrEqual(t, waste*8, uintptr(pageSize)<<o, "stride %d wastes at most 1/8", c.stride)
		}
	}
}

// checkAccounting verifies that every item is somewhere: with a zone
// quiet, items out of the keg are in use, cached or quarantined, and the
// keg's free items plus those make up all slabs' items.
func checkAccounting(t *testing.T, z *RawZone) Stats {
	t.Helper()
	s := z.Stats()
	require.Equal(t, s.Items, int64(s.InUse)+int64(s.Cached)+s.Quarantined, "items out of the keg = in use + cached + quarantined")
	require.Equal(t, s.Keg.Slabs*s.Keg.ItemsPerSlab, s.Keg.FreeItems+int(s.Items), "slab items = keg free + out of the keg")
	require.Equal(t, s.Imports-s.Releases, uint64(s.Items))
	return s
}

func TestZoneStormAccounting(t *testing.T) {
	f := withFake(t, 4, 2)
	var ctors, dtors, inits, finis atomic.Int64
	z, err := NewZone("storm", Args{Size: 48,
		Ctor: func(p uintptr) { ctors.Add(1); store64(p, 0xc0) },
		Dtor: func(p uintptr) { dtors.Add(1) },
		Init: func(p uintptr) { inits.Add(1) },
		Fini: func(p uintptr) { finis.Add(1) },
	})
	require.NoError(t, err)
	const workers, ops = 8, 20000
	var owners sync.Map // item -> worker: an item handed out twice is caught
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			var live []uintptr
			for i := 0; i < ops; i++ {
				if len(live) < 300 && (rng.Intn(2) == 0 || len(live) == 0) {
					p, err := z.Alloc(M_WAITOK)
					if err != nil {
						t.Errorf("alloc: %v", err)
						return
					}
					if load64(p) != 0xc0 {
						t.Errorf("constructor did not run on %#x", p)
					}
					if o, dup := owners.LoadOrStore(p, w); dup {
						t.Errorf("item %#x handed to worker %d while worker %v holds it", p, w, o)
					}
					store64(p+8, uint64(w))
					live = append(live, p)
					continue
				}
				j := rng.Intn(len(live))
				p := live[j]
				live[j] = live[len(live)-1]
				live = live[:len(live)-1]
				if load64(p+8) != uint64(w) {
					t.Errorf("item %#x changed under its owner", p)
				}
				owners.Delete(p)
				z.Free(p)
			}
			for _, p := range live {
				owners.Delete(p)
				z.Free(p)
			}
		}(w)
	}
	wg.Wait()
	s := checkAccounting(t, z)
	require.Equal(t, s.Allocs, s.Frees)
	require.Zero(t, s.InUse)
	require.Equal(t, uint64(ctors.Load()), s.Allocs, "one constructor call per allocation")
	require.Equal(t, uint64(dtors.Load()), s.Frees)
	require.Equal(t, s.Ctors, s.Allocs)
	require.Equal(t, uint64(inits.Load()), s.Imports, "init once per item entering the zone")
	require.Greater(t, s.SlowAllocs, uint64(0))
	require.Less(t, s.SlowAllocs*4, s.Allocs, "most allocations take the per-CPU fast path, even migrating at every section")

	z.Drain()
	s = checkAccounting(t, z)
	require.Zero(t, s.Items)
	require.Zero(t, s.Cached)
	require.Zero(t, s.Keg.Slabs)
	require.Equal(t, s.Imports, s.Releases)
	require.Equal(t, uint64(finis.Load()), s.Releases, "fini once per item leaving the zone")
	require.Zero(t, f.slabsHeld(), "every slab page is back")
}

func TestTrimReleasesIdleCache(t *testing.T) {
	f := withFake(t, 2, 1)
	z, err := NewZone("trim", Args{Size: 64})
	require.NoError(t, err)
	var held []uintptr
	for i := 0; i < 5000; i++ {
		p, err := z.Alloc(M_NOWAIT)
		require.NoError(t, err)
		held = append(held, p)
	}
	for _, p := range held {
		z.Free(p)
	}
	before := z.Stats()
	require.Greater(t, before.Domains[0].CachedItems, 4000, "freed items go to the domain cache")
	z.Trim() // the burst is the working set: little is trimmed
	mid := z.Stats()
	require.Greater(t, mid.Domains[0].CachedItems, 3000)
	for i := 0; i < 12; i++ {
		z.Trim() // idle intervals decay the estimate
	}
	after := checkAccounting(t, z)
	require.Less(t, after.Domains[0].CachedItems, 2*z.bsize, "an idle cache is trimmed down")
	require.Greater(t, after.TrimmedPages, uint64(0))
	require.Less(t, f.slabsHeld(), before.Keg.Slabs)
}

func TestLimitNowaitAndWaitok(t *testing.T) {
	f := withFake(t, 4, 2)
	const limit = 100
	z, err := NewZone("limited", Args{Size: 128, Limit: limit})
	require.NoError(t, err)
	var held []uintptr
	f.onCPU(1, func() { // on one CPU no item is stranded in another's bucket
		for {
			p, err := z.Alloc(M_NOWAIT)
			if err != nil {
				require.ErrorIs(t, err, ErrLimit)
				break
			}
			held = append(held, p)
		}
	})
	require.Len(t, held, limit, "exactly the limit is handed out")
	s := checkAccounting(t, z)
	require.Equal(t, uint64(1), s.LimitFails)

	got := make(chan uintptr)
	go func() {
		p, err := z.Alloc(M_WAITOK)
		require.NoError(t, err)
		got <- p
	}()
	select {
	case <-got:
		t.Fatal("M_WAITOK allocation beyond the limit did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	z.Free(held[0])
	select {
	case p := <-got:
		held[0] = p
	case <-time.After(5 * time.Second):
		t.Fatal("M_WAITOK allocation not woken by a free")
	}
	require.Equal(t, uint64(1), z.Stats().Sleeps)
	for _, p := range held {
		z.Free(p)
	}
	s = checkAccounting(t, z)
	require.Zero(t, s.InUse)
	require.LessOrEqual(t, s.Items, int64(limit))
}

func TestWaitokInCriticalSectionIsCaught(t *testing.T) {
	f := withFake(t, 2, 1)
	z, err := NewZone("nosleep", Args{Size: 32})
	require.NoError(t, err)
	f.nest.Store(1)
	_, err = z.Alloc(M_WAITOK)
	require.ErrorIs(t, err, ErrCritical)
	require.Contains(t, err.Error(), `zone "nosleep"`)
	require.Equal(t, uint64(1), z.Stats().WaitokInCritical)
	f.nest.Store(0)
	p, err := z.Alloc(M_WAITOK)
	require.NoError(t, err)
	z.Free(p)
}

func TestNoMemoryFailsCleanly(t *testing.T) {
	f := withFake(t, 2, 1)
	f.budget = 2
	z, err := NewZone("small", Args{Size: 1024})
	require.NoError(t, err)
	var held []uintptr
	f.onCPU(0, func() {
		for {
			p, err := z.Alloc(M_NOWAIT)
			if err != nil {
				require.ErrorIs(t, err, ErrNoMem)
				break
			}
			held = append(held, p)
		}
	})
	require.Len(t, held, 8, "two pages of four items")
	for _, p := range held {
		z.Free(p)
	}
	checkAccounting(t, z)
}

func catch(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err, _ = r.(error)
		}
	}()
	fn()
	return nil
}

func TestDebugCatchesDoubleFreeAndUseAfterFree(t *testing.T) {
	withFake(t, 2, 1)
	z, err := NewZone("debug", Args{Size: 40, Flags: Debug})
	require.NoError(t, err)
	p, err := z.Alloc(M_WAITOK)
	require.NoError(t, err)
	q, err := z.Alloc(M_WAITOK)
	require.NoError(t, err)
	z.Free(p)

	var de *DebugError
	err = catch(func() { z.Free(p) })
	require.True(t, errors.As(err, &de), "double free reported: %v", err)
	require.Equal(t, "double free", de.Kind)
	require.Equal(t, p, de.Addr)
	require.Contains(t, err.Error(), `zone "debug": double free of item`)

	err = catch(func() { z.Free(q + 8) })
	require.True(t, errors.As(err, &de))
	require.Equal(t, "bad free", de.Kind)

	store64(p+16, 0x1234) // write through a dangling pointer
	var got []uintptr
	err = nil
	for i := 0; i < 64 && err == nil; i++ {
		err = catch(func() {
			r, _ := z.Alloc(M_WAITOK)
			got = append(got, r)
		})
	}
	require.True(t, errors.As(err, &de), "use after free reported")
	require.Equal(t, "use after free", de.Kind)
	require.Equal(t, p, de.Addr)
	require.Equal(t, 16, de.Offset)
	require.Equal(t, uint64(0x1234), de.Value)

	for _, r := range got {
		z.Free(r)
	}
	z.Free(q)
	s := checkAccounting(t, z)
	require.Equal(t, int64(1), s.Quarantined, "the corrupted item is never reused")
	require.Equal(t, uint64(2), s.DoubleFrees)
	require.Equal(t, uint64(1), s.UseAfterFree)
	require.Zero(t, s.InUse)
}

func TestNoCacheZoneIsExact(t *testing.T) {
	withFake(t, 4, 2)
	z, err := NewZone("locked", Args{Size: 16, Flags: NoCache})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				p, err := z.Alloc(M_NOWAIT)
				if err != nil {
					t.Error(err)
					return
				}
				z.Free(p)
			}
		}()
	}
	wg.Wait()
	s := checkAccounting(t, z)
	require.Zero(t, s.Items)
	require.Zero(t, s.Cached)
	require.Equal(t, uint64(8000), s.Allocs)
}

type dmaDesc struct {
	Addr  uint64
	Len   uint32
	Flags uint16
	_     [2]byte
	Regs  [4]uint32
}

func TestTypedZone(t *testing.T) {
	withFake(t, 2, 2)
	var inits int
	z, err := NewTyped[dmaDesc]("desc", TypedArgs[dmaDesc]{Init: func(d *dmaDesc) { inits++; d.Flags = 7 }})
	require.NoError(t, err)
	d, err := z.Alloc(M_ZERO)
	require.NoError(t, err)
	require.Zero(t, d.Flags, "M_ZERO after init")
	d.Len = 1500
	pa := z.PhysAddr(d)
	require.NotZero(t, pa)
	require.Equal(t, uintptr(1<<44), pa-uintptrOf(d), "the slab's physical address plus the offset")
	z.Free(d)
	require.Equal(t, 32, z.Raw().ItemSize())

	type withPtr struct {
		A int
		B struct{ C [2]*int }
	}
	for name, mk := range map[string]func() error{
		"pointer":   func() error { _, err := NewTyped[*int]("p", TypedArgs[*int]{}); return err },
		"nested":    func() error { _, err := NewTyped[withPtr]("n", TypedArgs[withPtr]{}); return err },
		"slice":     func() error { _, err := NewTyped[struct{ S []byte }]("s", TypedArgs[struct{ S []byte }]{}); return err },
		"string":    func() error { _, err := NewTyped[[3]string]("str", TypedArgs[[3]string]{}); return err },
		"map":       func() error { _, err := NewTyped[map[int]int]("m", TypedArgs[map[int]int]{}); return err },
		"interface": func() error { _, err := NewTyped[struct{ E error }]("i", TypedArgs[struct{ E error }]{}); return err },
		"chan": func() error {
			_, err := NewTyped[struct{ C chan int }]("c", TypedArgs[struct{ C chan int }]{})
			return err
		},
		"func": func() error { _, err := NewTyped[struct{ F func() }]("f", TypedArgs[struct{ F func() }]{}); return err },
	} {
		err := mk()
		require.ErrorIs(t, err, ErrBadArgs, name)
		require.Contains(t, err.Error(), "holds a Go pointer", name)
	}
	_, err = NewTyped[withPtr]("n", TypedArgs[withPtr]{})
	require.Contains(t, err.Error(), ".B.C[]")
}

func TestBadArgs(t *testing.T) {
	withFake(t, 1, 1)
	for _, a := range []Args{{Size: 0}, {Size: 8, Align: 3}, {Size: 1 << 20}, {Size: 8, Limit: -1}} {
		_, err := NewZone("bad", a)
		require.ErrorIs(t, err, ErrBadArgs)
	}
}
