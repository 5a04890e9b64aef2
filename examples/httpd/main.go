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
// the machine is switched off. With -quit PATH it serves (after the
// fetches, if any) until a client GETs PATH, then exits 0: how a test on
// the host ends it after fetching through QEMU's hostfwd,
//
//	go run github.com/smpgo/smpgo/cmd/smpgo run -smp 4 -nic e1000 \
//	    -hostfwd tcp:127.0.0.1:8080-:80 ./examples/httpd -- -addr :80
//
// serves the pages on the host's http://127.0.0.1:8080/ (the kernel's own
// services stay off in an application, so port 80 is free).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
	quit := flag.String("quit", "", "after the fetches, serve until a client GETs `path`, then exit 0")
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
	var requests atomic.Int64
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(*root)))
	quitting := make(chan struct{})
	if *quit != "" {
		var once sync.Once
		mux.HandleFunc(*quit, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "httpd: quitting after %d requests\n", requests.Load())
			once.Do(func() { close(quitting) })
		})
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			mux.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if *fetch == 0 && *quit == "" {
		log.Fatal(srv.Serve(l))
	}
	go srv.Serve(l)
	if *fetch > 0 {
		fetchAll(l, *fetch)
	}
	if *quit != "" {
		<-quitting
		// Shutdown lets the answer to the quit request go out first.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Fatalf("httpd: shutdown: %v", err)
		}
		fmt.Printf("httpd: %d requests served, quit by GET %s\n", requests.Load(), *quit)
	}
}

// fetchAll fetches the pages n times at once over loopback, checks them,
// prints a summary, and exits 1 on any mismatch.
func fetchAll(l net.Listener, n int) {
	port := l.Addr().(*net.TCPAddr).Port
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad, bytesIn := 0, 0
	for i := range n {
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
	fmt.Printf("httpd: %d fetches, %d bytes in %v, %d bad\n", n, bytesIn, time.Since(start).Round(time.Millisecond), bad)
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
