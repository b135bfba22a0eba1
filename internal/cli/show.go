package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu"
)

func (a *app) showCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "show", Short: "Describe a chart: chart, values, readme, schema or all"}
	for _, what := range []string{"chart", "values", "readme", "schema", "all"} {
		cmd.AddCommand(a.showSubCmd(what))
	}
	return cmd
}

func (a *app) showSubCmd(what string) *cobra.Command {
	var version, repoURL string
	var verify bool
	cmd := &cobra.Command{
		Use: what + " CHART",
		Short: "Show the chart's " + map[string]string{"chart": "metadata", "values": "default values", "readme": "README",
			"schema": "values schema (values.schema.json)", "all": "metadata, default values, README, values schema and dependencies"}[what],
		Args: exactArgs(1, "CHART"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.be(cmd.Context())
			if err != nil {
				return err
			}
			opts := kdu.ShowOptions{Chart: chartArg(args[0]), Version: version, RepoURL: repoURL, Cluster: a.cluster, Verify: verify}
			if ref := args[0]; opts.Cluster == "" && needsCluster(ref) {
				if opts.Cluster, err = a.clusterRef(cmd.Context()); err != nil {
					return err
				}
			} else if opts.Cluster == "" && strings.HasPrefix(ref, "oci://") {
				// A registry registered on the cluster lends its credentials and TLS settings; without a
				// cluster to act on, the registry is reached anonymously.
				if c, err := a.clusterRef(cmd.Context()); err == nil {
					opts.Cluster = c
				}
			}
			info, err := b.ShowChart(cmd.Context(), opts)
			if err != nil {
				return err
			}
			var v any = info
			switch what {
			case "chart":
				v = info.Metadata
			case "values":
				v = map[string]string{"values": info.Values}
			case "readme":
				v = map[string]string{"readme": info.Readme}
			case "schema":
				v = map[string]string{"schema": info.Schema}
				if info.Schema == "" && a.output == "table" {
					fmt.Fprintf(a.stderr, "chart %s %s has no values schema (values.schema.json)\n", info.Metadata.Name, info.Metadata.Version)
				}
			}
			return a.print(v, func(w io.Writer) {
				md, _ := yaml.Marshal(info.Metadata)
				switch what {
				case "chart":
					fmt.Fprint(w, string(md))
				case "values":
					fmt.Fprint(w, info.Values)
				case "readme":
					fmt.Fprint(w, info.Readme)
				case "schema":
					fmt.Fprint(w, withNewline(info.Schema))
				default:
					fmt.Fprint(w, string(md), "\n---\n", info.Values, "\n---\n", info.Readme)
					if info.Schema != "" {
						fmt.Fprint(w, "\n---\n", withNewline(info.Schema))
					}
					if len(info.Dependencies) > 0 {
						fmt.Fprint(w, "\n---\n", string(yamlOf(map[string]any{"dependencies": info.Dependencies})))
					}
				}
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "chart version or constraint")
	cmd.Flags().StringVar(&repoURL, "repo", "", "chart repository URL to find a bare chart name in")
	cmd.Flags().BoolVar(&verify, "verify", false, "refuse a chart that does not verify (signed provenance, or an OCI digest)")
	return cmd
}

// withNewline ends non-empty text with a newline.
func withNewline(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

// needsCluster reports whether a chart reference names a registered repository (repo/chart).
func needsCluster(ref string) bool {
	slashes := 0
	for _, c := range ref {
		if c == '/' {
			slashes++
		}
	}
	return slashes == 1 && ref[0] != '/' && ref[0] != '.'
}
