// Package cli is the kdu command line: helm-like commands over a Backend (the kdu library in local mode).
// It parses flags, calls the backend and prints; it holds no KDU logic of its own.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/client"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1 // the operation failed
	ExitInvalid  = 2 // bad input: nothing was changed
	ExitNotFound = 3 // the cluster, repository or release does not exist
	ExitConflict = 4 // it already exists, still has releases, or another operation holds the release
)

// app carries global flags and the lazily opened backend.
type app struct {
	stdout, stderr io.Writer
	stdin          io.Reader

	cluster   string
	namespace string
	dataDir   string
	output    string
	debug     bool
	server    string // --server / KDU_SERVER: talk to a kdu service instead of the local library
	progress  string // auto (on a terminal), lines, off

	// open builds the backend; tests replace it.
	open    func(ctx context.Context, a *app) (Backend, error)
	backend Backend
	isTTY   bool
}

// Main runs the kdu command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, open: openBackend, isTTY: isTerminal(stderr)}
	cmd := a.root()
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if a.backend != nil {
		_ = a.backend.Close()
	}
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "Error:", err)
	var usage *usageError
	switch {
	case errors.As(err, &usage), errors.Is(err, kdu.ErrInvalid):
		return ExitInvalid
	case errors.Is(err, kdu.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, kdu.ErrExists), errors.Is(err, kdu.ErrHasReleases), errors.Is(err, kdu.ErrBusy),
		errors.Is(err, kdu.ErrPending), isConflict(err):
		return ExitConflict
	}
	return ExitFailure
}

// usageError marks command-line mistakes (wrong arguments, bad flag values).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// openBackend opens a kdu server's client when --server or KDU_SERVER is set, and the library otherwise.
func openBackend(ctx context.Context, a *app) (Backend, error) {
	if srv := a.serverURL(); srv != "" {
		c, err := client.New(srv, os.Getenv("KDU_TOKEN"), client.WithUserAgent("kdu-cli/"+Version))
		if err != nil {
			return nil, err
		}
		return remote{c}, nil
	}
	return openLocal(ctx, a)
}

// serverURL returns the server to talk to, if any.
func (a *app) serverURL() string {
	if a.server != "" {
		return a.server
	}
	return os.Getenv("KDU_SERVER")
}

func openLocal(ctx context.Context, a *app) (Backend, error) {
	level := slog.LevelWarn
	if a.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
	// client-go logs through klog; send it to the same logger (and level) instead of raw stderr lines.
	klog.SetSlogLogger(log)
	return kdu.Open(ctx, kdu.Options{DataDir: a.dataDir, Logger: log})
}

func (a *app) be(ctx context.Context) (Backend, error) {
	if a.backend == nil {
		b, err := a.open(ctx, a)
		if err != nil {
			return nil, err
		}
		a.backend = b
	}
	return a.backend, nil
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "kdu",
		Short: "Deploy and manage KDUs (Helm charts) on many Kubernetes clusters",
		Long: `kdu deploys and manages KDUs — Kubernetes Deployment Units, i.e. Helm charts — on registered
Kubernetes clusters, in-process on the Helm v4 SDK.

Register a cluster once (kdu cluster add), then install, upgrade, scale, roll back and inspect
releases on it. Commands that print data accept -o table|json|yaml.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%s", err) })
	pf := root.PersistentFlags()
	pf.StringVarP(&a.cluster, "cluster", "c", "", "cluster to act on (env KDU_CLUSTER; default: the only registered cluster)")
	pf.StringVarP(&a.namespace, "namespace", "n", "", "namespace (default: the cluster's default namespace for install; all namespaces for lookups)")
	pf.StringVar(&a.dataDir, "data-dir", "", "data directory of the embedded store (env KDU_DATA_DIR; default $XDG_DATA_HOME/kdu)")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table, json or yaml")
	pf.BoolVar(&a.debug, "debug", false, "log debug messages to stderr")
	pf.StringVar(&a.progress, "progress", "auto", "progress of waiting operations on stderr: auto (on a terminal), lines (one line per change) or off")
	pf.StringVar(&a.server, "server", "", "URL of a kdu server to act through (env KDU_SERVER; token in env KDU_TOKEN); default: act locally")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		switch a.output {
		case "table", "json", "yaml":
		default:
			return usagef("--output %q: must be table, json or yaml", a.output)
		}
		switch a.progress {
		case "auto", "lines", "off":
		default:
			return usagef("--progress %q: must be auto, lines or off", a.progress)
		}
		return nil
	}
	root.AddCommand(a.clusterCmd(), a.repoCmd(), a.installCmd(), a.upgradeCmd(), a.scaleCmd(), a.migrateCmd(), a.rollbackCmd(),
		a.uninstallCmd(), a.statusCmd(), a.listCmd(), a.historyCmd(), a.valuesCmd(), a.servicesCmd(), a.showCmd(),
		a.versionCmd(), a.operationCmd(), a.serveCmd(), a.tokenCmd())
	return root
}

// clusterRef returns the cluster to act on: --cluster, KDU_CLUSTER, or the only registered cluster.
func (a *app) clusterRef(ctx context.Context) (string, error) {
	if a.cluster != "" {
		return a.cluster, nil
	}
	if env := os.Getenv("KDU_CLUSTER"); env != "" {
		return env, nil
	}
	b, err := a.be(ctx)
	if err != nil {
		return "", err
	}
	cs, err := b.Clusters(ctx)
	if err != nil {
		return "", err
	}
	switch len(cs) {
	case 0:
		return "", usagef("no cluster is registered: run kdu cluster add NAME --kubeconfig FILE")
	case 1:
		return cs[0].ID, nil
	}
	return "", usagef("%d clusters are registered: choose one with --cluster or KDU_CLUSTER", len(cs))
}

// clusterBackend opens the backend and resolves the cluster to act on.
func (a *app) clusterBackend(ctx context.Context) (Backend, string, error) {
	b, err := a.be(ctx)
	if err != nil {
		return nil, "", err
	}
	c, err := a.clusterRef(ctx)
	return b, c, err
}

// target opens the backend and addresses release name on the cluster to act on.
func (a *app) target(ctx context.Context, name string) (Backend, kdu.Target, error) {
	b, c, err := a.clusterBackend(ctx)
	if err != nil {
		return nil, kdu.Target{}, err
	}
	return b, kdu.Target{Cluster: c, Namespace: a.namespace, Name: name}, nil
}

// Version is set at build time (-ldflags "-X github.com/kdu-io/kdu/internal/cli.Version=...").
var Version = "dev"

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kdu's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.print(map[string]string{"version": Version, "helmSDK": "v4.3.1"}, func(w io.Writer) {
				fmt.Fprintf(w, "kdu %s (Helm SDK v4.3.1)\n", Version)
			})
		},
	}
}
