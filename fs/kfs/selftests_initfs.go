package kfs

import (
	"os"
	"time"

	"github.com/smpgo/smpgo/kern"
	"github.com/smpgo/smpgo/vm"
)

func init() {
	kern.RegisterTest(kern.Test{Name: "Files/InitfsReleased", Fn: testInitfsReleased, Timeout: time.Minute})
}

// testInitfsReleased: after start-up, no boot module's pages are held
// any more (every held module was unpacked and its pages given to the
// page allocator, whole), and what a module unpacked is there. Boots
// without modules check that nothing is held.
func testInitfsReleased(t *kern.T) {
	if n := vm.HeldBytes(); n != 0 {
		t.Errorf("%d bytes of boot-module memory still held after start-up", n)
	}
	mods := kern.BootModules()
	res := Seeded()
	if len(mods) > 0 && len(res) != len(mods) {
		t.Fatalf("%d boot modules, %d seeded", len(mods), len(res))
	}
	for _, r := range res {
		m := r.Module
		if m.Held && (r.FreeErr != nil || int(r.Released) < m.Size()) {
			t.Errorf("module %q (%d bytes): %d bytes released, %v", m.String, m.Size(), r.Released, r.FreeErr)
		}
		if r.Err == nil && r.Stats.Files+r.Stats.Dirs == 0 {
			t.Errorf("module %q: an archive with nothing in it", m.String)
		}
		if fi, err := os.Stat(r.Dir); r.Stats.Files+r.Stats.Dirs > 0 && (err != nil || !fi.IsDir()) {
			t.Errorf("module %q unpacked into %s, which is not a directory: %v", m.String, r.Dir, err)
		}
		t.Logf("%s", r.String())
	}
	// Released pages are free memory: a second release is refused.
	for _, m := range mods {
		if _, err := kern.ReleaseBootModule(m); m.Held && err != vm.ErrHeldTwice {
			t.Errorf("module %q released again: %v, want %v", m.String, err, vm.ErrHeldTwice)
		}
	}
}
