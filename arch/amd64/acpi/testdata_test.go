package acpi

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Table dumps from real machines live under testdata/, in the format
// testdata/README.md describes: one folder per QEMU configuration, one
// file per table, raw bytes, named SIG.bin (SIG-2.bin, ... for repeats),
// plus optional RSDP.bin and want.txt. DumpFiles writes that format.

// loadDumps returns the dumps under dir: folder name → file name →
// bytes. Folders without a .bin file are left out; a missing dir is no
// dumps.
func loadDumps(t *testing.T, dir string) map[string]map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	dumps := make(map[string]map[string][]byte)
	for _, d := range ents {
		if !d.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, d.Name()))
		require.NoError(t, err)
		dump := make(map[string][]byte)
		bins := 0
		for _, f := range files {
			if f.IsDir() || (!strings.HasSuffix(f.Name(), ".bin") && f.Name() != "want.txt") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, d.Name(), f.Name()))
			require.NoError(t, err)
			dump[f.Name()] = b
			if strings.HasSuffix(f.Name(), ".bin") {
				bins++
			}
		}
		if bins > 0 {
			dumps[d.Name()] = dump
		}
	}
	return dumps
}

// dumpSignature returns the signature a dump file name promises:
// "APIC.bin" and "APIC-2.bin" both give "APIC".
func dumpSignature(name string) string {
	sig := strings.TrimSuffix(name, ".bin")
	if i := strings.IndexByte(sig, '-'); i >= 0 {
		sig = sig[:i]
	}
	return sig
}

// checkDump parses every table of one dump and checks what must hold on
// any machine, then want.txt's expectations. It returns the tables.
func checkDump(t *testing.T, files map[string][]byte) *Tables {
	t.Helper()
	tb := &Tables{}
	for name, b := range files {
		if !strings.HasSuffix(name, ".bin") {
			continue
		}
		sig := dumpSignature(name)
		if sig == "RSDP" {
			r, err := ParseRSDP(b)
			require.NoError(t, err, name)
			tb.RSDP = r
			continue
		}
		v, err := ParseTable(b)
		require.NoError(t, err, name)
		switch v := v.(type) {
		case Header:
			require.Equal(t, sig, v.Signature, name)
		case *RootTable:
			require.Equal(t, sig, v.Header.Signature, name)
			tb.Root = v
		default:
			tb.add(0, b)
			require.Equal(t, sig, tb.All[len(tb.All)-1].Header.Signature, name)
		}
	}
	require.Empty(t, tb.Errors)

	domains := tb.NumDomains()
	if tb.MADT != nil {
		require.NotZero(t, tb.MADT.EffectiveLocalApicAddress())
		cpus := tb.CPUs()
		require.NotEmpty(t, cpus, "an enabled processor")
		for _, c := range cpus {
			require.Less(t, int(c.Domain), domains, "CPU %#x", c.ApicID)
		}
	}
	if tb.SRAT != nil {
		var all []MemoryRange
		for _, rs := range tb.MemoryDomains() {
			all = append(all, rs...)
		}
		for i, a := range all {
			for _, b := range all[i+1:] {
				require.False(t, a.Base < b.Base+b.Length && b.Base < a.Base+a.Length, "%+v overlaps %+v", a, b)
			}
		}
	}
	if tb.SLIT != nil {
		require.Equal(t, domains, tb.SLIT.NumberOfSystemLocalities, "SRAT domains beyond the SLIT")
		for i := range domains {
			require.Equal(t, SLIT_LOCAL, tb.Distance(i, i))
		}
	}
	if want, ok := files["want.txt"]; ok {
		checkWant(t, tb, want)
	}
	return tb
}

// checkWant checks want.txt: one expectation a line, "#" comments.
//
//	cpus N           N enabled processors
//	domains N        NumDomains() is N
//	ioapics N        N I/O APICs
//	distance I J D   Distance(I, J) is D
func checkWant(t *testing.T, tb *Tables, want []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(want))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		args := make([]int, len(f)-1)
		for i, s := range f[1:] {
			v, err := strconv.ParseInt(s, 0, 64)
			require.NoError(t, err, "want.txt:%d", n)
			args[i] = int(v)
		}
		where := fmt.Sprintf("want.txt:%d: %s", n, line)
		switch {
		case f[0] == "cpus" && len(args) == 1:
			require.Len(t, tb.CPUs(), args[0], where)
		case f[0] == "domains" && len(args) == 1:
			require.Equal(t, args[0], tb.NumDomains(), where)
		case f[0] == "ioapics" && len(args) == 1:
			require.NotNil(t, tb.MADT, where)
			require.Len(t, tb.MADT.IoApics, args[0], where)
		case f[0] == "distance" && len(args) == 3:
			require.Equal(t, args[2], tb.Distance(args[0], args[1]), where)
		default:
			require.Fail(t, "unknown expectation", where)
		}
	}
	require.NoError(t, sc.Err())
}

// TestDumps checks every dump under testdata/; it is skipped until the
// kernel has added some.
func TestDumps(t *testing.T) {
	dumps := loadDumps(t, "testdata")
	if len(dumps) == 0 {
		t.Skip("no table dumps under testdata/ (format: testdata/README.md)")
	}
	for name, files := range dumps {
		t.Run(name, func(t *testing.T) { checkDump(t, files) })
	}
}

// TestDumpRoundTrip writes the test machine's tables with DumpFiles, as
// the kernel would, and reads them back through the dump loader.
func TestDumpRoundTrip(t *testing.T) {
	m := biosMem(0x9fc0)
	addrs := place(m, append(machineTables(), table("SSDT", 1, []byte("more AML"))))
	m.put(xsdtAddr, xsdt(addrs...))
	m.put(rsdtAddr, rsdt(to32(addrs)...))
	m.poke(0xf5a40, rsdpV2(rsdtAddr, xsdtAddr))
	r, err := FindRSDP(m)
	require.NoError(t, err)
	tb, err := Load(m, r)
	require.NoError(t, err)

	files, err := DumpFiles(m, tb)
	require.NoError(t, err)
	var names []string
	for name := range files {
		names = append(names, name)
	}
	require.ElementsMatch(t, []string{"RSDP.bin", "XSDT.bin", "FACP.bin", "APIC.bin", "SRAT.bin", "SLIT.bin",
		"MCFG.bin", "HPET.bin", "SSDT.bin", "WAET.bin", "SSDT-2.bin"}, names)
	require.Len(t, files["RSDP.bin"], 36)

	dir := t.TempDir()
	cfg := filepath.Join(dir, "q35-smp4-numa2")
	require.NoError(t, os.Mkdir(cfg, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "empty"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a dump"), 0o644))
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(cfg, name), b, 0o644))
	}
	want := "# the test machine\ncpus 4\ndomains 2\nioapics 1 # one\ndistance 0 1 20\ndistance 1 1 0xa\n"
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "want.txt"), []byte(want), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "notes.txt"), []byte("ignored"), 0o644))

	dumps := loadDumps(t, dir)
	require.Len(t, dumps, 1)
	require.Len(t, dumps["q35-smp4-numa2"], len(files)+1)
	got := checkDump(t, dumps["q35-smp4-numa2"])
	require.Equal(t, tb.CPUs(), got.CPUs())
	require.Equal(t, tb.MemoryDomains(), got.MemoryDomains())
	require.Equal(t, tb.Root, got.Root)
	require.Equal(t, r.XsdtAddress, got.RSDP.XsdtAddress)

	require.Nil(t, loadDumps(t, filepath.Join(dir, "missing")))
}

func TestDumpFilesRevision0(t *testing.T) {
	m := biosMem(0)
	addrs := place(m, machineTables()[:2])
	m.put(rsdtAddr, rsdt(to32(addrs)...))
	m.poke(0xe0000, rsdpV1(rsdtAddr))
	r, err := FindRSDP(m)
	require.NoError(t, err)
	tb, err := Load(m, r)
	require.NoError(t, err)
	files, err := DumpFiles(m, tb)
	require.NoError(t, err)
	require.Len(t, files["RSDP.bin"], 20)
	require.Contains(t, files, "RSDT.bin")

	// From a boot loader's RSDP (Address 0) there is no RSDP.bin; a
	// table gone bad since Load is an error.
	tb.RSDP.Address = 0
	files, err = DumpFiles(m, tb)
	require.NoError(t, err)
	require.NotContains(t, files, "RSDP.bin")
	m.poke(addrs[1]+40, []byte{0xff})
	_, err = DumpFiles(m, tb)
	var ce *ChecksumError
	require.ErrorAs(t, err, &ce)
	m.regions[0xe0000] = nil
	tb.RSDP.Address = 0xe0000
	_, err = DumpFiles(m, tb)
	require.Error(t, err)
}
