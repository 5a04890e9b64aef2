package kern

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"unsafe"
)

// The vDSO: an ELF shared-object image the kernel hands the runtime in
// the auxiliary vector (AT_SYSINFO_EHDR), as Linux maps its vdso.so into
// every process (FreeBSD: the shared page with vdso_timehands). The
// runtime (runtime/vdso_linux.go) looks up __vdso_clock_gettime and
// __vdso_gettimeofday of version LINUX_2.6 through the image's dynamic
// section, hash table, symbol and version tables, and calls them instead
// of the clock_gettime system call: nanotime and walltime no longer trap.
//
// Kernel and runtime share one address space, so the image holds no code:
// its symbols' values are the distance from the image to the functions in
// kernel text (vdso_amd64.s), modulo 2^64; the runtime adds the image's
// load address (PT_LOAD's p_offset - p_vaddr is 0) and gets the functions'
// addresses back. The functions read the timehands (timecounter.go) with
// their generation check and fall back to the system call for counters
// other than the TSC and for clock ids they do not serve.
//
// The image is built before the runtime starts (buildInitialStack), in a
// static array the kernel never frees: the builder must not allocate.
// vdso=off leaves AT_SYSINFO_EHDR out and the runtime makes the calls.

// vdsoSize bounds the image: headers, tables and section headers.
const vdsoSize = 2048

var (
	vdsoImage [vdsoSize]byte // (c) built once before the runtime starts
	vdsoLen   int            // (c) its length; 0 when vdso=off
)

// Names the runtime looks for (runtime/vdso_linux_amd64.go).
const (
	vdsoSoname       = "linux-vdso.so.1"
	vdsoVersion      = "LINUX_2.6"
	vdsoClockGettime = "__vdso_clock_gettime"
	vdsoGettimeofday = "__vdso_gettimeofday"
)

// vdsoSym is one exported function: its name and address.
type vdsoSym struct {
	name string
	addr uint64
}

// elfHash is the System V ABI's symbol hash (DT_HASH, and vd_hash).
func elfHash(name string) uint32 {
	var h uint32
	for i := 0; i < len(name); i++ {
		h = h<<4 + uint32(name[i])
		g := h & 0xf0000000
		if g != 0 {
			h ^= g >> 24
		}
		h &^= g
	}
	return h
}

// vdsoBuilder appends to a fixed buffer; an overflow sets bad, and the
// image is then not offered (the runtime makes system calls instead).
type vdsoBuilder struct {
	b   []byte
	n   int
	bad bool
}

func (w *vdsoBuilder) align(a int) {
	for w.n%a != 0 {
		w.u8(0)
	}
}

// room reports whether k more bytes fit; if not, the image is bad and
// the caller only advances n (so the layout loops still end).
func (w *vdsoBuilder) room(k int) bool {
	if w.bad || w.n+k > len(w.b) {
		w.bad = true
		w.n += k
		return false
	}
	return true
}

func (w *vdsoBuilder) u8(v uint8) {
	if w.room(1) {
		w.b[w.n] = v
		w.n++
	}
}

func (w *vdsoBuilder) u16(v uint16) {
	if w.room(2) {
		binary.LittleEndian.PutUint16(w.b[w.n:], v)
		w.n += 2
	}
}

func (w *vdsoBuilder) u32(v uint32) {
	if w.room(4) {
		binary.LittleEndian.PutUint32(w.b[w.n:], v)
		w.n += 4
	}
}

func (w *vdsoBuilder) u64(v uint64) {
	if w.room(8) {
		binary.LittleEndian.PutUint64(w.b[w.n:], v)
		w.n += 8
	}
}

func (w *vdsoBuilder) str(s string) {
	if w.room(len(s) + 1) {
		copy(w.b[w.n:], s)
		w.b[w.n+len(s)] = 0
		w.n += len(s) + 1
	}
}

// put64 and put32 patch a field written earlier.
func (w *vdsoBuilder) put64(off int, v uint64) {
	if !w.bad {
		binary.LittleEndian.PutUint64(w.b[off:], v)
	}
}

func (w *vdsoBuilder) put32(off int, v uint32) {
	if !w.bad {
		binary.LittleEndian.PutUint32(w.b[off:], v)
	}
}

// Section indexes of the image (section headers are only for tools such
// as debug/elf and readelf; the runtime reads the program headers).
const (
	vdsoShNull = iota
	vdsoShHash
	vdsoShDynsym
	vdsoShDynstr
	vdsoShVersym
	vdsoShVerdef
	vdsoShDynamic
	vdsoShText
	vdsoShShstrtab
	vdsoShNum
)

// buildVDSO writes into buf the image for load address base, exporting
// syms (addresses anywhere in the address space) in version LINUX_2.6,
// and returns its length, or 0 if buf is too small. It does not allocate.
func buildVDSO(buf []byte, base uint64, syms []vdsoSym) int {
	const (
		ehdrSize = 64
		phdrSize = 56
		shdrSize = 64
		symSize  = 24
		dynSize  = 16
		nPhdr    = 2
	)
	w := vdsoBuilder{b: buf}
	nsym := 1 + len(syms) // the null symbol first

	// ELF header (System V ABI, ELF-64 Object File Format 1.5 §3).
	w.u8(0x7f)
	w.u8('E')
	w.u8('L')
	w.u8('F')
	w.u8(uint8(elf.ELFCLASS64))
	w.u8(uint8(elf.ELFDATA2LSB))
	w.u8(uint8(elf.EV_CURRENT))
	w.u8(uint8(elf.ELFOSABI_NONE))
	for w.n < 16 {
		w.u8(0)
	}
	w.u16(uint16(elf.ET_DYN))
	w.u16(uint16(elf.EM_X86_64))
	w.u32(uint32(elf.EV_CURRENT))
	w.u64(0) // e_entry
	w.u64(ehdrSize)
	shoffAt := w.n
	w.u64(0) // e_shoff, patched
	w.u32(0) // e_flags
	w.u16(ehdrSize)
	w.u16(phdrSize)
	w.u16(nPhdr)
	w.u16(shdrSize)
	w.u16(vdsoShNum)
	w.u16(vdsoShShstrtab)

	// Program headers, patched once the layout is known.
	phAt := w.n
	for i := 0; i < nPhdr*phdrSize; i++ {
		w.u8(0)
	}

	// .dynstr: names, soname, version.
	w.align(8)
	strAt := w.n
	w.u8(0)
	symNames := w.n
	for _, s := range syms {
		w.str(s.name)
	}
	sonameOff := w.n - strAt
	w.str(vdsoSoname)
	versionOff := w.n - strAt
	w.str(vdsoVersion)
	strSize := w.n - strAt

	// .dynsym: the null symbol, then one global function per entry,
	// defined in .text (any section but SHN_UNDEF does for the runtime).
	w.align(8)
	symAt := w.n
	for i := 0; i < symSize; i++ {
		w.u8(0)
	}
	nameOff := symNames - strAt
	for _, s := range syms {
		w.u32(uint32(nameOff))
		w.u8(uint8(elf.ST_INFO(elf.STB_GLOBAL, elf.STT_FUNC)))
		w.u8(uint8(elf.STV_DEFAULT))
		w.u16(vdsoShText)
		w.u64(s.addr - base) // wraps: the runtime adds base back
		w.u64(0)
		nameOff += len(s.name) + 1
	}

	// .hash (DT_HASH): nbucket = nsym, chains through the symbols.
	w.align(8)
	hashAt := w.n
	nbucket := nsym
	w.u32(uint32(nbucket))
	w.u32(uint32(nsym))
	bucketAt := w.n
	for i := 0; i < nbucket+nsym; i++ {
		w.u32(0)
	}
	chainAt := bucketAt + 4*nbucket
	for i, s := range syms {
		idx := uint32(i + 1)
		b := bucketAt + 4*int(elfHash(s.name)%uint32(nbucket))
		if w.bad {
			break
		}
		// Prepend idx to the bucket's chain.
		w.put32(chainAt+4*int(idx), binary.LittleEndian.Uint32(w.b[b:]))
		w.put32(b, idx)
	}

	// .gnu.version (DT_VERSYM): every defined symbol is LINUX_2.6 (index 2).
	w.align(8)
	versymAt := w.n
	w.u16(0)
	for range syms {
		w.u16(2)
	}

	// .gnu.version_d (DT_VERDEF): the file itself (index 1), LINUX_2.6 (2).
	w.align(8)
	verdefAt := w.n
	const verdefSize, verdauxSize = 20, 8
	for i, v := range [2]struct {
		flags uint16
		name  int
		hash  uint32
	}{
		{uint16(elf.VER_FLG_BASE), sonameOff, elfHash(vdsoSoname)},
		{0, versionOff, elfHash(vdsoVersion)},
	} {
		w.u16(1) // vd_version
		w.u16(v.flags)
		w.u16(uint16(i + 1)) // vd_ndx
		w.u16(1)             // vd_cnt
		w.u32(v.hash)
		w.u32(verdefSize) // vd_aux
		next := uint32(verdefSize + verdauxSize)
		if i == 1 {
			next = 0
		}
		w.u32(next)
		w.u32(uint32(v.name)) // vda_name
		w.u32(0)              // vda_next
	}
	verdefSz := w.n - verdefAt

	// .dynamic: addresses are offsets (p_vaddr = p_offset = 0).
	w.align(8)
	dynAt := w.n
	for _, d := range [...][2]uint64{
		{uint64(elf.DT_SONAME), uint64(sonameOff)},
		{uint64(elf.DT_HASH), uint64(hashAt)},
		{uint64(elf.DT_STRTAB), uint64(strAt)},
		{uint64(elf.DT_SYMTAB), uint64(symAt)},
		{uint64(elf.DT_STRSZ), uint64(strSize)},
		{uint64(elf.DT_SYMENT), symSize},
		{uint64(elf.DT_VERSYM), uint64(versymAt)},
		{uint64(elf.DT_VERDEF), uint64(verdefAt)},
		{uint64(elf.DT_VERDEFNUM), 2},
		{uint64(elf.DT_NULL), 0},
	} {
		w.u64(d[0])
		w.u64(d[1])
	}
	dynEnd := w.n
	loadEnd := w.n

	// .shstrtab, then the section headers.
	shstrAt := w.n
	w.u8(0)
	var shName [vdsoShNum]int
	for i, s := range [vdsoShNum]string{"", ".hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d", ".dynamic", ".text", ".shstrtab"} {
		if s != "" {
			shName[i] = w.n - shstrAt
			w.str(s)
		}
	}
	shstrSize := w.n - shstrAt
	w.align(8)
	w.put64(shoffAt, uint64(w.n))

	// .text describes where the functions are (outside the image, so
	// NOBITS): from the lowest to the highest symbol address.
	lo, hi := ^uint64(0), uint64(0)
	for _, s := range syms {
		lo, hi = min(lo, s.addr), max(hi, s.addr)
	}
	if len(syms) == 0 {
		lo = base
	}
	type shdr struct {
		typ             elf.SectionType
		flags           elf.SectionFlag
		off, size       int
		link, info, ent uint32
		align           uint64
		addr            uint64
	}
	alloc := elf.SHF_ALLOC
	for i, s := range [vdsoShNum]shdr{
		{},
		{typ: elf.SHT_HASH, flags: alloc, off: hashAt, size: versymAt - hashAt, link: vdsoShDynsym, ent: 4, align: 8},
		{typ: elf.SHT_DYNSYM, flags: alloc, off: symAt, size: nsym * symSize, link: vdsoShDynstr, info: 1, ent: symSize, align: 8},
		{typ: elf.SHT_STRTAB, flags: alloc, off: strAt, size: strSize, align: 1},
		{typ: elf.SHT_GNU_VERSYM, flags: alloc, off: versymAt, size: 2 * nsym, link: vdsoShDynsym, ent: 2, align: 2},
		{typ: elf.SHT_GNU_VERDEF, flags: alloc, off: verdefAt, size: verdefSz, link: vdsoShDynstr, info: 2, align: 4},
		{typ: elf.SHT_DYNAMIC, flags: alloc | elf.SHF_WRITE, off: dynAt, size: dynEnd - dynAt, link: vdsoShDynstr, ent: dynSize, align: 8},
		{typ: elf.SHT_NOBITS, flags: alloc | elf.SHF_EXECINSTR, addr: lo - base, size: int(hi - lo), align: 16},
		{typ: elf.SHT_STRTAB, off: shstrAt, size: shstrSize, align: 1},
	} {
		w.u32(uint32(shName[i]))
		w.u32(uint32(s.typ))
		w.u64(uint64(s.flags))
		addr := uint64(s.off)
		if s.flags&alloc == 0 || i == vdsoShNull {
			addr = 0
		}
		if s.typ == elf.SHT_NOBITS {
			addr = s.addr
		}
		w.u64(addr)
		w.u64(uint64(s.off))
		w.u64(uint64(s.size))
		w.u32(s.link)
		w.u32(s.info)
		w.u64(s.align)
		w.u64(uint64(s.ent))
	}

	if w.bad {
		return 0
	}
	// PT_LOAD: the tables (offset = vaddr = 0); PT_DYNAMIC: .dynamic.
	ph := func(i int, typ elf.ProgType, flags elf.ProgFlag, off, size int, align uint64) {
		p := phAt + i*phdrSize
		binary.LittleEndian.PutUint32(buf[p:], uint32(typ))
		binary.LittleEndian.PutUint32(buf[p+4:], uint32(flags))
		binary.LittleEndian.PutUint64(buf[p+8:], uint64(off))   // p_offset
		binary.LittleEndian.PutUint64(buf[p+16:], uint64(off))  // p_vaddr
		binary.LittleEndian.PutUint64(buf[p+24:], uint64(off))  // p_paddr
		binary.LittleEndian.PutUint64(buf[p+32:], uint64(size)) // p_filesz
		binary.LittleEndian.PutUint64(buf[p+40:], uint64(size)) // p_memsz
		binary.LittleEndian.PutUint64(buf[p+48:], align)
	}
	ph(0, elf.PT_LOAD, elf.PF_R|elf.PF_X, 0, loadEnd, 4096)
	ph(1, elf.PT_DYNAMIC, elf.PF_R, dynAt, dynEnd-dynAt, 8)
	return w.n
}

// vdsoSetup builds the image when on and returns its address for
// AT_SYSINFO_EHDR, or 0. It runs before the runtime starts.
func vdsoSetup(on bool) uintptr {
	if !on {
		return 0
	}
	base := uintptr(unsafe.Pointer(&vdsoImage))
	syms := [...]vdsoSym{
		{vdsoClockGettime, uint64(vdsoClockGettimeAddr())},
		{vdsoGettimeofday, uint64(vdsoGettimeofdayAddr())},
	}
	vdsoLen = buildVDSO(vdsoImage[:], uint64(base), syms[:])
	if vdsoLen == 0 {
		return 0
	}
	return base
}

// vdsoOffWord reports whether the kernel's words (before "--") hold
// vdso=off.
func vdsoOffWord(cmdline []byte, argv [][2]int) bool {
	for _, w := range argv {
		word := cmdline[w[0]:w[1]]
		if string(word) == "--" {
			return false
		}
		if string(word) == "vdso=off" {
			return true
		}
	}
	return false
}

// VDSOEnabled reports whether the runtime was given the vDSO.
func VDSOEnabled() bool { return vdsoLen != 0 }

// VDSOImage returns the image the runtime was given (nil when off).
func VDSOImage() []byte { return vdsoImage[:vdsoLen] }

// VDSOClockGettime calls the vDSO's clock_gettime as the runtime does and
// returns its result (0 or -errno) and the time in ns.
func VDSOClockGettime(clk int32) (int64, int64) {
	var ts [2]int64
	r := vdsoCallClockGettime(clk, &ts)
	return r, ts[0]*1e9 + ts[1]
}

// VDSOGettimeofday calls the vDSO's gettimeofday: result, seconds, µs.
func VDSOGettimeofday() (int64, int64, int64) {
	var tv [2]int64
	tz := [2]int32{-1, -1}
	r := vdsoCallGettimeofday(&tv, &tz)
	if tz != [2]int32{} && r == 0 {
		return -EFAULT, tv[0], tv[1] // the time zone must read back zero
	}
	return r, tv[0], tv[1]
}

// In vdso_amd64.s.
func vdsoClockGettimeAddr() uintptr
func vdsoGettimeofdayAddr() uintptr

// The callers' buffers stay on their stacks (the benchmarks measure the
// call, not an allocation).
//
//go:noescape
func vdsoCallClockGettime(clk int32, ts *[2]int64) int64

//go:noescape
func vdsoCallGettimeofday(tv *[2]int64, tz *[2]int32) int64

func init() {
	RegisterOption(OptionSpec{Name: "vdso", Help: "on (default): the runtime reads the clock through the kernel's vDSO; off: every read is a clock_gettime system call",
		Check: func(v string) error {
			if v != "on" && v != "off" {
				return errors.New("want on or off")
			}
			return nil
		}})
}
