//go:build linux

package qemu_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bareproxy/bareproxy/internal/tamagotest"
)

// bootTimeout bounds one guest run; the guest itself takes about 1.2 s.
const bootTimeout = 2 * time.Minute

// guestExitCode is what internal/boottest passes to os.Exit.
const guestExitCode = 0

var cpuOnline = regexp.MustCompile(`^cpu (\d+) online$`)

// TestBoot builds internal/boottest with the tamago toolchain, boots it on
// QEMU microvm under TCG through qemu/run.sh, and checks that every vCPU
// runs a goroutine and that the exit code arrives through isa-debug-exit.
func TestBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("boots QEMU guests: skipped in -short mode")
	}
	elf := buildBootTest(t)

	for _, tc := range []struct {
		name  string
		vcpus int
	}{
		{name: "1vcpu", vcpus: 1},
		{name: "2vcpu", vcpus: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := boot(t, elf, tc.vcpus)

			if want := guestExitCode<<1 | 1; got.status != want {
				t.Errorf("QEMU exit status = %d, want %d (guest code %d through isa-debug-exit)\n%s",
					got.status, want, guestExitCode, got.serial)
			}
			if len(got.cores) != tc.vcpus {
				t.Errorf("cores online = %v, want %d distinct\n%s", got.cores, tc.vcpus, got.serial)
			}
			if !got.done {
				t.Errorf("no \"boottest: done\" line\n%s", got.serial)
			}
			t.Logf("QEMU start to first serial line: %v; sleep(1s) by guest clock took %v of host time; QEMU ran %v",
				got.firstLine, got.sleepGap, got.total)
		})
	}
}

// bootResult is what one guest run showed.
type bootResult struct {
	status    int
	cores     map[string]bool
	done      bool
	serial    string
	firstLine time.Duration
	sleepGap  time.Duration
	total     time.Duration
}

// boot runs elf with vcpus vCPUs and no NIC, timing the serial lines.
func boot(t *testing.T, elf string, vcpus int) bootResult {
	t.Helper()
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 not in PATH")
	}
	script, err := filepath.Abs("../../qemu/run.sh")
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "/bin/sh", script, elf, fmt.Sprint(vcpus), "-")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}

	res := bootResult{cores: map[string]bool{}}
	var serial strings.Builder
	var sleepBegin time.Time
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start QEMU: %v", err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		now := time.Now()
		line := strings.TrimRight(sc.Text(), "\r")
		if serial.Len() == 0 {
			res.firstLine = now.Sub(start)
		}
		fmt.Fprintf(&serial, "%8.3fs %s\n", now.Sub(start).Seconds(), line)
		switch {
		case cpuOnline.MatchString(line):
			res.cores[cpuOnline.FindStringSubmatch(line)[1]] = true
		case line == "boottest: sleep begin":
			sleepBegin = now
		case strings.HasPrefix(line, "boottest: sleep end"):
			res.sleepGap = now.Sub(sleepBegin)
		case line == "boottest: done":
			res.done = true
		}
	}
	err = cmd.Wait()
	res.total = time.Since(start)
	res.serial = serial.String()

	var exitErr *exec.ExitError
	switch {
	case err == nil:
		res.status = 0
	case errors.As(err, &exitErr) && ctx.Err() == nil:
		res.status = exitErr.ExitCode()
	default:
		t.Fatalf("QEMU: %v\n%s", err, res.serial)
	}
	t.Logf("serial console:\n%s", res.serial)
	return res
}

// buildBootTest builds internal/boottest with the tamago toolchain (see
// internal/tamagotest) and returns the image path.
func buildBootTest(t *testing.T) string {
	t.Helper()
	return tamagotest.Image(t, tamagotest.Build{Root: "../..", Package: "./board/qemu/internal/boottest"})
}
