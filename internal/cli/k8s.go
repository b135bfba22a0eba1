package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kdu-io/kdu"
	"github.com/kdu-io/kdu/internal/kubespec"
)

// The Kubernetes helpers, under `kdu cluster`: namespaces, cert-manager Certificates, Secret copies, Roles and
// RoleBindings on the cluster to act on (--cluster, KDU_CLUSTER or the only one).

func (a *app) namespaceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "namespace", Aliases: []string{"ns"}, Short: "Create (with labels) and delete namespaces of a cluster"}
	cmd.AddCommand(a.namespaceCreateCmd(), a.namespaceDeleteCmd())
	return cmd
}

func (a *app) namespaceCreateCmd() *cobra.Command {
	var labels []string
	cmd := &cobra.Command{
		Use:   "create NAME [--label KEY=VALUE]...",
		Short: "Create a namespace with labels, or add the labels to an existing one",
		Long: `Create a namespace with labels. It is idempotent: an existing namespace gets the labels merged
into its own (each given label set to its value, the others kept) and nothing else of it changes.
A namespace being deleted is refused (exit 4). Prints whether it was created, updated or unchanged.`,
		Example: `  kdu cluster namespace create ee-vnf1 --label osm.etsi.org/ns-id=0f3c --label managed-by=osm.etsi.org`,
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := kubespec.ParseLabels(labels)
			if err != nil {
				return usagef("--label: %v", err)
			}
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			ns, err := b.CreateNamespace(cmd.Context(), c, kdu.NamespaceOptions{Name: args[0], Labels: l})
			if err != nil {
				return err
			}
			return a.print(ns, func(w io.Writer) {
				row(w, "NAMESPACE:", ns.Name)
				row(w, "RESULT:", ns.Result)
				row(w, "PHASE:", orDash(ns.Phase))
				row(w, "LABELS:", labelList(ns.Labels))
			})
		},
	}
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "a label KEY=VALUE (repeatable)")
	return cmd
}

func (a *app) namespaceDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME", Aliases: []string{"rm"}, Short: "Delete a namespace and everything in it",
		Long: `Delete a namespace and everything in it. Kubernetes finishes the deletion in the background (the
namespace is Terminating meanwhile). A namespace that does not exist, or is being deleted already,
is success. Kubernetes' own namespaces (default, kube-system, kube-public, kube-node-lease) are refused.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			if err := b.DeleteNamespace(cmd.Context(), c, args[0]); err != nil {
				return err
			}
			return a.print(map[string]string{"deleted": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "namespace %s deleted\n", args[0])
			})
		},
	}
}

func (a *app) certificateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "certificate", Aliases: []string{"cert"}, Short: "Create and delete cert-manager Certificates on a cluster"}
	cmd.AddCommand(a.certificateCreateCmd(), a.certificateDeleteCmd())
	return cmd
}

func (a *app) certificateCreateCmd() *cobra.Command {
	var o kdu.CertificateOptions
	var duration, renewBefore string
	cmd := &cobra.Command{
		Use:   "create NAME --dns-prefix PREFIX [-n NAMESPACE]",
		Short: "Create or update a cert-manager Certificate",
		Long: `Create or update a cert-manager Certificate (cert-manager.io/v1) in the namespace (-n; default the
cluster's), as N2VC made them: for the DNS names PREFIX.NS, PREFIX.NS.svc, PREFIX.NS.svc.cluster and
PREFIX.NS.svc.cluster.local (--dns-prefix '*' covers every service of the namespace), an ECDSA P-256
key rotated on renewal, signed by the ClusterIssuer ca-issuer unless told otherwise, valid 8760h and
renewed 2208h before it expires. An existing Certificate gets these fields replaced; the others are kept.
The cluster must have cert-manager's CRD certificates.cert-manager.io (exit 1 otherwise).`,
		Example: `  kdu cluster certificate create ee-tls -n ee-vnf1 --dns-prefix '*' --usage 'server auth'
  kdu cluster certificate create api-tls -n core --dns-prefix api --issuer core-ca --issuer-kind Issuer --duration 2160h --renew-before 720h`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, d := range []struct {
				flag, in string
				out      *time.Duration
			}{{"--duration", duration, &o.Duration}, {"--renew-before", renewBefore, &o.RenewBefore}} {
				if d.in == "" {
					continue
				}
				v, err := time.ParseDuration(d.in)
				if err != nil {
					return usagef("%s %q: want a duration such as 8760h or 90m", d.flag, d.in)
				}
				*d.out = v
			}
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			o.Name, o.Namespace = args[0], a.namespace
			cert, err := b.CreateCertificate(cmd.Context(), c, o)
			if err != nil {
				return err
			}
			return a.print(cert, func(w io.Writer) {
				row(w, "CERTIFICATE:", cert.Namespace+"/"+cert.Name)
				row(w, "RESULT:", cert.Result)
				row(w, "SECRET:", cert.SecretName)
				row(w, "DNS NAMES:", strings.Join(cert.DNSNames, ", "))
				row(w, "ISSUER:", cert.IssuerKind+"/"+cert.IssuerName)
				row(w, "USAGES:", orDash(strings.Join(cert.Usages, ", ")))
				row(w, "DURATION:", cert.Duration+" (renewed "+cert.RenewBefore+" before it expires)")
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.DNSPrefix, "dns-prefix", "", "first part of every DNS name: a service name, or '*' for every service of the namespace (required)")
	f.StringVar(&o.SecretName, "secret-name", "", "the Secret cert-manager writes the key pair to (default NAME)")
	f.StringVar(&o.IssuerName, "issuer", "", "the issuer that signs it (default "+kdu.DefaultIssuerName+")")
	f.StringVar(&o.IssuerKind, "issuer-kind", "", "ClusterIssuer (default) or Issuer")
	f.StringArrayVar(&o.Usages, "usage", nil, "an X.509 key usage as cert-manager names it, e.g. 'server auth' (repeatable; default cert-manager's)")
	f.StringVar(&duration, "duration", "", "lifetime (default 8760h)")
	f.StringVar(&renewBefore, "renew-before", "", "renew this long before it expires (default 2208h)")
	return cmd
}

func (a *app) certificateDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME [-n NAMESPACE]", Aliases: []string{"rm"}, Short: "Delete a cert-manager Certificate",
		Long: `Delete a cert-manager Certificate (-n; default the cluster's namespace). One that does not exist
(its namespace, or cert-manager, missing included) is success. cert-manager leaves its Secret.`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			if err := b.DeleteCertificate(cmd.Context(), c, a.namespace, args[0]); err != nil {
				return err
			}
			return a.print(map[string]string{"deleted": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "certificate %s deleted\n", args[0])
			})
		},
	}
}

func (a *app) secretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Copy Secret keys on a cluster"}
	cmd.AddCommand(a.secretCopyCmd())
	return cmd
}

func (a *app) secretCopyCmd() *cobra.Command {
	var key, targetKey string
	cmd := &cobra.Command{
		Use:   "copy [NAMESPACE/]SOURCE [NAMESPACE/]TARGET --key KEY [--target-key KEY]",
		Short: "Copy one key of a Secret into a new Opaque Secret",
		Long: `Copy one key of a Secret into a new Opaque Secret holding only that key (under --target-key,
default the same key). A Secret without a namespace is in -n (default the cluster's namespace).
A missing source Secret or key is exit 3. An existing target is never changed: if it holds exactly
that key and value already the copy succeeds (unchanged), otherwise it is exit 4. The value is
never printed.`,
		Example: `  kdu cluster secret copy osm/osm-ca ee-vnf1/ee-ca --key ca.crt`,
		Args:    exactArgs(2, "SOURCE and TARGET"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return usagef("--key is required")
			}
			var o kdu.SecretCopyOptions
			for i, ref := range []*kdu.SecretKeyRef{&o.Source, &o.Target} {
				ns, name, err := kubespec.ParseObjectRef(args[i])
				if err != nil {
					return usagef("%s", err)
				}
				if ns == "" {
					ns = a.namespace
				}
				ref.Namespace, ref.Name = ns, name
			}
			o.Source.Key, o.Target.Key = key, targetKey
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			cp, err := b.CopySecret(cmd.Context(), c, o)
			if err != nil {
				return err
			}
			return a.print(cp, func(w io.Writer) {
				row(w, "FROM:", cp.Source.Namespace+"/"+cp.Source.Name, "key "+cp.Source.Key)
				row(w, "TO:", cp.Target.Namespace+"/"+cp.Target.Name, "key "+cp.Target.Key)
				row(w, "RESULT:", cp.Result)
			})
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the key to copy (required)")
	cmd.Flags().StringVar(&targetKey, "target-key", "", "the key in the new Secret (default --key)")
	return cmd
}

func (a *app) rbacCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "rbac", Short: "Set up a Role and its RoleBinding for a service account"}
	cmd.AddCommand(a.rbacCreateCmd())
	return cmd
}

func (a *app) rbacCreateCmd() *cobra.Command {
	var sa string
	var groups, resources, verbs []string
	cmd := &cobra.Command{
		Use:   "create NAME --service-account SA --resource R... --verb V... [--api-group G]... [-n NAMESPACE]",
		Short: "Create or update a Role and a RoleBinding granting it to a service account",
		Long: `Create or update a Role named NAME with one rule (the verbs on the resources of the API groups) and a
RoleBinding of the same name granting it to the service account, in the namespace (-n; default the
cluster's). Without --api-group the rule is for the core group (pods, secrets, services...).
Idempotent: an existing Role gets exactly this rule, an existing RoleBinding exactly this subject.
If the RoleBinding cannot be set up, the Role is put back as it was.`,
		Example: `  kdu cluster rbac create ee-role -n ee-vnf1 --service-account ee-sa --resource pods,secrets --verb get,list,watch
  kdu cluster rbac create ee-apps -n ee-vnf1 --service-account ee-sa --api-group apps --resource deployments --verb get --verb patch`,
		Args: exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("api-group") {
				groups = []string{""}
			}
			b, c, err := a.clusterBackend(cmd.Context())
			if err != nil {
				return err
			}
			r, err := b.SetupRBAC(cmd.Context(), c, kdu.RBACOptions{Namespace: a.namespace, Name: args[0], ServiceAccount: sa,
				Rules: []kdu.PolicyRule{{APIGroups: groups, Resources: resources, Verbs: verbs}}})
			if err != nil {
				return err
			}
			return a.print(r, func(w io.Writer) {
				row(w, "NAMESPACE:", r.Namespace)
				row(w, "ROLE:", r.Name, r.Role)
				row(w, "ROLEBINDING:", r.Name, r.RoleBinding)
				row(w, "SERVICE ACCOUNT:", r.ServiceAccount)
				for i, rule := range r.Rules {
					g := make([]string, len(rule.APIGroups))
					for j, x := range rule.APIGroups {
						g[j] = x
						if x == "" {
							g[j] = `"" (core)`
						}
					}
					row(w, fmt.Sprintf("RULE %d:", i+1), strings.Join(rule.Verbs, ",")+" "+strings.Join(rule.Resources, ",")+" in "+strings.Join(g, ","))
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&sa, "service-account", "", "the service account of the namespace the Role is granted to (required)")
	f.StringArrayVar(&groups, "api-group", nil, `an API group of the rule ("" is the core group, the default; "*" every group; repeatable)`)
	f.StringSliceVar(&resources, "resource", nil, "resources of the rule, e.g. pods or pods/log (comma-separated or repeated)")
	f.StringSliceVar(&verbs, "verb", nil, "verbs of the rule, e.g. get,list,watch (comma-separated or repeated)")
	return cmd
}

// labelList renders labels as k=v, sorted.
func labelList(l map[string]string) string {
	if len(l) == 0 {
		return "-"
	}
	out := make([]string, 0, len(l))
	for k, v := range l {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
