// Package kern is the kernel proper: the "runtime personality" (the Linux
// system calls the stock Go runtime makes, served in ring 0), kernel threads
// and the scheduler, trap and SYSCALL entry, signals, futexes, clocks, the
// serial console, kernel panics, the self-test framework and the debug shell.
//
// Contexts (docs/execution-model.md): trap context is everything reached
// from entry_amd64.s: it runs on the CPU's kernel stack with interrupts off,
// under a fake g (percpu.go) whose stack bounds make Go prologue checks pass,
// and must not allocate, block, store heap pointers or call the runtime.
// Threads are Go runtime Ms (created by clone) plus one idle thread per CPU;
// blocking system calls complete in continuation style: the thread's saved
// frame is its whole state and the kernel stack holds nothing across a block.
package kern
