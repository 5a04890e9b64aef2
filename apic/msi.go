package apic

// MSI message address and data for the local APIC (Intel SDM vol. 3A
// §10.11, "Message Signalled Interrupts"): the address selects the
// destination, the data the vector and delivery mode. PCI MSI and MSI-X
// capabilities (drivers/pci) program these values as they are.
const (
	MSI_ADDR_BASE = 0xfee00000 // bits 31:20
	MSI_ADDR_DEST = 12         // bits 19:12 destination APIC ID
	MSI_ADDR_RH   = 3          // redirection hint
	MSI_ADDR_DM   = 2          // destination mode: 0 physical

	MSI_DATA_VECTOR  = 0  // bits 7:0
	MSI_DATA_DELMOD  = 8  // bits 10:8, as in the ICR
	MSI_DATA_LEVEL   = 14 // level for level-triggered: 1 assert
	MSI_DATA_TRIGGER = 15 // 0 edge
)

// MSIAddress returns the message address that delivers to the LAPIC with
// ID dest in physical destination mode, no redirection hint.
func MSIAddress(dest uint8) uint64 {
	return MSI_ADDR_BASE | uint64(dest)<<MSI_ADDR_DEST
}

// MSIData returns the message data for a fixed, edge-triggered vector.
func MSIData(vector uint8) uint32 {
	return uint32(vector)<<MSI_DATA_VECTOR | DELMOD_FIXED<<MSI_DATA_DELMOD
}

// MSIDecode returns the destination and vector of a message.
func MSIDecode(addr uint64, data uint32) (dest, vector uint8) {
	return uint8(addr >> MSI_ADDR_DEST), uint8(data)
}
