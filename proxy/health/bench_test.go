package health

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestRecordAllocs: applying a result allocates nothing.
func TestRecordAllocs(t *testing.T) {
	c, _ := New(Config{Dialer: &fakeDialer{}})
	pass, fail := Result{Code: L4OK}, Result{Code: L4Conn}
	if n := testing.AllocsPerRun(1000, func() { c.Record(pass); c.Record(fail); c.Record(pass) }); n != 0 {
		t.Errorf("Record allocates %v times per run, want 0", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	c, _ := New(Config{Dialer: &fakeDialer{}})
	r := Result{Code: L4OK}
	b.ReportAllocs()
	for b.Loop() {
		c.Record(r)
	}
}

// BenchmarkCheckHTTPLoopback measures one HTTP check against a loopback
// server that answers 200.
func BenchmarkCheckHTTPLoopback(b *testing.B) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				readHead(c)
				io.WriteString(c, "HTTP/1.0 200 OK\r\n\r\n")
			}()
		}
	}()
	c, _ := New(Config{Dialer: netDialer{}, Addr: ln.Addr().(*net.TCPAddr).AddrPort(), HTTP: &HTTPCheck{}, Inter: 5 * time.Second})
	b.ReportAllocs()
	for b.Loop() {
		if r := c.Check(context.Background()); r.Code != L7OK {
			b.Fatalf("%v %q", r.Code, r.Info)
		}
	}
}
