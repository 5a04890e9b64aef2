package ithread

import (
	"fmt"

	"github.com/smpgo/smpgo/kern"
)

// COM1's receive interrupt: ISA IRQ 4 through the I/O APIC to CPU 0, a
// filter that drains the UART into the console input ring (trap context,
// kern.ConsoleRxIntr). The shell then reads without the tick polling the
// port. Without an I/O APIC (no MADT) the tick keeps polling.
const com1IRQ = 4

var com1Event *Event

func init() {
	if !kern.Booted() {
		return // a host test binary
	}
	ev, err := SetupISA("com1", com1IRQ, 0)
	if err == nil {
		err = ev.AddHandler(&Handler{Name: "com1-rx", Flags: MPSAFE, Filter: func() int {
			kern.ConsoleRxIntr()
			return FilterHandled
		}})
	}
	if err != nil {
		fmt.Printf("ithread: com1 receive interrupt not available (%v); console input is polled\n", err)
		return
	}
	com1Event = ev
	kern.EnableConsoleRxIntr()
}

// COM1Event returns the console's receive-interrupt event, or nil.
func COM1Event() *Event { return com1Event }
