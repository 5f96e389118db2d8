// Package tamagotest builds GOOS=tamago images for tests that boot them
// under QEMU (board/qemu's boot test, image's QEMU tests). It owns finding
// the TamaGo compiler, building the tamago wrapper with the host Go, and
// the image's link flags; it must not know what the images do.
//
// Tests call Image, which skips the test with one line when the compiler is
// not installed.
package tamagotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Version is the TamaGo distribution that the tamago module in go.mod wants
// (see DESIGN.md, "Toolchain and boot").
const Version = "tamago-go1.26.0"

// LDFlags are the image's link flags: stripped, text at 0x10010000 as the
// microvm boot loader expects, 4 KiB alignment.
const LDFlags = "-s -w -T 0x10010000 -R 0x1000"

// Compiler returns the path of the TamaGo go command, or an error saying
// where it was looked for.
func Compiler() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache directory for the %s compiler: %w", Version, err)
	}
	p := filepath.Join(cache, "tamago-go", Version, "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("TamaGo compiler %s not installed at %s", Version, p)
	}
	return p, nil
}

// Build describes one image build.
type Build struct {
	// Root is the module root, the build's working directory.
	Root string
	// Package is the main package, relative to Root, such as "./image".
	Package string
	// Overlay, if not empty, is passed as -overlay (go build's file
	// replacement JSON).
	Overlay string
}

// Image builds b's package for GOOS=tamago GOARCH=amd64 into a temporary
// directory and returns the image path. It skips t, in one line, when the
// TamaGo compiler or the host go command is missing, and fails t when the
// build fails.
func Image(t testing.TB, b Build) string {
	t.Helper()
	if _, err := Compiler(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	hostGo := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(hostGo); err != nil {
		t.Skipf("skipping: host go not found at %s, needed to build the tamago wrapper", hostGo)
	}
	root, err := filepath.Abs(b.Root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "tamago")
	run(t, root, nil, hostGo, "build", "-o", wrapper, "github.com/usbarmory/tamago/cmd/tamago")

	elf := filepath.Join(dir, filepath.Base(b.Package)+".elf")
	args := []string{"build", "-trimpath", "-ldflags", LDFlags, "-o", elf}
	if b.Overlay != "" {
		args = append(args, "-overlay", b.Overlay)
	}
	args = append(args, b.Package)
	env := []string{"GOOS=tamago", "GOARCH=amd64", "GOOSPKG=github.com/usbarmory/tamago"}
	begin := time.Now()
	run(t, root, env, wrapper, args...)
	fi, err := os.Stat(elf)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s image: %d bytes (%.2f MB), built in %v", b.Package, fi.Size(), float64(fi.Size())/1e6,
		time.Since(begin).Round(time.Millisecond))
	return elf
}

// run runs name with args in dir, with GOTOOLCHAIN=local and env added.
func run(t testing.TB, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOTOOLCHAIN=local"), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
