// Command cfgcheck checks configuration files before `make image` embeds one
// in the bare-metal image: it prints every warning and error as
// "file:line: what", and exits 1 if any file is rejected, so that a bad
// configuration fails the build instead of the boot.
//
//	go run ./image/internal/cfgcheck FILE...
package main

import (
	"fmt"
	"os"

	"github.com/bareproxy/bareproxy/proxy/config"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cfgcheck FILE...")
		os.Exit(2)
	}
	status := 0
	for _, path := range os.Args[1:] {
		if !check(path) {
			status = 1
		}
	}
	os.Exit(status)
}

// check parses one file and reports it; it returns false when the file is
// rejected.
func check(path string) bool {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return false
	}
	_, warns, err := config.Parse(path, src)
	for _, w := range warns {
		fmt.Fprintln(os.Stderr, w.String())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintf(os.Stderr, "%s: configuration rejected; the image was not built\n", path)
		return false
	}
	fmt.Printf("%s: ok\n", path)
	return true
}
