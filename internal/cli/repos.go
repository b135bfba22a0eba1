package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/api"
	"github.com/kdu-io/kdu/internal/apiconv"
)

// maxFlagFile bounds a file read for a flag (a CA bundle, a certificate, a key, a keyring, a sync list): the
// API takes at most a few MiB per request anyway.
const maxFlagFile = 4 << 20

// repoPasswordEnv is the environment variable `kdu repo add` takes a password from when no flag gives one.
const repoPasswordEnv = "KDU_REPO_PASSWORD"

func (a *app) repoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Manage chart repositories and OCI registries of a cluster or a project",
		Long: `Manage chart repositories (HTTP, with an index.yaml) and OCI registries.

A repository is registered on a cluster (--cluster, KDU_CLUSTER or the only cluster) or on a
project (--project NAME, or --project - for the default project); a project's repositories serve
every cluster of the project, unless the cluster has a repository of the same name. Charts are
then named repo/chart[:version].`,
	}
	cmd.AddCommand(a.repoAddCmd(), a.repoListCmd(), a.repoRemoveCmd(), a.repoUpdateCmd(), a.repoSyncCmd())
	return cmd
}

// repoScope is what a repository command acts on: a cluster's repositories or a project's.
type repoScope struct {
	b         Backend
	cluster   string
	project   string
	isProject bool
}

// registerProject adds --project to a repository command.
func registerProject(cmd *cobra.Command, project *string) {
	cmd.Flags().StringVar(project, "project", "", `act on this project's repositories instead of a cluster's ("-" is the default project)`)
}

// repoScope opens the backend and resolves the scope: --project if given (it excludes --cluster), else the
// cluster to act on.
func (a *app) repoScope(cmd *cobra.Command, project string) (repoScope, error) {
	if cmd.Flags().Changed("project") {
		if a.cluster != "" {
			return repoScope{}, usagef("--cluster and --project exclude each other: a repository is registered on one or the other")
		}
		if project == "-" {
			project = ""
		}
		b, err := a.be(cmd.Context())
		if err != nil {
			return repoScope{}, err
		}
		return repoScope{b: b, project: project, isProject: true}, nil
	}
	b, c, err := a.clusterBackend(cmd.Context())
	if err != nil {
		return repoScope{}, err
	}
	return repoScope{b: b, cluster: c}, nil
}

func (s repoScope) add(ctx context.Context, spec kdu.RepoSpec) (*kdu.Repo, error) {
	if s.isProject {
		return s.b.AddProjectRepo(ctx, s.project, spec)
	}
	return s.b.AddRepo(ctx, s.cluster, spec)
}

func (s repoScope) list(ctx context.Context) ([]kdu.Repo, error) {
	if s.isProject {
		return s.b.ProjectRepos(ctx, s.project)
	}
	return s.b.Repos(ctx, s.cluster)
}

func (s repoScope) remove(ctx context.Context, name string) error {
	if s.isProject {
		return s.b.RemoveProjectRepo(ctx, s.project, name)
	}
	return s.b.RemoveRepo(ctx, s.cluster, name)
}

func (s repoScope) update(ctx context.Context, names []string) ([]kdu.RepoUpdate, error) {
	if s.isProject {
		return s.b.UpdateProjectRepos(ctx, s.project, names...)
	}
	return s.b.UpdateRepos(ctx, s.cluster, names...)
}

// repoAddFlags are the settings of `kdu repo add`.
type repoAddFlags struct {
	project, typ, id, username, password string
	passwordStdin                        bool
	caFile, certFile, keyFile, keyring   string
	insecure, passCredentials, plainHTTP bool
}

func (a *app) repoAddCmd() *cobra.Command {
	var f repoAddFlags
	cmd := &cobra.Command{
		Use:   "add NAME URL",
		Short: "Register a chart repository or OCI registry (its index is downloaded, or the registry pinged, to check it)",
		Long: `Register a chart repository (https://… or http://…, with an index.yaml) or an OCI registry
(oci://host[:port][/path]) on a cluster or, with --project, on a project. kdu checks it first:
an HTTP repository's index is downloaded, an OCI registry is pinged with the credentials. Nothing
is registered when the check fails.

The password is read from stdin with --password-stdin, else from --password (visible to other
users of the machine: avoid it), else from KDU_REPO_PASSWORD when --username is given.
Certificates, keys and keyrings are read from the files named, into memory; kdu stores them
(encrypted at rest, like the password) and never prints them.`,
		Args: exactArgs(2, "NAME URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.spec(a, cmd, args[0], args[1])
			if err != nil {
				return err
			}
			s, err := a.repoScope(cmd, f.project)
			if err != nil {
				return err
			}
			r, err := s.add(cmd.Context(), spec)
			if err != nil {
				return err
			}
			return a.print(r, func(w io.Writer) { repoTable(w, []kdu.Repo{*r}) })
		},
	}
	fl := cmd.Flags()
	registerProject(cmd, &f.project)
	fl.StringVar(&f.typ, "type", "", "repository type: http or oci (default: from the URL's scheme)")
	fl.StringVar(&f.id, "id", "", "your identifier of the repository (reported back by repo sync)")
	fl.StringVar(&f.username, "username", "", "repository user name")
	fl.BoolVar(&f.passwordStdin, "password-stdin", false, "read the repository password from stdin (first line)")
	fl.StringVar(&f.password, "password", "", "repository password (discouraged: visible in the process list and shell history; use --password-stdin or "+repoPasswordEnv+")")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM bundle of the CAs that sign the repository's certificate (instead of the system roots)")
	fl.StringVar(&f.certFile, "cert-file", "", "PEM client certificate, for repositories that require mutual TLS (with --key-file)")
	fl.StringVar(&f.keyFile, "key-file", "", "PEM key of the client certificate (with --cert-file)")
	fl.BoolVar(&f.insecure, "insecure-skip-tls-verify", false, "do not verify the repository's TLS certificate")
	fl.BoolVar(&f.passCredentials, "pass-credentials", false, "send the credentials to every host the index points at, not only the repository's")
	fl.BoolVar(&f.plainHTTP, "plain-http", false, "reach an OCI registry over plain HTTP")
	fl.StringVar(&f.keyring, "keyring", "", "PGP public keys (armored or binary) the repository's charts are signed with, for --verify")
	return cmd
}

// spec builds the repository spec, reading the password and the files named by flags.
func (f *repoAddFlags) spec(a *app, cmd *cobra.Command, name, url string) (kdu.RepoSpec, error) {
	spec := kdu.RepoSpec{ID: f.id, Name: name, URL: url, Type: f.typ, Username: f.username,
		InsecureSkipVerify: f.insecure, PassCredentials: f.passCredentials, PlainHTTP: f.plainHTTP}
	passwordFlag := cmd.Flags().Changed("password")
	switch {
	case f.passwordStdin && passwordFlag:
		return spec, usagef("--password and --password-stdin exclude each other")
	case f.passwordStdin:
		line, err := bufio.NewReader(a.stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return spec, fmt.Errorf("--password-stdin: %w", err)
		}
		spec.Password = strings.TrimRight(line, "\r\n")
		if spec.Password == "" {
			return spec, usagef("--password-stdin: stdin held no password")
		}
	case passwordFlag:
		fmt.Fprintln(a.stderr, "Warning: --password is visible to other users of this machine; prefer --password-stdin or "+repoPasswordEnv)
		spec.Password = f.password
	case f.username != "":
		spec.Password = os.Getenv(repoPasswordEnv)
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return spec, usagef("--cert-file and --key-file go together: a client certificate needs its key")
	}
	for _, ff := range []struct {
		flag, path string
		dst        *[]byte
	}{
		{"ca-file", f.caFile, &spec.CACert}, {"cert-file", f.certFile, &spec.CertPEM},
		{"key-file", f.keyFile, &spec.KeyPEM}, {"keyring", f.keyring, &spec.Keyring},
	} {
		if ff.path == "" {
			continue
		}
		data, err := readFile(ff.path)
		if err != nil {
			return spec, usagef("--%s: %v", ff.flag, err)
		}
		*ff.dst = data
	}
	return spec, nil
}

// readFile reads a whole file into memory, at most maxFlagFile bytes.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFlagFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxFlagFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFlagFile)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return data, nil
}

func (a *app) repoListCmd() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use: "list", Aliases: []string{"ls"}, Args: cobra.NoArgs,
		Short: "List the repositories a cluster resolves charts against (its own, its project's, the default), or a project's",
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := a.repoScope(cmd, project)
			if err != nil {
				return err
			}
			rs, err := s.list(cmd.Context())
			if err != nil {
				return err
			}
			if rs == nil {
				rs = []kdu.Repo{}
			}
			return a.print(rs, func(w io.Writer) { repoTable(w, rs) })
		},
	}
	registerProject(cmd, &project)
	return cmd
}

func (a *app) repoRemoveCmd() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use: "remove NAME...", Aliases: []string{"rm"}, Short: "Unregister repositories",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("%s takes NAME... (got no arguments)", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.repoScope(cmd, project)
			if err != nil {
				return err
			}
			removed := []string{}
			var errs []error
			for _, name := range args {
				if err := s.remove(cmd.Context(), name); err != nil {
					errs = append(errs, err)
					continue
				}
				removed = append(removed, name)
			}
			if len(removed) > 0 {
				// One name prints {"removed": NAME}, as kdu always did; several print a list.
				var v any = map[string]any{"removed": removed}
				if len(args) == 1 {
					v = map[string]string{"removed": removed[0]}
				}
				if err := a.print(v, func(w io.Writer) {
					for _, name := range removed {
						fmt.Fprintf(w, "repository %s removed\n", name)
					}
				}); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
	registerProject(cmd, &project)
	return cmd
}

func (a *app) repoUpdateCmd() *cobra.Command {
	var project string
	cmd := &cobra.Command{
		Use:   "update [NAME...]",
		Short: "Download the latest indexes of a cluster's (or a project's) repositories, and check its OCI registries",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.repoScope(cmd, project)
			if err != nil {
				return err
			}
			us, err := s.update(cmd.Context(), args)
			if err != nil {
				return err
			}
			if us == nil {
				us = []kdu.RepoUpdate{}
			}
			failed := 0
			for _, u := range us {
				if u.Error != "" {
					failed++
				}
			}
			if err := a.print(us, func(w io.Writer) {
				row(w, "NAME", "SCOPE", "CHARTS", "VERSIONS", "ERROR")
				for _, u := range us {
					row(w, u.Name, u.Scope, u.Charts, u.Versions, orDash(u.Error))
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
	registerProject(cmd, &project)
	return cmd
}

// syncEntry is one repository of a `kdu repo sync` file: an API RepoRequest, whose PEM material and keyring may
// instead be named as files (relative to the sync file's directory).
type syncEntry struct {
	api.RepoRequest
	CAFile      string `json:"caFile,omitempty"`
	CertFile    string `json:"certFile,omitempty"`
	KeyFile     string `json:"keyFile,omitempty"`
	KeyringFile string `json:"keyringFile,omitempty"`
}

func (a *app) repoSyncCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "sync -f FILE",
		Short: "Make a cluster's own repositories exactly those of a file: add, update and remove",
		Long: `Make a cluster's own repositories exactly the list in FILE (YAML or JSON; - for stdin): missing ones
are added, changed ones updated, the others removed (project repositories are not touched). Every
entry is checked before anything changes: one bad entry fails the whole sync and nothing changes.

FILE is a list (or {repos: [...]}) of entries with the fields of the API's RepoRequest — id, name,
url, type, username, password, caCert, clientCert, clientKey, insecureSkipVerify, passCredentials,
plainHTTP, keyring — where caFile, certFile, keyFile and keyringFile may name files (relative to
FILE's directory) instead of giving caCert, clientCert, clientKey and keyring inline:

  - id: 3f2a…            # your identifier, printed back
    name: charts
    url: https://charts.example.com
    username: deploy
    password: …
    caFile: ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("give the repositories with -f FILE (- for stdin)")
			}
			specs, err := readSyncFile(a, file)
			if err != nil {
				return err
			}
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			res, err := b.SyncRepos(cmd.Context(), c, specs)
			if err != nil {
				return err
			}
			return a.print(res, func(w io.Writer) {
				if !res.Changed() {
					fmt.Fprintf(w, "no change (%d repositories unchanged)\n", res.Unchanged)
					return
				}
				row(w, "CHANGE", "NAME", "ID")
				for _, ch := range []struct {
					what string
					list []kdu.RepoChange
				}{{"added", res.Added}, {"updated", res.Updated}, {"removed", res.Removed}} {
					for _, r := range ch.list {
						row(w, ch.what, r.Name, orDash(r.ID))
					}
				}
				fmt.Fprintf(w, "%d unchanged\n", res.Unchanged)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML or JSON list of the cluster's repositories (- for stdin)")
	return cmd
}

// readSyncFile reads a sync file into repository specs, reading the files its entries name.
func readSyncFile(a *app, file string) ([]kdu.RepoSpec, error) {
	data, err := readInput(a, file)
	if err != nil {
		return nil, usagef("-f: %v", err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, usagef("-f %s: not YAML or JSON: %v", file, err)
	}
	var entries []syncEntry
	if trimmed := bytes.TrimSpace(js); len(trimmed) > 0 && trimmed[0] == '{' {
		var doc struct {
			Repos *[]syncEntry `json:"repos"`
		}
		if err := yaml.UnmarshalStrict(js, &doc); err != nil {
			return nil, usagef("-f %s: %v", file, err)
		}
		if doc.Repos == nil {
			return nil, usagef("-f %s: no repos list (an empty list [] removes every repository)", file)
		}
		entries = *doc.Repos
	} else if err := yaml.UnmarshalStrict(js, &entries); err != nil {
		return nil, usagef("-f %s: %v", file, err)
	} else if entries == nil {
		return nil, usagef("-f %s: no list of repositories (an empty list [] removes every repository)", file)
	}
	dir := "."
	if file != "-" {
		dir = filepath.Dir(file)
	}
	specs := make([]kdu.RepoSpec, len(entries))
	for i, e := range entries {
		req := e.RepoRequest
		for _, ff := range []struct {
			field, inline, path string
			dst                 *string
		}{
			{"caFile", "caCert", e.CAFile, &req.CACert}, {"certFile", "clientCert", e.CertFile, &req.ClientCert},
			{"keyFile", "clientKey", e.KeyFile, &req.ClientKey}, {"keyringFile", "keyring", e.KeyringFile, &req.Keyring},
		} {
			if ff.path == "" {
				continue
			}
			if *ff.dst != "" {
				return nil, usagef("-f %s: repos[%d]: give %s or %s, not both", file, i, ff.field, ff.inline)
			}
			path := ff.path
			if !filepath.IsAbs(path) {
				path = filepath.Join(dir, path)
			}
			data, err := readFile(path)
			if err != nil {
				return nil, usagef("-f %s: repos[%d].%s: %v", file, i, ff.field, err)
			}
			*ff.dst = string(data)
		}
		specs[i] = apiconv.Repo(req)
	}
	return specs, nil
}

func repoTable(w io.Writer, rs []kdu.Repo) {
	row(w, "NAME", "SCOPE", "TYPE", "URL", "AUTH")
	for _, r := range rs {
		row(w, r.Name, repoScopeName(r), r.Type, r.URL, repoAuth(r))
	}
}

// repoScopeName says where a repository is registered: "cluster", "project:NAME" ("project:-" for the default
// project) or "default".
func repoScopeName(r kdu.Repo) string {
	if r.Scope == kdu.ScopeProject {
		if r.Project == "" {
			return "project:-"
		}
		return "project:" + r.Project
	}
	return r.Scope
}

// repoAuth summarises how kdu authenticates to a repository and checks it, without any secret.
func repoAuth(r kdu.Repo) string {
	var parts []string
	if r.Username != "" {
		parts = append(parts, "basic:"+r.Username)
	}
	for _, f := range []struct {
		on   bool
		name string
	}{
		{r.HasClientCert, "client-cert"}, {r.HasCACert, "ca"}, {r.InsecureSkipVerify, "insecure-skip-tls-verify"},
		{r.PlainHTTP, "plain-http"}, {r.PassCredentials, "pass-credentials"}, {r.HasKeyring, "keyring"},
	} {
		if f.on {
			parts = append(parts, f.name)
		}
	}
	return orDash(strings.Join(parts, ","))
}
