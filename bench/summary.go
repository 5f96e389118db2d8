package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// maxImageBytes is issue 5's bound on the stripped bare-metal image.
const maxImageBytes = 6_000_000

// row is one line of the summary table.
type row struct {
	figure, measured, target string
	// met is "yes", "no", "?" when the run lacks the figure, or "ref"
	// for the reference engine, which the targets do not apply to.
	met string
}

// missing is the row for a figure the run did not produce.
func missing(figure, target string) row {
	return row{figure, "not measured", target, "?"}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

// engines are the appliance's TCP engines, as BenchmarkEndToEnd names its
// sub-benchmarks and with the package whose BenchmarkConnect measures each.
// gVisor's is the reference the product's engine is tested against: its
// figures are shown for comparison, not held to the targets.
var engines = []engine{{"gvisor", "tcp", true}, {"native", "tcp/engine", false}}

type engine struct {
	name, pkg string
	reference bool
}

// judge is yesNo(ok) for the product's engine and "ref" for the reference.
func (e engine) judge(ok bool) string {
	if e.reference {
		return "ref"
	}
	return yesNo(ok)
}

// summarize turns a run's results into issue 5's table. image is the
// stripped image's size in bytes, or negative when it was not built;
// imageNote says why.
func summarize(rs results, image int64, imageNote string) []row {
	var rows []row
	rows = append(rows, endToEnd(rs)...)
	rows = append(rows, stack(rs)...)
	rows = append(rows, driver(rs)...)
	const imgTarget = "< 6,000,000 B"
	switch {
	case image >= 0:
		rows = append(rows, row{"image size, stripped", thousands(image) + " B", imgTarget, yesNo(image < maxImageBytes)})
	default:
		rows = append(rows, row{"image size, stripped", imageNote, imgTarget, "?"})
	}
	return rows
}

// endToEnd is wrk through the appliance against HAProxy 2.6 with 2
// threads, from the same run of BenchmarkEndToEnd.
func endToEnd(rs results) []row {
	var rows []row
	for _, mode := range []string{"tcp", "http"} {
		for _, conn := range []struct {
			unit, label string
			want        float64 // the ratio to HAProxy
		}{
			{"keepalive", "keep-alive", 1.3},
			{"close", "1 req/conn", 1.5},
		} {
			target := fmt.Sprintf(">= x%.1f", conn.want)
			for _, e := range engines {
				name := "BenchmarkEndToEnd/" + mode + "/engine=" + e.name
				figure := fmt.Sprintf("%s %s req/s vs HAProxy, %s", mode, conn.label, e.name)
				bp, ok1 := rs.metric("image", name, conn.unit+"-req/s")
				hap, ok2 := rs.metric("image", name, conn.unit+"-haproxy-req/s")
				if !ok1 || !ok2 || hap == 0 {
					rows = append(rows, missing(figure, target))
					continue
				}
				// The median of the runs' own ratios: the appliance and
				// HAProxy of one run saw the same machine.
				ratio, ok := rs.metric("image", name, conn.unit+"-ratio")
				if !ok {
					ratio = bp / hap
				}
				rows = append(rows, row{figure, fmt.Sprintf("x%.2f (%s vs %s)", ratio, human(bp), human(hap)),
					target, e.judge(ratio >= conn.want)})
			}
		}
		for _, e := range engines {
			name := "BenchmarkEndToEnd/" + mode + "/engine=" + e.name
			figure := fmt.Sprintf("%s keep-alive p99, %s", mode, e.name)
			bp, ok1 := rs.metric("image", name, "keepalive-p99-ms")
			hap, ok2 := rs.metric("image", name, "keepalive-haproxy-p99-ms")
			if !ok1 || !ok2 {
				rows = append(rows, missing(figure, "<= HAProxy"))
				continue
			}
			rows = append(rows, row{figure, fmt.Sprintf("%.2f ms vs %.2f ms", bp, hap), "<= HAProxy", e.judge(bp <= hap)})
		}
	}
	return rows
}

// stack is BenchmarkConnect of each engine in process: connect, 100 B each
// way, close, both ends on the same cores, with a goroutine per connection
// on each end. The native engine has a second set, BenchmarkServe: the
// same connections run to completion by engine.Handlers on each core's
// worker, with no goroutine per connection.
func stack(rs results) []row {
	var rows []row
	for _, e := range engines {
		rows = append(rows, stackRows(rs, e, "BenchmarkConnect", e.name)...)
	}
	return append(rows, stackRows(rs, engines[1], "BenchmarkServe", "native run to completion")...)
}

// stackRows are the conn/s, allocation and scaling rows of one
// in-process benchmark of e's package, whose sub-benchmarks are cores=1
// and cores=2.
func stackRows(rs results, e engine, bench, label string) []row {
	var rows []row
	figure := fmt.Sprintf("stack conn/s on 1 core, %s (./%s %s)", label, e.pkg, bench)
	one, ok := rs.metric(e.pkg, bench+"/cores=1", "conns/s")
	if ok {
		rows = append(rows, row{figure, human(one), ">= 40k", e.judge(one >= 40_000)})
	} else {
		rows = append(rows, missing(figure, ">= 40k"))
	}

	figure = fmt.Sprintf("stack allocs/conn (both ends), %s", label)
	if a, ok := rs.metric(e.pkg, bench+"/cores=1", "allocs/op"); ok {
		rows = append(rows, row{figure, fmt.Sprintf("%.0f", a), "<= 30", e.judge(a <= 30)})
	} else {
		rows = append(rows, missing(figure, "<= 30"))
	}

	figure = fmt.Sprintf("per-core scaling 2 vs 1 core, %s", label)
	two, ok2 := rs.metric(e.pkg, bench+"/cores=2", "conns/s")
	if ok && ok2 && one > 0 {
		rows = append(rows, row{figure, fmt.Sprintf("x%.2f (%s vs %s)", two/one, human(two), human(one)), ">= x1.9", e.judge(two/one >= 1.9)})
	} else {
		rows = append(rows, missing(figure, ">= x1.9"))
	}
	return rows
}

// driver is the virtio driver against its software device model, on one
// core (-cpu 1), one op per packet.
func driver(rs results) []row {
	var rows []row
	worst, seen := 0.0, 0
	for _, dir := range []string{"Receive", "Transmit"} {
		figure := fmt.Sprintf("driver %s pkts/s per core, 64 B / 1514 B", strings.ToLower(dir))
		var got []string
		met := true
		for _, size := range []string{"64B", "1514B"} {
			name := "Benchmark" + dir + "/" + size
			pps, ok1 := rs.metric("virtio", name, "pkts/s")
			allocs, ok2 := rs.metric("virtio", name, "allocs/op")
			if ok1 && ok2 {
				got = append(got, human(pps))
				met = met && pps >= 2_000_000
				worst = max(worst, allocs)
				seen++
			}
		}
		if len(got) == 2 {
			rows = append(rows, row{figure, strings.Join(got, " / "), ">= 2M", yesNo(met)})
		} else {
			rows = append(rows, missing(figure, ">= 2M"))
		}
	}
	if seen == 4 {
		rows = append(rows, row{"driver allocs/packet", fmt.Sprintf("%.0f", worst), "0", yesNo(worst == 0)})
	} else {
		rows = append(rows, missing("driver allocs/packet", "0"))
	}
	return rows
}

// printTable writes rows aligned in columns, then how many targets were
// met.
func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\ttarget\tmet?")
	met, targets := 0, 0
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.figure, r.measured, r.target, r.met)
		if r.met != "ref" {
			targets++
		}
		if r.met == "yes" {
			met++
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d targets met by the product's engine (medians of repeated runs on a noisy machine; ref: gVisor's reference engine)\n", met, targets)
}

// human writes v with a k or M suffix.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// thousands writes n with comma separators: 6,209,711.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
