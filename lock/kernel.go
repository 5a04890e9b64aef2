package lock

import (
	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/witness"
)

// In the kernel, witness's internal locks run inside critical sections and
// spin with PAUSE (witness.Hooks); those sections are quiet ones
// (kern.CriticalEnterQuiet): witness allocates there, and the Go runtime
// waiting for its heap lock meanwhile is not the checked code blocking
// (that false positive named whatever sleep mutex was being recorded).
// A block inside any other critical section that the kernel saw in trap
// context is reported to witness when the section ends. On the host (tests) neither is possible nor needed.
func init() {
	witness.Default.SetSymbolizer(Frames) // stacks come from stack (frame pointers)
	if !kern.Booted() {
		return
	}
	witness.Default.SetHooks(witness.Hooks{Enter: kern.CriticalEnterQuiet, Exit: kern.CriticalExitQuiet, Relax: pause})
	kern.OnCriticalBlock = func(why string) {
		if witness.Enabled && witness.Default.Mode() != witness.Off {
			// Still inside the section: say so, since kern's critical
			// sections are not reported to witness one by one.
			witness.Default.WarnSleepExcept(kern.Owner(), nil, witness.Critical, why)
		}
	}
}
