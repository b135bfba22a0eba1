package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu"
)

func (a *app) showCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "show", Short: "Describe a chart: chart, values, readme or all"}
	for _, what := range []string{"chart", "values", "readme", "all"} {
		cmd.AddCommand(a.showSubCmd(what))
	}
	return cmd
}

func (a *app) showSubCmd(what string) *cobra.Command {
	var version, repoURL string
	cmd := &cobra.Command{
		Use:   what + " CHART",
		Short: "Show the chart's " + map[string]string{"chart": "metadata", "values": "default values", "readme": "README", "all": "metadata, default values and README"}[what],
		Args:  exactArgs(1, "CHART"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := a.be(cmd.Context())
			if err != nil {
				return err
			}
			opts := kdu.ShowOptions{Chart: chartArg(args[0]), Version: version, RepoURL: repoURL, Cluster: a.cluster}
			if ref := args[0]; opts.Cluster == "" && needsCluster(ref) {
				if opts.Cluster, err = a.clusterRef(cmd.Context()); err != nil {
					return err
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
				default:
					fmt.Fprint(w, string(md), "\n---\n", info.Values, "\n---\n", info.Readme)
				}
			})
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "chart version or constraint")
	cmd.Flags().StringVar(&repoURL, "repo", "", "chart repository URL to find a bare chart name in")
	return cmd
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
