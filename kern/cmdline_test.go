package kern

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func split(s string) (argv, env []string) {
	var a, e [16][2]int
	na, ne := SplitCmdline([]byte(s), a[:], e[:])
	for _, w := range a[:na] {
		argv = append(argv, s[w[0]:w[1]])
	}
	for _, w := range e[:ne] {
		env = append(env, s[w[0]:w[1]])
	}
	return
}

func TestSplitCmdline(t *testing.T) {
	argv, env := split("build/kernel.img  test=. GODEBUG=asyncpreemptoff=0 bench=Boot GOGC=50 x=Y")
	require.Equal(t, []string{"build/kernel.img", "test=.", "bench=Boot", "x=Y"}, argv)
	require.Equal(t, []string{"GODEBUG=asyncpreemptoff=0", "GOGC=50"}, env)

	argv, env = split(`k "a b" C1=2 1A=3 =x`)
	require.Equal(t, []string{"k", `"a b"`, "1A=3", "=x"}, argv)
	require.Equal(t, []string{"C1=2"}, env)

	argv, env = split("")
	require.Empty(t, argv)
	require.Empty(t, env)

	argv, _ = split("GOGC=1")
	require.Equal(t, []string{"GOGC=1"}, argv, "argv[0] is never taken as env")
}

func TestSplitCmdlineAfterDashes(t *testing.T) {
	argv, env := split("app.img test=. GOGC=50 -- -v GOGC=off -- x")
	require.Equal(t, []string{"app.img", "test=.", "--", "-v", "GOGC=off", "--", "x"}, argv)
	require.Equal(t, []string{"GOGC=50"}, env)

	argv, env = split("-- A=1")
	require.Equal(t, []string{"--"}, argv, "argv[0] is not the separator")
	require.Equal(t, []string{"A=1"}, env)
}

func TestSplitCmdlineBounded(t *testing.T) {
	var a, e [2][2]int
	na, ne := SplitCmdline([]byte("k a b c D=1 E=2 F=3"), a[:], e[:])
	require.Equal(t, 2, na)
	require.Equal(t, 2, ne)
}
