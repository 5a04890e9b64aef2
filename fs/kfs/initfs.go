package kfs

import (
	"fmt"
	"path"
	"sync"
	"syscall"
	"time"

	"github.com/smpgo/smpgo/fs/memfs"
	"github.com/smpgo/smpgo/kern"
)

// The file system seeded from boot modules: at start-up every module the
// loader gave (QEMU: -kernel with -initrd "a.tar"; GRUB: module2) that
// holds a tar archive (optionally gzip-compressed) is unpacked into the
// file system under the directory of the initfs= option (default /), and
// its pages go back to the page allocator. Each module's outcome is
// printed on the console; a corrupt archive is reported (with what was
// unpacked before the bad entry) and the boot goes on.

func init() {
	kern.RegisterOption(kern.OptionSpec{Name: "initfs", Help: "DIR|off: where boot modules' tar archives are unpacked (default /)",
		Check: func(v string) error {
			if v != "off" && (v == "" || v[0] != '/') {
				return fmt.Errorf("an absolute directory or off")
			}
			return nil
		}})
	kern.RegisterStartup(kern.Startup{Name: "initfs", Always: true, Fn: func() { Seed(kern.BootModules()) }})
	kern.RegisterOption(kern.OptionSpec{Name: "cwd", Help: "DIR: the program's working directory (default /), e.g. a test's package directory from a boot module",
		Check: func(v string) error {
			if v == "" || v[0] != '/' {
				return fmt.Errorf("an absolute directory")
			}
			return nil
		}})
	kern.RegisterStartup(kern.Startup{Name: "cwd", Fn: func() {
		if dir, ok := kern.BootOption("cwd"); ok {
			if err := Chdir(dir); err != nil {
				fmt.Printf("smpgo: cwd=%s: %v; the working directory stays /\n", dir, err)
			}
		}
	}})
}

// Chdir makes dir (an absolute path) the working directory, as chdir(2)
// does: for the cwd= option, after the boot modules are unpacked (smpgo
// test starts a test binary in its package's directory, as go test does).
func Chdir(dir string) error {
	n, err := FS.Lookup(FS.Root(), dir)
	if err == nil && !n.IsDir() {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return err
	}
	mu.Lock()
	cwd = n
	mu.Unlock()
	return nil
}

// ModuleResult is what became of one boot module.
type ModuleResult struct {
	Module   kern.BootModule
	Dir      string         // where it was unpacked
	Stats    memfs.TarStats // what was unpacked
	Err      error          // why unpacking stopped (nil: the whole archive)
	Took     time.Duration  // unpacking time
	Released uintptr        // bytes given back to the page allocator
	FreeErr  error          // why its pages were not given back
}

var (
	seedMu  sync.Mutex
	seeded  []ModuleResult // (seedMu)
	seedRan bool           // (seedMu)
)

// Seeded returns what Seed did with each boot module (nil before it ran).
func Seeded() []ModuleResult {
	seedMu.Lock()
	defer seedMu.Unlock()
	return append([]ModuleResult(nil), seeded...)
}

// Seed unpacks the boot modules' archives (once) and reports each on the
// console.
func Seed(mods []kern.BootModule) {
	seedMu.Lock()
	defer seedMu.Unlock()
	if seedRan {
		return
	}
	seedRan = true
	dir, _ := kern.BootOption("initfs")
	if dir == "" {
		dir = "/"
	}
	for _, m := range mods {
		res := ModuleResult{Module: m, Dir: path.Clean(dir)}
		data := m.Bytes()
		switch {
		case dir == "off":
			res.Err = fmt.Errorf("not unpacked (initfs=off)")
		case data == nil:
			res.Err = fmt.Errorf("not in memory the kernel holds (at %#x): left alone", m.Start)
		default:
			start := time.Now()
			res.Stats, res.Err = FS.Unpack(res.Dir, data)
			res.Took = time.Since(start)
		}
		if m.Held {
			res.Released, res.FreeErr = kern.ReleaseBootModule(m)
		}
		seeded = append(seeded, res)
		fmt.Println(res.String())
	}
}

// String is the console's report of a module.
func (r ModuleResult) String() string {
	s := fmt.Sprintf("smpgo: initfs: module %q (%d KiB at %#x)", r.Module.String, r.Module.Size()>>10, r.Module.Start)
	st := r.Stats
	what := fmt.Sprintf("%d files (%d KiB), %d directories", st.Files, st.Bytes>>10, st.Dirs)
	if st.Skipped > 0 {
		what += fmt.Sprintf(", %d entries skipped (links, devices)", st.Skipped)
	}
	if st.Gzip {
		what += ", gzip"
	}
	switch {
	case r.Err == nil:
		s += fmt.Sprintf(": unpacked into %s in %v: %s", r.Dir, r.Took.Round(time.Microsecond), what)
	case st.Files+st.Dirs > 0:
		s += fmt.Sprintf(": archive error: %v; unpacked before it into %s: %s; boot continues", r.Err, r.Dir, what)
	default:
		s += fmt.Sprintf(": %v; boot continues", r.Err)
	}
	switch {
	case r.FreeErr != nil:
		s += fmt.Sprintf("; its pages stay held: %v", r.FreeErr)
	case r.Released > 0:
		s += fmt.Sprintf("; %d KiB of module pages freed", r.Released>>10)
	}
	return s
}
