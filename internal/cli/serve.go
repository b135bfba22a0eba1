package cli

import (
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kdu-io/kdu/internal/cluster"
	"github.com/kdu-io/kdu/internal/ops"
	"github.com/kdu-io/kdu/internal/serve"
)

func (a *app) serveCmd() *cobra.Command {
	var o serve.Options
	var logFormat, logLevel string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the kdu service: the REST API (/v1, OpenAPI at /v1/openapi.json) with durable asynchronous operations",
		Long: `Run the kdu service. Every flag has an environment variable (shown in brackets).

The store is SQLite in --data-dir by default. Several replicas share work through PostgreSQL
(--database postgres://...): each operation is claimed by one replica under a lease, and the
operations of a replica that died are taken over when its lease expires. All replicas need the
same secret key (KDU_SECRET_KEY or --secret-key-file).

Without --token-file the API is open, which is allowed on a loopback address only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef("--log-level %q: want debug, info, warn or error", logLevel)
			}
			hopts := &slog.HandlerOptions{Level: level}
			var h slog.Handler
			switch strings.ToLower(logFormat) {
			case "json":
				h = slog.NewJSONHandler(a.stderr, hopts)
			case "text":
				h = slog.NewTextHandler(a.stderr, hopts)
			default:
				return usagef("--log-format %q: want json or text", logFormat)
			}
			log := slog.New(h)
			routeKlog(log)
			o.Logger, o.Version = log, Version
			if o.DataDir == "" {
				o.DataDir = a.dataDir
			}
			return serve.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "address to serve on")
	f.StringVar(&o.Database, "database", "", "PostgreSQL URL for a store shared by several replicas; default SQLite in --data-dir")
	f.StringVar(&o.SecretKeyFile, "secret-key-file", "", "file holding the base64 key that encrypts secrets at rest; default KDU_SECRET_KEY, else <data-dir>/secret.key")
	f.StringVar(&o.TokenFile, "token-file", "", "YAML file of accepted token hashes and their projects (kdu token create)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "TLS certificate (PEM) to serve HTTPS")
	f.StringVar(&o.TLSKey, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&o.MongoURI, "mongo-uri", "", "MongoDB URI for OSM-style status targets")
	f.StringVar(&o.MongoDatabase, "mongo-database", "osm", "MongoDB database of the status targets")
	f.StringVar(&o.ReplicaID, "replica-id", "", "this replica's id in operation leases: unique and stable; default hostname/listen-address")
	f.DurationVar(&o.Lease, "lease", 30*time.Second, "how long a replica's claim on an operation lasts without renewal")
	f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", time.Minute, "on SIGTERM, how long running operations may finish before they are interrupted")
	f.IntVar(&o.MaxRunning, "max-running", 16, "operations this replica runs at once")
	f.IntVar(&o.MaxPerCluster, "max-per-cluster", ops.DefaultMaxPerCluster, "operations running on one cluster at once, over all replicas (-1: no cap)")
	f.Float32Var(&o.KubeQPS, "kube-qps", cluster.DefaultQPS, "requests per second kdu sends to each cluster's API server")
	f.IntVar(&o.KubeBurst, "kube-burst", cluster.DefaultBurst, "burst above --kube-qps")
	f.StringVar(&o.StableRepoURL, "stable-repo-url", "", "every cluster's default \"stable\" chart repository; default none")
	f.StringVar(&o.KeyringFile, "keyring", "", "PGP public keys that verified charts may be signed with, for repositories without a keyring")
	f.DurationVar(&o.IndexRefresh, "index-refresh", 10*time.Minute, "how long a downloaded repository index is used before it is refreshed")
	f.StringVar(&o.DebugListen, "debug-listen", "", "loopback address serving Go's profiles (/debug/pprof/), unauthenticated; default none")
	f.StringVar(&logFormat, "log-format", "json", "log format: json or text")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	bindEnv(cmd)
	return cmd
}

// bindEnv gives every flag of cmd an environment variable, KDU_ and the flag's name in capitals
// (--max-running: KDU_MAX_RUNNING), named in its help. A variable applies when the flag is not given, and a
// malformed value is an error naming the variable, never silently ignored.
func bindEnv(cmd *cobra.Command) {
	f := cmd.Flags()
	own := map[string]bool{}
	f.VisitAll(func(fl *pflag.Flag) {
		own[fl.Name] = true
		fl.Usage += " [" + envName(fl.Name) + "]"
	})
	prev := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		var err error
		f.VisitAll(func(fl *pflag.Flag) {
			v, ok := os.LookupEnv(envName(fl.Name))
			if err != nil || !own[fl.Name] || fl.Changed || !ok || v == "" {
				return
			}
			if e := f.Set(fl.Name, v); e != nil {
				err = usagef("%s=%q (for --%s): %v", envName(fl.Name), v, fl.Name, e)
			}
		})
		if err == nil && prev != nil {
			err = prev(c, args)
		}
		return err
	}
}

func envName(flag string) string {
	return "KDU_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}
