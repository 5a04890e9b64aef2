package mbuf

import (
	"sync"
	"sync/atomic"
)

// Storage supplies fixed-size data clusters (FreeBSD's zone_clust). In the
// kernel a UMA zone backs it, giving physical addresses for DMA; on the
// host the Go heap does. Alloc and Free are called from any goroutine.
type Storage interface {
	// Size is the cluster size in bytes (at least MCLBYTES).
	Size() int
	// Alloc returns a cluster and its physical address (0 if unknown), or
	// ok=false when the storage is exhausted.
	Alloc() (data []byte, phys uint64, ok bool)
	// Free returns a cluster from Alloc.
	Free(data []byte, phys uint64)
}

// storage is set once at boot, before the first packet (SetStorage).
var storage Storage = &HeapStorage{}

// SetStorage installs the cluster storage. Call it before any cluster is
// allocated: clusters are returned to the storage they came from only
// while it stays installed.
func SetStorage(s Storage) {
	if s.Size() < MCLBYTES {
		panic("mbuf.SetStorage: cluster size below MCLBYTES")
	}
	if stats.clusters.Load() != 0 {
		panic("mbuf.SetStorage: clusters in use")
	}
	storage = s
}

// ClusterSize returns the installed storage's cluster size.
func ClusterSize() int { return storage.Size() }

// HeapStorage is Storage on the Go heap, recycling clusters through a
// sync.Pool. Limit, when positive, caps the clusters outstanding (so that
// tests can exhaust it).
type HeapStorage struct {
	Limit int
	out   atomic.Int64 // (a) clusters handed out (no lock: usable as a zero value)
	pool  sync.Pool
}

// Size implements Storage.
func (h *HeapStorage) Size() int { return MCLBYTES }

// Alloc implements Storage.
func (h *HeapStorage) Alloc() ([]byte, uint64, bool) {
	for {
		n := h.out.Load()
		if h.Limit > 0 && n >= int64(h.Limit) {
			return nil, 0, false
		}
		if h.out.CompareAndSwap(n, n+1) {
			break
		}
	}
	if p, ok := h.pool.Get().(*[MCLBYTES]byte); ok {
		return p[:], 0, true
	}
	return new([MCLBYTES]byte)[:], 0, true
}

// Free implements Storage.
func (h *HeapStorage) Free(data []byte, _ uint64) {
	h.out.Add(-1)
	h.pool.Put((*[MCLBYTES]byte)(data[:MCLBYTES]))
}
