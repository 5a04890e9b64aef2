// Package e1000 drives the Intel 8254x family as QEMU emulates it (the
// 82540EM, PCI 8086:100e, QEMU -device e1000): reset, MAC address from the
// EEPROM, legacy receive and transmit descriptor rings in physically
// contiguous memory, interrupt causes handled through an ithread (INTx:
// the 82540EM has no MSI), interrupt moderation (ITR), link state, and
// the statistics registers. It attaches to net/if as "em".
//
// Register and bit names follow the "PCI/PCI-X Family of Gigabit Ethernet
// Controllers Software Developer's Manual" (8254x SDM, rev. 4.0), each
// block citing its section. Descriptor formats and ring arithmetic
// (desc.go, ring.go) are plain logic tested on the host.
package e1000

// PCI IDs (8254x SDM §5.2, table 5-1).
const (
	VendorIntel  = 0x8086
	Dev82540EM   = 0x100e
	Dev82545EMCu = 0x100f
)

// General registers (§13.4.1–13.4.4).
const (
	CTRL     = 0x00000 // Device Control
	STATUS   = 0x00008 // Device Status
	EECD     = 0x00010 // EEPROM/Flash Control/Data
	EERD     = 0x00014 // EEPROM Read
	CTRL_EXT = 0x00018

	CTRL_FD      = 1 << 0  // full duplex
	CTRL_LRST    = 1 << 3  // link reset
	CTRL_ASDE    = 1 << 5  // auto-speed detection enable
	CTRL_SLU     = 1 << 6  // set link up
	CTRL_RST     = 1 << 26 // device reset (self-clearing)
	CTRL_VME     = 1 << 30
	CTRL_PHY_RST = 1 << 31

	STATUS_FD    = 1 << 0
	STATUS_LU    = 1 << 1 // link up
	STATUS_SPEED = 0b11 << 6

	EERD_START      = 1 << 0
	EERD_DONE       = 1 << 4 // 8254x except 82541/82547: bit 4
	EERD_ADDR_SHIFT = 8
	EERD_DATA_SHIFT = 16
)

// Interrupt registers (§13.4.17–13.4.21); cause bits are shared by ICR,
// ICS, IMS and IMC.
const (
	ICR = 0x000c0 // Interrupt Cause Read (clear on read)
	ITR = 0x000c4 // Interrupt Throttling, in 256 ns units
	ICS = 0x000c8 // Interrupt Cause Set
	IMS = 0x000d0 // Interrupt Mask Set/Read
	IMC = 0x000d8 // Interrupt Mask Clear

	ICR_TXDW   = 1 << 0 // transmit descriptor written back
	ICR_TXQE   = 1 << 1 // transmit queue empty
	ICR_LSC    = 1 << 2 // link status change
	ICR_RXSEQ  = 1 << 3
	ICR_RXDMT0 = 1 << 4 // receive descriptor minimum threshold
	ICR_RXO    = 1 << 6 // receiver overrun
	ICR_RXT0   = 1 << 7 // receiver timer interrupt
)

// Receive registers (§13.4.22–13.4.30).
const (
	RCTL  = 0x00100
	RDBAL = 0x02800
	RDBAH = 0x02804
	RDLEN = 0x02808
	RDH   = 0x02810
	RDT   = 0x02818
	RDTR  = 0x02820 // receive delay timer

	RCTL_EN         = 1 << 1
	RCTL_SBP        = 1 << 2
	RCTL_UPE        = 1 << 3 // unicast promiscuous
	RCTL_MPE        = 1 << 4 // multicast promiscuous
	RCTL_LPE        = 1 << 5
	RCTL_RDMTS_HALF = 0b00 << 8
	RCTL_BAM        = 1 << 15 // accept broadcast
	RCTL_BSIZE_2048 = 0b00 << 16
	RCTL_SECRC      = 1 << 26 // strip the Ethernet CRC
)

// Transmit registers (§13.4.33–13.4.41).
const (
	TCTL  = 0x00400
	TIPG  = 0x00410
	TDBAL = 0x03800
	TDBAH = 0x03804
	TDLEN = 0x03808
	TDH   = 0x03810
	TDT   = 0x03818
	TIDV  = 0x03820

	TCTL_EN         = 1 << 1
	TCTL_PSP        = 1 << 3 // pad short packets
	TCTL_CT_SHIFT   = 4      // collision threshold
	TCTL_COLD_SHIFT = 12     // collision distance
	TCTL_CT         = 0x10 << TCTL_CT_SHIFT
	TCTL_COLD_FD    = 0x40 << TCTL_COLD_SHIFT

	// TIPG for the 82540EM's copper interface (§13.4.34, table 13-77):
	// IPGT 10, IPGR1 8, IPGR2 6.
	TIPG_DEFAULT = 10 | 8<<10 | 6<<20
)

// Receive checksum control (RXCSUM, 05000h, chapter 13's register
// descriptions): PCSS (packet checksum start) in bits 0-7, IPv4 and
// TCP/UDP checksum offload enables; written while the receiver is off.
const (
	RXCSUM        = 0x05000
	RXCSUM_IPOFLD = 1 << 8
	RXCSUM_TUOFLD = 1 << 9
)

// Receive address filter (§13.5.1–13.5.3).
const (
	MTA    = 0x05200 // multicast table array, 128 dwords
	RAL0   = 0x05400
	RAH0   = 0x05404
	RAH_AV = 1 << 31 // address valid
)

// Statistics (§13.7): clear on read; the 64-bit octet counters read low
// then high.
const (
	CRCERRS = 0x04000
	MPC     = 0x04010 // missed packets
	COLC    = 0x04028
	GPRC    = 0x04074 // good packets received
	BPRC    = 0x04078
	MPRC    = 0x0407c
	GPTC    = 0x04080 // good packets transmitted
	GORCL   = 0x04088
	GORCH   = 0x0408c
	GOTCL   = 0x04090
	GOTCH   = 0x04094
	RNBC    = 0x040a0 // receive no buffers
	TPR     = 0x040d0 // total packets received
	TPT     = 0x040d4
)
