package kern

import (
	"errors"
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

func TestSubsystemOptions(t *testing.T) {
	RegisterOption(OptionSpec{Name: "frob.level", Help: "0..3", Check: func(v string) error {
		if v < "0" || v > "3" || len(v) != 1 {
			return errors.New("want 0..3")
		}
		return nil
	}})
	o, err := ParseOptions([]string{"test=x", "frob.level=2"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"frob.level": "2"}, o.Sub)
	o, err = ParseOptions([]string{"frob.level=1", "frob.level=2"})
	require.NoError(t, err)
	require.Equal(t, "2", o.Sub["frob.level"], "a repeated option: the last value wins")
	RegisterOption(OptionSpec{Name: "frob.list", List: true, Check: func(v string) error {
		if v == "" {
			return errors.New("empty")
		}
		return nil
	}})
	o, err = ParseOptions([]string{"frob.list=a", "frob.list=b,c"})
	require.NoError(t, err)
	require.Equal(t, "a,b,c", o.Sub["frob.list"], "a repeated list option: values joined")
	_, err = ParseOptions([]string{"frob.list=a", "frob.list="})
	require.ErrorContains(t, err, "frob.list=")
	o, err = ParseOptions([]string{"test=x", "frob.level=2"})
	require.NoError(t, err)
	SetBootOptions(o)
	v, ok := BootOption("frob.level")
	require.True(t, ok)
	require.Equal(t, "2", v)
	_, ok = BootOption("frob.other")
	require.False(t, ok)

	_, err = ParseOptions([]string{"frob.level=9"})
	require.EqualError(t, err, `bad option "frob.level=9": want 0..3`)
	_, err = ParseOptions([]string{"frob.nope=1"})
	require.ErrorContains(t, err, `unknown option "frob.nope=1"`)
	require.ErrorContains(t, err, "frob.level=")

	var ran []string
	RegisterStartup(Startup{Name: "a", Fn: func() { ran = append(ran, "a") }})
	RegisterStartup(Startup{Name: "b", Fn: func() { panic("boom") }})
	RegisterStartup(Startup{Name: "c", Fn: func() { ran = append(ran, "c") }})
	RegisterStartup(Startup{Name: "fs", Always: true, Fn: func() { ran = append(ran, "fs") }})
	RunAlwaysStartup() // a program booted without "--": only the Always hooks
	require.Equal(t, []string{"fs"}, ran)
	RunAlwaysStartup()
	require.Equal(t, []string{"fs"}, ran, "an Always hook runs once")
	RunStartup() // the rest, in order, without the one that ran
	RunStartup()
	require.Equal(t, []string{"fs", "a", "c"}, ran)
	RegisterStartup(Startup{Name: "late", Always: true, Fn: func() { ran = append(ran, "late") }})
	RunAlwaysStartup()
	require.Equal(t, []string{"fs", "a", "c", "late"}, ran)
}
