package kern

import "github.com/smpgo/smpgo/witness"

// The WITNESS scenario matrix (Linux lib/locking-selftest.c, adapted) run
// in the kernel, on a fresh witness instance per case.
func init() {
	RegisterTest(Test{Name: "Witness/SelftestMatrix", Fn: func(t *T) {
		ok, failed := witness.RunSelftests(func(format string, args ...any) {})
		if failed > 0 || ok == 0 {
			t.Errorf("witness self-tests: %d ok, %d failed", ok, failed)
		}
		t.Logf("%d witness scenarios ok", ok)
	}})
}
