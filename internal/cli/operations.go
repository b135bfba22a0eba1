package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/client"
	"github.com/kdu-io/kdu/internal/httpapi"
)

// isConflict reports API conflicts that have no library sentinel (an operation already ended, an
// Idempotency-Key reused).
func isConflict(err error) bool {
	var ce *client.Error
	if ok := asClientError(err, &ce); ok {
		return ce.Code == "conflict"
	}
	return false
}

// apiClient returns the server client: operations exist only on a server.
func (a *app) apiClient(ctx context.Context) (*client.Client, error) {
	if a.serverURL() == "" {
		return nil, usagef("operations live on a kdu server: give --server URL or set KDU_SERVER (and KDU_TOKEN)")
	}
	b, err := a.be(ctx)
	if err != nil {
		return nil, err
	}
	r, ok := b.(remote)
	if !ok {
		return nil, usagef("operations need a kdu server")
	}
	return r.c, nil
}

func (a *app) operationCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "operation",
		Aliases: []string{"operations", "op"},
		Short:   "Follow and cancel the asynchronous operations of a kdu server",
	}
	var f client.OperationFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List operations, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.apiClient(cmd.Context())
			if err != nil {
				return err
			}
			f.Cluster = a.cluster
			res, err := c.ListOperations(cmd.Context(), f)
			if err != nil {
				return err
			}
			return a.print(res, func(w io.Writer) {
				row(w, "ID", "KIND", "CLUSTER", "NAMESPACE", "KDU", "STATE", "REVISION", "CREATED", "ERROR")
				for _, op := range res.Items {
					errText := "-"
					if op.Error != nil {
						errText = op.Error.Code
					}
					row(w, op.ID, op.Kind, op.Target.Cluster, orDash(op.Target.Namespace), op.Target.Name, op.State,
						revision(op.Revision), timestamp(op.CreatedAt), errText)
				}
			})
		},
	}
	list.Flags().StringVar(&f.Release, "kdu", "", "only operations on this release")
	list.Flags().StringVar(&f.State, "state", "", "only operations in this state: queued, running, succeeded, failed, cancelled")
	list.Flags().StringVar(&f.Kind, "kind", "", "only operations of this kind: install, upgrade, scale, rollback, uninstall")
	list.Flags().IntVar(&f.Limit, "limit", 50, "page size")
	list.Flags().StringVar(&f.Before, "before", "", "the next page: the last id of the previous one")

	get := &cobra.Command{
		Use:   "get ID",
		Short: "Show an operation",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.apiClient(cmd.Context())
			if err != nil {
				return err
			}
			op, err := c.GetOperation(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printOperation(op)
		},
	}
	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel an operation: a queued one at once; a running one stops waiting and rolls back if atomic",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.apiClient(cmd.Context())
			if err != nil {
				return err
			}
			op, err := c.CancelOperation(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printOperation(op)
		},
	}
	watch := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow an operation's progress until it ends (exit status 1 if it fails)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.apiClient(cmd.Context())
			if err != nil {
				return err
			}
			fn, done := a.progressFunc()
			final, err := c.Watch(cmd.Context(), args[0], func(op api.Operation) {
				if op.Progress != nil && fn != nil {
					fn(*op.Progress)
				} else if !a.isTTY && a.output == "table" {
					fmt.Fprintf(a.stderr, "%s %s: %s\n", time.Now().Format("15:04:05"), op.ID, op.State)
				}
			})
			done()
			if err != nil {
				return err
			}
			if err := a.printOperation(final); err != nil {
				return err
			}
			if final.State != api.Succeeded {
				return &client.OperationError{Op: *final}
			}
			return nil
		},
	}
	cmd.AddCommand(list, get, cancel, watch)
	return cmd
}

func revision(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func (a *app) printOperation(op *api.Operation) error {
	return a.print(op, func(w io.Writer) {
		row(w, "ID:", op.ID)
		row(w, "KIND:", op.Kind)
		row(w, "TARGET:", fmt.Sprintf("%s/%s/%s", op.Target.Cluster, orDash(op.Target.Namespace), op.Target.Name))
		row(w, "STATE:", op.State)
		row(w, "REVISION:", revision(op.Revision))
		row(w, "CREATED:", timestamp(op.CreatedAt))
		if op.StartedAt != nil {
			row(w, "STARTED:", timestamp(*op.StartedAt))
		}
		if op.FinishedAt != nil {
			row(w, "FINISHED:", timestamp(*op.FinishedAt))
		}
		if op.Progress != nil {
			row(w, "PROGRESS:", fmt.Sprintf("%s %d/%d ready", op.Progress.Phase, op.Progress.Ready, op.Progress.Total))
		}
		if op.Error != nil {
			row(w, "ERROR:", fmt.Sprintf("[%s] %s", op.Error.Code, op.Error.Message))
		}
	})
}

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage the bearer tokens of a kdu server"}
	var name string
	var projects []string
	var admin bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Generate a token and print it with the entry to add to the server's --token-file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usagef("--name is required")
			}
			if !admin && len(projects) == 0 {
				return usagef("give --project (repeatable) or --admin")
			}
			tok, hash, err := httpapi.NewToken()
			if err != nil {
				return err
			}
			entry := httpapi.TokenEntry{Name: name, SHA256: hash, Projects: projects, Admin: admin}
			if _, err := httpapi.ParseTokens(yamlOf(httpapi.TokenFile{Tokens: []httpapi.TokenEntry{entry}})); err != nil {
				return usagef("%v", err)
			}
			return a.print(map[string]any{"token": tok, "entry": entry}, func(w io.Writer) {
				fmt.Fprintf(a.stdout, "token (give it to the client as KDU_TOKEN; it is not stored anywhere):\n  %s\n\n", tok)
				fmt.Fprintf(a.stdout, "token file entry (add under tokens: in the server's --token-file):\n%s", indent(string(yamlOf([]httpapi.TokenEntry{entry})), "  "))
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "the token's name, shown in the server's logs")
	create.Flags().StringSliceVar(&projects, "project", nil, "a project the token may act on (repeatable)")
	create.Flags().BoolVar(&admin, "admin", false, "the token may act on every project")
	cmd.AddCommand(create)
	return cmd
}

func asClientError(err error, target **client.Error) bool {
	return errors.As(err, target)
}
