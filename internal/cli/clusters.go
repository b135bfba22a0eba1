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
	cmd.AddCommand(a.clusterAddCmd(), a.clusterListCmd(), a.clusterShowCmd(), a.clusterRemoveCmd(),
		a.namespaceCmd(), a.certificateCmd(), a.secretCmd(), a.rbacCmd())
	return cmd
}

func (a *app) clusterAddCmd() *cobra.Command {
	var kubeconfig, context, tillerNamespace, tillerAddress string
	var replace, helm2 bool
	cmd := &cobra.Command{
		Use:   "add NAME --kubeconfig FILE [--helm2 [--tiller-namespace NS] [--tiller-address HOST:PORT]]",
		Short: "Register a cluster from a kubeconfig",
		Long: `Register a cluster. kdu checks that the API server answers with the kubeconfig's credentials,
then stores the kubeconfig (reduced to one context, with referenced certificate and key files
inlined) encrypted in its data directory. NAME may use N2VC's legacy "namespace:id" form.

--helm2 registers a legacy cluster whose releases are managed by Tiller v2 (as helm2 does, Tiller
is looked for in --tiller-namespace, default kube-system). With --tiller-address HOST:PORT, Tiller
must answer there; without it kdu port-forwards to the Tiller pod, and installs Tiller if it is
absent (removed again by "cluster remove --uninstall-sw"). Every KDU command then works on it as on
any cluster.`,
		Example: `  kdu cluster add edge --kubeconfig edge.yaml
  kdu cluster add legacy --kubeconfig edge.yaml --helm2 --tiller-namespace kube-system
  kdu cluster add legacy --kubeconfig edge.yaml --helm2 --tiller-address 10.0.0.5:44134`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if kubeconfig == "" {
				return usagef("--kubeconfig is required")
			}
			flavour := ""
			switch {
			case helm2:
				flavour = kdu.FlavourHelm2
			case tillerNamespace != "" || tillerAddress != "":
				return usagef("--tiller-namespace and --tiller-address need --helm2")
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
				Flavour: flavour, TillerNamespace: tillerNamespace, TillerAddress: tillerAddress,
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
	cmd.Flags().BoolVar(&helm2, "helm2", false, "a Helm 2 cluster: releases are managed by Tiller")
	cmd.Flags().StringVar(&tillerNamespace, "tiller-namespace", "", "Tiller's namespace on a --helm2 cluster (default kube-system)")
	cmd.Flags().StringVar(&tillerAddress, "tiller-address", "", "Tiller's gRPC address HOST:PORT on a --helm2 cluster (default: port-forward to its pod)")
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
				if c.Flavour == kdu.FlavourHelm2 {
					row(w, "TILLER NAMESPACE:", c.TillerNamespace)
					addr := c.TillerAddress
					if addr == "" {
						addr = "- (port-forward to the Tiller pod)"
					}
					row(w, "TILLER ADDRESS:", addr)
					row(w, "TILLER INSTALLED BY KDU:", c.InstalledSW)
				}
				row(w, "REGISTERED:", timestamp(c.CreatedAt))
				row(w, "UPDATED:", timestamp(c.UpdatedAt))
			})
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "contact the API server and report its current version")
	return cmd
}

func (a *app) clusterRemoveCmd() *cobra.Command {
	var force, forget, uninstallSW bool
	cmd := &cobra.Command{
		Use: "remove NAME", Aliases: []string{"rm"}, Short: "Unregister a cluster", Args: exactArgs(1, "NAME"),
		Long: `Unregister a cluster. A cluster that still has releases is not removed unless --force, which
uninstalls every release first. --forget unregisters it without contacting it (for a cluster that is
gone), leaving whatever runs there untouched. On a Helm 2 cluster, --uninstall-sw also removes Tiller
(its Deployment, Service, cluster role binding and service account) once the releases are gone.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.be(cmd.Context())
			if err != nil {
				return err
			}
			if err := b.RemoveCluster(cmd.Context(), args[0], kdu.RemoveOptions{Force: force, Forget: forget, UninstallSW: uninstallSW}); err != nil {
				return err
			}
			return a.print(map[string]string{"removed": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "cluster %s removed\n", args[0])
			})
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "uninstall the cluster's releases first")
	cmd.Flags().BoolVar(&forget, "forget", false, "unregister without contacting the cluster (its releases stay)")
	cmd.Flags().BoolVar(&uninstallSW, "uninstall-sw", false, "on a Helm 2 cluster, also remove Tiller")
	return cmd
}

func clusterTable(w io.Writer, cs []kdu.Cluster) {
	row(w, "NAME", "SERVER", "VERSION", "NAMESPACE", "FLAVOUR", "REGISTERED")
	for _, c := range cs {
		row(w, c.ID, c.Server, orDash(c.Version), c.Namespace, c.Flavour, timestamp(c.CreatedAt))
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
