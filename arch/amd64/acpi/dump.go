package acpi

import "fmt"

// DumpFiles returns the tables t was loaded from in the test-data dump
// format (testdata/README.md): file name → raw bytes, one file per
// table named after its signature (SIG.bin, then SIG-2.bin, SIG-3.bin
// for repeats), the root table included, and RSDP.bin when the RSDP was
// found in memory (t.RSDP.Address != 0). Tables in t.All are re-read
// through mem; a failed read is returned.
func DumpFiles(mem Memory, t *Tables) (map[string][]byte, error) {
	files := make(map[string][]byte)
	seen := make(map[string]int)
	put := func(sig string, b []byte) {
		seen[sig]++
		name := sig + ".bin"
		if n := seen[sig]; n > 1 {
			name = fmt.Sprintf("%s-%d.bin", sig, n)
		}
		files[name] = b
	}
	if t.RSDP.Address != 0 {
		n := RSDPV1Length
		if t.RSDP.Revision >= 2 {
			n = int(t.RSDP.Length)
		}
		b, err := readPhys(mem, t.RSDP.Address, n)
		if err != nil {
			return nil, err
		}
		put("RSDP", b)
	}
	tables := append([]Table{{Address: t.RootAddress}}, t.All...)
	for _, tb := range tables {
		b, err := ReadTable(mem, tb.Address)
		if err != nil {
			return nil, err
		}
		put(string(b[:4]), b)
	}
	return files, nil
}
