package wire

import "encoding/binary"

// TCP header (RFC 9293 §3.1) and options (§3.2; RFC 7323 window scale and
// timestamps; RFC 2018 SACK-permitted).
const (
	TCPHdrLen    = 20
	TCPMaxHdrLen = 60

	TH_FIN  = 0x01
	TH_SYN  = 0x02
	TH_RST  = 0x04
	TH_PUSH = 0x08
	TH_ACK  = 0x10
	TH_URG  = 0x20
	TH_ECE  = 0x40
	TH_CWR  = 0x80

	TCPOPT_EOL       = 0
	TCPOPT_NOP       = 1
	TCPOPT_MAXSEG    = 2
	TCPOPT_WINDOW    = 3
	TCPOPT_SACK_PERM = 4
	TCPOPT_SACK      = 5
	TCPOPT_TIMESTAMP = 8

	// TCP_MAX_WINSHIFT is the largest window scale (RFC 7323 §2.3).
	TCP_MAX_WINSHIFT = 14
)

// TCPOptions are the options the stack understands.
type TCPOptions struct {
	MSS      uint16 // 0: absent
	WScale   int8   // -1: absent
	SACKPerm bool
	TS       bool
	TSVal    uint32
	TSEcr    uint32
}

// TCP is a decoded TCP header.
type TCP struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	DataOff          int // header length in bytes
	Flags            uint8
	Window           uint16
	Csum             uint16
	Urg              uint16
	Opts             TCPOptions
}

// ParseTCP decodes the TCP header at the start of b (the whole segment).
// Checksums are the caller's business (they need the pseudo-header).
func ParseTCP(b []byte) (TCP, error) {
	if len(b) < TCPHdrLen {
		return TCP{}, ErrTruncated
	}
	h := TCP{
		SrcPort: binary.BigEndian.Uint16(b[0:2]),
		DstPort: binary.BigEndian.Uint16(b[2:4]),
		Seq:     binary.BigEndian.Uint32(b[4:8]),
		Ack:     binary.BigEndian.Uint32(b[8:12]),
		DataOff: int(b[12]>>4) * 4,
		Flags:   b[13],
		Window:  binary.BigEndian.Uint16(b[14:16]),
		Csum:    binary.BigEndian.Uint16(b[16:18]),
		Urg:     binary.BigEndian.Uint16(b[18:20]),
	}
	if h.DataOff < TCPHdrLen || h.DataOff > len(b) {
		return TCP{}, ErrTCPDataOff
	}
	opts, err := parseTCPOptions(b[TCPHdrLen:h.DataOff])
	if err != nil {
		return TCP{}, err
	}
	h.Opts = opts
	return h, nil
}

func parseTCPOptions(b []byte) (TCPOptions, error) {
	o := TCPOptions{WScale: -1}
	for len(b) > 0 {
		kind := b[0]
		if kind == TCPOPT_EOL {
			break
		}
		if kind == TCPOPT_NOP {
			b = b[1:]
			continue
		}
		if len(b) < 2 || int(b[1]) < 2 || int(b[1]) > len(b) {
			return o, ErrOptionBad
		}
		l := int(b[1])
		switch kind {
		case TCPOPT_MAXSEG:
			if l != 4 {
				return o, ErrOptionBad
			}
			o.MSS = binary.BigEndian.Uint16(b[2:4])
		case TCPOPT_WINDOW:
			if l != 3 {
				return o, ErrOptionBad
			}
			o.WScale = int8(min(b[2], TCP_MAX_WINSHIFT))
		case TCPOPT_SACK_PERM:
			if l != 2 {
				return o, ErrOptionBad
			}
			o.SACKPerm = true
		case TCPOPT_TIMESTAMP:
			if l != 10 {
				return o, ErrOptionBad
			}
			o.TS = true
			o.TSVal = binary.BigEndian.Uint32(b[2:6])
			o.TSEcr = binary.BigEndian.Uint32(b[6:10])
		}
		b = b[l:]
	}
	return o, nil
}

// OptionsLen returns the encoded size of opts (a multiple of 4).
func (o *TCPOptions) OptionsLen() int {
	n := 0
	if o.MSS != 0 {
		n += 4
	}
	if o.WScale >= 0 {
		n += 4
	}
	if o.SACKPerm {
		n += 4
	}
	if o.TS {
		n += 12
	}
	return n
}

// Put encodes the header and options into b, which must hold
// TCPHdrLen+OptionsLen bytes, with the given checksum; it sets DataOff
// and returns it.
func (h *TCP) Put(b []byte) int {
	ol := h.Opts.OptionsLen()
	h.DataOff = TCPHdrLen + ol
	binary.BigEndian.PutUint16(b[0:2], h.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], h.DstPort)
	binary.BigEndian.PutUint32(b[4:8], h.Seq)
	binary.BigEndian.PutUint32(b[8:12], h.Ack)
	b[12] = byte(h.DataOff/4) << 4
	b[13] = h.Flags
	binary.BigEndian.PutUint16(b[14:16], h.Window)
	binary.BigEndian.PutUint16(b[16:18], h.Csum)
	binary.BigEndian.PutUint16(b[18:20], h.Urg)
	p := b[TCPHdrLen:]
	o := &h.Opts
	if o.MSS != 0 {
		p[0], p[1] = TCPOPT_MAXSEG, 4
		binary.BigEndian.PutUint16(p[2:4], o.MSS)
		p = p[4:]
	}
	if o.WScale >= 0 {
		p[0], p[1], p[2], p[3] = TCPOPT_NOP, TCPOPT_WINDOW, 3, byte(o.WScale)
		p = p[4:]
	}
	if o.SACKPerm {
		p[0], p[1], p[2], p[3] = TCPOPT_NOP, TCPOPT_NOP, TCPOPT_SACK_PERM, 2
		p = p[4:]
	}
	if o.TS {
		p[0], p[1], p[2], p[3] = TCPOPT_NOP, TCPOPT_NOP, TCPOPT_TIMESTAMP, 10
		binary.BigEndian.PutUint32(p[4:8], o.TSVal)
		binary.BigEndian.PutUint32(p[8:12], o.TSEcr)
	}
	return h.DataOff
}
