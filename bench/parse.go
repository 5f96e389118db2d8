package main

import (
	"bufio"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// result is one line of `go test -bench` output in the standard format
// (https://go.dev/design/14313-benchmark-format):
//
//	BenchmarkName-4   1000   123 ns/op   18 allocs/op   105923 conns/s
type result struct {
	// pkg is the import path from the last "pkg:" line before the result.
	pkg string
	// name is the benchmark's name without its -GOMAXPROCS suffix.
	name string
	// metrics maps each unit to its value.
	metrics map[string]float64
}

// procsSuffix is the -GOMAXPROCS suffix that go test adds to a name when
// GOMAXPROCS is not 1.
var procsSuffix = regexp.MustCompile(`-[0-9]+$`)

// parse reads go test output and returns its benchmark results in order.
// Lines that are not results (logs, wrk output, PASS, ok) are skipped.
func parse(r io.Reader) []result {
	var out []result
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if r, ok := parseLine(line); ok {
			r.pkg = pkg
			out = append(out, r)
		}
	}
	return out
}

// parseLine parses one result line: a name starting with "Benchmark", an
// iteration count, then value-unit pairs.
func parseLine(line string) (result, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 || !strings.HasPrefix(f[0], "Benchmark") {
		return result{}, false
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return result{}, false
	}
	r := result{name: procsSuffix.ReplaceAllString(f[0], ""), metrics: make(map[string]float64)}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return result{}, false
		}
		r.metrics[f[i+1]] = v
	}
	return r, true
}

// results is every benchmark result of a run, looked up by package and
// name.
type results []result

// metric returns the value of unit for benchmark name in the package whose
// import path ends in "/"+pkg, and whether the run had it. Of several
// results (-count), it returns the median.
func (rs results) metric(pkg, name, unit string) (float64, bool) {
	var vs []float64
	for _, r := range rs {
		if v, ok := r.metrics[unit]; ok && r.name == name && strings.HasSuffix(r.pkg, "/"+pkg) {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	if len(vs)%2 == 0 {
		return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2, true
	}
	return vs[len(vs)/2], true
}
