package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kdu-io/kdu"
)

func (a *app) repoCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "repo", Short: "Manage a cluster's chart repositories"}
	cmd.AddCommand(a.repoAddCmd(), a.repoListCmd(), a.repoRemoveCmd(), a.repoUpdateCmd())
	return cmd
}

func (a *app) repoAddCmd() *cobra.Command {
	var username string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "add NAME URL",
		Short: "Register an HTTP chart repository on the cluster (its index is downloaded to check it)",
		Args:  exactArgs(2, "NAME URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := kdu.RepoSpec{Name: args[0], URL: args[1], Username: username}
			if passwordStdin {
				line, err := bufio.NewReader(a.stdin).ReadString('\n')
				if err != nil && err != io.EOF {
					return fmt.Errorf("--password-stdin: %w", err)
				}
				spec.Password = strings.TrimRight(line, "\r\n")
			}
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			r, err := b.AddRepo(cmd.Context(), c, spec)
			if err != nil {
				return err
			}
			return a.print(r, func(w io.Writer) { repoTable(w, []kdu.Repo{*r}) })
		},
	}
	cmd.Flags().StringVar(&username, "username", "", "repository user name")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the repository password from stdin")
	return cmd
}

func (a *app) repoListCmd() *cobra.Command {
	return &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Short: "List the cluster's repositories", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			rs, err := b.Repos(cmd.Context(), c)
			if err != nil {
				return err
			}
			return a.print(rs, func(w io.Writer) { repoTable(w, rs) })
		},
	}
}

func (a *app) repoRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use: "remove NAME", Aliases: []string{"rm"}, Short: "Unregister a repository", Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			if err := b.RemoveRepo(cmd.Context(), c, args[0]); err != nil {
				return err
			}
			return a.print(map[string]string{"removed": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "repository %s removed\n", args[0])
			})
		},
	}
}

func (a *app) repoUpdateCmd() *cobra.Command {
	return &cobra.Command{
		Use: "update [NAME...]", Short: "Download the latest indexes of the cluster's repositories",
		RunE: func(cmd *cobra.Command, args []string) error {
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			us, err := b.UpdateRepos(cmd.Context(), c, args...)
			if err != nil {
				return err
			}
			failed := 0
			for _, u := range us {
				if u.Error != "" {
					failed++
				}
			}
			if err := a.print(us, func(w io.Writer) {
				row(w, "NAME", "CHARTS", "VERSIONS", "ERROR")
				for _, u := range us {
					row(w, u.Name, u.Charts, u.Versions, orDash(u.Error))
				}
			}); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d repositories could not be updated", failed, len(us))
			}
			return nil
		},
	}
}

func repoTable(w io.Writer, rs []kdu.Repo) {
	row(w, "NAME", "URL", "TYPE", "USER")
	for _, r := range rs {
		row(w, r.Name, r.URL, r.Type, orDash(r.Username))
	}
}
