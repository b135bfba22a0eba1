package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/cluster"
)

func (a *app) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Register and manage clusters"}
	cmd.AddCommand(a.clusterAddCmd(), a.clusterListCmd(), a.clusterShowCmd(), a.clusterRemoveCmd())
	return cmd
}

func (a *app) clusterAddCmd() *cobra.Command {
	var kubeconfig, context string
	var replace bool
	cmd := &cobra.Command{
		Use:   "add NAME --kubeconfig FILE",
		Short: "Register a cluster from a kubeconfig",
		Long: `Register a cluster. kdu checks that the API server answers with the kubeconfig's credentials,
then stores the kubeconfig (reduced to one context, with referenced certificate and key files
inlined) encrypted in its data directory. NAME may use N2VC's legacy "namespace:id" form.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kubeconfig == "" {
				return usagef("--kubeconfig is required")
			}
			data, err := readInput(a, kubeconfig)
			if err != nil {
				return &kdu.FieldError{Field: "kubeconfig", Reason: err.Error(), Err: err}
			}
			if kubeconfig != "-" {
				if data, err = cluster.Flatten(data, kubeconfig); err != nil {
					return &kdu.FieldError{Field: "kubeconfig", Reason: err.Error(), Err: err}
				}
			}
			b, err := a.be(cmd.Context())
			if err != nil {
				return err
			}
			c, err := b.AddCluster(cmd.Context(), kdu.ClusterSpec{
				ID: args[0], Kubeconfig: data, Context: context, Namespace: a.namespace, Replace: replace,
			})
			if err != nil {
				return err
			}
			return a.print(c, func(w io.Writer) { clusterTable(w, []kdu.Cluster{*c}) })
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (- for stdin)")
	cmd.Flags().StringVar(&context, "context", "", "kubeconfig context (default: its current-context)")
	cmd.Flags().BoolVar(&replace, "replace", false, "replace the credentials of an already registered cluster")
	return cmd
}

func (a *app) clusterListCmd() *cobra.Command {
	return &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List registered clusters", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := a.be(cmd.Context())
			if err != nil {
				return err
			}
			cs, err := b.Clusters(cmd.Context())
			if err != nil {
				return err
			}
			return a.print(cs, func(w io.Writer) { clusterTable(w, cs) })
		},
	}
}

func (a *app) clusterShowCmd() *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use: "show NAME", Short: "Show a registered cluster", Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.be(cmd.Context())
			if err != nil {
				return err
			}
			var c *kdu.Cluster
			if check {
				c, err = b.CheckCluster(cmd.Context(), args[0])
			} else {
				c, err = b.GetCluster(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			return a.print(c, func(w io.Writer) {
				row(w, "ID:", c.ID)
				row(w, "SERVER:", c.Server)
				row(w, "VERSION:", c.Version)
				row(w, "CONTEXT:", c.Context)
				row(w, "NAMESPACE:", c.Namespace)
				row(w, "FLAVOUR:", c.Flavour)
				row(w, "REGISTERED:", ago(c.CreatedAt))
				row(w, "UPDATED:", ago(c.UpdatedAt))
			})
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "contact the API server and report its current version")
	return cmd
}

func (a *app) clusterRemoveCmd() *cobra.Command {
	var force, forget bool
	cmd := &cobra.Command{
		Use: "remove NAME", Aliases: []string{"rm"}, Short: "Unregister a cluster", Args: exactArgs(1, "NAME"),
		Long: `Unregister a cluster. A cluster that still has releases is not removed unless --force, which
uninstalls every release first. --forget unregisters it without contacting it (for a cluster that is
gone), leaving whatever runs there untouched.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.be(cmd.Context())
			if err != nil {
				return err
			}
			if err := b.RemoveCluster(cmd.Context(), args[0], kdu.RemoveOptions{Force: force, Forget: forget}); err != nil {
				return err
			}
			return a.print(map[string]string{"removed": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "cluster %s removed\n", args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "uninstall the cluster's releases first")
	cmd.Flags().BoolVar(&forget, "forget", false, "unregister without contacting the cluster (its releases stay)")
	return cmd
}

func clusterTable(w io.Writer, cs []kdu.Cluster) {
	row(w, "NAME", "SERVER", "VERSION", "NAMESPACE", "FLAVOUR", "REGISTERED")
	for _, c := range cs {
		row(w, c.ID, c.Server, orDash(c.Version), c.Namespace, c.Flavour, ago(c.CreatedAt))
	}
}

// readInput reads a file argument, "-" meaning stdin.
func readInput(a *app, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(io.LimitReader(a.stdin, 16<<20))
	}
	return os.ReadFile(path)
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s (got %d arguments)", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}

func rangeArgs(min, max int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return usagef("%s takes %s (got %d arguments)", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}
