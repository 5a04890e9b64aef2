package qemu

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitNUMA(t *testing.T) {
	got, err := SplitNUMA(2, 4, 1024)
	require.NoError(t, err)
	require.Equal(t, []NUMANode{{0, 2, 512}, {2, 2, 512}}, got)

	// The remainder goes to the first nodes.
	got, err = SplitNUMA(3, 8, 768)
	require.NoError(t, err)
	require.Equal(t, []NUMANode{{0, 3, 256}, {3, 3, 256}, {6, 2, 256}}, got)

	// More nodes than CPUs: the last nodes have none.
	got, err = SplitNUMA(4, 2, 1024)
	require.NoError(t, err)
	require.Equal(t, []NUMANode{{0, 1, 256}, {1, 1, 256}, {2, 0, 256}, {2, 0, 256}}, got)

	got, err = SplitNUMA(1, 3, 64)
	require.NoError(t, err)
	require.Equal(t, []NUMANode{{0, 3, 64}}, got)
}

func TestSplitNUMAErrors(t *testing.T) {
	_, err := SplitNUMA(3, 4, 1024)
	require.EqualError(t, err, "qemu: -numa 3: 1024 MiB does not split into 3 nodes of a whole, even number of MiB")
	_, err = SplitNUMA(2, 4, 1026) // 513 MiB each: whole but odd
	require.EqualError(t, err, "qemu: -numa 2: 1026 MiB does not split into 2 nodes of a whole, even number of MiB")
	_, err = SplitNUMA(0, 4, 1024)
	require.EqualError(t, err, "qemu: -numa 0: want 1 to 128 nodes")
	_, err = SplitNUMA(129, 4, 1<<16)
	require.EqualError(t, err, "qemu: -numa 129: want 1 to 128 nodes")
}

func TestNUMAArgs(t *testing.T) {
	nodes, err := SplitNUMA(3, 4, 384)
	require.NoError(t, err)
	require.Equal(t, []string{
		"-object", "memory-backend-ram,id=m0,size=128M",
		"-object", "memory-backend-ram,id=m1,size=128M",
		"-object", "memory-backend-ram,id=m2,size=128M",
		"-numa", "node,nodeid=0,cpus=0-1,memdev=m0",
		"-numa", "node,nodeid=1,cpus=2,memdev=m1",
		"-numa", "node,nodeid=2,cpus=3,memdev=m2",
		"-numa", "dist,src=0,dst=1,val=20",
		"-numa", "dist,src=0,dst=2,val=20",
		"-numa", "dist,src=1,dst=0,val=20",
		"-numa", "dist,src=1,dst=2,val=20",
		"-numa", "dist,src=2,dst=0,val=20",
		"-numa", "dist,src=2,dst=1,val=20",
	}, numaArgs(nodes))

	// A node without CPUs has no cpus= at all.
	nodes, err = SplitNUMA(2, 1, 256)
	require.NoError(t, err)
	require.Equal(t, []string{
		"-object", "memory-backend-ram,id=m0,size=128M",
		"-object", "memory-backend-ram,id=m1,size=128M",
		"-numa", "node,nodeid=0,cpus=0,memdev=m0",
		"-numa", "node,nodeid=1,memdev=m1",
		"-numa", "dist,src=0,dst=1,val=20",
		"-numa", "dist,src=1,dst=0,val=20",
	}, numaArgs(nodes))
}
