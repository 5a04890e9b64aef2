package smpgo

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/smpgo/smpgo/kern"
)

func TestSplitArgs(t *testing.T) {
	k, a, ok := SplitArgs([]string{"app.img", "test=.", "--", "-n", "3", "--", "GOGC=1"})
	require.True(t, ok)
	require.Equal(t, []string{"test=."}, k)
	require.Equal(t, []string{"app.img", "-n", "3", "--", "GOGC=1"}, a)

	k, a, ok = SplitArgs([]string{"app.img", "--"})
	require.True(t, ok)
	require.Empty(t, k)
	require.Equal(t, []string{"app.img"}, a)

	k, a, ok = SplitArgs([]string{"app.img", "-v", "x"})
	require.False(t, ok)
	require.Nil(t, k)
	require.Equal(t, []string{"app.img", "-v", "x"}, a)

	_, a, ok = SplitArgs([]string{"--", "x"})
	require.False(t, ok, "args[0] is the program's path, never the separator")
	require.Equal(t, []string{"--", "x"}, a)
}

func TestActs(t *testing.T) {
	for _, words := range [][]string{{"test=."}, {"bench=X"}, {"exit=0"}, {"crash=ud2"}, {"acpidump=1"}} {
		o, err := kern.ParseOptions(words)
		require.NoError(t, err)
		require.True(t, Acts(o), words)
	}
	o, err := kern.ParseOptions(nil)
	require.NoError(t, err)
	require.False(t, Acts(o), "no options: the program (or the shell) runs")
}
