package uma

// Buckets and the working-set estimate: the pure parts of the per-CPU and
// per-domain caches, tested on the host.

// bucketSizes maps item sizes to bucket capacities (FreeBSD uma_core.c
// bucket_zones): small items get big buckets, so a bucket always caches a
// few KiB; items over maxBucketItem are cached one at a time per bucket.
var bucketSizes = []struct {
	maxItem int // largest item size served by this bucket size
	entries int
}{
	{32, 256},
	{64, 128},
	{128, 64},
	{256, 32},
	{512, 16},
	{1024, 8},
	{2048, 4},
	{maxBucketItem, 2},
}

const maxBucketItem = 4096

// BucketSize returns the bucket capacity for items of size bytes: the
// entries of the first class whose limit covers size (1 beyond the table).
func BucketSize(size int) int {
	for _, b := range bucketSizes {
		if size <= b.maxItem {
			return b.entries
		}
	}
	return 1
}

// bucket is an array of free items (addresses). Buckets live on the Go
// heap; the items they name do not.
type bucket struct {
	n     int
	items []uintptr // len = capacity
	// A cache line of its own (64-byte size class): n changes on every
	// alloc and free, and two CPUs' buckets must not share a line.
	_ [64 - 32]byte
}

func newBucket(size int) *bucket { return &bucket{items: make([]uintptr, size)} }

func (b *bucket) full() bool  { return b.n == len(b.items) }
func (b *bucket) empty() bool { return b.n == 0 }

// wss is a zone domain's working-set estimate (FreeBSD
// zone_domain_update_wss): between updates it records the highest and
// lowest number of items the domain's bucket cache held; at each update
// the swing imax - imin is the demand of the interval, smoothed into the
// estimate with weight 4/5 for the new sample (a burst counts at once, a
// quiet period decays it). Items cached beyond the estimate are surplus
// and can be trimmed.
type wss struct {
	nitems     int // items in the cache now
	imax, imin int // extremes of nitems since the last update
	est        int // the estimate
}

// add records n items entering the cache.
func (w *wss) add(n int) {
	w.nitems += n
	w.imax = max(w.imax, w.nitems)
}

// remove records n items leaving the cache.
func (w *wss) remove(n int) {
	w.nitems -= n
	w.imin = min(w.imin, w.nitems)
}

// update closes an interval and returns the new estimate.
func (w *wss) update() int {
	swing := w.imax - w.imin
	w.imax, w.imin = w.nitems, w.nitems
	w.est = (4*swing + w.est) / 5
	return w.est
}

// surplus returns how many cached items exceed the estimate.
func (w *wss) surplus() int { return max(0, w.nitems-w.est) }
