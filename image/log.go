package main

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"time"
)

// newLogger writes logfmt lines (time=… level=… msg=… key=value), which an
// operator reads as they come and which grep and log shippers parse.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				a.Value = slog.StringValue(a.Value.Time().UTC().Format(time.RFC3339Nano))
			}
			return a
		},
	}))
}

// minLevel passes on only records at or above its level.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(attrs), h.level}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}

// gatewayText is a gateway for the log: "none" where the network is on-link
// only, rather than netip's "invalid IP".
func gatewayText(gw netip.Addr) string {
	if !gw.IsValid() {
		return "none"
	}
	return gw.String()
}
