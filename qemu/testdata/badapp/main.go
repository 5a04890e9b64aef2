// Command badapp is an smpgo application that misbehaves on request, for
// the boot matrix's checks of how failures reach the host:
//
//	badapp panic     a goroutine panics: Go's report, status 2
//	badapp exit N    os.Exit(N)
//	badapp hang      never ends: the runner's timeout stops it
//	badapp args      prints os.Args and the environment, exits 0
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/smpgo/smpgo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: badapp panic|exit N|hang|args")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "panic":
		done := make(chan bool)
		go func() {
			var m map[string]int
			m["x"] = 1 // panics: assignment to entry in nil map
			done <- true
		}()
		<-done
	case "exit":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "badapp:", err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "badapp: exiting with status %d\n", n)
		os.Exit(n)
	case "hang":
		fmt.Println("badapp: hanging")
		for {
			time.Sleep(time.Second) // a pending timer: no deadlock report
		}
	case "args":
		fmt.Printf("badapp: args %q\n", os.Args[1:])
		env := os.Environ()
		fmt.Printf("badapp: env %s\n", strings.Join(env, " "))
	}
}
