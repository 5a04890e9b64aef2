package kern

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// The image's addresses: the kernel's text below the image (symbol values
// wrap) and, in a second case, above it.
var vdsoCases = []struct {
	name       string
	base       uint64
	clock, tod uint64
}{
	{"text below the image", 0x1c42000, 0x1012340, 0x10123c0},
	{"text above the image", 0x200000, 0x1012340, 0x10123c0},
}

func buildTestVDSO(t *testing.T, base, clock, tod uint64) []byte {
	buf := make([]byte, vdsoSize)
	n := buildVDSO(buf, base, []vdsoSym{{vdsoClockGettime, clock}, {vdsoGettimeofday, tod}})
	require.NotZero(t, n, "image does not fit in %d bytes", vdsoSize)
	return buf[:n]
}

// debug/elf reads the image back: a shared object with the two functions
// in version LINUX_2.6, the soname, and the program headers the runtime
// uses.
func TestVDSOImageDebugELF(t *testing.T) {
	for _, c := range vdsoCases {
		t.Run(c.name, func(t *testing.T) {
			img := buildTestVDSO(t, c.base, c.clock, c.tod)
			f, err := elf.NewFile(bytes.NewReader(img))
			require.NoError(t, err)
			require.Equal(t, elf.ET_DYN, f.Type)
			require.Equal(t, elf.EM_X86_64, f.Machine)
			require.Equal(t, elf.ELFCLASS64, f.Class)

			require.Len(t, f.Progs, 2)
			require.Equal(t, elf.PT_LOAD, f.Progs[0].Type)
			require.Zero(t, f.Progs[0].Off)
			require.Zero(t, f.Progs[0].Vaddr)
			require.Equal(t, elf.PT_DYNAMIC, f.Progs[1].Type)
			require.LessOrEqual(t, f.Progs[1].Off+f.Progs[1].Filesz, f.Progs[0].Filesz, "PT_DYNAMIC outside PT_LOAD")

			syms, err := f.DynamicSymbols()
			require.NoError(t, err)
			require.Len(t, syms, 2)
			want := map[string]uint64{vdsoClockGettime: c.clock, vdsoGettimeofday: c.tod}
			for _, s := range syms {
				addr, ok := want[s.Name]
				require.True(t, ok, "unexpected symbol %q", s.Name)
				require.Equal(t, addr-c.base, s.Value, "%s: value is the address less the image's", s.Name)
				require.Equal(t, elf.STT_FUNC, elf.ST_TYPE(s.Info))
				require.Equal(t, elf.STB_GLOBAL, elf.ST_BIND(s.Info))
				require.NotEqual(t, elf.SHN_UNDEF, s.Section)
				require.True(t, s.HasVersion, "%s has no version", s.Name)
				require.Equal(t, vdsoVersion, s.Version)
				delete(want, s.Name)
			}
			require.Empty(t, want)

			soname, err := f.DynString(elf.DT_SONAME)
			require.NoError(t, err)
			require.Equal(t, []string{vdsoSoname}, soname)
			vers, err := f.DynamicVersions()
			require.NoError(t, err)
			require.Len(t, vers, 2)
			require.Equal(t, vdsoSoname, vers[0].Name)
			require.Equal(t, vdsoVersion, vers[1].Name)
			require.Equal(t, uint16(2), vers[1].Index)

			text := f.Section(".text")
			require.NotNil(t, text)
			require.Equal(t, elf.SHT_NOBITS, text.Type)
			require.Equal(t, min(c.clock, c.tod)-c.base, text.Addr)
		})
	}
}

// The runtime's keys (runtime/vdso_linux_amd64.go): name, ELF hash, GNU
// hash. The image has no DT_GNU_HASH, but the ELF hashes must be these.
var runtimeVDSOKeys = []struct {
	name    string
	symHash uint32
}{
	{"__vdso_gettimeofday", 0x315ca59},
	{"__vdso_clock_gettime", 0xd35ec75},
	{"__vdso_getrandom", 0x25425d},
}

const runtimeVDSOVersionHash = 0x3ae75f6 // LINUX_2.6

func TestElfHashMatchesRuntime(t *testing.T) {
	for _, k := range runtimeVDSOKeys {
		require.Equal(t, k.symHash, elfHash(k.name), k.name)
	}
	require.Equal(t, uint32(runtimeVDSOVersionHash), elfHash(vdsoVersion))
}

// runtimeVDSOLookup follows runtime/vdso_linux.go (vdsoInitFromSysinfoEhdr,
// vdsoFindVersion, vdsoParseSymbols) over the image loaded at base, with
// offsets into img for the runtime's pointers, and returns the addresses
// it would store for each key (0: not found).
func runtimeVDSOLookup(t *testing.T, img []byte, base uint64) map[string]uint64 {
	le := binary.LittleEndian
	u16 := func(off uint64) uint16 { return le.Uint16(img[off:]) }
	u32 := func(off uint64) uint32 { return le.Uint32(img[off:]) }
	u64 := func(off uint64) uint64 { return le.Uint64(img[off:]) }
	cstr := func(off uint64) string {
		end := bytes.IndexByte(img[off:], 0)
		require.GreaterOrEqual(t, end, 0)
		return string(img[off : off+uint64(end)])
	}
	// vdsoInitFromSysinfoEhdr: the first PT_LOAD gives loadOffset, the
	// PT_DYNAMIC the dynamic table (by p_offset from the load address).
	phoff, phnum := u64(32), u16(56)
	var loadOffset uint64
	foundVaddr := false
	dyn := uint64(0)
	for i := uint64(0); i < uint64(phnum); i++ {
		ph := phoff + i*56
		switch elf.ProgType(u32(ph)) {
		case elf.PT_LOAD:
			if !foundVaddr {
				foundVaddr = true
				loadOffset = base + (u64(ph+8) - u64(ph+16))
			}
		case elf.PT_DYNAMIC:
			dyn = u64(ph + 8)
		}
	}
	require.True(t, foundVaddr, "no PT_LOAD")
	require.NotZero(t, dyn, "no PT_DYNAMIC")
	// Dynamic entries hold vaddrs: loadOffset + d_val, as image offsets.
	at := func(dval uint64) uint64 { return loadOffset + dval - base }
	var strtab, symtab, hash, versym, verdef uint64
	var haveStr, haveSym, haveHash, haveVersym, haveVerdef bool
	for d := dyn; elf.DynTag(u64(d)) != elf.DT_NULL; d += 16 {
		v := u64(d + 8)
		switch elf.DynTag(u64(d)) {
		case elf.DT_STRTAB:
			strtab, haveStr = at(v), true
		case elf.DT_SYMTAB:
			symtab, haveSym = at(v), true
		case elf.DT_HASH:
			hash, haveHash = at(v), true
		case elf.DT_GNU_HASH:
			t.Fatalf("the image has DT_GNU_HASH: this lookup follows DT_HASH only")
		case elf.DT_VERSYM:
			versym, haveVersym = at(v), true
		case elf.DT_VERDEF:
			verdef, haveVerdef = at(v), true
		}
	}
	require.True(t, haveStr && haveSym && haveHash, "missing DT_STRTAB, DT_SYMTAB or DT_HASH")
	// The runtime dereferences verdef unconditionally (vdsoFindVersion).
	require.True(t, haveVerdef, "no DT_VERDEF: the runtime would fault")
	if !haveVerdef {
		haveVersym = false
	}
	nbucket, nchain := u32(hash), u32(hash+4)
	bucket := func(i uint32) uint32 { return u32(hash + 8 + 4*uint64(i)) }
	chain := func(i uint32) uint32 {
		require.Less(t, i, nchain)
		return u32(hash + 8 + 4*uint64(nbucket) + 4*uint64(i))
	}

	// vdsoFindVersion.
	version := int32(-1)
	for def := verdef; ; {
		if u16(def+2)&uint16(elf.VER_FLG_BASE) == 0 {
			aux := def + uint64(u32(def+12))
			if u32(def+8) == runtimeVDSOVersionHash && cstr(strtab+uint64(u32(aux))) == "LINUX_2.6" {
				version = int32(u16(def+4) & 0x7fff)
				break
			}
		}
		next := u32(def + 16)
		if next == 0 {
			break
		}
		def += uint64(next)
	}
	require.Equal(t, int32(2), version)

	// vdsoParseSymbols, DT_HASH branch.
	got := map[string]uint64{}
	for _, k := range runtimeVDSOKeys {
		if nbucket == 0 {
			continue
		}
		for c := bucket(k.symHash % nbucket); c != 0; c = chain(c) {
			sym := symtab + 24*uint64(c)
			info := img[sym+4]
			typ, bind := elf.ST_TYPE(info), elf.ST_BIND(info)
			if typ != elf.STT_FUNC && typ != elf.STT_NOTYPE || bind != elf.STB_GLOBAL && bind != elf.STB_WEAK || u16(sym+6) == uint16(elf.SHN_UNDEF) {
				continue
			}
			if cstr(strtab+uint64(u32(sym))) != k.name {
				continue
			}
			if haveVersym && int32(u16(versym+2*uint64(c))&0x7fff) != version {
				continue
			}
			got[k.name] = loadOffset + u64(sym+8)
			break
		}
	}
	return got
}

// The runtime's own lookup finds both functions at their addresses and
// no __vdso_getrandom (it then keeps using the getrandom system call).
func TestVDSORuntimeLookup(t *testing.T) {
	for _, c := range vdsoCases {
		t.Run(c.name, func(t *testing.T) {
			img := buildTestVDSO(t, c.base, c.clock, c.tod)
			got := runtimeVDSOLookup(t, img, c.base)
			require.Equal(t, map[string]uint64{vdsoClockGettime: c.clock, vdsoGettimeofday: c.tod}, got)
		})
	}
}

// A buffer too small for the image yields no image, not a short one.
func TestVDSOImageTooSmall(t *testing.T) {
	full := buildTestVDSO(t, 0x1c42000, 0x1012340, 0x10123c0)
	for _, n := range []int{0, 10, 64, len(full) / 2, len(full) - 1} {
		buf := make([]byte, n)
		require.Zero(t, buildVDSO(buf, 0x1c42000, []vdsoSym{{vdsoClockGettime, 1}, {vdsoGettimeofday, 2}}), "buffer of %d bytes", n)
	}
	require.Equal(t, len(full), buildVDSO(make([]byte, len(full)), 0x1c42000, []vdsoSym{{vdsoClockGettime, 0x1012340}, {vdsoGettimeofday, 0x10123c0}}))
}

// The builder runs before the runtime: it must not allocate.
func TestVDSOBuildDoesNotAllocate(t *testing.T) {
	buf := make([]byte, vdsoSize)
	syms := []vdsoSym{{vdsoClockGettime, 0x1012340}, {vdsoGettimeofday, 0x10123c0}}
	require.Zero(t, testing.AllocsPerRun(10, func() { buildVDSO(buf, 0x1c42000, syms) }))
}

// vdso_amd64.s reads windupSeq, curHands and realOffset as plain words:
// each atomic type must be just its value.
func TestVDSOAtomicLayout(t *testing.T) {
	require.Equal(t, uintptr(8), unsafe.Sizeof(windupSeq))
	require.Equal(t, uintptr(8), unsafe.Sizeof(curHands))
	require.Equal(t, uintptr(8), unsafe.Sizeof(realOffset))
	var th timehands
	require.Equal(t, uintptr(4), unsafe.Sizeof(th.gen))
	require.Equal(t, uintptr(8), unsafe.Sizeof(th.tc))
	for _, s := range []uintptr{unsafe.Sizeof(th.count), unsafe.Sizeof(th.ns), unsafe.Sizeof(th.frac), unsafe.Sizeof(th.mult)} {
		require.Equal(t, uintptr(8), s)
	}
}

func TestVDSOOffWord(t *testing.T) {
	for _, c := range []struct {
		line string
		off  bool
	}{
		{"kernel test=Clock/", false},
		{"kernel vdso=off test=Clock/", true},
		{"kernel vdso=on", false},
		{"kernel -- vdso=off", false},
		{"kernel vdso=offx", false},
	} {
		var argv, envp [16][2]int
		na, _ := SplitCmdline([]byte(c.line), argv[:], envp[:])
		require.Equal(t, c.off, vdsoOffWord([]byte(c.line), argv[:na]), c.line)
	}
}
