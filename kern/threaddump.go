package kern

// dumpThreads prints the thread table after an NMI stopped the machine
// (the harness's timeout): one "kthread" line per live thread with its
// state, what it waits for and its saved RIP/RSP, which the host
// symbolises (qemu.SymbolizeThreads). Trap context, other CPUs stopped:
// no locks, no allocation.
func dumpThreads() {
	var l kline
	l.s("KERNEL THREADS").nl()
	conWrite(l.buf[:l.n])
	for i := range threads {
		t := &threads[i]
		if t.state == tFree {
			continue
		}
		l.n = 0
		l.s("kthread tid=").d(int64(t.tid)).s(" state=").s(stateNames[t.state]).s(" cpu=").d(int64(t.cpu))
		if t.idle {
			l.s(" idle")
		}
		if t.state == tBlocked {
			l.s(" wait=").s(dumpWaitNames[t.waitFor]).s(" key=").x(uint64(t.waitKey))
			if t.waitFor == waitExt {
				r := &ext.slots[t.waitKey].req
				l.s(" call=").s(SyscallName(r.Nr)).s("/").d(int64(r.Nr)).s(" fd=").d(int64(r.Fd))
				if ext.slots[t.waitKey].queued {
					l.s(" queued")
				}
			}
		}
		l.s(" rip=").x(t.Frame.RIP).s(" rsp=").x(t.Frame.RSP).s(" syscalls=").u(t.syscalls).nl()
		conWrite(l.buf[:l.n])
	}
	l.n = 0
	l.s("END KERNEL THREADS").nl()
	conWrite(l.buf[:l.n])
}

// dumpWaitNames are one word each: the dump is key=value.
var dumpWaitNames = [...]string{waitNone: "none", waitFutex: "futex", waitSleep: "nanosleep", waitEpoll: "epoll",
	waitRead: "read", waitPipeRead: "pipe-read", waitPipeWrite: "pipe-write",
	waitExt: "ext-call"}
