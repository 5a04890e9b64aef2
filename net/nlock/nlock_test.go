package nlock

import (
	"strings"
	"sync"
	"testing"

	"github.com/smpgo/smpgo/witness"
	"github.com/stretchr/testify/require"
)

// reportsOf returns the host witness's reports of kind k naming class.
func reportsOf(k witness.ReportKind, class string) int {
	n := 0
	for _, r := range HostReports() {
		if r.Kind == k && (r.Class == class || r.Text != "" && strings.Contains(r.Text, class)) {
			n++
		}
	}
	return n
}

// sections counts critical sections entered (keeps them non-empty).
var sections int

func TestHostFallbackIsWitnessed(t *testing.T) {
	require.False(t, InKernel())
	require.NotNil(t, HostWitness)
}

// The declared order (witness.Order: tcpinp before tcphash) is enforced
// the first time it is violated, with no prior correct acquisition.
func TestDeclaredOrderReversalReported(t *testing.T) {
	inp := NewMutex("tcpinp")
	var hash RWMutex
	hash.Init("tcphash")
	before := reportsOf(witness.ReportReversal, "tcphash")

	inp.Lock()
	hash.RLock() // the documented order: no report
	sections++
	hash.RUnlock()
	inp.Unlock()
	require.Equal(t, before, reportsOf(witness.ReportReversal, "tcphash"))

	hash.Lock()
	inp.Lock() // reversal
	sections++
	inp.Unlock()
	hash.Unlock()
	require.Equal(t, before+1, reportsOf(witness.ReportReversal, "tcphash"))
}

func TestUnlockByOtherGoroutineReported(t *testing.T) {
	m := NewMutex("nlock test unlock")
	before := len(HostReports())
	m.Lock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.Unlock() }()
	wg.Wait()
	require.Greater(t, len(HostReports()), before)
}

func TestDuplicateClassReported(t *testing.T) {
	a, b := NewMutex("nlock test dup"), NewMutex("nlock test dup")
	a.Lock()
	b.Lock()
	sections++
	b.Unlock()
	a.Unlock()
	require.Equal(t, 1, reportsOf(witness.ReportDuplicate, "nlock test dup"))

	c, d := NewMutex("nlock test dupok", DupOK), NewMutex("nlock test dupok", DupOK)
	c.Lock()
	d.Lock()
	sections++
	d.Unlock()
	c.Unlock()
	require.Equal(t, 0, reportsOf(witness.ReportDuplicate, "nlock test dupok"))
}

func TestMutualExclusion(t *testing.T) {
	m := NewMutex("nlock test count")
	var rw RWMutex
	rw.Init("nlock test rw")
	n, r := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				m.Lock()
				n++
				m.Unlock()
				rw.Lock()
				r++
				rw.Unlock()
				rw.RLock()
				_ = r
				rw.RUnlock()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 4000, n)
	require.Equal(t, 4000, r)
	require.True(t, m.TryLock())
	require.False(t, m.TryLock())
	m.Unlock()
}

func TestUninitialisedLockPanicsOnHost(t *testing.T) {
	var m Mutex
	require.Panics(t, func() { m.Lock() })
	var rw RWMutex
	require.Panics(t, func() { rw.RLock() })
}

func TestGiantIsWitnessGiant(t *testing.T) {
	g := Giant()
	g.Lock()
	sections++
	g.Unlock()
	require.Equal(t, witness.GiantName, g.(*Mutex).hc.Name())
}
