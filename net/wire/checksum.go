package wire

import "github.com/smpgo/smpgo/net/mbuf"

// Sum is a partial Internet checksum: a 32-bit accumulator of 16-bit
// big-endian words (RFC 1071), folded only at the end.
type Sum uint32

// Add accumulates b, which must start at an even offset of the checksummed
// data (use SumMbuf for data split at odd offsets).
func (s Sum) Add(b []byte) Sum {
	acc := uint64(s)
	n := len(b)
	i := 0
	for ; i+8 <= n; i += 8 {
		acc += uint64(b[i])<<8 | uint64(b[i+1])
		acc += uint64(b[i+2])<<8 | uint64(b[i+3])
		acc += uint64(b[i+4])<<8 | uint64(b[i+5])
		acc += uint64(b[i+6])<<8 | uint64(b[i+7])
	}
	for ; i+1 < n; i += 2 {
		acc += uint64(b[i])<<8 | uint64(b[i+1])
	}
	if i < n {
		acc += uint64(b[i]) << 8
	}
	for acc>>32 != 0 {
		acc = acc&0xffffffff + acc>>32
	}
	return Sum(acc)
}

// Add16 accumulates one 16-bit word.
func (s Sum) Add16(v uint16) Sum {
	acc := uint64(s) + uint64(v)
	return Sum(acc&0xffffffff + acc>>32)
}

// Fold returns the ones-complement checksum to store in a header.
func (s Sum) Fold() uint16 {
	acc := uint32(s)
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return ^uint16(acc)
}

// Checksum returns the Internet checksum of b.
func Checksum(b []byte) uint16 { return Sum(0).Add(b).Fold() }

// Pseudo returns the sum of the TCP/UDP pseudo-header (RFC 9293 §3.1).
func Pseudo(src, dst Addr, proto uint8, length int) Sum {
	var s Sum
	s = s.Add(src[:]).Add(dst[:])
	return s.Add16(uint16(proto)).Add16(uint16(length))
}

// SumMbuf accumulates n bytes of packet m starting at off, handling pieces
// that split a 16-bit word between mbufs.
func SumMbuf(s Sum, m *mbuf.Mbuf, off, n int) Sum {
	var odd bool
	var carry byte
	m.Range(off, n, func(b []byte) {
		if odd && len(b) > 0 {
			s = s.Add16(uint16(carry)<<8 | uint16(b[0]))
			b = b[1:]
			odd = false
		}
		if len(b)%2 == 1 {
			s = s.Add(b[:len(b)-1])
			carry = b[len(b)-1]
			odd = true
			return
		}
		s = s.Add(b)
	})
	if odd {
		s = s.Add16(uint16(carry) << 8)
	}
	return s
}

// CompleteCsum finishes a partial transport checksum in place, as a NIC
// asked to checksum a frame does (virtio's NEEDS_CSUM with
// csum_start/csum_offset, the 8254x's TUCSS/TUCSO): the field at
// b[start+off:] holds the pseudo-header's sum; it gets the complement of
// the sum of b[start:]. A UDP result of 0 is stored as 0xffff (RFC 768:
// 0 would mean "no checksum"). It reports false, leaving b alone, when
// the field lies outside b.
func CompleteCsum(b []byte, start, off int, udp bool) bool {
	if start < 0 || off < 0 || start+off+2 > len(b) {
		return false
	}
	sum := Sum(0).Add(b[start:]).Fold()
	if sum == 0 && udp {
		sum = 0xffff
	}
	b[start+off], b[start+off+1] = byte(sum>>8), byte(sum)
	return true
}
