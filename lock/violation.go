package lock

import (
	"fmt"
	"os"
	"sync/atomic"

	"github.com/smpgo/smpgo/witness"
)

// violations counts misuse the lock types detected themselves (a).
var violations atomic.Uint64

// Violations returns how many misuses (unlock of a lock not owned, and the
// like) the lock types detected on their own words.
func Violations() uint64 { return violations.Load() }

// violation reports misuse found in a lock word: with witness in warn mode
// it is printed and counted and the operation is skipped, so a deliberate
// self-test does not end the boot; otherwise (panic mode, witness off or
// compiled out: INVARIANTS) it panics.
func violation(c *class, msg string) {
	violations.Add(1)
	w := witness.Default
	if c != nil {
		w = c.w
	}
	if witness.Enabled && w.Mode() == witness.Warn {
		if w == witness.Default {
			fmt.Fprintf(os.Stderr, "lock: %s\n", msg)
		}
		return
	}
	panic(msg)
}

// pause is the spin-loop hint (lock_amd64.s).
func pause()
