package acpi

import "encoding/binary"

// Fixed ACPI Description Table (§5.2.9, table "FADT Format"): byte
// offsets of the fields decoded here.
const (
	fadtSCI_INT        = 46
	fadtPM_TMR_BLK     = 76
	fadtPM_TMR_LEN     = 91
	fadtCENTURY        = 108
	fadtIAPC_BOOT_ARCH = 109
	fadtFlags          = 112
	fadtX_PM_TMR_BLK   = 208

	// fadtXPMTmrEnd is the length a FADT needs to hold X_PM_TMR_BLK.
	fadtXPMTmrEnd = fadtX_PM_TMR_BLK + gasLength
)

// FADTV1Length is the size of the ACPI 1.0 FADT, through Flags: the
// least this package accepts.
const FADTV1Length = 116

// Fixed ACPI Description Table Fixed Feature Flags (§5.2.9, table "Fixed
// ACPI Description Table Fixed Feature Flags").
const (
	// TMR_VAL_EXT: the PM timer's counter is 32 bits wide, not 24.
	TMR_VAL_EXT = 1 << 8
	// HW_REDUCED_ACPI: no fixed hardware, so no PM timer.
	HW_REDUCED_ACPI = 1 << 20
)

// FADT is the part of the Fixed ACPI Description Table (§5.2.9,
// signature "FACP") the kernel needs: where the ACPI PM timer is and how
// wide it counts, and the RTC's century index. Field names are the
// specification's.
type FADT struct {
	Header         Header
	SCI_INT        uint16 // system vector of the SCI interrupt (8259 mode)
	PM_TMR_BLK     uint32 // system I/O port of the PM timer; 0 if none
	PM_TMR_LEN     uint8  // 4 if the PM timer is supported, else 0
	CENTURY        uint8  // RTC CMOS RAM index of the century; 0 if none
	IAPC_BOOT_ARCH uint16 // IA-PC Boot Architecture Flags (§5.2.9.3)
	Flags          uint32 // Fixed Feature Flags: TMR_VAL_EXT, HW_REDUCED_ACPI, ...

	// X_PM_TMR_BLK is the extended PM timer address; zero when the
	// table is too short to hold it (ACPI 1.0) or the firmware left it
	// empty.
	X_PM_TMR_BLK GenericAddress
}

// PMTimer returns where the ACPI PM timer's counter register is:
// X_PM_TMR_BLK when its Address is non-zero (§5.2.9: OSPM then ignores
// PM_TMR_BLK), else PM_TMR_BLK as a 32-bit system I/O register. ok is
// false when neither is set. Read TimerBits bits of it.
func (f *FADT) PMTimer() (reg GenericAddress, ok bool) {
	if f.X_PM_TMR_BLK.Address != 0 {
		return f.X_PM_TMR_BLK, true
	}
	if f.PM_TMR_BLK != 0 {
		return GenericAddress{
			AddressSpaceID:   AddressSpaceSystemIO,
			RegisterBitWidth: 32,
			AccessSize:       3, // dword
			Address:          uint64(f.PM_TMR_BLK),
		}, true
	}
	return GenericAddress{}, false
}

// TimerBits returns how many bits the PM timer counts: 32 with
// TMR_VAL_EXT, else 24.
func (f *FADT) TimerBits() int {
	if f.Flags&TMR_VAL_EXT != 0 {
		return 32
	}
	return 24
}

// ParseFADT validates and decodes a FADT (signature "FACP").
func ParseFADT(b []byte) (*FADT, error) { return parseAs(b, SIG_FACP, parseFADT) }

func parseFADT(h Header, b []byte) (*FADT, error) {
	if err := needLength(h, b, FADTV1Length); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	f := &FADT{
		Header:         h,
		SCI_INT:        le.Uint16(b[fadtSCI_INT:]),
		PM_TMR_BLK:     le.Uint32(b[fadtPM_TMR_BLK:]),
		PM_TMR_LEN:     b[fadtPM_TMR_LEN],
		CENTURY:        b[fadtCENTURY],
		IAPC_BOOT_ARCH: le.Uint16(b[fadtIAPC_BOOT_ARCH:]),
		Flags:          le.Uint32(b[fadtFlags:]),
	}
	if len(b) >= fadtXPMTmrEnd {
		f.X_PM_TMR_BLK = parseGAS(b[fadtX_PM_TMR_BLK:])
	}
	return f, nil
}
