//go:build tamago

package qemu

import (
	_ "unsafe"
)

// printk sends the runtime's standard output and standard error (print,
// panics, os.Stdout, os.Stderr) to COM1.
//
//go:linkname printk runtime/goos.Printk
func printk(c byte) {
	UART0.Tx(c)
}
