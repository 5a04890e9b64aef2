package qemu

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRunHostSide boots a tiny kernel that prints a line and exits: the
// host side starts on that line with the forwards resolved to free
// ports, its context ends with QEMU, Run waits for it and reports its
// error; a mark that never comes is reported too.
func TestRunHostSide(t *testing.T) {
	needQEMU(t)
	kernel := tinyKernel(t, "host go\r\n1 passed, 0 failed\r\n", exitWith(0))
	c := tinyConfig(kernel)
	c.NIC = NICE1000
	c.HostFwd = []string{"tcp:127.0.0.1:0-:7", "tcp:127.0.0.1:0-:80"}
	var got []HostFwd
	c.Host = func(ctx context.Context, fwds []HostFwd, log io.Writer) error {
		got = fwds
		_, _ = io.WriteString(log, "started\n")
		<-ctx.Done()
		return errors.New("the boot ended")
	}
	c.HostAfter = "host go"
	r, err := Run(context.Background(), c, io.Discard)
	require.NoError(t, err)
	require.Equal(t, Pass, r.Outcome, r.Summary())
	require.EqualError(t, r.HostErr, "the boot ended")
	require.Len(t, got, 2)
	require.Equal(t, got, r.HostFwd)
	require.NotZero(t, HostPort(got, "tcp", 7))
	require.NotZero(t, HostPort(got, "tcp", 80))
	require.ErrorContains(t, Expectation{}.Check(r), "host side: the boot ended")

	c.HostAfter = "never printed"
	r, err = Run(context.Background(), c, io.Discard)
	require.NoError(t, err)
	require.EqualError(t, r.HostErr, `qemu: the host side never ran: no serial line contained "never printed"`)
}
