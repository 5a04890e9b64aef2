package kern

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseOptions(t *testing.T) {
	o, err := ParseOptions([]string{"test=Runtime/.*", "bench=Boot"})
	require.NoError(t, err)
	require.Equal(t, Options{Test: "Runtime/.*", Bench: "Boot", Exit: -1}, o)

	o, err = ParseOptions([]string{"exit=3"})
	require.NoError(t, err)
	require.Equal(t, 3, o.Exit)

	o, err = ParseOptions([]string{"witness=panic"})
	require.NoError(t, err)
	require.Equal(t, "panic", o.Witness)

	for _, bad := range []string{"test", "frob=1", "exit=x", "exit=200", "crash=nope", "witness=loud"} {
		_, err := ParseOptions([]string{bad})
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), bad)
	}
}
