// Command httpd is an unmodified net/http file server: it writes a small
// site into the kernel's in-memory file system (/srv/www) and serves it
// with http.FileServer on -addr. It is an smpgo application: the blank
// import below links the kernel, and
//
//	go run github.com/smpgo/smpgo/cmd/smpgo run -smp 4 ./examples/httpd -- -fetch 20
//
// boots it under QEMU. With -fetch N it also runs N clients inside the
// guest that fetch the pages over loopback (127.0.0.1), check them, print
// a summary and exit 0 (1 on any mismatch); without it, it serves until
// the machine is switched off.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "github.com/smpgo/smpgo"
)

var pages = map[string][]byte{
	"index.html": []byte("<!doctype html><title>smpgo</title><h1>Hello from smpgo</h1>\n<p>Served by net/http on bare metal.</p>\n"),
	"data.bin":   bytes.Repeat([]byte("0123456789abcdef"), 8192), // 128 KiB
}

func main() {
	addr := flag.String("addr", ":8080", "listen `address`")
	root := flag.String("root", "/srv/www", "directory to serve (created in the in-memory file system)")
	fetch := flag.Int("fetch", 0, "fetch the pages `N` times over loopback, check them and exit")
	flag.Parse()

	if err := os.MkdirAll(*root, 0o755); err != nil {
		log.Fatalf("httpd: %v", err)
	}
	for name, body := range pages {
		if err := os.WriteFile(filepath.Join(*root, name), body, 0o644); err != nil {
			log.Fatalf("httpd: %v", err)
		}
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("httpd: %v", err)
	}
	fmt.Printf("httpd: serving %s on %s\n", *root, l.Addr())
	srv := &http.Server{Handler: http.FileServer(http.Dir(*root)), ReadHeaderTimeout: 10 * time.Second}
	if *fetch == 0 {
		log.Fatal(srv.Serve(l))
	}
	go srv.Serve(l)
	port := l.Addr().(*net.TCPAddr).Port
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad, bytesIn := 0, 0
	for i := range *fetch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "index.html"
			if i%2 == 1 {
				name = "data.bin"
			}
			body, err := get(fmt.Sprintf("http://127.0.0.1:%d/%s", port, name))
			mu.Lock()
			defer mu.Unlock()
			bytesIn += len(body)
			if err != nil || !bytes.Equal(body, pages[name]) {
				bad++
				fmt.Printf("httpd: GET /%s: %d bytes, %v\n", name, len(body), err)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("httpd: %d fetches, %d bytes in %v, %d bad\n", *fetch, bytesIn, time.Since(start).Round(time.Millisecond), bad)
	if bad > 0 {
		os.Exit(1)
	}
	fmt.Println("httpd: pages agree")
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}
