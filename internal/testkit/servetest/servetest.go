// Package servetest runs `kdu serve` as a child process, for tests and benchmarks that need the real binary
// (kill -9, another language's client, CPU read from /proc): it builds cmd/kdu, starts it on a loopback port,
// reads the bound address from its JSON log, and stops or kills it.
//
//	bin, err := servetest.Build(root, dir)
//	p, err := servetest.Start(ctx, bin, logPath, nil, "--data-dir", dataDir)
//	defer p.Stop(time.Minute)
package servetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// StartTimeout bounds how long Start waits for the "kdu serving" log line.
const StartTimeout = time.Minute

// Build builds the kdu command of the repository at root into dir and returns the binary's path. The caller's
// GOFLAGS are kept, with -buildvcs=false added; cgo is off, as in the project's builds.
func Build(root, dir string) (string, error) {
	bin := filepath.Join(dir, "kdu")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/kdu")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -buildvcs=false"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/kdu: %w\n%s", err, out)
	}
	return bin, nil
}

// Proc is `kdu serve` running as a child process.
type Proc struct {
	Cmd *exec.Cmd
	// URL is http://<the bound address>.
	URL string
	// LogPath holds the process's stdout and stderr (JSON log lines).
	LogPath string
	exited  chan struct{}
}

// CleanEnv is the environment without KDU_* settings (which other tests may have set): the child then takes
// its configuration from its flags only.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KDU_") {
			env = append(env, kv)
		}
	}
	return env
}

// Start runs `kdu serve --listen 127.0.0.1:0 --log-format json <args>` with env (nil: CleanEnv), its output
// in logPath, and returns once it has logged its address. The process is not stopped if ctx ends later.
func Start(ctx context.Context, bin, logPath string, env []string, args ...string) (*Proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if env == nil {
		env = CleanEnv()
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	p := &Proc{Cmd: cmd, LogPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.exited) }()
	deadline := time.NewTimer(StartTimeout)
	defer deadline.Stop()
	for {
		if addr := ServingAddress(logPath); addr != "" {
			p.URL = "http://" + addr
			return p, nil
		}
		select {
		case <-p.exited:
			data, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("kdu serve exited (%s): %s", cmd.ProcessState, data)
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		case <-deadline.C:
			p.Kill()
			return nil, errors.New("kdu serve did not log its address within a minute")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Exited is closed once the process has ended.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stop ends the process with SIGTERM (a graceful drain), and with SIGKILL if it is still running after grace.
// It reports whether the process stopped within grace.
func (p *Proc) Stop(grace time.Duration) bool {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.exited
}

// ServingAddress reads the bound address from the "kdu serving" line of a JSON log, or "" if it is not there
// yet.
func ServingAddress(logPath string) string {
	data, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var rec struct {
			Msg     string `json:"msg"`
			Address string `json:"address"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "kdu serving" {
			return rec.Address
		}
	}
	return ""
}
