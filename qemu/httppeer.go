package qemu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The host side of the example-httpd boot: an unmodified net/http client
// on the host fetches examples/httpd's pages through QEMU's hostfwd on
// 127.0.0.1 while the guest's unmodified net/http server serves them over
// the kernel's sockets on its NIC. Several clients run at once and every
// body is compared with the page the program wrote; then a burst of small
// requests measures requests per second, and a GET of the quit path ends
// the program (which exits 0).

// HTTPPeerReady is examples/httpd's line that starts the host side.
const HTTPPeerReady = "httpd: serving /srv/www on 0.0.0.0:80"

// HTTPPeerQuit is the path that ends examples/httpd (its -quit flag).
const HTTPPeerQuit = "/quit"

// httpdPages are the pages examples/httpd writes (its pages variable):
// what every fetch must return, byte for byte.
var httpdPages = map[string][]byte{
	"index.html": []byte("<!doctype html><title>smpgo</title><h1>Hello from smpgo</h1>\n<p>Served by net/http on bare metal.</p>\n"),
	"data.bin":   bytes.Repeat([]byte("0123456789abcdef"), 8192), // 128 KiB
}

// HTTPPeerConfig sizes the host side's work.
type HTTPPeerConfig struct {
	Clients  int // clients fetching at once (default 8)
	Fetches  int // pages each fetches, alternating index.html and data.bin (default 6)
	Requests int // small requests of the rate burst, over Clients keep-alive connections (default 200)
	// Stats, when set, receives the measurements.
	Stats *HTTPPeerStats
}

// HTTPPeerStats are the host side's measurements (wall time on the host).
type HTTPPeerStats struct {
	Fetched  int     // bodies fetched and checked
	Bytes    int     // their bytes
	ReqPerS  float64 // the rate burst's requests per second
	Requests int     // the rate burst's requests
}

func (c *HTTPPeerConfig) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Clients, 8)
	def(&c.Fetches, 6)
	def(&c.Requests, 200)
}

// HTTPPeer returns a Config.Host function fetching from examples/httpd
// listening on guest port guestPort.
func HTTPPeer(guestPort int, cfg HTTPPeerConfig) func(ctx context.Context, fwds []HostFwd, log io.Writer) error {
	cfg.defaults()
	return func(ctx context.Context, fwds []HostFwd, log io.Writer) error {
		hp := HostPort(fwds, "tcp", guestPort)
		if hp == 0 {
			return fmt.Errorf("httppeer: no forward to guest port %d", guestPort)
		}
		base := fmt.Sprintf("http://%s:%d", HostFwdAddr, hp)
		tr := &http.Transport{MaxIdleConnsPerHost: cfg.Clients, DisableCompression: true}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
		var st HTTPPeerStats
		if err := httpFetchAll(ctx, client, base, cfg, &st, log); err != nil {
			return err
		}
		if err := httpRate(ctx, client, base, cfg, &st, log); err != nil {
			return err
		}
		body, err := httpGet(ctx, client, base+HTTPPeerQuit)
		if err != nil {
			return fmt.Errorf("httppeer: GET %s: %w", HTTPPeerQuit, err)
		}
		if !strings.HasPrefix(string(body), "httpd: quitting after ") {
			return fmt.Errorf("httppeer: GET %s answered %q", HTTPPeerQuit, body)
		}
		if cfg.Stats != nil {
			*cfg.Stats = st
		}
		return nil
	}
}

func httpGet(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return body, fmt.Errorf("read after %d bytes: %w", len(body), err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("status %s", resp.Status)
	}
	return body, nil
}

// httpFetchAll runs cfg.Clients clients at once, each fetching
// cfg.Fetches pages, and checks every body.
func httpFetchAll(ctx context.Context, client *http.Client, base string, cfg HTTPPeerConfig, st *HTTPPeerStats, log io.Writer) error {
	start := time.Now()
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range cfg.Fetches {
				name := "index.html"
				if (c+i)%2 == 1 {
					name = "data.bin"
				}
				body, err := httpGet(ctx, client, base+"/"+name)
				if err == nil && !bytes.Equal(body, httpdPages[name]) {
					err = fmt.Errorf("%d bytes differ from the %d written, first at byte %d", len(body), len(httpdPages[name]), firstDiff(body, httpdPages[name]))
				}
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("httppeer: client %d: GET /%s: %w", c, name, err)
				}
				if err == nil {
					st.Fetched++
					st.Bytes += len(body)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	d := time.Since(start)
	fmt.Fprintf(log, "%d clients at once fetched %d pages (%d bytes) in %v, every byte checked: %.2f MB/s\n",
		cfg.Clients, st.Fetched, st.Bytes, d.Round(time.Millisecond), mbps(st.Bytes, d))
	return nil
}

// httpRate sends cfg.Requests small requests (GET /) over cfg.Clients keep-alive
// connections and reports the rate.
func httpRate(ctx context.Context, client *http.Client, base string, cfg HTTPPeerConfig, st *HTTPPeerStats, log io.Writer) error {
	work := make(chan struct{}, cfg.Requests)
	for range cfg.Requests {
		work <- struct{}{}
	}
	close(work)
	start := time.Now()
	errs := make(chan error, cfg.Clients)
	for range cfg.Clients {
		go func() {
			for range work {
				// "/": index.html in one request (a GET of
				// /index.html is redirected to "/" by FileServer).
				body, err := httpGet(ctx, client, base+"/")
				if err == nil && !bytes.Equal(body, httpdPages["index.html"]) {
					err = fmt.Errorf("/ differs from index.html: %q", body)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range cfg.Clients {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	if first != nil {
		return fmt.Errorf("httppeer: rate burst: %w", first)
	}
	d := time.Since(start)
	st.Requests = cfg.Requests
	st.ReqPerS = float64(cfg.Requests) / d.Seconds()
	fmt.Fprintf(log, "%d requests over %d keep-alive connections in %v: %.1f requests/s\n",
		cfg.Requests, cfg.Clients, d.Round(time.Millisecond), st.ReqPerS)
	return nil
}

func firstDiff(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}
