package inet

import (
	"sort"
	"time"

	"github.com/smpgo/smpgo/net/nlock"
)

// Clock is the stack's time source: a monotonic reading and one-shot
// timers. The real clock uses the runtime's timers; tests inject a
// FakeClock to drive retransmission, TIME_WAIT and cache expiry without
// waiting.
type Clock interface {
	// Now returns monotonic time since an arbitrary origin.
	Now() time.Duration
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a one-shot timer from a Clock.
type Timer interface {
	// Stop cancels the timer; it reports whether it was pending.
	Stop() bool
	// Reset re-arms the timer to fire after d.
	Reset(d time.Duration)
}

// RealClock is the runtime's clock.
type RealClock struct{ origin time.Time }

// NewRealClock returns a clock whose origin is now.
func NewRealClock() *RealClock { return &RealClock{origin: time.Now()} }

// Now implements Clock.
func (c *RealClock) Now() time.Duration { return time.Since(c.origin) }

// AfterFunc implements Clock.
func (c *RealClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) Stop() bool            { return t.t.Stop() }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }

// FakeClock is a manual clock: time moves only in Advance, which runs the
// timers that come due, in deadline order, in the calling goroutine.
type FakeClock struct {
	mu     nlock.Mutex
	now    time.Duration // guarded by mu
	timers []*fakeTimer  // guarded by mu; armed timers
	seq    uint64        // guarded by mu; tie-breaker for equal deadlines
}

type fakeTimer struct {
	c     *FakeClock
	f     func()
	when  time.Duration // guarded by c.mu
	seq   uint64        // guarded by c.mu
	armed bool          // guarded by c.mu
}

// NewFakeClock returns a fake clock at time 0.
func NewFakeClock() *FakeClock {
	c := &FakeClock{}
	c.mu.Init("fake clock")
	return c
}

// Now implements Clock.
func (c *FakeClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements Clock.
func (c *FakeClock) AfterFunc(d time.Duration, f func()) Timer {
	t := &fakeTimer{c: c, f: f}
	t.Reset(d)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.armed
	t.armed = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	t.when = c.now + d
	c.seq++
	t.seq = c.seq
	if !t.armed {
		t.armed = true
		c.timers = append(c.timers, t)
	}
}

// Advance moves time forward by d, firing due timers one at a time at
// their deadlines (a timer armed by a firing timer fires too if it comes
// due within d).
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now + d
	for {
		// Drop disarmed timers and find the earliest due one.
		live := c.timers[:0]
		for _, t := range c.timers {
			if t.armed {
				live = append(live, t)
			}
		}
		c.timers = live
		sort.Slice(c.timers, func(i, j int) bool {
			a, b := c.timers[i], c.timers[j]
			return a.when < b.when || a.when == b.when && a.seq < b.seq
		})
		if len(c.timers) == 0 || c.timers[0].when > end {
			break
		}
		t := c.timers[0]
		t.armed = false
		if t.when > c.now {
			c.now = t.when
		}
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// Pending returns the number of armed timers.
func (c *FakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.armed {
			n++
		}
	}
	return n
}
