package cli

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

// client-go's errors reach kdu's log; the ones about a context kdu cancelled are debug, not errors.
func TestKlogThroughKduLogger(t *testing.T) {
	var buf bytes.Buffer
	routeKlog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	defer klog.ClearLogger()

	klog.ErrorS(errors.New("context canceled"), "Unexpected error when reading response body")
	klog.Flush()
	if strings.Contains(buf.String(), "Unexpected error") {
		t.Fatalf("a cancelled read was logged at info or above: %s", buf.String())
	}
	klog.ErrorS(errors.New("connection refused"), "Failed to watch")
	klog.Flush()
	if !strings.Contains(buf.String(), "level=ERROR") || !strings.Contains(buf.String(), "Failed to watch") {
		t.Fatalf("a real client-go error did not reach the log as an error: %q", buf.String())
	}

	buf.Reset()
	routeKlog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	klog.ErrorS(errors.New("context canceled"), "Unexpected error when reading response body")
	klog.Flush()
	if !strings.Contains(buf.String(), "level=DEBUG") {
		t.Fatalf("at debug, the cancelled read should be there as debug: %q", buf.String())
	}
}
