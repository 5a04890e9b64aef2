package vm

import "errors"

// The runtime's part of the address space: above the 4 GiB identity map,
// below the 47-bit canonical limit.
const (
	SpaceBase = 1 << 40        // 1 TiB
	SpaceTop  = 0x7ffffffff000 // last page below the canonical hole
	PageSize  = 4096
	maxRanges = 2048
)

// Errors returned by Space.
var (
	ErrNoSpace  = errors.New("vm: address space exhausted")
	ErrTooMany  = errors.New("vm: too many reservations")
	ErrBadRange = errors.New("vm: range outside the runtime's address space")
)

// Space is a set of disjoint, sorted, page-aligned reservations [start, end).
// It is a fixed-size value (no allocation) so that it can live in the BSS
// and be used from trap context. The caller serialises access.
type Space struct {
	n int
	r [maxRanges][2]uintptr
}

func pageUp(n uintptr) uintptr { return (n + PageSize - 1) &^ (PageSize - 1) }

// Reserve reserves length bytes. With fixed, exactly [hint, hint+length)
// (already-reserved parts are kept, as MAP_FIXED replaces a mapping). Without
// fixed, at hint if that range is free and inside the space, else the lowest
// free range that fits.
func (s *Space) Reserve(hint, length uintptr, fixed bool) (uintptr, error) {
	length = pageUp(length)
	if length == 0 {
		return 0, ErrBadRange
	}
	if fixed {
		if hint%PageSize != 0 || !inSpace(hint, length) {
			return 0, ErrBadRange
		}
		return hint, s.add(hint, hint+length)
	}
	if hint != 0 {
		hint &^= PageSize - 1
		if inSpace(hint, length) && s.free(hint, hint+length) {
			return hint, s.add(hint, hint+length)
		}
	}
	// First fit, bottom-up.
	at := uintptr(SpaceBase)
	for i := 0; i < s.n; i++ {
		if s.r[i][0] >= at+length {
			break
		}
		if s.r[i][1] > at {
			at = s.r[i][1]
		}
	}
	if !inSpace(at, length) {
		return 0, ErrNoSpace
	}
	return at, s.add(at, at+length)
}

func inSpace(a, length uintptr) bool {
	return a >= SpaceBase && a+length > a && a+length <= SpaceTop
}

// free reports whether [a, b) overlaps no reservation.
func (s *Space) free(a, b uintptr) bool {
	i := s.search(a)
	return i >= s.n || s.r[i][0] >= b
}

// search returns the index of the first range whose end is > a.
func (s *Space) search(a uintptr) int {
	lo, hi := 0, s.n
	for lo < hi {
		m := (lo + hi) / 2
		if s.r[m][1] > a {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}

// add inserts [a, b), merging with overlapping or adjacent ranges.
func (s *Space) add(a, b uintptr) error {
	i := s.search(a)
	if i > 0 && s.r[i-1][1] == a {
		i--
	}
	j := i
	for j < s.n && s.r[j][0] <= b {
		if s.r[j][0] < a {
			a = s.r[j][0]
		}
		if s.r[j][1] > b {
			b = s.r[j][1]
		}
		j++
	}
	// ranges i..j-1 are merged into one at i.
	if i == j {
		if s.n == maxRanges {
			return ErrTooMany
		}
		copy(s.r[i+1:s.n+1], s.r[i:s.n])
		s.n++
	} else {
		copy(s.r[i+1:], s.r[j:s.n])
		s.n -= j - i - 1
	}
	s.r[i] = [2]uintptr{a, b}
	return nil
}

// Release removes [a, a+length) from the reservations (splitting ranges).
func (s *Space) Release(a, length uintptr) error {
	b := a + pageUp(length)
	if a%PageSize != 0 || b <= a {
		return ErrBadRange
	}
	i := s.search(a)
	for i < s.n && s.r[i][0] < b {
		ra, rb := s.r[i][0], s.r[i][1]
		switch {
		case ra < a && rb > b: // split in two
			if s.n == maxRanges {
				return ErrTooMany
			}
			copy(s.r[i+2:s.n+1], s.r[i+1:s.n])
			s.n++
			s.r[i] = [2]uintptr{ra, a}
			s.r[i+1] = [2]uintptr{b, rb}
			return nil
		case ra < a:
			s.r[i][1] = a
			i++
		case rb > b:
			s.r[i][0] = b
			return nil
		default: // fully covered
			copy(s.r[i:], s.r[i+1:s.n])
			s.n--
		}
	}
	return nil
}

// Contains reports whether addr is reserved.
func (s *Space) Contains(addr uintptr) bool {
	i := s.search(addr)
	return i < s.n && s.r[i][0] <= addr
}

// Len returns the number of disjoint ranges.
//
//go:nosplit
func (s *Space) Len() int { return s.n }

// Bytes returns the total reserved size.
//
//go:nosplit
func (s *Space) Bytes() uintptr {
	var t uintptr
	for i := 0; i < s.n; i++ {
		t += s.r[i][1] - s.r[i][0]
	}
	return t
}
