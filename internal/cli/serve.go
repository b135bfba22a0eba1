package cli

import (
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"

	"github.com/kdu-io/kdu/internal/service"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (a *app) serveCmd() *cobra.Command {
	var o service.Options
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
			klog.SetSlogLogger(log)
			o.Logger, o.Version = log, Version
			if o.DataDir == "" {
				o.DataDir = a.dataDir
			}
			return service.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", envOr("KDU_LISTEN", "127.0.0.1:8080"), "address to serve on [KDU_LISTEN]")
	f.StringVar(&o.Database, "database", os.Getenv("KDU_DATABASE"), "PostgreSQL URL for a store shared by several replicas [KDU_DATABASE]; default SQLite in --data-dir")
	f.StringVar(&o.SecretKeyFile, "secret-key-file", os.Getenv("KDU_SECRET_KEY_FILE"), "file holding the base64 key that encrypts secrets at rest [KDU_SECRET_KEY_FILE]; default KDU_SECRET_KEY, else <data-dir>/secret.key")
	f.StringVar(&o.TokenFile, "token-file", os.Getenv("KDU_TOKEN_FILE"), "YAML file of accepted token hashes and their projects (kdu token create) [KDU_TOKEN_FILE]")
	f.StringVar(&o.TLSCert, "tls-cert", os.Getenv("KDU_TLS_CERT"), "TLS certificate (PEM) to serve HTTPS [KDU_TLS_CERT]")
	f.StringVar(&o.TLSKey, "tls-key", os.Getenv("KDU_TLS_KEY"), "TLS private key (PEM) [KDU_TLS_KEY]")
	f.StringVar(&o.MongoURI, "mongo-uri", os.Getenv("KDU_MONGO_URI"), "MongoDB URI for OSM-style status targets [KDU_MONGO_URI]")
	f.StringVar(&o.MongoDatabase, "mongo-database", envOr("KDU_MONGO_DATABASE", "osm"), "MongoDB database of the status targets [KDU_MONGO_DATABASE]")
	f.StringVar(&o.ReplicaID, "replica-id", os.Getenv("KDU_REPLICA_ID"), "this replica's id in operation leases: unique and stable [KDU_REPLICA_ID]; default hostname/listen-address")
	f.DurationVar(&o.Lease, "lease", envDuration("KDU_LEASE", 30*time.Second), "how long a replica's claim on an operation lasts without renewal [KDU_LEASE]")
	f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", envDuration("KDU_SHUTDOWN_TIMEOUT", time.Minute), "on SIGTERM, how long running operations may finish before they are interrupted [KDU_SHUTDOWN_TIMEOUT]")
	f.IntVar(&o.MaxRunning, "max-running", 16, "operations this replica runs at once")
	f.StringVar(&o.StableRepoURL, "stable-repo-url", os.Getenv("KDU_STABLE_REPO_URL"), "every cluster's default \"stable\" chart repository [KDU_STABLE_REPO_URL]; default none")
	f.StringVar(&o.KeyringFile, "keyring", os.Getenv("KDU_KEYRING"), "PGP public keys that verified charts may be signed with, for repositories without a keyring [KDU_KEYRING]")
	f.DurationVar(&o.IndexRefresh, "index-refresh", envDuration("KDU_INDEX_REFRESH", 10*time.Minute), "how long a downloaded repository index is used before it is refreshed [KDU_INDEX_REFRESH]")
	f.StringVar(&logFormat, "log-format", envOr("KDU_LOG_FORMAT", "json"), "log format: json or text [KDU_LOG_FORMAT]")
	f.StringVar(&logLevel, "log-level", envOr("KDU_LOG_LEVEL", "info"), "log level: debug, info, warn, error [KDU_LOG_LEVEL]")
	return cmd
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}
