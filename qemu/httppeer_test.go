package qemu

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// HTTPPeer against a stand-in for examples/httpd (http.FileServer over
// the same pages, and the quit path): every body checked, the rate
// measured, and a wrong page is caught.
func TestHTTPPeer(t *testing.T) {
	dir := t.TempDir()
	for name, body := range httpdPages {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), body, 0o644))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	var quits atomic.Int32
	mux.HandleFunc(HTTPPeerQuit, func(w http.ResponseWriter, r *http.Request) {
		quits.Add(1)
		fmt.Fprintf(w, "httpd: quitting after 1 requests\n")
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Close()
	fwds := []HostFwd{{Proto: "tcp", HostPort: l.Addr().(*net.TCPAddr).Port, GuestPort: 80}}

	var st HTTPPeerStats
	var log bytes.Buffer
	err = HTTPPeer(80, HTTPPeerConfig{Clients: 3, Fetches: 4, Requests: 30, Stats: &st})(context.Background(), fwds, &log)
	require.NoError(t, err)
	require.Equal(t, 12, st.Fetched)
	require.Equal(t, 6*len(httpdPages["index.html"])+6*len(httpdPages["data.bin"]), st.Bytes)
	require.Equal(t, 30, st.Requests)
	require.Positive(t, st.ReqPerS)
	require.Equal(t, int32(1), quits.Load())
	require.Contains(t, log.String(), "every byte checked")
	require.Contains(t, log.String(), "requests/s")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.bin"), []byte("short"), 0o644))
	err = HTTPPeer(80, HTTPPeerConfig{Clients: 2, Fetches: 2})(context.Background(), fwds, &log)
	require.ErrorContains(t, err, "GET /data.bin: 5 bytes differ")
	require.ErrorContains(t, HTTPPeer(81, HTTPPeerConfig{})(context.Background(), fwds, &log), "no forward to guest port 81")
}
