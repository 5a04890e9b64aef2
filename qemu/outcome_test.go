package qemu

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOutcomeExitCodes(t *testing.T) {
	for o, want := range map[Outcome]struct {
		name string
		code int
	}{
		Pass:       {"pass", 0},
		Fail:       {"fail", 1},
		Timeout:    {"timeout", 3},
		Crash:      {"crash", 4},
		Panic:      {"panic", 5},
		Outcome(0): {"unknown(0)", 4},
		Outcome(9): {"unknown(9)", 4},
	} {
		require.Equal(t, want.name, o.String())
		require.Equal(t, want.code, o.ExitCode(), o.String())
	}
	require.Equal(t, 2, ExitUsage)
}
