package kern

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strconv"
)

// Debugger-style shell commands (ddb's ps, bt, panic). Registered from
// this file's init, which runs after shell.go's (Go runs a package's
// files' init functions in file name order).
func init() {
	RegisterCommand("prof", "tick profiler: prof start | prof stop | prof show [N] (hottest N functions, default 20)", cmdProf)
	RegisterCommand("ps", "kernel threads (same as threads)", cmdThreads)
	RegisterCommand("bt", "backtraces: bt (every goroutine), bt N (goroutine N), bt self", cmdBacktrace)
	RegisterCommand("panic", "panic the kernel on purpose (test hook: the panic report, other CPUs stopped)", cmdPanic)
}

// cmdBacktrace prints the Go runtime's stack traces: all goroutines, one
// of them by id, or the shell's own.
func cmdBacktrace(w io.Writer, args []string) {
	if len(args) > 0 && args[0] == "self" {
		buf := make([]byte, 64<<10)
		w.Write(buf[:runtime.Stack(buf, false)])
		return
	}
	var want []byte
	if len(args) > 0 {
		id, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			fmt.Fprintf(w, "bt: %q is not a goroutine number (try bt, bt N, bt self)\n", args[0])
			return
		}
		want = fmt.Appendf(nil, "goroutine %d [", id)
	}
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	if want == nil {
		w.Write(buf)
		fmt.Fprintln(w)
		return
	}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.HasPrefix(g, want) {
			w.Write(g)
			fmt.Fprintln(w)
			return
		}
	}
	fmt.Fprintf(w, "bt: no goroutine %s\n", args[0])
}

// cmdPanic takes the machine down through the kernel-fault path, as the
// crash=kfault option does: the report, every CPU's state, then the end.
func cmdPanic(w io.Writer, args []string) {
	if len(args) == 0 || args[0] != "yes" {
		fmt.Fprintln(w, "panic: this stops the machine; type 'panic yes'")
		return
	}
	fmt.Fprintln(w, "smpgo: panic requested from the shell")
	Crash("kfault")
}
