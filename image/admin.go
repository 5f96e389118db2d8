//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/bareproxy/bareproxy/proxy/metrics"
)

// serveAdmin serves the hosted board's admin API on the host's own network
// (not the appliance's stack), so that it answers even when the data path
// does not: /cores (per-core counters, JSON), /metrics (Prometheus) and
// /debug/pprof/. A unix:
// address reaches across network namespaces, which tests rely on.
func serveAdmin(ctx context.Context, addr string, app *appliance, log *slog.Logger) error {
	network := "tcp"
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", path
		os.Remove(path)
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cores", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(app.cores())
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", metrics.ContentTypePrometheus)
		app.metrics.WritePrometheus(w)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Error("admin server stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
		if network == "unix" {
			os.Remove(addr)
		}
	}()
	log.Info("admin API listening", "addr", ln.Addr().String())
	return nil
}
