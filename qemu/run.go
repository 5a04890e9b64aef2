package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// waitDelay bounds how long Run waits for QEMU's output pipes to close
// after QEMU itself is gone.
const waitDelay = 5 * time.Second

var errTimedOut = errors.New("qemu: timeout")

// Run boots c under QEMU and waits for it to end. It streams the serial
// console (QEMU's stdout) to out line by line as it arrives, QEMU's own
// diagnostics (stderr) too, and keeps both in the Result. On timeout, or
// when ctx is done, it kills QEMU and everything QEMU started; QEMU is
// also killed if the calling process dies. The error is for a Config that
// does not validate, QEMU or the UEFI firmware (BIOSOVMF) missing, QEMU
// failing to start, and ctx being canceled (with the Result of the killed
// run); a boot that failed in any way is an Outcome, not an error.
func Run(ctx context.Context, c Config, out io.Writer) (*Result, error) {
	fwdSpecs := c.HostFwd
	for try := 1; ; try++ {
		var fwds []HostFwd
		var picked bool
		var err error
		if c.HostFwd, fwds, picked, err = ResolveHostFwd(fwdSpecs); err != nil {
			return nil, err
		}
		r, err := run(ctx, c, out)
		if r != nil {
			r.HostFwd = fwds
		}
		// A port picked free was taken before QEMU bound it: pick again.
		if picked && try < 4 && err == nil && r.Outcome != Pass && r.Output == "" && strings.Contains(r.Stderr, hostFwdBusy) {
			continue
		}
		return r, err
	}
}

func run(ctx context.Context, c Config, out io.Writer) (*Result, error) {
	args, err := c.Args()
	if err != nil {
		return nil, err
	}
	// The guest servers listen before QEMU starts (it connects to them
	// at once), on ports of this try's own.
	var gs *guestServers
	if len(c.GuestServers) > 0 {
		if gs, err = listenGuestServers(c.GuestServers); err != nil {
			return nil, err
		}
		defer gs.close()
		c.GuestFwd = append(slices.Clone(c.GuestFwd), gs.fwds...)
		if args, err = c.Args(); err != nil {
			return nil, err
		}
	}
	c = c.withDefaults()
	if c.BIOS == BIOSOVMF {
		if c.Firmware, err = FindOVMF(c.Firmware); err != nil {
			return nil, err
		}
		if args, err = c.Args(); err != nil {
			return nil, err
		}
	}
	if !c.Interactive {
		dir, err := os.MkdirTemp("", "qemurun")
		if err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
		defer os.RemoveAll(dir)
		c.monitorSock = filepath.Join(dir, "monitor.sock")
		args, err = c.Args()
		if err != nil {
			return nil, err
		}
	}
	bin, err := FindQEMU(c.Binary)
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = io.Discard
	}
	var tap *Tap
	if c.Tap != nil {
		if tap, err = openTap(*c.Tap); err != nil {
			return nil, err
		}
		// On the early returns; a boot that ran closes it below and
		// reports a failure to delete it.
		defer tap.Close()
	}
	timeout := c.EffectiveTimeout()
	runCtx, cancel := withTimeout(ctx, timeout)
	defer cancel()

	cmdBin, cmdArgs := bin, args
	if tap != nil {
		cmdBin, cmdArgs = tapCommand(tap.NS, bin, args)
	}
	cmd := exec.CommandContext(runCtx, cmdBin, cmdArgs...)
	var mu sync.Mutex
	nmiSent := false
	marks := c.Marks
	mon := monitorJob{done: make(chan struct{})}
	if len(c.Monitor) > 0 {
		marks = append(slices.Clone(marks), c.MonitorAfter)
	}
	var serialIn *os.File
	if c.SerialInput != "" {
		marks = append(slices.Clone(marks), c.SerialAfter)
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("qemu: %w", err)
		}
		defer pr.Close()
		defer pw.Close()
		serialIn = pw
		cmd.Stdin = pr // an *os.File: QEMU reads it directly
	}
	serialSent := false
	host := hostJob{done: make(chan struct{})}
	if c.Host != nil && c.HostAfter != "" {
		marks = append(slices.Clone(marks), c.HostAfter)
	}
	hostCtx, hostCancel := context.WithCancel(runCtx)
	if tap != nil {
		hostCtx = context.WithValue(hostCtx, tapKey{}, tap)
	}
	defer hostCancel()
	stdout := newConsole(&mu, out, c.Interactive, marks)
	stdout.onMark = func(m string) {
		if len(c.Monitor) > 0 && m == c.MonitorAfter && !mon.started {
			mon.started = true
			go mon.run(c.monitorSock, c.Monitor)
		}
		if serialIn != nil && m == c.SerialAfter && !serialSent {
			serialSent = true
			go typeSerial(serialIn, c.SerialInput)
		}
		if c.Host != nil && m == c.HostAfter && !host.started {
			host.started = true
			go host.run(hostCtx, c, &lineWriter{mu: &mu, out: out, prefix: "host: "})
		}
	}
	stderr := newConsole(&mu, out, c.Interactive, nil)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	// If this process dies without killing QEMU, Linux does. The signal
	// is tied to the thread that starts QEMU, so that thread is kept
	// until QEMU is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if c.Interactive {
		// QEMU stays in our process group so that it may read the
		// terminal; killing QEMU alone is enough, it starts no helpers.
		cmd.Stdin = c.Stdin
		if cmd.Stdin == nil {
			cmd.Stdin = os.Stdin
		}
	} else {
		cmd.SysProcAttr.Setpgid = true
		cmd.Cancel = func() error {
			if errors.Is(context.Cause(runCtx), errTimedOut) && nmiDump(c.monitorSock) {
				nmiSent = true
			}
			return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}

	start := time.Now()
	stdout.start, stderr.start = start, start
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: start %s: %w", bin, err)
	}
	if gs != nil {
		gs.start(hostCtx, c.GuestServers, func() io.Writer { return &lineWriter{mu: &mu, out: out, prefix: "host: "} })
	}
	waitErr := cmd.Wait()
	elapsed := time.Since(start)
	stdout.flush()
	stderr.flush()
	if mon.started {
		<-mon.done // QEMU is gone: the connection ends at once
	}
	hostCancel()
	if host.started {
		<-host.done
	}
	var tapErr error
	if tap != nil {
		tapErr = tap.Close() // QEMU and the host side are gone
	}
	var guestErr error
	if gs != nil {
		guestErr = gs.wait()
	}
	if cmd.ProcessState == nil {
		return nil, fmt.Errorf("qemu: wait for %s: %w", bin, waitErr)
	}

	r := &Result{
		Output:  string(stdout.buf),
		Stderr:  string(stderr.buf),
		Elapsed: elapsed,
		Marks:   maps.Clone(stdout.markTim),
	}
	if stdout.gotAny {
		r.FirstLine = stdout.first
	}
	if mon.started {
		r.Monitor, r.MonitorErr = mon.out, mon.err
	}
	switch {
	case host.started:
		r.HostErr = host.err
	case c.Host != nil:
		r.HostErr = fmt.Errorf("qemu: the host side never ran: no serial line contained %q", c.HostAfter)
	}
	if tapErr != nil {
		r.HostErr = errors.Join(r.HostErr, tapErr)
	}
	if guestErr != nil {
		r.HostErr = errors.Join(r.HostErr, guestErr)
	}
	e := exitInfo{code: cmd.ProcessState.ExitCode(), timeout: timeout}
	if e.code < 0 && runCtx.Err() != nil {
		switch {
		case errors.Is(context.Cause(runCtx), errTimedOut):
			e.timedOut = true
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			e.timedOut = true
			if d, ok := ctx.Deadline(); ok {
				e.timeout = d.Sub(start).Round(time.Millisecond)
			}
		default:
			e.canceled = true
		}
	}
	if nmiSent {
		// The kernel may have exited by itself after the NMI's reports:
		// the boot still timed out.
		e.timedOut, e.canceled = true, false
	}
	classify(r, e, c.RequireSummary)
	if e.canceled {
		return r, ctx.Err()
	}
	return r, nil
}

// hostJob runs Config.Host once.
type hostJob struct {
	started bool // set from the console's Write, read after Wait
	done    chan struct{}
	err     error
}

func (j *hostJob) run(ctx context.Context, c Config, log io.Writer) {
	defer close(j.done)
	_, parsed, _, err := ResolveHostFwd(c.HostFwd) // resolved already: no port 0 left
	if err != nil {
		j.err = err
		return
	}
	defer func() {
		if r := recover(); r != nil {
			j.err = fmt.Errorf("qemu: host side panicked: %v", r)
		}
	}()
	j.err = c.Host(ctx, parsed, log)
}

// lineWriter writes each line to out with a prefix, under mu (shared
// with the console streams).
type lineWriter struct {
	mu     *sync.Mutex
	out    io.Writer
	prefix string
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		_, _ = w.out.Write(append([]byte(w.prefix), w.buf[:i+1]...))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// monitorJob runs Config.Monitor's commands once.
type monitorJob struct {
	started bool // set from the console's Write, read after Wait
	done    chan struct{}
	out     string
	err     error
}

func (j *monitorJob) run(sock string, cmds []string) {
	defer close(j.done)
	j.out, j.err = monitorCommands(sock, cmds, monitorTimeout)
}

const monitorTimeout = 30 * time.Second

// monitorPrompt ends every answer of QEMU's human monitor.
const monitorPrompt = "(qemu) "

// monitorCommands connects to the monitor at sock, runs each command,
// waiting for the prompt that ends its answer, and returns everything
// the monitor printed after its greeting.
func monitorCommands(sock string, cmds []string, timeout time.Duration) (string, error) {
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return "", fmt.Errorf("qemu: monitor: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", fmt.Errorf("qemu: monitor: %w", err)
	}
	var all []byte
	buf := make([]byte, 4096)
	// prompt reads until the monitor's answer to what was sent ends in a
	// prompt: the text read after from.
	prompt := func(from int) error {
		for !bytes.HasSuffix(all[from:], []byte(monitorPrompt)) {
			n, err := conn.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				return fmt.Errorf("qemu: monitor: %w", err)
			}
		}
		return nil
	}
	if err := prompt(0); err != nil {
		return "", err
	}
	all = all[:0]
	for _, cmd := range cmds {
		from := len(all)
		if _, err := conn.Write([]byte(cmd + "\n")); err != nil {
			return string(all), fmt.Errorf("qemu: monitor: %s: %w", cmd, err)
		}
		if err := prompt(from); err != nil {
			return string(all), fmt.Errorf("qemu: monitor: %s: %w", cmd, err)
		}
	}
	return string(all), nil
}

// nmiDump asks QEMU's monitor to inject an NMI into every CPU, and gives
// the kernel nmiWait to print each CPU's state (KERNEL PANIC blocks that
// ParsePanics reads) before the caller kills QEMU.
func nmiDump(sock string) bool {
	if sock == "" {
		return false
	}
	conn, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("nmi\n")); err != nil {
		return false
	}
	time.Sleep(nmiWait)
	return true
}

const nmiWait = 2 * time.Second

// withTimeout is context.WithTimeoutCause with errTimedOut, or just a
// cancelable ctx when d is 0 (no timeout).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d, errTimedOut)
}

// typeSerial writes s to QEMU's serial input a line at a time, with a
// pause between lines so the shell has read one before the next arrives
// (the UART's FIFO holds 16 bytes).
func typeSerial(w io.Writer, s string) {
	for _, line := range strings.SplitAfter(s, "\n") {
		if line == "" {
			continue
		}
		for i := 0; i < len(line); i += 8 {
			if _, err := io.WriteString(w, line[i:min(i+8, len(line))]); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
