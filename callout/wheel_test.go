package callout

import (
	"math/rand"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

func newNode(v int) *node[int] { return &node[int]{bucket: -1, val: v} }

func drain(w *wheel[int], now int64) []*node[int] {
	var out []*node[int]
	for nd := w.popDue(now); nd != nil; nd = w.popDue(now) {
		out = append(out, nd)
	}
	return out
}

func TestWheelFiresAtDueTick(t *testing.T) {
	var w wheel[int]
	w.init(100)
	a, b, c := newNode(1), newNode(2), newNode(3)
	w.insert(a, 101)
	w.insert(b, 105)
	w.insert(c, 101+wheelSize) // same bucket as a, next rotation
	require.Equal(t, 3, w.len())
	require.Equal(t, int64(101), w.nextDue())

	require.Empty(t, drain(&w, 100))
	got := drain(&w, 101)
	require.Equal(t, []*node[int]{a}, got)
	require.False(t, a.onWheel())
	require.Equal(t, int64(105), w.nextDue())
	require.Empty(t, drain(&w, 104))
	require.Equal(t, []*node[int]{b}, drain(&w, 110))
	require.Empty(t, drain(&w, 100+wheelSize))
	require.Equal(t, []*node[int]{c}, drain(&w, 101+wheelSize))
	require.Equal(t, 0, w.len())
	require.Equal(t, maxTick, w.nextDue())
}

func TestWheelOverdueInsertTakenNext(t *testing.T) {
	var w wheel[int]
	w.init(50)
	require.Empty(t, drain(&w, 60))
	a := newNode(1)
	w.insert(a, 55) // already passed
	require.Equal(t, []*node[int]{a}, drain(&w, 60))
	a2 := newNode(2)
	w.insert(a2, 61)
	require.Empty(t, drain(&w, 60))
	require.Equal(t, []*node[int]{a2}, drain(&w, 61))
}

func TestWheelRemove(t *testing.T) {
	var w wheel[int]
	w.init(0)
	ns := []*node[int]{newNode(0), newNode(1), newNode(2)}
	for _, nd := range ns {
		w.insert(nd, 7) // one bucket: remove from head, middle, tail
	}
	w.remove(ns[1])
	require.False(t, ns[1].onWheel())
	require.Equal(t, 2, w.len())
	w.remove(ns[2])
	w.remove(ns[0])
	require.Equal(t, 0, w.len())
	require.Empty(t, drain(&w, 10))
	w.insert(ns[1], 12) // reusable after removal
	require.Equal(t, []*node[int]{ns[1]}, drain(&w, 12))
}

func TestWheelLongStallScansAll(t *testing.T) {
	var w wheel[int]
	w.init(0)
	var ns []*node[int]
	for i := 0; i < 3*wheelSize; i += 7 {
		nd := newNode(i)
		w.insert(nd, int64(i+1))
		ns = append(ns, nd)
	}
	late := newNode(-1)
	w.insert(late, 10*wheelSize)
	got := drain(&w, 5*wheelSize)
	require.Len(t, got, len(ns))
	for i := 1; i < len(got); i++ {
		require.LessOrEqual(t, got[i-1].due, got[i].due, "stall scan pops in due order")
	}
	require.Equal(t, 1, w.len())
	require.Equal(t, int64(10*wheelSize), w.nextDue())
	require.Equal(t, []*node[int]{late}, drain(&w, 10*wheelSize))
}

// TestWheelModel runs random inserts, removes and clock advances against
// a plain list, checking that every entry comes out exactly once, at the
// first processing whose clock reached its due tick.
func TestWheelModel(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for round := 0; round < 50; round++ {
		var w wheel[int]
		now := int64(rng.Intn(1000))
		w.init(now)
		live := map[*node[int]]bool{}
		fired := 0
		for step := 0; step < 2000; step++ {
			switch op := rng.Intn(10); {
			case op < 5:
				nd := newNode(step)
				var due int64
				switch rng.Intn(4) {
				case 0:
					due = now - int64(rng.Intn(5)) // overdue
				case 1:
					due = now + int64(rng.Intn(3*wheelSize)) // far
				default:
					due = now + 1 + int64(rng.Intn(20))
				}
				w.insert(nd, due)
				live[nd] = true
			case op < 7 && len(live) > 0:
				for nd := range live {
					w.remove(nd)
					delete(live, nd)
					break
				}
			default:
				adv := int64(rng.Intn(8))
				if rng.Intn(50) == 0 {
					adv = int64(wheelSize + rng.Intn(2*wheelSize))
				}
				now += adv
				got := drain(&w, now)
				for _, nd := range got {
					require.True(t, live[nd], "entry popped twice or after removal")
					require.LessOrEqual(t, nd.due, now)
					delete(live, nd)
					fired++
				}
				for nd := range live {
					require.Greater(t, nd.due, now, "entry due at %d left at %d", nd.due, now)
				}
			}
			require.Equal(t, len(live), w.len())
		}
		if len(live) > 0 {
			var dues []int64
			for nd := range live {
				dues = append(dues, nd.due)
			}
			sort.Slice(dues, func(i, j int) bool { return dues[i] < dues[j] })
			require.Equal(t, dues[0], w.nextDue())
		}
		require.Positive(t, fired)
	}
}
