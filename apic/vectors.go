package apic

import "errors"

// Device interrupt vectors. 0x00–0x1f are exceptions; 0x20 is the LAPIC
// timer and 0x20–0x2f also where the masked 8259s would put a spurious
// IRQ 7 or 15 (0x27, 0x2f); 0xf0–0xff are the kernel's IPIs and the
// spurious vector. Devices get 0x30–0xef. The LAPIC prioritises by
// vector>>4 (SDM §10.8.3.1), so the allocator hands out the lowest free
// vector of the least used priority class: devices spread over the
// classes instead of queueing behind each other in one.
const (
	VecDeviceFirst = 0x30
	VecDeviceLast  = 0xef
)

// ErrNoVector is returned when a CPU has no free device vector.
var ErrNoVector = errors.New("apic: no free interrupt vector on that CPU")

// VectorSet tracks the device vectors in use on each CPU: vectors are a
// per-CPU resource (an interrupt names the CPU and the vector), so the
// same number may serve different sources on different CPUs. It is plain
// data: the caller serialises access.
type VectorSet struct {
	used [][4]uint64 // per CPU, bit v of the 256-bit set
}

// NewVectorSet returns an empty set for ncpu CPUs.
func NewVectorSet(ncpu int) *VectorSet {
	return &VectorSet{used: make([][4]uint64, ncpu)}
}

func (s *VectorSet) isUsed(cpu int, v int) bool { return s.used[cpu][v/64]&(1<<uint(v%64)) != 0 }

// Alloc takes a free device vector on cpu.
func (s *VectorSet) Alloc(cpu int) (uint8, error) {
	if cpu < 0 || cpu >= len(s.used) {
		return 0, errors.New("apic: VectorSet.Alloc: no such CPU")
	}
	best, bestLoad := -1, 17
	for class := VecDeviceFirst >> 4; class <= VecDeviceLast>>4; class++ {
		load, free := 0, -1
		for v := class << 4; v < class<<4+16; v++ {
			if s.isUsed(cpu, v) {
				load++
			} else if free < 0 {
				free = v
			}
		}
		if free >= 0 && load < bestLoad {
			best, bestLoad = free, load
		}
	}
	if best < 0 {
		return 0, ErrNoVector
	}
	s.used[cpu][best/64] |= 1 << uint(best%64)
	return uint8(best), nil
}

// Reserve marks vector v used on cpu; it reports false if it already was.
func (s *VectorSet) Reserve(cpu int, v uint8) bool {
	if cpu < 0 || cpu >= len(s.used) || s.isUsed(cpu, int(v)) {
		return false
	}
	s.used[cpu][v/64] |= 1 << uint(v%64)
	return true
}

// Free releases vector v on cpu.
func (s *VectorSet) Free(cpu int, v uint8) {
	if cpu >= 0 && cpu < len(s.used) {
		s.used[cpu][v/64] &^= 1 << uint(v%64)
	}
}

// InUse returns how many device vectors cpu has allocated.
func (s *VectorSet) InUse(cpu int) int {
	n := 0
	for v := VecDeviceFirst; v <= VecDeviceLast; v++ {
		if s.isUsed(cpu, v) {
			n++
		}
	}
	return n
}
