// Package pci enumerates PCI and PCI Express functions and gives drivers
// their configuration space, BARs, capabilities and MSI/MSI-X vectors.
//
// It follows the PCI Local Bus Specification 3.0 (configuration header
// §6.1–6.2, configuration mechanism #1 §3.2.2.3.2, capabilities §6.7,
// MSI and MSI-X §6.8), the PCI Express Base Specification (enhanced
// configuration access, ECAM, §7.2.2) and the PCI Firmware Specification
// 3.3 §4.1.2 (the ACPI MCFG table that locates ECAM). tamago's
// soc/intel/pci is the model for naming; its accessors are not usable
// here (GOOS=tamago only, no locking of the 0xCF8/0xCFC pair, no ECAM).
//
// Configuration access goes through a Config: the legacy port pair, or
// ECAM when the MCFG lists a window (-M q35). Enumeration, BAR decoding,
// capability walks and driver matching are plain logic over a Config and
// are tested on the host with a fake; ports.go, ecam.go and kernel.go
// are the hardware side.
package pci

// Configuration space header (PCI Local Bus Specification 3.0 §6.1,
// figure 6-1; type 1 for bridges, PCI-to-PCI Bridge Architecture
// Specification 1.2 §3.2).
const (
	VENDOR_ID      = 0x00
	DEVICE_ID      = 0x02
	COMMAND        = 0x04
	STATUS         = 0x06
	REVISION_ID    = 0x08
	PROG_IF        = 0x09
	SUBCLASS       = 0x0a
	CLASS_CODE     = 0x0b
	HEADER_TYPE    = 0x0e
	BAR0           = 0x10
	PRIMARY_BUS    = 0x18 // type 1
	SECONDARY_BUS  = 0x19 // type 1
	SUBORDINATE    = 0x1a // type 1
	CAP_PTR        = 0x34
	INTERRUPT_LINE = 0x3c
	INTERRUPT_PIN  = 0x3d

	HEADER_MULTIFUNCTION = 0x80
	HEADER_TYPE_MASK     = 0x7f
	HEADER_BRIDGE        = 0x01

	// COMMAND bits (§6.2.2).
	CMD_IO_SPACE     = 1 << 0
	CMD_MEMORY_SPACE = 1 << 1
	CMD_BUS_MASTER   = 1 << 2
	CMD_INTX_DISABLE = 1 << 10

	// STATUS bits (§6.2.3).
	STATUS_CAP_LIST = 1 << 4

	// BAR bits (§6.2.5.1).
	BAR_IO           = 1 << 0
	BAR_MEM_TYPE     = 0b11 << 1
	BAR_MEM_TYPE_64  = 0b10 << 1
	BAR_PREFETCHABLE = 1 << 3
)

// Capability IDs (PCI Code and ID Assignment Specification 1.11 §2).
const (
	CAP_PM   = 0x01
	CAP_MSI  = 0x05
	CAP_VNDR = 0x09
	CAP_PCIE = 0x10
	CAP_MSIX = 0x11
)

// MSI capability (§6.8.1): Message Control at +2, then the address (and
// upper address when 64-bit capable), data, and mask bits when
// per-vector masking is capable.
const (
	MSI_CTRL             = 0x02
	MSI_ADDR_LO          = 0x04
	MSI_ADDR_HI          = 0x08 // 64-bit capable only
	MSI_CTRL_ENABLE      = 1 << 0
	MSI_CTRL_MME         = 0b111 << 4 // multiple message enable
	MSI_CTRL_64BIT       = 1 << 7
	MSI_CTRL_PVMASK      = 1 << 8
	msiData32, msiMask32 = 0x08, 0x0c
	msiData64, msiMask64 = 0x0c, 0x10
)

// MSI-X capability (§6.8.2) and table entries (§6.8.2.6–9).
const (
	MSIX_CTRL            = 0x02
	MSIX_TABLE           = 0x04 // offset | BIR
	MSIX_PBA             = 0x08
	MSIX_CTRL_TABLE_SIZE = 0x7ff
	MSIX_CTRL_FUNC_MASK  = 1 << 14
	MSIX_CTRL_ENABLE     = 1 << 15
	MSIX_BIR             = 0b111

	MSIX_ENTRY_SIZE     = 16
	MSIX_ENTRY_ADDR_LO  = 0x0
	MSIX_ENTRY_ADDR_HI  = 0x4
	MSIX_ENTRY_DATA     = 0x8
	MSIX_ENTRY_VCTRL    = 0xc
	MSIX_VCTRL_MASK_BIT = 1 << 0
)

// Class codes used by the shell's names (PCI Code and ID Assignment §1).
var classNames = map[uint8]string{
	0x00: "unclassified", 0x01: "storage", 0x02: "network", 0x03: "display",
	0x04: "multimedia", 0x05: "memory", 0x06: "bridge", 0x07: "communication",
	0x08: "system", 0x09: "input", 0x0c: "serial-bus", 0xff: "other",
}
