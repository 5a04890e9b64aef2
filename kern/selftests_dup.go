package kern

import (
	"syscall"
	"unsafe"
)

// Kern/DupRuntimeObjects: the runtime's kind of descriptors, an eventfd
// and an epoll instance (fresh ones here, not the netpoller's), are not
// duplicated (dup, dup3, F_DUPFD: EINVAL) and not replaced by dup2
// (EBUSY); each refusal is counted; they still work and close afterwards.
func init() {
	RegisterTest(Test{Name: "Kern/DupRuntimeObjects", Fn: testDupRuntimeObjects})
}

func testDupRuntimeObjects(t *T) {
	efd, _, e1 := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK, 0)
	if e1 != 0 {
		t.Fatalf("eventfd2: %v", e1)
	}
	defer syscall.Close(int(efd))
	epfd, err := syscall.EpollCreate1(0)
	if err != nil {
		t.Fatalf("epoll_create1: %v", err)
	}
	defer syscall.Close(epfd)
	var p [2]int
	if err := syscall.Pipe2(p[:], 0); err != nil {
		t.Fatalf("pipe2: %v", err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	_, refused0 := DupCounts()
	for _, fd := range []int{int(efd), epfd} {
		if nfd, err := syscall.Dup(fd); err != syscall.EINVAL {
			t.Errorf("dup(%d): %d, %v; want EINVAL", fd, nfd, err)
		}
		if err := syscall.Dup3(fd, 900, 0); err != syscall.EINVAL {
			t.Errorf("dup3(%d, 900): %v; want EINVAL", fd, err)
		}
		if _, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD, 0); e != syscall.EINVAL {
			t.Errorf("fcntl(%d, F_DUPFD): %v; want EINVAL", fd, e)
		}
		if err := syscall.Dup2(p[0], fd); err != syscall.EBUSY {
			t.Errorf("dup2(pipe, %d): %v; want EBUSY", fd, err)
		}
	}
	if _, refused := DupCounts(); refused-refused0 < 8 {
		t.Errorf("%d refusals counted, want at least 8", refused-refused0)
	}
	// Both still work: the eventfd's counter, and epoll reporting it.
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	if _, err := syscall.Write(int(efd), one); err != nil {
		t.Fatalf("eventfd write: %v", err)
	}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, int(efd), &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(efd)}); err != nil {
		t.Fatalf("epoll_ctl: %v", err)
	}
	ev := make([]syscall.EpollEvent, 4)
	// epoll_pwait, as the runtime calls it (no epoll_wait here), not waiting.
	n, _, e := syscall.Syscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&ev[0])), uintptr(len(ev)), 0, 0, 0)
	if n != 1 || e != 0 || ev[0].Fd != int32(efd) {
		t.Errorf("epoll_pwait: %d, %v, %+v; want the eventfd readable", n, e, ev[0])
	}
}
