package spin

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLockExcludes(t *testing.T) {
	var l Lock
	var wg sync.WaitGroup
	counter := 0
	for cpu := 0; cpu < 4; cpu++ {
		wg.Add(1)
		go func(cpu int) {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				l.Acquire(cpu)
				counter++
				l.Release()
			}
		}(cpu)
	}
	wg.Wait()
	require.Equal(t, 80000, counter)
	require.Equal(t, -1, l.Owner())
}

func TestOwnerAndTry(t *testing.T) {
	var l Lock
	require.True(t, l.TryAcquire(3))
	require.Equal(t, 3, l.Owner())
	require.False(t, l.TryAcquire(1))
	l.Release()
	require.True(t, l.TryAcquire(0))
	require.Equal(t, 0, l.Owner())
}
