// Package acpi finds and parses the ACPI system description tables the
// kernel needs to bring up an SMP, NUMA machine. It follows the ACPI
// Specification 6.5, chapter 5.2 (ACPI System Description Tables):
//
//   - §5.2.5 Root System Description Pointer (RSDP): §5.2.5.1 Finding the
//     RSDP on IA-PC Systems (FindRSDP), §5.2.5.3 RSDP Structure (ParseRSDP);
//   - §5.2.3.2 Generic Address Structure (GAS);
//   - §5.2.6 System Description Table Header, §5.2.7 Root System
//     Description Table (RSDT), §5.2.8 Extended System Description Table
//     (XSDT) (Load, ParseTable);
//   - §5.2.9 Fixed ACPI Description Table (FADT, signature "FACP"), only the
//     PM timer block, the TMR_VAL_EXT flag and the RTC century index;
//   - §5.2.12 Multiple APIC Description Table (MADT, signature "APIC") with
//     the interrupt controller structures of §5.2.12.2–§5.2.12.8 and
//     §5.2.12.12–§5.2.12.13;
//   - §5.2.16 System Resource Affinity Table (SRAT) with the structures of
//     §5.2.16.1–§5.2.16.3;
//   - §5.2.17 System Locality Information Table (SLIT);
//
// and two tables defined outside the ACPI specification:
//
//   - MCFG: PCI Firmware Specification 3.3, §4.1.2 MCFG Table Description;
//   - HPET: IA-PC HPET Specification 1.0a, §3.2.4 The ACPI 2.0 HPET
//     Description Table (HPET).
//
// The package is pure Go with no unsafe and no assembly, so it builds and
// is tested on the host. It reaches physical memory only through the
// Memory interface, which the kernel implements over its identity map and
// the tests implement over a sparse map of byte slices. It allocates
// freely: call it from goroutine context, never from trap context.
//
// Structure and field names follow the specification's spelling in Go
// form ("APIC ID" is ApicID, "Global System Interrupt Base" is
// GlobalSystemInterruptBase); flag bits the specification names in
// capitals keep that spelling (PCAT_COMPAT, TMR_VAL_EXT).
//
// Errors are typed so a caller can tell what went wrong: *ChecksumError,
// *LengthError, *SignatureError and *EntryError describe one bad
// structure; Load wraps the failure of a single table in a *TableError,
// records it in Tables.Errors and carries on with the other tables.
package acpi
