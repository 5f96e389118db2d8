// Command bench runs every performance figure of issue 5 in one run and
// prints them side by side with their targets: end to end through the
// appliance against HAProxy 2.6 with 2 threads (./image/), the in-process
// connection cost and per-core scaling of each TCP engine (./tcp/ and
// ./tcp/engine/), the virtio driver per core (./virtio/), and the stripped
// image size. `make bench` runs it from the module root, as root (the end
// to end benchmark makes network namespaces).
//
// It only runs benchmarks and reads their standard output lines (the
// median where a benchmark ran several times); it asserts nothing. Its exit status is 1 when a step failed to run, not when
// a target is missed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// step is one command of the run.
type step struct {
	name string
	argv []string
}

func main() {
	benchtime := flag.String("benchtime", "2s", "-benchtime of the in-process connect benchmarks")
	e2eCount := flag.Int("e2e-count", 3, "how many times the end-to-end benchmark runs; the table takes medians")
	image := flag.String("image", "", "build the image with `make image` and report the size of this file; empty skips it")
	imageNote := flag.String("image-note", "not built", "what the image row says when -image is empty")
	flag.Parse()

	steps := []step{
		// -count 3: the table takes the median of each figure.
		{"in-process connection cost and scaling",
			[]string{"go", "test", "-run", "^$", "-bench", "Connect|Serve|Stream", "-benchmem", "-benchtime", *benchtime, "-count", "3", "./tcp/", "./tcp/engine/"}},
		// -cpu 1: per core. A fixed count, because the TX-only benchmark
		// stops its timer every 128 packets and a time target makes it
		// run for minutes.
		{"virtio driver per core",
			[]string{"go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "2000000x", "-count", "3", "-cpu", "1", "./virtio/"}},
	}
	// BP_BENCH_DURATION (from the environment) sets each wrk run.
	// HAProxy's own rate moves by up to 1.5x between runs here, so the
	// table takes the median of the runs' own ratios. Each run is its own
	// go test: -count would repeat the appliance's sub-benchmarks but
	// measure HAProxy once.
	for i := range *e2eCount {
		steps = append(steps, step{fmt.Sprintf("end to end against HAProxy, run %d of %d", i+1, *e2eCount),
			[]string{"go", "test", "-run", "^$", "-bench", "EndToEnd", "-benchtime", "1x", "-timeout", "10m", "./image/"}})
	}
	if *image != "" {
		steps = append(steps, step{"bare-metal image", []string{"make", "--no-print-directory", "image"}})
	}

	var out bytes.Buffer
	failed := 0
	for _, s := range steps {
		fmt.Printf("\n=== %s: %s\n", s.name, strings.Join(s.argv, " "))
		cmd := exec.Command(s.argv[0], s.argv[1:]...)
		cmd.Stdout = io.MultiWriter(os.Stdout, &out)
		cmd.Stderr = cmd.Stdout
		if err := cmd.Run(); err != nil {
			fmt.Printf("=== %s failed: %v\n", s.name, err)
			failed++
		}
	}

	size, note := int64(-1), *imageNote
	if *image != "" {
		size, note = imageSize(out.String(), *image)
	}
	fmt.Printf("\n=== issue 5 figures\n")
	printTable(os.Stdout, summarize(parse(&out), size, note))
	if failed > 0 {
		fmt.Printf("%d of %d steps failed; their figures are missing\n", failed, len(steps))
		os.Exit(1)
	}
}

// imageSize finds the size that `make image` printed for path ("PATH: N
// bytes, ...") in out, or returns -1 and why not.
func imageSize(out, path string) (int64, string) {
	re := regexp.MustCompile(regexp.QuoteMeta(path) + `: ([0-9]+) bytes`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		return -1, "build failed"
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return -1, "build failed"
	}
	return n, ""
}
