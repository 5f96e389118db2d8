package main

import (
	"io"
	"log/slog"
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
