package kern

import (
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRuntimeLayout checks the g/m offsets the inlined critical section
// uses against the toolchain building these tests (the kernel's), on
// goroutines locked to several threads.
func TestRuntimeLayout(t *testing.T) {
	require.NoError(t, checkRuntimeLayout())
	errs := make(chan error, 8)
	tids := make(chan int, 8)
	release := make(chan struct{}) // each keeps its thread until all ran
	defer close(release)
	for i := 0; i < 8; i++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- syscall.Gettid()
			errs <- checkRuntimeLayout()
			<-release
		}()
	}
	seen := map[int]bool{}
	for i := 0; i < 8; i++ {
		assert.NoError(t, <-errs)
		seen[<-tids] = true
	}
	assert.Greater(t, len(seen), 1, "the goroutines ran on more than one thread")
}

func TestNextTidCongruentToSlot(t *testing.T) {
	saved := sched.nextTid
	defer func() { sched.nextTid = saved }()
	sched.nextTid = 1
	assert.Equal(t, int32(1), nextTidLocked(1), "the runtime's first thread (slot 1, after CPU 0's idle thread) is the process, id 1")
	assert.Equal(t, int32(2), nextTidLocked(2))
	assert.Equal(t, int32(5), nextTidLocked(5))
	assert.Equal(t, int32(MaxThreads+3), nextTidLocked(3), "ids only grow")
	assert.Equal(t, int32(MaxThreads+4), nextTidLocked(4))
	assert.Equal(t, int32(2*MaxThreads), nextTidLocked(0), "slot 0 never gets id 0")
	for i := 0; i < 3*MaxThreads; i++ {
		slot := (i * 7) % MaxThreads
		tid := nextTidLocked(slot)
		require.Positive(t, tid)
		require.Equal(t, uintptr(slot), tidSlot(uint64(tid)))
	}
	sched.nextTid = 1<<31 - 10
	tid := nextTidLocked(100)
	assert.Equal(t, int32(100), tid, "past int32 the ids start again")
	assert.Equal(t, int32(101), sched.nextTid)
}
