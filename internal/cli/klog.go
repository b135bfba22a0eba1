package cli

import (
	"context"
	"log/slog"
	"strings"

	"k8s.io/klog/v2"
)

// routeKlog sends client-go's klog output through kdu's logger. client-go reports at ERROR what kdu does on
// purpose: a watch or read whose context kdu cancelled ("Unexpected error when reading response body ...
// context canceled"). Those go to DEBUG; the rest keeps its level.
func routeKlog(log *slog.Logger) {
	klog.SetSlogLogger(slog.New(klogHandler{log.Handler()}))
}

type klogHandler struct{ slog.Handler }

func (h klogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && cancelled(r) {
		r = withLevel(r, slog.LevelDebug)
		if !h.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h klogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return klogHandler{h.Handler.WithAttrs(as)}
}
func (h klogHandler) WithGroup(g string) slog.Handler { return klogHandler{h.Handler.WithGroup(g)} }

func cancelled(r slog.Record) bool {
	found := strings.Contains(r.Message, "context canceled")
	r.Attrs(func(a slog.Attr) bool {
		if strings.Contains(a.Value.String(), "context canceled") {
			found = true
		}
		return !found
	})
	return found
}

func withLevel(r slog.Record, l slog.Level) slog.Record {
	out := slog.NewRecord(r.Time, l, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
	return out
}
