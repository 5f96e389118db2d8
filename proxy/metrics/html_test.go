package metrics

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestHTMLPage(t *testing.T) {
	r := trafficRenderer(t)
	r.Refresh = 5 * time.Second
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	escaped := "ev&#34;il\\&lt;b&gt;&amp;&#39;\nx&lt;/table&gt;"
	contains := []struct{ what, sub string }{
		{"doctype", "<!DOCTYPE html>"},
		{"inline style", "<style>"},
		{"refresh", `<meta http-equiv="refresh" content="5">`},
		{"summary", "cores: 2 &middot; current connections: 0 &middot; uptime: 1m30s &middot; log lines sent/dropped: 40/5"},
		{"fe table", "<caption>fe</caption>"},
		{"fe row", `<tr class="fe"><td class="n">FRONTEND</td><td>UP</td><td></td><td></td><td></td><td></td><td></td><td></td>` +
			`<td>0</td><td>100</td><td>3</td><td>30</td><td>30</td><td>0</td><td>0/0/0/0/0/0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>`},
		{"fe2 limit", `<td>0</td><td>50</td><td>1</td>`},
		{"s1 row", `<tr class="up"><td class="n">s1</td><td>no check</td><td>-</td><td>3</td><td>Y</td><td>-</td><td>0</td><td>0</td>` +
			`<td>0</td><td>-</td><td>3</td><td>30</td><td>30</td><td>0</td><td>0/0/0/0/0/0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0</td></tr>`},
		{"backup row", `<tr class="up bck"><td class="n">s2</td><td>no check</td><td>-</td><td>1</td><td>-</td><td>Y</td>`},
		{"maint row", `<tr class="maint"><td class="n">s3</td><td>MAINT</td>`},
		{"be row", `<tr class="be"><td class="n">BACKEND</td><td>UP</td><td></td><td>3</td><td>1</td><td>1</td><td>0</td><td>0</td><td>0</td><td>-</td><td>3</td><td>30</td><td>30</td>`},
		{"escaped caption", "<caption>" + escaped + "</caption>"},
		{"dead server errors", `<td class="n">d1</td><td>no check</td><td>-</td><td>1</td><td>Y</td><td>-</td><td>0</td><td>0</td>` +
			`<td>0</td><td>-</td><td>0</td><td>0</td><td>0</td><td>0</td><td>0/0/0/0/0/0</td><td>0</td><td>0</td><td>2</td><td>0</td><td>1</td><td>0</td></tr>`},
		{"core 1", `<tr><td class="n">1</td>`},
		{"core 1 network", `<td>20</td><td>21</td><td>0</td><td>5</td><td>1</td><td>1</td>`},
		{"end", "</body></html>\n"},
	}
	for _, c := range contains {
		if !strings.Contains(page, c.sub) {
			t.Errorf("%s: page lacks %q", c.what, c.sub)
		}
	}
	for _, bad := range []string{"<b>", "&'", `ev"il`, "x</table>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds unescaped %q", bad)
		}
	}
	// fe, fe2 and the two backends: four proxy tables and the core table.
	if n, m := strings.Count(page, "<table>"), strings.Count(page, "</table>"); n != 5 || m != 5 {
		t.Errorf("%d <table> and %d </table>; want 5 each", n, m)
	}
	for _, ext := range []string{"http://", "https://", "<script", "<link", "src="} {
		if strings.Contains(page, ext) {
			t.Errorf("page is not self-contained: holds %q", ext)
		}
	}
}

// TestHTMLListen: a listen section's frontend and backend share one table.
func TestHTMLListen(t *testing.T) {
	p := startProxy(t, fill(`
listen app
    bind %s
    server a1 %s
`, freeAddr(t), echoServer(t)), 1, nil)
	var buf bytes.Buffer
	if err := (&Renderer{Proxy: p}).WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if n := strings.Count(page, "<caption>app</caption>"); n != 1 {
		t.Errorf("%d tables for app; want 1", n)
	}
	i, j, k := strings.Index(page, ">FRONTEND<"), strings.Index(page, ">a1<"), strings.Index(page, ">BACKEND<")
	if i < 0 || j < i || k < j {
		t.Errorf("rows out of order: FRONTEND at %d, a1 at %d, BACKEND at %d", i, j, k)
	}
	if strings.Contains(page, "refresh") || strings.Contains(page, "uptime") || strings.Contains(page, "Frames in") {
		t.Errorf("page shows what the renderer was not given")
	}
}

func TestAppendHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`<a href="x">'&'</a>`, "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"},
		{"nul\x00", "nul\uFFFD"},
		{"é", "é"},
	}
	for _, tt := range tests {
		if got := string(appendHTML(nil, tt.in)); got != tt.want {
			t.Errorf("appendHTML(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestRenderWithoutProxy(t *testing.T) {
	var buf bytes.Buffer
	if _, err := (&Renderer{}).RenderStats(&buf, 0); err == nil || buf.Len() != 0 {
		t.Errorf("RenderStats without a proxy: err %v, %d bytes", err, buf.Len())
	}
}
