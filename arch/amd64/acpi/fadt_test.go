package acpi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFADTExtendedPMTimer(t *testing.T) {
	// ACPI 2.0+ FADT (QEMU q35 style): X_PM_TMR_BLK wins over PM_TMR_BLK.
	f, err := ParseFADT(fadt(244, 0x608, 4, 0x32, TMR_VAL_EXT, gas(AddressSpaceSystemIO, 32, 0, 3, 0xb008)))
	require.NoError(t, err)
	require.Equal(t, uint8(3), f.Header.Revision)
	require.Equal(t, uint16(9), f.SCI_INT)
	require.Equal(t, uint32(0x608), f.PM_TMR_BLK)
	require.Equal(t, uint8(4), f.PM_TMR_LEN)
	require.Equal(t, uint8(0x32), f.CENTURY)
	require.Equal(t, uint16(2), f.IAPC_BOOT_ARCH)
	require.Equal(t, uint32(TMR_VAL_EXT), f.Flags)
	reg, ok := f.PMTimer()
	require.True(t, ok)
	require.Equal(t, GenericAddress{AddressSpaceID: AddressSpaceSystemIO, RegisterBitWidth: 32, AccessSize: 3, Address: 0xb008}, reg)
	require.Equal(t, 32, f.TimerBits())

	// In system memory.
	f, err = ParseFADT(fadt(276, 0, 0, 0, 0, gas(AddressSpaceSystemMemory, 32, 0, 3, 0xfed80000)))
	require.NoError(t, err)
	reg, ok = f.PMTimer()
	require.True(t, ok)
	require.Equal(t, uint8(AddressSpaceSystemMemory), reg.AddressSpaceID)
	require.Equal(t, uint64(0xfed80000), reg.Address)
	require.Equal(t, 24, f.TimerBits())
}

func TestFADTLegacyPMTimer(t *testing.T) {
	// ACPI 1.0 FADT (116 bytes): no room for X_PM_TMR_BLK.
	f, err := ParseFADT(fadt(FADTV1Length, 0xb008, 4, 0, 0, nil))
	require.NoError(t, err)
	require.Zero(t, f.X_PM_TMR_BLK)
	reg, ok := f.PMTimer()
	require.True(t, ok)
	require.Equal(t, GenericAddress{AddressSpaceID: AddressSpaceSystemIO, RegisterBitWidth: 32, AccessSize: 3, Address: 0xb008}, reg)
	require.Equal(t, 24, f.TimerBits())
	require.Zero(t, f.CENTURY)

	// A long FADT whose X_PM_TMR_BLK is empty falls back as well.
	f, err = ParseFADT(fadt(244, 0x608, 4, 0, 0, gas(0, 0, 0, 0, 0)))
	require.NoError(t, err)
	reg, ok = f.PMTimer()
	require.True(t, ok)
	require.Equal(t, uint64(0x608), reg.Address)

	// A FADT cut just short of X_PM_TMR_BLK's end ignores it.
	f, err = ParseFADT(fadt(219, 0x608, 4, 0, 0, gas(1, 32, 0, 3, 0xb008)[:11]))
	require.NoError(t, err)
	require.Zero(t, f.X_PM_TMR_BLK)
}

func TestFADTNoPMTimer(t *testing.T) {
	f, err := ParseFADT(fadt(276, 0, 0, 0, HW_REDUCED_ACPI, nil))
	require.NoError(t, err)
	_, ok := f.PMTimer()
	require.False(t, ok)
}

func TestFADTTooShort(t *testing.T) {
	_, err := ParseFADT(table("FACP", 1, make([]byte, 70)))
	var lerr *LengthError
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, 106, lerr.Length)
	require.Equal(t, FADTV1Length, lerr.Min)
}

func TestHPET(t *testing.T) {
	h, err := ParseHPET(hpet(0xfed00000))
	require.NoError(t, err)
	require.Equal(t, "HPET", h.Header.Signature)
	require.Equal(t, uint32(0x8086a201), h.EventTimerBlockID)
	require.Equal(t, GenericAddress{AddressSpaceID: AddressSpaceSystemMemory, Address: 0xfed00000}, h.BaseAddress)
	require.Equal(t, uint8(0), h.HPETNumber)
	require.Equal(t, uint16(0x80), h.MainCounterMinimumClockTick)
	require.Equal(t, uint8(0), h.PageProtection)

	b := table("HPET", 1, le(uint32(0x8086a201), gas(0, 64, 0, 0, 0xfed00000), uint8(1), uint16(0x37ee), uint8(1)))
	h, err = ParseHPET(b)
	require.NoError(t, err)
	require.Equal(t, uint8(64), h.BaseAddress.RegisterBitWidth)
	require.Equal(t, uint8(1), h.HPETNumber)
	require.Equal(t, uint16(0x37ee), h.MainCounterMinimumClockTick)
	require.Equal(t, uint8(1), h.PageProtection)

	_, err = ParseHPET(b[:50])
	var lerr *LengthError
	require.ErrorAs(t, err, &lerr) // Length says 56, only 50 bytes
	_, err = ParseHPET(table("HPET", 1, le(uint32(0))))
	require.ErrorAs(t, err, &lerr)
	require.Equal(t, 56, lerr.Min)
}
